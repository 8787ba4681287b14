import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import NIOCore
import NIOPosix
import ServerTestSupport
import ServiceLifecycle
import TestSupport
import Testing

@testable import DescriberHTTP
@testable import DescriberHost
@testable import DescriberServer
@testable import DescriberTesting

/// The invoke route's fast path (`InvocationChannelHandler`), over real
/// sockets. Its application has a router without the invoke route, so an
/// invocation answered proves that the handler took it, and a request the
/// handler passes on meets the router's plain 404. (HTTPTests runs the
/// route's error cases through the full application both ways.)
@Suite struct InvokeFastPathTests {
    static func host(config: String? = nil) throws -> FunctionHost {
        try TestSupport.host(
            [
                "echo": """
                library: \(try TestSupport.library("echo", source: TestSupport.echoSource))
                input: { content_types: ["text/*"], max_bytes: 64 }
                request_options:
                  upper: { type: bool }
                  repeat: { type: integer, min: 1, max: 8 }
                """,
                "slow": TestSupport.manifest(
                    library: try TestSupport.library("plain", defines: ["TESTFN_CAPS=0"]),
                    "scaling: { min_instances: 1, max_instances: 1 }\nqueue: { max_depth: 1 }"
                ),
            ], config: config)
    }

    /// On `port`, or where the test framework puts it.
    static func application(_ host: FunctionHost, port: Int = 0) -> some ApplicationProtocol & Service {
        let router = Router()
        router.add(middleware: JSONErrorMiddleware())
        router.get("/ping") { _, _ in "pong" }
        // Answers without reading the body.
        router.post("/early") { _, _ in "early" }
        return Application(
            router: router,
            server: .describer(host: host, serverName: "describer"),
            configuration: .init(address: .hostname("127.0.0.1", port: port)),
            services: [FunctionHostService(host: host)],
            logger: TestSupport.logger
        )
    }

    @Test func answersAnInvocationWithTheRoutesHeaders() async throws {
        try await Self.application(Self.host()).test(.live) { client in
            try await client.execute(
                uri: "/v1/functions/echo/invoke?upper=true&repeat=2", method: .post,
                headers: [.contentType: "text/plain; charset=utf-8"], body: ByteBuffer(string: "hi")
            ) { response in
                try HTTPTests.expectUpperRepeatedAnswer(response)
                // And Hummingbird's own fields, as on the router's answers.
                #expect(response.headers[.contentLength] == "4")
                #expect(response.headers[.server] == "describer")
                let date = try #require(response.headers[.date])
                #expect(date.hasSuffix(" GMT") && date.count == 29, "\(date)")
            }
            // The same connection goes on to the router.
            try await client.execute(uri: "/ping", method: .get) { response in
                #expect(String(buffer: response.body) == "pong")
            }
        }
    }

    @Test func refusesWithTheRoutesJSONErrors() async throws {
        try await Self.application(Self.host()).test(.live) { client in
            let cases: [(uri: String, headers: HTTPFields, status: HTTPResponse.Status, code: String)] = [
                ("/v1/functions/echo/invoke?repeat=9", [.contentType: "text/plain"], .badRequest, "bad_option"),
                ("/v1/functions/echo/invoke", [.contentType: "text/plain", .timeoutMilliseconds: "soon"], .badRequest, "bad_option"),
                ("/v1/functions/echo/invoke", [.contentType: "image/png"], .unsupportedMediaType, "unsupported_media_type"),
                ("/v1/functions/slow/invoke?fail=failed", [.contentType: "text/plain"], .badGateway, "function_failed"),
                ("/v1/functions/slow/invoke?sleep_ms=2000", [.contentType: "text/plain", .timeoutMilliseconds: "50"], .gatewayTimeout, "deadline_exceeded"),
            ]
            for refusal in cases {
                try await client.execute(uri: refusal.uri, method: .post, headers: refusal.headers, body: ByteBuffer(string: "x")) { response in
                    #expect(response.status == refusal.status, "\(refusal.uri)")
                    #expect(response.headers[.contentType] == "application/json")
                    #expect(response.headers[.server] == "describer")
                    #expect(String(buffer: response.body).hasPrefix(#"{"error":{"code":"\#(refusal.code)","message":""#))
                }
            }
        }
    }

