import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import NIOCore
import ServerTestSupport
import TestSupport
import Testing

@testable import DescriberServer

/// What Schemathesis found the server doing against openapi.yaml
/// (Tests/Compatibility/SCHEMATHESIS.md), each pinned by the smallest
/// request that showed it, on the real describing functions.
@Suite struct SchemathesisFindingsTests {
    static let dog = TestSupport.fixtures + "/images/dog.jpg"

    /// `rate` out of 80–900 was refused only when speech was asked for; a JSON
    /// description ignored it and answered 200, though the document bounds it.
    @Test(arguments: ["1000", "79", "fast"])
    func describeRefusesABadRateWithoutSpeechToo(rate: String) async throws {
        let host = try TestSupport.host(["caption": try BundledFunctions.caption()])
        try await buildApplication(host: host, logger: TestSupport.logger).test(.router) { client in
            try await client.execute(
                uri: "/v1/describe?rate=\(rate)", method: .post, headers: [.contentType: "image/jpeg"], body: try TestSupport.buffer(Self.dog)
            ) { response in
                #expect(response.status == .badRequest)
                #expect(String(buffer: response.body).contains(#""code":"bad_option""#), "\(String(buffer: response.body))")
            }
            try await client.execute(
                uri: "/v1/describe?rate=900", method: .post, headers: [.contentType: "image/jpeg"], body: try TestSupport.buffer(Self.dog)
            ) { response in
                #expect(response.status == .ok, "a rate within bounds is still taken, and unused without speech")
            }
        }
    }

    /// A deadline past a describing function's `timeout.maximum` was 502
    /// `describing_failed`, as if the functions had failed; it is the
    /// request's fault, 400 `bad_option`, as on the invoke route.
    @Test func describeRefusesADeadlinePastAFunctionsMaximum() async throws {
        let host = try TestSupport.host(["caption": try BundledFunctions.caption()])
        try await buildApplication(host: host, logger: TestSupport.logger).test(.router) { client in
            // caption's timeout.maximum is 60 s.
            try await client.execute(
                uri: "/v1/describe", method: .post, headers: [.contentType: "image/jpeg", HTTPField.Name("X-Describer-Timeout-Ms")!: "60001"],
                body: try TestSupport.buffer(Self.dog)
            ) { response in
                #expect(response.status == .badRequest)
                let body = String(buffer: response.body)
                #expect(body.contains(#""code":"bad_option""#) && body.contains("exceeds the maximum"), "\(body)")
            }
        }
    }
}
