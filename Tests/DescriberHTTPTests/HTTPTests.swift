import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import NIOCore
import ServerTestSupport
import TestSupport
import Testing

@testable import DescriberHTTP
@testable import DescriberHost
@testable import DescriberServer

/// The HTTP routes, through the real application factory.
@Suite struct HTTPTests {
    static func application(_ extraManifests: [String: String] = [:], config: String? = nil) throws -> some ApplicationProtocol {
        var manifests = [
            "echo": """
            library: \(try TestSupport.library("echo", source: TestSupport.echoSource))
            input: { content_types: ["text/*", "application/octet-stream"], max_bytes: 64 }
            scaling: { max_instances: 1 }
            request_options:
              upper: { type: bool }
              repeat: { type: integer, min: 1, max: 8 }
            """,
            "slow": TestSupport.manifest(
                library: try TestSupport.library("plain", defines: ["TESTFN_CAPS=0"]),
                "scaling: { min_instances: 1, max_instances: 1 }\nqueue: { max_depth: 0 }"),
            "broken": TestSupport.manifest(library: try TestSupport.library("major2", defines: ["TESTFN_ABI_MAJOR=2"])),
        ]
        manifests.merge(extraManifests) { $1 }
        let host = try TestSupport.host(manifests, config: config)
        return buildApplication(host: host, logger: TestSupport.logger)
    }

    static func errorBody(_ response: TestResponse) -> String { String(buffer: response.body) }

    /// echo's answer to "hi" with `?upper=true&repeat=2` and a `text/plain; charset=utf-8` body,
    /// on its first call (a cold start), with the route's fields.
    static func expectUpperRepeatedAnswer(_ response: TestResponse) throws {
        #expect(response.status == .ok)
        #expect(String(buffer: response.body) == "HIHI")
        #expect(response.headers[.contentType] == "text/plain; charset=utf-8")
        #expect(response.headers[.coldStart] == "true")
        let timing = try #require(response.headers[.serverTiming])
        #expect(timing.hasPrefix("queue;dur=") && timing.contains(", init;dur=") && timing.contains(", exec;dur="))
    }

    @Test func invokesAFunctionAndReportsColdStartAndTimings() async throws {
        try await Self.application().test(.router) { client in
            try await client.execute(
                uri: "/v1/functions/echo/invoke?upper=true&repeat=2", method: .post,
                headers: [.contentType: "text/plain; charset=utf-8"], body: ByteBuffer(string: "hi")
            ) { response in
                try Self.expectUpperRepeatedAnswer(response)
            }
            try await client.execute(uri: "/v1/functions/echo/invoke", method: .post, headers: [.contentType: "text/plain"], body: ByteBuffer(string: "x")) {
                response in
                #expect(response.headers[HTTPField.Name("X-Describer-Cold-Start")!] == "false")
            }
        }
    }

    @Test func serverTimingGivesMillisecondsWithMicrosecondDecimals() {
        let timings = InvocationTimings(
            queue: .nanoseconds(999), initialization: .microseconds(1_500), execution: .nanoseconds(12_345_678_901), batchSize: 1
        )
        #expect(timings.serverTimingHeader == "queue;dur=0.000, init;dur=1.500, exec;dur=12345.678")
        #expect(InvocationTimings.milliseconds(.microseconds(7)) == "0.007")
        #expect(InvocationTimings.milliseconds(.microseconds(70)) == "0.070")
        #expect(InvocationTimings.milliseconds(.milliseconds(1_000)) == "1000.000")
        // The longest value there is: the clamped maximum.
        #expect(InvocationTimings.milliseconds(.seconds(Int64.max)) == "18446744073709.551")
        #expect(InvocationTimings.milliseconds(.seconds(-1)) == "0.000")
    }

    struct ErrorCase: Sendable, CustomTestStringConvertible {
        var uri: String
        var method: HTTPRequest.Method = .post
        var contentType = "text/plain"
        var body = "x"
        var headers: [(String, String)] = []
        var status: HTTPResponse.Status
        var code: String
        var testDescription: String { "\(status.code) \(code)" }
    }