    /// What the route itself refuses, or cannot know the size of, is the router's.
    @Test func passesOnWhatItDoesNotTake() async throws {
        try await Self.application(Self.host()).test(.live) { client in
            for (uri, method, body) in [
                ("/v1/functions/nothing/invoke", HTTPRequest.Method.post, "x"),
                ("/v1/functions/echo/invoke", .post, String(repeating: "x", count: 65)),
                ("/v1/functions/echo/invoke", .put, "x"),
                ("/v1/functions/echo/extra/invoke", .post, "x"),
            ] {
                try await client.execute(uri: uri, method: method, headers: [.contentType: "text/plain"], body: ByteBuffer(string: body)) { response in
                    #expect(response.status == .notFound, "\(method) \(uri)")
                    #expect(String(buffer: response.body).contains(#""code":"not_found""#))
                }
            }
        }
        let port = try TestSupport.freePort()
        let host = try Self.host()
        try await Self.serve(host, port: port) {
            // A chunked body has no Content-Length to check against the limit.
            let chunked =
                "POST /v1/functions/echo/invoke HTTP/1.1\r\nHost: t\r\nContent-Type: text/plain\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nhi\r\n0\r\n\r\n"
            let answers = try await RawHTTP.exchange(port: port, chunked, responses: 1).responses
            #expect(answers.map(\.status) == [404])
        }
    }

    @Test func answersPipelinedRequestsInOrder() async throws {
        let port = try TestSupport.freePort()
        try await Self.serve(Self.host(), port: port) {
            let requests = [
                RawHTTP.invoke("one"),
                "GET /ping HTTP/1.1\r\nHost: t\r\n\r\n",
                RawHTTP.invoke("two", function: "slow", query: "?sleep_ms=100"),
                RawHTTP.invoke("three", query: "?repeat=99"),
                RawHTTP.invoke("four", function: "nothing"),
                RawHTTP.invoke("five", query: "?upper=true"),
            ]
            let answers = try await RawHTTP.exchange(port: port, requests.joined(), responses: requests.count).responses
            #expect(answers.map(\.status) == [200, 200, 200, 400, 404, 200])
            try #require(answers.count == 6)
            #expect(answers[0].body == "one" && answers[1].body == "pong" && answers[5].body == "FIVE")
            #expect(answers[2].body.hasPrefix("instance="), "the slow function's answer")
            #expect(answers[3].body.contains(#""bad_option""#) && answers[4].body.contains(#""not_found""#))
        }
    }

    /// Reading resumes once held requests are answered, and a body may
    /// come in pieces, or be empty.
    @Test func readsOnAfterPipelinedRequestsAndTakesBodiesInPieces() async throws {
        let port = try TestSupport.freePort()
        try await Self.serve(Self.host(), port: port) {
            try await RawHTTP.session(port: port) { connection in
                try await connection.send(RawHTTP.invoke("a", function: "slow", query: "?sleep_ms=50") + RawHTTP.invoke("b") + RawHTTP.invoke(""))
                let answers = try await connection.read(responses: 3).responses
                #expect(answers.map(\.status) == [200, 200, 200])
                #expect(answers.map(\.body).dropFirst() == ["b", ""])
                let whole = RawHTTP.invoke("split body")
                try await connection.send(String(whole.dropLast(5)))
                try await Task.sleep(for: .milliseconds(50))
                try await connection.send(String(whole.suffix(5)))
                #expect(try await connection.read(responses: 1).responses.map(\.body) == ["split body"])
            }
        }
    }

