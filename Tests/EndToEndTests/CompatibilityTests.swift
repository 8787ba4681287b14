import Foundation
import GRDB
import Hummingbird
import HummingbirdTesting
import ServerTestSupport
import Synchronization
import TestSupport
import Testing

@testable import Cameras
@testable import DescriberHost
@testable import DescriberServer
@testable import DescriberTesting

/// Describer driven by the third-party libraries its users already run:
/// Home Assistant's DeepStack client, and the Standard Webhooks reference
/// verifier (Tests/Compatibility/clients.py; setup installs both from PyPI).
@Suite struct CompatibilityTests {
    static let script = TestSupport.packageRoot + "/Tests/Compatibility/clients.py"
    static let packages = TestSupport.packageRoot + "/.cache/python"

    /// Runs clients.py; fails with its output when it does not succeed.
    static func clients(_ arguments: [String]) throws -> String {
        guard FileManager.default.fileExists(atPath: packages + "/deepstack") else {
            throw TestError("the client libraries are not installed in \(packages); run scripts/setup test")
        }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", script] + arguments
        var environment = ProcessInfo.processInfo.environment
        environment["PYTHONPATH"] = packages
        process.environment = environment
        let output = Pipe()
        process.standardOutput = output
        process.standardError = output
        try process.run()
        let text = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        guard process.terminationStatus == 0 else { throw TestError("clients.py \(arguments.first ?? "") failed: \(text)") }
        return text
    }

    @Test func homeAssistantsDeepStackClientDetectsObjects() async throws {
        let host = try TestSupport.host(["detect": try BundledFunctions.detect()])
        try await buildApplication(host: host, logger: TestSupport.logger).test(.live) { client in
            let output = try Self.clients(["deepstack", "127.0.0.1", "\(client.port!)", TestSupport.fixtures + "/images/dog.jpg", "dog"])
            #expect(output.contains("\"dog\""), "\(output)")
        }
    }

    @Test func theReferenceVerifierAcceptsOurSignatures() async throws {
        let receiver = WebhookReceiver([(200, [:])])
        try await receiver.application.test(.live) { target in
            let database = try WebhookFixture.database(WebhookFixture.scratchDatabase())
            let outbox = WebhookOutbox(database: database)
            let payload = Data(#"{"type":"alert.created","timestamp":"2026-11-25T14:02:00Z","data":{"text":"Person at Front Door, 14:02"}}"#.utf8)
            try await database.write { db in
                _ = try WebhookOutbox.enqueue(db, cameraID: "front-door", urls: ["http://127.0.0.1:\(target.port!)/hook"], payload: payload, at: Date())
            }
            #expect(try await WebhookFixture.forwarder(outbox).deliverDue(now: Date()) == 1)
            let captured = receiver.received.withLock { received in
                received.map { ["headers": $0.headers, "body_base64": $0.body.base64EncodedString()] as [String: Any] }
            }
            let file = "\(TestSupport.scratch)/captured-\(UUID().uuidString).json"
            try JSONSerialization.data(withJSONObject: captured).write(to: URL(fileURLWithPath: file))
            let output = try Self.clients(["webhooks", file, "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"])
            #expect(output.contains("\"verified\": 1"), "\(output)")
        }
    }
}
