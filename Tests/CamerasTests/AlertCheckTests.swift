import DescriberConfiguration
import Foundation
import GRDB
import ServerTestSupport
import TestSupport
import Testing

@testable import Assist
@testable import Cameras
@testable import DescriberServer

/// A camera that asks helpers first (`ask_helpers`): an alert less sure
/// than the bar waits for a person's yes or no.
@Suite struct AlertCheckTests {
    struct Deployment {
        let cameras: CameraSystem
        let assist: AssistQueue
        let checker: AlertChecker
        let camera: CameraConfig
    }

    static func deployment(answerTimeout: String = "5m") throws -> Deployment {
        let data = TestSupport.scratch + "/alert-check-" + UUID().uuidString
        let (host, deployment) = try TestSupport.deployment(
            [:],
            config: """
                data_directory: \(data)
                cameras:
                  front-door:
                    name: Front Door
                    authentication: none
                    rules: { labels: [person], min_score: 0.3, cooldown: 0s }
                    alert_targets: [{ url: "https://hooks.example.net/describer", secret: whsec_abc }]
                    ask_helpers: { below_score: 0.6 }
                assist:
                  helpers: { mum: { name: Mum, token: mum-helper-token-0123456789 } }
                  answer_timeout: \(answerTimeout)
                """)
        let assist = try AssistQueue(config: deployment.assist, describer: nil, logger: TestSupport.logger)
        let cameras = try CameraSystem(settings: deployment.cameras, host: host, assist: assist, logger: TestSupport.logger)
        return Deployment(cameras: cameras, assist: assist, checker: try #require(cameras.checker), camera: deployment.cameras.cameras[0])
    }

    /// An event with a snapshot, and the alert a person seen with `score` raises.
    static func alert(_ deployment: Deployment, score: Double) async throws -> Int64 {
        let event = IncomingCameraEvent(
            cameraID: "front-door", source: .image, snapshot: try CameraFixture.file("vtest_050.jpg"), snapshotContentType: "image/jpeg", vendor: [:],
            idempotencyKey: IdempotencyKey(kind: .header, value: UUID().uuidString)
        )
        let id = try await deployment.cameras.store.accept(event, at: Date(), window: .seconds(60)).eventID
        let person = CameraDetection(
            kind: "person", label: "person", score: score, box: .init(x: 0.1, y: 0.1, width: 0.2, height: 0.5), zones: [], stationary: false)
        let camera = deployment.camera
        return try await deployment.cameras.store.database.write { db in
            _ = try #require(try AlertLedger.record(db, camera: camera, eventID: id, time: Date(), detections: [person]))
            return try #require(try Int64.fetchOne(db, sql: "SELECT max(id) FROM camera_alert"))
        }
    }

    static func pendingDeliveries(_ deployment: Deployment) async throws -> Int {
        try await deployment.cameras.outbox.counts()[.pending] ?? 0
    }

    static func stored(_ deployment: Deployment, _ id: Int64) async throws -> Alert {
        try #require(try await deployment.cameras.store.database.read { db in try AlertLedger.alert(db, id: id) }).alert
    }

    @Test func anUnsureAlertWaitsForAYesAndIsThenSent() async throws {
        let deployment = try Self.deployment()
        let id = try await Self.alert(deployment, score: 0.45)
        #expect(try await Self.pendingDeliveries(deployment) == 0, "held, not sent")
        await deployment.checker.checkAll()
        let waiting = try await deployment.assist.waiting()
        #expect(waiting.map(\.question) == ["Is there a person at Front Door? Answer yes or no."])
        #expect(waiting.map(\.kind) == [.yesNo], "the helper's page offers Yes and No")
        #expect(try await deployment.assist.store.photo(waiting[0].id)?.data == (try CameraFixture.file("vtest_050.jpg")), "the helper sees the snapshot")
        await deployment.checker.checkAll()
        #expect(try await Self.pendingDeliveries(deployment) == 0, "still waiting for the answer")

        let mum = deployment.assist.config.helpers[0]
        _ = try await deployment.assist.answer(waiting[0].id, by: mum, text: "Yes, a man with a parcel.", labels: nil)
        await deployment.checker.checkAll()
        #expect(try await Self.pendingDeliveries(deployment) == 1)
        let alert = try await Self.stored(deployment, id)
        #expect(alert.check == "confirmed by Mum" && alert.suppressed == nil)
        await deployment.checker.checkAll()
        #expect(try await Self.pendingDeliveries(deployment) == 1, "sent once")
    }

    /// Running as a service, the checker asks by itself, and settles as
    /// soon as the answer comes.
    @Test func theRunningCheckerAsksAndSettlesByItself() async throws {
        let deployment = try Self.deployment()
        let running = Task { try await deployment.checker.run() }
        defer { running.cancel() }
        let id = try await Self.alert(deployment, score: 0.45)
        deployment.checker.wake()
        var waiting: [AssistQuestion] = []
        for _ in 0..<500 where waiting.isEmpty {
            try await Task.sleep(for: .milliseconds(20))
            waiting = try await deployment.assist.waiting()
        }
        let question = try #require(waiting.first, "the held alert was not asked about")
        _ = try await deployment.assist.answer(question.id, by: deployment.assist.config.helpers[0], text: "Yes.", labels: nil)
        var check: String?
        for _ in 0..<500 where check == nil {
            try await Task.sleep(for: .milliseconds(20))
            check = try await Self.stored(deployment, id).check
        }
        #expect(check == "confirmed by Mum")
        #expect(try await Self.pendingDeliveries(deployment) == 1)
    }

    @Test func aNoWithholdsItAndSaysWhy() async throws {
        let deployment = try Self.deployment()
        let id = try await Self.alert(deployment, score: 0.45)
        await deployment.checker.checkAll()
        let question = try #require(try await deployment.assist.waiting().first)
        _ = try await deployment.assist.answer(question.id, by: deployment.assist.config.helpers[0], text: "No, it's the cat.", labels: nil)
        await deployment.checker.checkAll()
        #expect(try await Self.pendingDeliveries(deployment) == 0)
        let alert = try await Self.stored(deployment, id)
        #expect(alert.suppressed == "Mum said no: No, it's the cat.")
        // The incident the withheld alert opened is forgotten: the next
        // sighting is a new alert, not an unchanged incident in its cooldown.
        let next = try await Self.alert(deployment, score: 0.9)
        #expect(next != id)
        #expect(try await Self.pendingDeliveries(deployment) == 1)
    }

    @Test func alertsHeldWhenCamerasStopAskingAreSentUnconfirmed() async throws {
        let deployment = try Self.deployment()
        let id = try await Self.alert(deployment, score: 0.45)
        // Restarted without ask_helpers: the same database, no checker.
        let path = deployment.cameras.config.databasePath
        let (host, plain) = try TestSupport.deployment(
            [:],
            config: """
                cameras:
                  front-door:
                    name: Front Door
                    authentication: none
                    alert_targets: [{ url: "https://hooks.example.net/describer", secret: whsec_abc }]
                camera_events: { database: \(path) }
                """)
        let restarted = try CameraSystem(settings: plain.cameras, host: host, logger: TestSupport.logger)
        #expect(restarted.checker == nil)
        #expect(try await restarted.outbox.counts()[.pending] == 1)
        let alert = try #require(try await restarted.store.database.read { db in try AlertLedger.alert(db, id: id) }).alert
        #expect(alert.check == "unconfirmed: helpers are no longer asked")
    }

    @Test func noAnswerInTimeSendsItUnconfirmed() async throws {
        let deployment = try Self.deployment(answerTimeout: "1m")
        let id = try await Self.alert(deployment, score: 0.45)
        await deployment.checker.checkAll()
        _ = try await deployment.assist.expireDue(now: Date().addingTimeInterval(120))
        await deployment.checker.checkAll()
        #expect(try await Self.pendingDeliveries(deployment) == 1)
        #expect(try await Self.stored(deployment, id).check == "unconfirmed: nobody answered in time")
    }

    @Test func aSureAlertIsSentAtOnce() async throws {
        let deployment = try Self.deployment()
        _ = try await Self.alert(deployment, score: 0.9)
        #expect(try await Self.pendingDeliveries(deployment) == 1)
        await deployment.checker.checkAll()
        #expect(try await deployment.assist.waiting().isEmpty)
    }

    @Test func answersAreReadAsYesNoOrNeither() {
        for (answer, verdict) in [
            ("Yes", true), ("yes, a courier", true), ("Yep.", true), ("Yes - a man with a parcel", true), ("No", false),
            ("no - just the wind", false), ("Nope", false), ("No, it's the cat.", false),
            ("It's a fox", nil), ("", nil), ("Maybe", nil), ("Not sure", nil), ("No idea, too dark", nil), ("Nothing I can see", nil),
            ("Yesterday's parcel", nil),
        ] as [(String, Bool?)] {
            #expect(AlertChecker.verdict(answer) == verdict, "\(answer)")
        }
    }

    @Test func askingWithoutHelpersIsAConfigurationError() throws {
        let (host, deployment) = try TestSupport.deployment(
            [:],
            config: """
                cameras:
                  front-door: { authentication: none, ask_helpers: { below_score: 0.6 } }
                camera_events: { database: \(CameraFixture.databasePath()) }
                """)
        #expect(throws: ConfigError.self) { try CameraSystem(settings: deployment.cameras, host: host, logger: TestSupport.logger) }
    }
}