    /// A router answer that comes before its request's body has arrived,
    /// and a parse error behind an invocation, keep the connection's order.
    @Test func keepsOrderAroundEarlyAnswersAndParseErrors() async throws {
        let port = try TestSupport.freePort()
        try await Self.serve(Self.host(), port: port) {
            try await RawHTTP.session(port: port) { connection in
                try await connection.send("POST /early HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\n\r\nab")
                #expect(try await connection.read(responses: 1).responses.map(\.body) == ["early"])
                try await connection.send("cde" + RawHTTP.invoke("after"))
                #expect(try await connection.read(responses: 1).responses.map(\.body) == ["after"])
                try await connection.send(RawHTTP.invoke("x", function: "slow", query: "?sleep_ms=100") + "NOT HTTP AT ALL\r\n\r\n")
                let (answers, closed) = try await connection.read(responses: 3)
                #expect(answers.map(\.status) == [200, 400])
                #expect(closed)
            }
        }
    }

    @Test func closesTheConnectionWhenAskedToAndTakesNothingAfter() async throws {
        let port = try TestSupport.freePort()
        let host = try Self.host()
        try await Self.serve(host, port: port) {
            let requests = RawHTTP.invoke("bye", headers: "Connection: close\r\n") + RawHTTP.invoke("ignored", function: "slow")
            let closing = try await RawHTTP.exchange(port: port, requests, responses: 2)
            #expect(closing.responses.map(\.body) == ["bye"])
            #expect(closing.closedByServer)
            // The same when the router answers the request that asks to close.
            let routed = try await RawHTTP.exchange(
                port: port, "GET /ping HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n" + RawHTTP.invoke("ignored", function: "slow"), responses: 2)
            #expect(routed.responses.map(\.body) == ["pong"])
            #expect(routed.closedByServer)
            try await Task.sleep(for: .milliseconds(100))
            #expect(Self.metrics(host).contains(#"describer_batch_size_count{function="slow"} 0"#), "the request after it never ran")
        }
    }

    @Test func answersAHalfClosedConnectionAndClosesOneCutOffMidBody() async throws {
        let port = try TestSupport.freePort()
        try await Self.serve(Self.host(), port: port) {
            // The client has said all it will; the answer still comes, after the function's 200 ms.
            let halfClosed = try await RawHTTP.exchange(
                port: port, RawHTTP.invoke("late", function: "slow", query: "?sleep_ms=200"), responses: 1, halfClose: true
            )
            #expect(halfClosed.responses.map(\.status) == [200])
            // A body that can never be complete: the server ends the connection rather than wait.
            let cutOff = "POST /v1/functions/echo/invoke HTTP/1.1\r\nHost: t\r\nContent-Type: text/plain\r\nContent-Length: 10\r\n\r\nabc"
            let (answers, closed) = try await RawHTTP.exchange(port: port, cutOff, responses: 2, halfClose: true)
            #expect(closed)
            #expect(answers.allSatisfy { $0.status == 400 })
        }
    }

    /// A caller that hangs up while queued gives its place back: with a
    /// queue of one, the next caller is admitted rather than refused.
    @Test func aCallerThatHangsUpLeavesTheQueue() async throws {
        let port = try TestSupport.freePort()
        let host = try Self.host()
        try await Self.serve(host, port: port) {
            try await withThrowingTaskGroup(of: Int.self) { group in
                group.addTask {
                    try await RawHTTP.exchange(port: port, RawHTTP.invoke("busy", function: "slow", query: "?sleep_ms=1500"), responses: 1).responses[0].status
                }
                try await Self.waitFor(host) { $0.busy == 1 }
                try await RawHTTP.hangUp(port: port, after: RawHTTP.invoke("queued", function: "slow")) {
                    try await Self.waitFor(host) { $0.queueDepth == 1 }
                }
                try await Self.waitFor(host) { $0.queueDepth == 0 }
                group.addTask {
                    try await RawHTTP.exchange(port: port, RawHTTP.invoke("next", function: "slow"), responses: 1).responses[0].status
                }
                var statuses: [Int] = []
                for try await status in group { statuses.append(status) }
                #expect(statuses == [200, 200])
            }
            #expect(Self.metrics(host).contains(#"describer_invocations_total{function="slow",outcome="cancelled"} 1"#))
        }
    }

