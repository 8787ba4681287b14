import DescriberServer
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import NIOCore
import ServerTestSupport
import TestSupport
import Testing

/// Crashing worker processes, seen from HTTP: each crash fails only its own
/// request, with a JSON error naming it.
@Suite struct ProcessIsolationHTTPTests {
    @Test func aHundredCrashesInterleavedWithGoodRequestsOverHTTP() async throws {
        let host = try TestSupport.host(["fn": try TestSupport.workerManifest("scaling: { max_instances: 2 }")])
        let app = buildApplication(host: host, logger: TestSupport.logger)
        try await app.test(.router) { client in
            let kinds = ["segfault", "abort", "exit"]
            for round in 0..<100 {
                try await client.execute(
                    uri: "/v1/functions/fn/invoke?misbehave=\(kinds[round % 3])", method: .post,
                    headers: [.contentType: "text/plain"], body: ByteBuffer(string: "boom")
                ) { response in
                    #expect(response.status == .badGateway)
                    #expect(response.headers[.contentType] == "application/json")
                    let body = String(buffer: response.body)
                    #expect(body.hasPrefix(#"{"error":{"code":"function_crashed","message":"the function's worker process "#), "\(body)")
                }
                try await client.execute(
                    uri: "/v1/functions/fn/invoke", method: .post, headers: [.contentType: "text/plain"], body: ByteBuffer(string: "fine")
                ) { response in
                    #expect(response.status == .ok)
                    #expect(String(buffer: response.body).hasPrefix("instance=1 batch=1 index=0 size=4"))
                }
            }
            try await client.execute(uri: "/v1/functions/fn", method: .get) { response in
                let body = String(buffer: response.body)
                #expect(body.contains(#""state":"ready""#), "good requests in between keep it out of a crash loop: \(body)")
                #expect(body.contains(#""crashes":100"#))
            }
        }
    }
}