    static let errorCases: [ErrorCase] = [
        ErrorCase(uri: "/v1/functions/echo/invoke?repeat=99", status: .badRequest, code: "bad_option"),
        ErrorCase(uri: "/v1/functions/echo/invoke?volume=11", status: .badRequest, code: "bad_option"),
        ErrorCase(uri: "/v1/functions/echo/invoke", headers: [("X-Describer-Timeout-Ms", "soon")], status: .badRequest, code: "bad_option"),
        ErrorCase(uri: "/v1/functions/echo/invoke", headers: [("X-Describer-Timeout-Ms", "999999999")], status: .badRequest, code: "bad_option"),
        ErrorCase(uri: "/v1/functions/echo/invoke", headers: [("X-Describer-Timeout-Ms", "9223372036854775807")], status: .badRequest, code: "bad_option"),
        ErrorCase(uri: "/v1/functions/echo/invoke", headers: [("X-Describer-Timeout-Ms", "18446744074000")], status: .badRequest, code: "bad_option"),
        ErrorCase(uri: "/v1/functions/nothing/invoke", status: .notFound, code: "unknown_function"),
        ErrorCase(uri: "/v1/nowhere", method: .get, status: .notFound, code: "not_found"),
        ErrorCase(uri: "/v1/functions/echo/invoke", body: String(repeating: "x", count: 65), status: .contentTooLarge, code: "payload_too_large"),
        ErrorCase(uri: "/v1/functions/echo/invoke", contentType: "image/jpeg", status: .unsupportedMediaType, code: "unsupported_media_type"),
        ErrorCase(uri: "/v1/functions/broken/invoke", status: .serviceUnavailable, code: "function_unavailable"),
        ErrorCase(uri: "/v1/functions/slow/invoke?fail=failed", status: .badGateway, code: "function_failed"),
        ErrorCase(
            uri: "/v1/functions/slow/invoke?sleep_ms=500", headers: [("X-Describer-Timeout-Ms", "50")], status: .gatewayTimeout, code: "deadline_exceeded"),
    ]

    /// Through the router alone, and over a socket, where the invoke
    /// route's fast path answers what it takes and passes on the rest.
    @Test(arguments: errorCases, [false, true])
    func everyErrorIsJSONWithTheRightStatus(_ errorCase: ErrorCase, live: Bool) async throws {
        try await Self.application().test(live ? .live : .router) { client in
            var headers: HTTPFields = [.contentType: errorCase.contentType]
            for (name, value) in errorCase.headers { headers[HTTPField.Name(name)!] = value }
            try await client.execute(uri: errorCase.uri, method: errorCase.method, headers: headers, body: ByteBuffer(string: errorCase.body)) { response in
                #expect(response.status == errorCase.status, "\(Self.errorBody(response))")
                #expect(response.headers[.contentType] == "application/json")
                let body = Self.errorBody(response)
                #expect(body.hasPrefix(#"{"error":{"code":"\#(errorCase.code)","message":""#), "\(body)")
            }
        }
    }

    @Test func aFullQueueAnswers429WithRetryAfter() async throws {
        try await Self.application().test(.router) { client in
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask {
                    // Long enough to still be running when the next request arrives, even on a loaded machine.
                    try await client.execute(
                        uri: "/v1/functions/slow/invoke?sleep_ms=3000", method: .post, headers: [.contentType: "text/plain"], body: ByteBuffer(string: "x")
                    ) { response in
                        #expect(response.status == .ok)
                    }
                }
                var busy = false
                for _ in 0..<500 where !busy {
                    try await client.execute(uri: "/v1/functions/slow", method: .get) { response in
                        busy = String(buffer: response.body).contains(#""busy":1"#)
                    }
                    if !busy { try await Task.sleep(for: .milliseconds(10)) }
                }
                // The gauges are read from the pool when metrics are scraped.
                try await client.execute(uri: "/metrics", method: .get) { response in
                    let text = String(buffer: response.body)
                    #expect(text.contains(#"describer_instances{function="slow",state="busy"} 1"#), "\(text)")
                    #expect(text.contains(#"describer_instances{function="slow",state="idle"} 0"#))
                    #expect(text.contains(#"describer_queue_depth{function="slow"} 0"#))
                }
                try await client.execute(uri: "/v1/functions/slow/invoke", method: .post, headers: [.contentType: "text/plain"], body: ByteBuffer(string: "x"))
                { response in
                    #expect(response.status == .tooManyRequests)
                    #expect(response.headers[.retryAfter] == "1")
                    #expect(Self.errorBody(response).contains(#""code":"queue_full""#))
                }
                try await group.waitForAll()
            }
        }
    }