    /// A full queue is refused at once, as through the router.
    @Test func aFullQueueAnswers429WithRetryAfter() async throws {
        let port = try TestSupport.freePort()
        let host = try Self.host()
        try await Self.serve(host, port: port) {
            try await withThrowingTaskGroup(of: Int.self) { group in
                group.addTask {
                    try await RawHTTP.exchange(port: port, RawHTTP.invoke("busy", function: "slow", query: "?sleep_ms=1000"), responses: 1).responses[0].status
                }
                try await Self.waitFor(host) { $0.busy == 1 }
                group.addTask {
                    try await RawHTTP.exchange(port: port, RawHTTP.invoke("queued", function: "slow"), responses: 1).responses[0].status
                }
                try await Self.waitFor(host) { $0.queueDepth == 1 }
                try await RawHTTP.session(port: port) { connection in
                    try await connection.send(RawHTTP.invoke("refused", function: "slow"))
                    let answers = try await connection.read(responses: 1).responses
                    #expect(answers.map(\.status) == [429])
                    #expect(answers.first?.body.contains(#""code":"queue_full""#) == true)
                    #expect(connection.received.contains("Retry-After: 1\r\n"))
                }
                var statuses: [Int] = []
                for try await status in group { statuses.append(status) }
                #expect(statuses == [200, 200])
            }
        }
    }

    /// Shutdown quiesces each connection; one waiting for an invocation
    /// gets its answer, and the answer to the request held behind it,
    /// before it is closed.
    @Test func aGracefulShutdownLetsTheAnswerOut() async throws {
        let port = try TestSupport.freePort()
        let host = try Self.host()
        let application = Self.application(host, port: port)
        let services = ServiceGroup(services: [application], logger: TestSupport.logger)
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await services.run() }
            try await Self.waitFor(host) { _ in host.isReady }
            let requests = RawHTTP.invoke("last", function: "slow", query: "?sleep_ms=500") + RawHTTP.invoke("held")
            async let answer = RawHTTP.exchange(port: port, requests, responses: 3)
            try await Self.waitFor(host) { $0.busy == 1 }
            await services.triggerGracefulShutdown()
            let (responses, closed) = try await answer
            #expect(responses.map(\.status) == [200, 200])
            #expect(responses.last?.body == "held")
            #expect(closed, "closed after the answer")
            try await group.waitForAll()
        }
    }

    @Test func takesOnlyRequestsCarryingTheAPIToken() async throws {
        let token = "fast-path-token-0123456789"
        // Here the router has no invoke route: a request without the right token meets its 404.
        try await Self.application(Self.host(config: "server: { api_token: \(token) }")).test(.live) { client in
            for (authorization, status) in [(nil, HTTPResponse.Status.notFound), ("Bearer \(token)x", .notFound), ("Bearer \(token)", .ok)] {
                var headers: HTTPFields = [.contentType: "text/plain"]
                if let authorization { headers[.authorization] = authorization }
                try await client.execute(uri: "/v1/functions/echo/invoke", method: .post, headers: headers, body: ByteBuffer(string: "x")) { response in
                    #expect(response.status == status, "\(authorization ?? "no token")")
                }
            }
        }
        // In the full application, the router's middleware refuses it.
        let host = try Self.host(config: "server: { api_token: \(token) }")
        try await buildApplication(host: host, logger: TestSupport.logger).test(.live) { client in
            for (authorization, status) in [(nil, HTTPResponse.Status.unauthorized), ("Bearer \(token)x", .unauthorized), ("Bearer \(token)", .ok)] {
                var headers: HTTPFields = [.contentType: "text/plain"]
                if let authorization { headers[.authorization] = authorization }
                try await client.execute(uri: "/v1/functions/echo/invoke", method: .post, headers: headers, body: ByteBuffer(string: "x")) { response in
                    #expect(response.status == status, "\(authorization ?? "no token")")
                }
            }
        }
    }

    @Test func findsTheFunctionNameInThePath() {
        #expect(InvocationChannelHandler.functionName(invokedBy: "/v1/functions/echo/invoke") == "echo")
        #expect(InvocationChannelHandler.functionName(invokedBy: "/v1/functions/echo/invoke?upper=true") == "echo")
        #expect(InvocationChannelHandler.functionName(invokedBy: "/v1/functions//invoke") == nil)
        #expect(InvocationChannelHandler.functionName(invokedBy: "/v1/functions/a/b/invoke") == nil)
        #expect(InvocationChannelHandler.functionName(invokedBy: "/v1/functions/echo/invoke/") == nil)
        #expect(InvocationChannelHandler.functionName(invokedBy: "/v1/functions/invoke") == nil)
        #expect(InvocationChannelHandler.functionName(invokedBy: "/v2/functions/echo/invoke") == nil)
    }

    @Test func formatsTheDateAsHTTPWants() {
        #expect(HTTPDate.format(seconds: 0) == "Thu, 01 Jan 1970 00:00:00 GMT")
        #expect(HTTPDate.format(seconds: 1_796_459_405) == "Sat, 05 Dec 2026 08:30:05 GMT")
    }

    // MARK: Helpers

    /// Runs the fast path's application on `port` while `body` runs.
    static func serve(_ host: FunctionHost, port: Int, _ body: () async throws -> Void) async throws {
        let application = application(host, port: port)
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await application.runService() }
            defer { group.cancelAll() }
            try await waitFor(host) { _ in host.isReady }
            try await body()
        }
    }

    static func metrics(_ host: FunctionHost) -> String {
        var bytes: [UInt8] = []
        host.emitMetrics(into: &bytes)
        return String(decoding: bytes, as: UTF8.self)
    }

    /// Polls the slow function's pool (every 10 ms, for up to 10 s) until `condition` holds.
    static func waitFor(_ host: FunctionHost, _ condition: (PoolSnapshot) -> Bool) async throws {
        for _ in 0..<1000 {
            if let snapshot = host.entry(named: "slow")?.pool?.snapshot, condition(snapshot) { return }
            try await Task.sleep(for: .milliseconds(10))
        }
        throw TestError("the condition never held")
    }
}

