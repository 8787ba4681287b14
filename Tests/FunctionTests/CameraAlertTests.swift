import Crypto
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import NIOCore
import ServerTestSupport
import Synchronization
import TestSupport
import Testing

@testable import Cameras
@testable import DescriberHost
@testable import DescriberServer
@testable import Describing

/// From camera snapshots to a signed alert at the camera's target: real
/// detections, incidents rather than frames, the outbox, a real receiver.
@Suite struct CameraAlertTests {
    static let secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"

    static func config(database: String, target: String) -> String {
        """
        cameras:
          front-door:
            name: Front Door
            credentials: { token: \(CameraFixture.token) }
            rules: { labels: [person], min_score: 0.4, cooldown: 90s }
            alert_targets:
              - { url: "\(target)", secret: \(secret) }
            time_zone: UTC
        camera_events:
          database: \(database)
          processing: { enabled: false }
        """
    }

    struct Listing: Decodable {
        var alerts: [Stored]
        struct Stored: Decodable {
            var id: Int
            var camera_id: String
            var alert: Body
        }
        struct Body: Decodable {
            var incident_id: String
            var opens_incident: Bool
            var text: String
            var speech: String
            var rule: String
            var changes: [String]
            var suppressed: String?
            var objects: [Object]
        }
        struct Object: Decodable {
            var label: String
            var count: Int
            var top_score: Double
        }
    }

    @Test func peopleWalkingPastAreOneIncidentAndItsAlertArrivesSigned() async throws {
        let receiver = WebhookReceiver([(200, [:])])
        try await receiver.application.test(.live) { target in
            let url = "http://127.0.0.1:\(target.port!)/hook"
            var manifests = try CameraProcessingTests.detectManifests()
            manifests["speak"] = try BundledFunctions.speak()
            let (host, deployment) = try TestSupport.deployment(manifests, config: Self.config(database: CameraFixture.databasePath(), target: url))
            let system = try CameraSystem(settings: deployment.cameras, host: host, logger: TestSupport.logger)
            let voices = try VoiceLibrary.load(directory: TestSupport.packageRoot + "/voices")
            try await buildApplication(host: host, voices: voices, cameras: system, logger: TestSupport.logger).test(.router) { client in
                for frame in ["vtest_040.jpg", "vtest_050.jpg", "vtest_060.jpg", "vtest_background.jpg"] {
                    try await CameraFixture.post(client, ByteBuffer(bytes: try CameraFixture.file(frame)), contentType: "image/jpeg")
                }
                await host.start()
                #expect(await system.service.processPending() == 4)

                let listing = try await client.execute(uri: "/v1/alerts", method: .get) { response in
                    #expect(response.status == .ok)
                    return try JSONDecoder().decode(Listing.self, from: Data(response.body.readableBytesView))
                }
                let alerts = listing.alerts.map(\.alert)
                // Three frames with people: one incident, opened once; later
                // alerts only when more people were seen than before.
                #expect(alerts.filter(\.opens_incident).count == 1, "\(alerts)")
                #expect(Set(alerts.map(\.incident_id)).count == 1)
                #expect(alerts.dropFirst().allSatisfy { $0.changes.allSatisfy { $0.hasPrefix("more person") } }, "\(alerts)")
                let first = try #require(alerts.first)
                let people = try #require(first.objects.first { $0.label == "person" }?.count)
                #expect(first.text.hasPrefix(people == 1 ? "Person at Front Door, " : "\(people) people at Front Door, "), "\(first.text)")
                #expect(
                    first.speech
                        == (people == 1 ? "A person is at the front door." : "\(AlertText.spokenNumber(people).capitalized) people are at the front door."))
                #expect(first.rule == "person with score ≥ 0.4")
                // The speech form, spoken with the camera's voice.
                try await client.execute(uri: "/v1/alerts/\(listing.alerts[0].id)/speech", method: .get) { response in
                    #expect(response.status == .ok, "\(String(buffer: response.body))")
                    #expect(response.headers[.contentType] == "audio/wav")
                    #expect(response.body.readableBytes > 10_000 && response.body.getString(at: 0, length: 4) == "RIFF")
                }
                try await client.execute(uri: "/v1/alerts/999999/speech", method: .get) { response in
                    #expect(response.status == .notFound)
                }
                // Bad queries are refused with the JSON error, naming what is wrong.
                for (uri, status, words) in [
                    ("/v1/alerts?limit=0", HTTPResponse.Status.badRequest, "limit must be between 1 and 500"),
                    ("/v1/alerts?since=yesterday", .badRequest, "since must be an ISO 8601 time"),
                    ("/v1/alerts?camera=back-door", .notFound, "no camera named 'back-door'"),
                    ("/v1/alerts/deliveries?state=lost", .badRequest, "state must be pending, delivered or dead"),
                ] {
                    try await client.execute(uri: uri, method: .get) { response in
                        #expect(response.status == status, "\(uri)")
                        #expect(String(buffer: response.body).contains(words), "\(uri): \(String(buffer: response.body))")
                    }
                }
                await host.shutdown()

                // The outbox sends each alert, signed; the receiver checks it as any Standard Webhooks receiver would.
                #expect(try await system.forwarder.deliverDue(now: Date()) == alerts.count)
                let received = receiver.received.withLock { $0 }
                #expect(received.count == alerts.count)
                let key = SymmetricKey(data: Data(base64Encoded: String(Self.secret.dropFirst("whsec_".count)))!)
                for message in received {
                    let id = try #require(message.headers["webhook-id"])
                    let timestamp = try #require(message.headers["webhook-timestamp"])
                    let mac = HMAC<SHA256>.authenticationCode(for: Data("\(id).\(timestamp).".utf8) + message.body, using: key)
                    #expect(message.headers["webhook-signature"] == "v1," + Data(mac).base64EncodedString())
                    let payload = try #require(try JSONSerialization.jsonObject(with: message.body) as? [String: Any])
                    #expect(["alert.created", "alert.updated"].contains(payload["type"] as? String))
                }
                try await client.execute(uri: "/v1/alerts/deliveries?state=delivered", method: .get) { response in
                    let body = String(buffer: response.body)
                    #expect(body.contains("\"delivered\":\(alerts.count)"), "\(body)")
                }
            }
        }
    }
}
