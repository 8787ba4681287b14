import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import NIOCore
import ServerTestSupport
import TestSupport
import Testing

@testable import Cameras
@testable import DescriberHost
@testable import DescriberServer
@testable import DescriberTesting

/// `functions/security-events` on the real camera sequence: motion, zones by
/// where objects stand, parked vehicles recognised as stationary, and state
/// carried from one snapshot to the next by the camera service.
@Suite struct SecurityEventsTests {
    static let directory = TestSupport.packageRoot + "/functions/security-events"

    static func manifest() throws -> String {
        let library = directory + "/libsecurity_events.so"
        guard FileManager.default.fileExists(atPath: library) else {
            throw TestError("\(library) is not built: run `make -C functions` (scripts/setup does)")
        }
        return try String(contentsOfFile: directory + "/function.yaml", encoding: .utf8)
            .replacingOccurrences(of: "library: libsecurity_events.so", with: "library: \(library)")
    }

    static func config(database: String) -> String {
        """
        cameras:
          street:
            name: Street
            authentication: none
            zones:
              path: [[0, 0.5], [1, 0.5], [1, 1], [0, 1]]
            rules: { labels: [person, vehicle], min_score: 0.4, cooldown: 90s }
            time_zone: UTC
        camera_events:
          database: \(database)
          processing: { enabled: false }
        """
    }

    struct Alerts: Decodable {
        var alerts: [Stored]
        struct Stored: Decodable {
            var event_id: Int
            var alert: Body
        }
        struct Body: Decodable {
            var text: String
            var objects: [Object]
        }
        struct Object: Decodable {
            var label: String
        }
    }

    @Test func aFixedCameraSeesMotionPeopleAndParkedVehicles() async throws {
        let (host, deployment) = try TestSupport.deployment(
            ["security-events": try Self.manifest()], config: Self.config(database: CameraFixture.databasePath()))
        let system = try CameraSystem(settings: deployment.cameras, host: host, logger: TestSupport.logger)
        let frames = ["vtest_background.jpg", "vtest_background.jpg", "vtest_040.jpg", "vtest_050.jpg", "vtest_060.jpg", "vtest_background.jpg"]
        try await buildApplication(host: host, cameras: system, logger: TestSupport.logger).test(.router) { client in
            for (index, frame) in frames.enumerated() {
                // The same picture twice is a duplicate by content: a key tells the repeats apart.
                try await client.execute(
                    uri: "/v1/cameras/street/events", method: .post,
                    headers: [.contentType: "image/jpeg", HTTPField.Name("Idempotency-Key")!: "frame-\(index)"],
                    body: ByteBuffer(bytes: try CameraFixture.file(frame))
                ) { response in
                    #expect(response.status == .accepted, "\(String(buffer: response.body))")
                }
            }
            await host.start()
            #expect(await system.service.processPending() == frames.count)
            await host.shutdown()

            let events = try await client.execute(uri: "/v1/cameras/street/events", method: .get) { response in
                try CameraFixture.decode(CameraFixture.EventPage.self, response).events
            }
            #expect(events.count == frames.count)
            #expect(events.allSatisfy { $0.status == "processed" && $0.detector == "security-events" }, "\(events.map(\.error))")
            func vehicles(_ index: Int) -> [CameraDetection] { events[index].detections.filter { $0.kind == "vehicle" } }
            func people(_ index: Int) -> [CameraDetection] { events[index].detections.filter { $0.kind == "person" } }

            // The parked van and car: new the first time, stationary from then on.
            #expect(!vehicles(0).isEmpty && vehicles(0).allSatisfy { !$0.stationary }, "\(vehicles(0))")
            #expect(!vehicles(1).isEmpty && vehicles(1).allSatisfy(\.stationary), "\(vehicles(1))")
            #expect(!vehicles(5).isEmpty && vehicles(5).allSatisfy(\.stationary), "\(vehicles(5))")
            // Nothing moves between two identical pictures; people walking in are motion.
            #expect(!events[1].detections.contains { $0.kind == "motion" })
            #expect(events[2].detections.contains { $0.kind == "motion" }, "\(events[2].detections)")
            // People, standing on the path in the lower half, are in its zone.
            #expect(people(2).count >= 2 && people(0).isEmpty && people(5).isEmpty)
            for person in people(3) {
                let box = try #require(person.box)
                #expect(person.zones == (box.y + box.height >= 0.5 ? ["path"] : []), "\(person)")
            }

            // Alerts: the parked vehicles once, when first seen; then the people; the empty scene afterwards, nothing.
            let alerts = try await client.execute(uri: "/v1/alerts", method: .get) { response in
                try JSONDecoder().decode(Alerts.self, from: Data(response.body.readableBytesView)).alerts
            }
            let byEvent = Dictionary(grouping: alerts, by: \.event_id)
            #expect(byEvent[events[1].id] == nil && byEvent[events[5].id] == nil, "\(alerts.map(\.alert.text))")
            #expect(alerts.contains { $0.alert.objects.contains { $0.label == "person" } }, "\(alerts.map(\.alert.text))")
        }
    }

    @Test func aBadCameraContextIsRefusedAndABadStateStartsAfresh() async throws {
        let host = try TestSupport.host(["security-events": try Self.manifest()])
        try await host.run { host in
            let image = ByteBuffer(bytes: try CameraFixture.file("vtest_050.jpg"))
            let bad = await host.result("security-events", InvocationRequest(body: image, contentType: "image/jpeg", options: [("camera", "[not json")]))
            #expect(bad.failure?.code == .invalidInput, "\(String(describing: bad))")
            let fresh = await host.result(
                "security-events", InvocationRequest(body: image, contentType: "image/jpeg", options: [("camera", "{}"), ("state", "not base64 at all!")])
            )
            let answer = try #require(fresh.success)
            let json = try #require(try JSONSerialization.jsonObject(with: Data(answer.body.readableBytesView)) as? [String: Any])
            #expect((json["events"] as? [[String: Any]])?.contains { $0["kind"] as? String == "person" } == true)
            #expect((json["state"] as? String)?.isEmpty == false)
        }
    }
}
