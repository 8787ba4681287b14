import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import NIOPosix
import ServiceLifecycle
import Synchronization
import TestSupport
import Testing

@testable import DescriberHTTP
@testable import DescriberHost
@testable import DescriberServer

/// What a client may cost a connection (``ConnectionGuard``): read
/// timeouts, the connection cap, a body the client abandons, and a close
/// that loses nothing, over real sockets, on the fast path and the router.
@Suite struct ConnectionLimitTests {
    static let limits = "server: { header_timeout: 400ms, body_timeout: 400ms, body_min_rate: 16, idle_timeout: 600ms }"

    /// The echo function (fast path, up to 64 bytes), and a router that
    /// collects a body (`/collect`), answers a large body (`/large`), and
    /// answers a small one (`/ping`).
    static func application(_ host: FunctionHost, port: Int) -> some ApplicationProtocol & Service {
        let router = Router()
        router.add(middleware: JSONErrorMiddleware())
        router.get("/ping") { _, _ in "pong" }
        router.post("/collect") { request, _ in
            let body = try await request.collectInput(upTo: 1 << 20, for: "collect")
            return "\(body.readableBytes)"
        }
        router.get("/large") { _, _ in
            Response(status: .ok, headers: [.contentType: "application/octet-stream"], body: .init(byteBuffer: Self.large))
        }
        return Application(
            router: router,
            server: .describer(host: host, serverName: "describer"),
            configuration: .describer(host: host, port: port, serverName: "describer"),
            services: [FunctionHostService(host: host)],
            logger: TestSupport.logger
        )
    }

    static let large = ByteBuffer(repeating: UInt8(ascii: "x"), count: 48 << 20)

    static func host(_ config: String = limits) throws -> FunctionHost {
        try TestSupport.host(
            ["echo": "library: \(try TestSupport.library("echo", source: TestSupport.echoSource))\ninput: { content_types: [\"text/*\"], max_bytes: 64 }"],
            config: config)
    }