/// HTTP/1.1 bytes exactly as given, over a TCP connection: pipelined
/// requests, a half-close, a hang-up.
enum RawHTTP {
    struct Answer: Equatable {
        var status: Int
        var body: String
    }

    static func invoke(_ body: String, function: String = "echo", query: String = "", headers: String = "") -> String {
        "POST /v1/functions/\(function)/invoke\(query) HTTP/1.1\r\nHost: t\r\nContent-Type: text/plain\r\n\(headers)Content-Length: \(body.utf8.count)\r\n\r\n\(body)"
    }

    /// Connects, retrying for up to 5 s while nothing listens yet: a host
    /// can be ready before its server has bound the port (seen in CI).
    static func connect(port: Int) async throws -> NIOAsyncChannel<ByteBuffer, ByteBuffer> {
        let giveUp = ContinuousClock.now + .seconds(5)
        while true {
            do {
                return try await connectOnce(port: port)
            } catch {
                guard ContinuousClock.now < giveUp else { throw error }
                try await Task.sleep(for: .milliseconds(10))
            }
        }
    }

    private static func connectOnce(port: Int) async throws -> NIOAsyncChannel<ByteBuffer, ByteBuffer> {
        try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .channelOption(.allowRemoteHalfClosure, value: true)
            .connect(host: "127.0.0.1", port: port) { channel in
                channel.eventLoop.makeCompletedFuture {
                    try NIOAsyncChannel<ByteBuffer, ByteBuffer>(wrappingChannelSynchronously: channel, configuration: .init(isOutboundHalfClosureEnabled: true))
                }
            }
    }