    @Test func listsFunctionsWithStateInstancesAndEffectiveConfig() async throws {
        try await Self.application(config: "functions:\n  echo:\n    queue: { max_depth: 7 }").test(.router) { client in
            try await client.execute(uri: "/v1/functions", method: .get) { response in
                #expect(response.status == .ok)
                let body = String(buffer: response.body)
                #expect(body.contains(#""name":"broken""#) && body.contains(#""state":"unavailable""#))
                #expect(body.contains("ABI 2.2"))
            }
            try await client.execute(uri: "/v1/functions/echo", method: .get) { response in
                let body = String(buffer: response.body)
                #expect(body.contains(#""state":"ready""#))
                #expect(body.contains(#""instances":{"busy":0,"idle":0,"starting":0,"stuck":0}"#), "\(body)")
                #expect(body.contains(#""queue":{"max_depth":7}"#), "the deployment override is the effective value")
                #expect(body.contains(#""reentrant":true"#))
            }
            try await client.execute(uri: "/v1/functions/nope", method: .get) { response in
                #expect(response.status == .notFound)
            }
        }
    }

    @Test func exposesPrometheusMetrics() async throws {
        try await Self.application().test(.router) { client in
            try await client.execute(uri: "/v1/functions/echo/invoke", method: .post, headers: [.contentType: "text/plain"], body: ByteBuffer(string: "x")) {
                _ in
            }
            try await client.execute(
                uri: "/v1/functions/echo/invoke?repeat=0", method: .post, headers: [.contentType: "text/plain"], body: ByteBuffer(string: "x")
            ) { _ in }
            let expected = [
                #"describer_invocations_total{function="echo",outcome="ok"} 1"#,
                #"describer_invocation_duration_seconds_bucket{function="echo""#,
                #"describer_queue_depth{function="echo"} 0"#,
                #"describer_instances{function="echo",state="idle"} 1"#,
                #"describer_instances{function="slow",state="idle"} 1"#,
                #"describer_cold_starts_total{function="echo"} 1"#,
                #"describer_batch_size_bucket{function="echo""#,
            ]
            // The pre-warmed instance of `slow` may still be starting: poll briefly.
            var text = ""
            for _ in 0..<200 {
                try await client.execute(uri: "/metrics", method: .get) { response in
                    #expect(response.status == .ok)
                    text = String(buffer: response.body)
                }
                if expected.allSatisfy({ text.contains($0) }) { break }
                try await Task.sleep(for: .milliseconds(10))
            }
            for series in expected {
                #expect(text.contains(series), "missing \(series)")
            }
        }
    }

    @Test func healthAndReadiness() async throws {
        try await Self.application().test(.router) { client in
            try await client.execute(uri: "/healthz", method: .get) { response in
                #expect(response.status == .ok)
            }
            var ready = false
            for _ in 0..<100 where !ready {
                try await client.execute(uri: "/readyz", method: .get) { response in
                    ready = response.status == .ok
                    if ready {
                        let body = String(buffer: response.body)
                        #expect(body.contains(#""broken":"unavailable""#) && body.contains(#""echo":"ready""#))
                    }
                }
                if !ready { try await Task.sleep(for: .milliseconds(20)) }
            }
            #expect(ready, "ready once pre-warming finished")
        }
    }

    @Test func servesOverARealSocket() async throws {
        try await Self.application().test(.live) { client in
            try await client.execute(
                uri: "/v1/functions/echo/invoke?upper", method: .post, headers: [.contentType: "text/plain"], body: ByteBuffer(string: "live")
            ) { response in
                #expect(response.status == .ok)
                #expect(String(buffer: response.body) == "LIVE")
            }
        }
    }
}