    /// Runs the application on a free port while `body` runs, then shuts it down gracefully.
    static func serve(config: String = limits, _ body: (Int, ServiceGroup) async throws -> Void) async throws {
        let port = try TestSupport.freePort()
        let host = try Self.host(config)
        let services = ServiceGroup(services: [application(host, port: port)], logger: TestSupport.logger)
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await services.run() }
            try await waitUntil { host.isReady }
            try await body(port, services)
            await services.triggerGracefulShutdown()
            try await group.waitForAll()
        }
    }

    @Test func aHeadSentAByteAtATimeIs408() async throws {
        try await Self.serve { port, _ in
            try await RawHTTP.session(port: port) { connection in
                // 20 bytes a second: the head would take about 4 s. Sending
                // fails once the server has closed the connection.
                for byte in "POST /v1/functions/echo/invoke HTTP/1.1\r\nHost: t\r\nX-Padding: aaaaaaaaaaaaaaaaaaaaa" {
                    do { try await connection.send(String(byte)) } catch { break }
                    try await Task.sleep(for: .milliseconds(50))
                }
                let (answers, closed) = try await connection.read(responses: 1)
                #expect(answers.map(\.status) == [408])
                #expect(answers.first?.body.contains(#""code":"request_timeout""#) == true)
                #expect(answers.first?.body.contains("head") == true)
                _ = try await connection.read(responses: 1)
                #expect(closed || connection.closed)
            }
        }
    }

    @Test(arguments: ["/v1/functions/echo/invoke", "/collect"])
    func aBodyThatStopsArrivingIs408(path: String) async throws {
        try await Self.serve { port, _ in
            try await RawHTTP.session(port: port) { connection in
                try await connection.send("POST \(path) HTTP/1.1\r\nHost: t\r\nContent-Type: text/plain\r\nContent-Length: 60\r\n\r\nabc")
                let (answers, _) = try await connection.read(responses: 1)
                #expect(answers.map(\.status) == [408])
                #expect(answers.first?.body.contains(#""code":"request_timeout""#) == true)
                #expect(answers.first?.body.contains("body") == true)
                _ = try await connection.read(responses: 1)
                #expect(connection.closed)
            }
        }
    }

    /// A body arriving slowly but above `body_min_rate` has its time extended.
    @Test(arguments: ["/v1/functions/echo/invoke", "/collect"])
    func aSlowBodyAboveTheMinimumRateIsRead(path: String) async throws {
        try await Self.serve { port, _ in
            try await RawHTTP.session(port: port) { connection in
                try await connection.send("POST \(path) HTTP/1.1\r\nHost: t\r\nContent-Type: text/plain\r\nContent-Length: 60\r\n\r\n")
                // 60 bytes over about 0.9 s: past body_timeout, within it plus a second per 16 bytes.
                for _ in 0..<6 {
                    try await connection.send(String(repeating: "b", count: 10))
                    try await Task.sleep(for: .milliseconds(150))
                }
                let (answers, _) = try await connection.read(responses: 1)
                #expect(answers.map(\.status) == [200])
                #expect(answers.first?.body == (path == "/collect" ? "60" : String(repeating: "b", count: 60)))
            }
        }
    }

    @Test func anIdleConnectionIsClosedWithoutAnAnswer() async throws {
        try await Self.serve { port, _ in
            try await RawHTTP.session(port: port) { connection in
                let (answers, closed) = try await connection.read(responses: 1)
                #expect(answers.isEmpty && closed, "\(connection.received)")
            }
            // And after an answer, kept alive for idle_timeout only.
            try await RawHTTP.session(port: port) { connection in
                try await connection.send("GET /ping HTTP/1.1\r\nHost: t\r\n\r\n")
                #expect(try await connection.read(responses: 1).responses.map(\.body) == ["pong"])
                let (answers, closed) = try await connection.read(responses: 1)
                #expect(answers.isEmpty && closed)
            }
        }
    }

    /// Past `max_connections`, a new connection waits until one closes.
    @Test func connectionsPastTheCapWait() async throws {
        try await Self.serve(config: "server: { max_connections: 2 }") { port, _ in
            // One at a time: the server accepts what is waiting in one go, up to a few.
            let first = try await RawHTTP.connect(port: port)
            try await Task.sleep(for: .milliseconds(100))
            let second = try await RawHTTP.connect(port: port)
            try await Task.sleep(for: .milliseconds(100))
            let answered = Mutex(false)
            let third = Task {
                let answer = try await RawHTTP.exchange(port: port, "GET /ping HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n", responses: 1)
                answered.withLock { $0 = true }
                return answer.responses.map(\.body)
            }
            try await Task.sleep(for: .milliseconds(300))
            #expect(!answered.withLock { $0 }, "answered while two connections were open")
            try await first.channel.close()
            #expect(try await third.value == ["pong"])
            try await second.channel.close()
        }
    }

    /// A client that half-closes before its body is complete gets a JSON 400, on both paths.
    @Test(arguments: ["/v1/functions/echo/invoke", "/collect"])
    func aBodyTheClientAbandonsIs400(path: String) async throws {
        try await Self.serve(config: "server: {}") { port, _ in
            try await RawHTTP.session(port: port) { connection in
                try await connection.send("POST \(path) HTTP/1.1\r\nHost: t\r\nContent-Type: text/plain\r\nContent-Length: 60\r\n\r\nabc")
                connection.halfClose()
                let answers = try await connection.read(responses: 1).responses
                #expect(answers.map(\.status) == [400])
                #expect(answers.first?.body.contains(#""code":"invalid_input""#) == true, "\(answers)")
                // One answer, then the close: no second, empty 400 for the parse error.
                let after = try await connection.read(responses: 1)
                #expect(after.responses.isEmpty && after.closedByServer)
            }
        }
    }

    /// The DeepStack route answers an abandoned body in its own shape, 400
    /// like the others (it was 413, "larger than the server accepts").
    @Test func theDeepStackRouteAnswersAnAbandonedBody400() async throws {
        let port = try TestSupport.freePort()
        let host = try Self.host()
        let application = Application(
            router: buildRouter(host: host), server: .describer(host: host, serverName: "describer"),
            configuration: .describer(host: host, port: port, serverName: "describer"), logger: TestSupport.logger)
        let services = ServiceGroup(services: [application], logger: TestSupport.logger)
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await services.run() }
            let request = "POST /v1/vision/detection HTTP/1.1\r\nHost: t\r\nContent-Type: multipart/form-data; boundary=b\r\nContent-Length: 5000\r\n\r\n--b"
            let (answers, _) = try await RawHTTP.exchange(port: port, request, responses: 1, halfClose: true)
            #expect(answers.map(\.status) == [400])
            #expect(answers.first?.body.contains(#""success":false"#) == true, "\(answers)")
            #expect(answers.first?.body.contains("before the request's body was complete") == true, "\(answers)")
            await services.triggerGracefulShutdown()
            try await group.waitForAll()
        }
    }

    /// Bytes that are not HTTP/1.1, and header fields past the decoder's
    /// limit, get JSON errors like every other refusal.
    @Test func aRequestThatIsNotHTTPGetsAJSONError() async throws {
        try await Self.serve(config: "server: {}") { port, _ in
            let cases = [
                ("NOT HTTP AT ALL\r\n\r\n", 400, "bad_request"),
                ("GET /ping HTTP/1.1\r\nHost: t\r\nX-Big: \(String(repeating: "a", count: 100_000))\r\n\r\n", 431, "headers_too_large"),
            ]
            for (request, status, code) in cases {
                let (answers, _) = try await RawHTTP.exchange(port: port, request, responses: 1)
                #expect(answers.map(\.status) == [status])
                #expect(answers.first?.body.contains(#""code":"\#(code)""#) == true, "\(answers)")
            }
            // A good request first, then garbage on the same connection: the answer, then the error.
            let (answers, _) = try await RawHTTP.exchange(port: port, "GET /ping HTTP/1.1\r\nHost: t\r\n\r\nNOT HTTP\r\n\r\n", responses: 2)
            #expect(answers.map(\.status) == [200, 400])
        }
    }

    /// Shutdown lets an answer that has begun reach the client whole, however
    /// slowly the client reads it, within the grace.
    @Test func shutdownLetsALargeAnswerOutWhole() async throws {
        try await Self.serve(config: "server: {}") { port, services in
            let channel = try await RawHTTP.connect(port: port)
            try await channel.executeThenClose { inbound, outbound in
                try await outbound.write(ByteBuffer(string: "GET /large HTTP/1.1\r\nHost: t\r\n\r\n"))
                var iterator = inbound.makeAsyncIterator()
                var received = 0
                if let first = try await iterator.next() { received += first.readableBytes }
                // The client reads nothing more for a while: most of the answer
                // waits in the server's buffers when shutdown begins.
                await services.triggerGracefulShutdown()
                try await Task.sleep(for: .milliseconds(300))
                while let chunk = try await iterator.next() { received += chunk.readableBytes }
                #expect(received > Self.large.readableBytes)
                #expect(received < Self.large.readableBytes + 300)
            }
        }
    }
}