    /// Sends `requests` at once and reads until `responses` answers are in
    /// or the server closes the connection.
    static func exchange(port: Int, _ requests: String, responses: Int, halfClose: Bool = false) async throws -> (responses: [Answer], closedByServer: Bool) {
        try await session(port: port) { connection in
            try await connection.send(requests)
            if halfClose { connection.halfClose() }
            return try await connection.read(responses: responses)
        }
    }

    /// One connection, for several exchanges in turn.
    static func session<T>(port: Int, _ body: (Session) async throws -> T) async throws -> T {
        let channel = try await connect(port: port)
        return try await channel.executeThenClose { inbound, outbound in
            try await body(Session(channel: channel.channel, inbound: inbound.makeAsyncIterator(), outbound: outbound))
        }
    }

    final class Session {
        let channel: any Channel
        var inbound: NIOAsyncChannelInboundStream<ByteBuffer>.AsyncIterator
        let outbound: NIOAsyncChannelOutboundWriter<ByteBuffer>
        /// Everything received, and how many answers in it were returned.
        var received = ""
        var answered = 0
        var closed = false

        init(channel: any Channel, inbound: NIOAsyncChannelInboundStream<ByteBuffer>.AsyncIterator, outbound: NIOAsyncChannelOutboundWriter<ByteBuffer>) {
            self.channel = channel
            self.inbound = inbound
            self.outbound = outbound
        }

        func send(_ text: String) async throws { try await outbound.write(ByteBuffer(string: text)) }

        func halfClose() { outbound.finish() }

        /// Reads until `responses` more answers are in or the server closed
        /// the connection; gives up (closing it, and throwing) after 10 s.
        func read(responses: Int) async throws -> (responses: [Answer], closedByServer: Bool) {
            let channel = channel
            let deadline = Task {
                try await Task.sleep(for: .seconds(10))
                try await channel.close()
            }
            defer { deadline.cancel() }
            let start = ContinuousClock.now
            while true {
                let answers = RawHTTP.parse(received).dropFirst(answered)
                if answers.count >= responses || answers.count > 0 && closed {
                    answered += answers.count
                    return (Array(answers), closed)
                }
                if closed { return ([], true) }
                if let chunk = try await inbound.next() {
                    received += String(buffer: chunk)
                } else {
                    // Closed by the deadline above is not closed by the server.
                    guard ContinuousClock.now - start < .seconds(10) else { throw TestError("no answer within 10 s") }
                    closed = true
                }
            }
        }
    }

    /// Sends `request`, runs `meanwhile`, and resets the connection without
    /// waiting for an answer. (A plain close would reach the server as a
    /// half-close, after which a client may still read its answer.)
    static func hangUp(port: Int, after request: String, meanwhile: () async throws -> Void) async throws {
        let channel = try await connect(port: port)
        guard let socket = channel.channel as? any SocketOptionProvider else { throw TestError("not a socket") }
        try await socket.setSoLinger(linger(l_onoff: 1, l_linger: 0)).get()
        try await channel.executeThenClose { _, outbound in
            try await outbound.write(ByteBuffer(string: request))
            try await meanwhile()
        }
    }

    /// The complete responses at the start of `text` (bodies framed by Content-Length).
    static func parse(_ text: String) -> [Answer] {
        var answers: [Answer] = []
        var rest = Substring(text)
        while let headEnd = rest.range(of: "\r\n\r\n") {
            let head = rest[..<headEnd.lowerBound].split(separator: "\r\n")
            guard let statusLine = head.first, let status = Int(statusLine.split(separator: " ")[1]) else { break }
            let length =
                head.dropFirst().compactMap { line -> Int? in
                    let parts = line.split(separator: ":", maxSplits: 1)
                    return parts.count == 2 && parts[0].lowercased() == "content-length" ? Int(parts[1].trimmingCharacters(in: .whitespaces)) : nil
                }.first ?? 0
            let body = rest[headEnd.upperBound...]
            guard body.utf8.count >= length else { break }
            let end = body.utf8.index(body.startIndex, offsetBy: length)
            answers.append(Answer(status: status, body: String(body[..<end])))
            rest = body[end...]
        }
        return answers
    }
}