extension HTTPTests {
    /// A chunked body has no Content-Length to refuse up front; past the
    /// limit it is refused as it arrives, with the same 413 JSON error as an
    /// announced one, on the routes that read a body (issue 19: it was 500).
    @Test func aChunkedBodyOverTheLimitIs413OnEveryRoute() async throws {
        try await Self.application().test(.live) { client in
            let port = try #require(client.port)
            let chunk = String(repeating: "x", count: 100)
            for (path, type) in [("/v1/functions/echo/invoke", "text/plain"), ("/v1/describe?verbosity=brief", "image/jpeg")] {
                let size = path.hasPrefix("/v1/describe") ? 21 << 20 : chunk.utf8.count
                var request = "POST \(path) HTTP/1.1\r\nHost: t\r\nContent-Type: \(type)\r\nTransfer-Encoding: chunked\r\n\r\n"
                let piece = String(repeating: "x", count: 1 << 16)
                var sent = 0
                while sent < size {
                    let part = size - sent >= piece.utf8.count ? piece : String(repeating: "x", count: size - sent)
                    request += String(part.utf8.count, radix: 16) + "\r\n" + part + "\r\n"
                    sent += part.utf8.count
                }
                request += "0\r\n\r\n"
                let answers = try await RawHTTP.exchange(port: port, request, responses: 1).responses
                #expect(answers.map(\.status) == [413], "\(path): \(answers)")
                #expect(answers.first?.body.contains(#""code":"payload_too_large""#) == true, "\(path): \(answers)")
            }
        }
    }
}

extension HTTPTests {
    /// Gap 5 of issue 19: calls that hang in an in-process function, long
    /// past their deadlines, are reported (state, `/readyz`, metrics), and
    /// new work goes to another instance or is refused at once.
    @Test func aStuckInProcessFunctionIsReportedAndRefusesAtOnce() async throws {
        try await Self.application().test(.router) { client in
            func hang() async throws {
                try await client.execute(
                    uri: "/v1/functions/slow/invoke?sleep_ms=2500&stubborn=true", method: .post, headers: [.timeoutMilliseconds: "100"],
                    body: ByteBuffer(string: "x")
                ) { response in
                    #expect(response.status == .gatewayTimeout)
                }
            }
            func state() async throws -> [String: Any] {
                try await client.execute(uri: "/v1/functions/slow", method: .get) { response in
                    try #require(try JSONSerialization.jsonObject(with: Data(buffer: response.body)) as? [String: Any])
                }
            }
            func waitForState(_ wanted: String) async throws {
                for _ in 0..<500 {
                    if try await state()["state"] as? String == wanted { return }
                    try await Task.sleep(for: .milliseconds(10))
                }
                Issue.record("slow never became \(wanted)")
            }
            try await hang()
            try await waitForState("degraded")
            #expect((try await state()["instances"] as? [String: Any])?["stuck"] as? Int == 1)
            try await client.execute(uri: "/metrics", method: .get) { response in
                let text = String(buffer: response.body)
                #expect(text.contains(#"describer_stuck_calls_total{function="slow"} 1"#))
                #expect(text.contains(#"describer_instances{function="slow",state="stuck"} 1"#))
            }
            try await client.execute(uri: "/readyz", method: .get) { response in
                #expect(response.status == .ok, "another instance serves")
            }
            // The second instance (max_instances is 1, but a stuck one does not count) hangs too.
            try await hang()
            try await waitForState("stuck")
            try await client.execute(uri: "/readyz", method: .get) { response in
                #expect(response.status == .serviceUnavailable)
                #expect(String(buffer: response.body).contains(#""slow":"stuck""#))
            }
            try await client.execute(uri: "/v1/functions/slow/invoke", method: .post, body: ByteBuffer(string: "x")) { response in
                #expect(response.status == .serviceUnavailable, "refused at once, not at its deadline")
                #expect(String(buffer: response.body).contains("is stuck in a call past its deadline"))
            }
            // The calls return at last: the function serves again.
            try await waitForState("ready")
            try await client.execute(uri: "/v1/functions/slow/invoke", method: .post, body: ByteBuffer(string: "x")) { response in
                #expect(response.status == .ok)
            }
        }
    }
}
