import Assist
import DescriberHTTP
import Foundation
import GRDB
import HTTPTypes
import Logging
import NIOCore
import ServiceLifecycle

/// Asks a person about the alerts a camera is unsure of, and sends or
/// withholds each by their answer (`cameras.ID.ask_helpers`).
///
/// The ledger holds such an alert, its webhook payload ready, instead of
/// queueing its deliveries. This asks the helpers about the event's snapshot
/// ("Is there a person at Front Door? Answer yes or no."), then: a yes
/// sends it, a no suppresses it, and anything else (no helper could be
/// asked, nobody answered in time, an answer that is neither) sends it
/// marked unconfirmed, since a missed intruder costs more than a false
/// alarm. The held alerts are in the camera database and the questions in
/// assist's, so both survive a restart, and this picks up where it was.
public final class AlertChecker: Service, Sendable {
    let database: DatabasePool
    let assist: AssistQueue
    let forwarder: WebhookForwarder
    /// The cameras, for their alert targets and names.
    let cameras: [String: CameraConfig]
    let logger: Logger
    /// How often held alerts are looked at when nothing wakes this sooner.
    static let interval: Duration = .seconds(5)
    private let wakeups: AsyncStream<Void>
    private let wakeup: AsyncStream<Void>.Continuation

    init(database: DatabasePool, assist: AssistQueue, forwarder: WebhookForwarder, cameras: [CameraConfig], logger: Logger) {
        self.database = database
        self.cameras = Dictionary(cameras.map { ($0.id, $0) }, uniquingKeysWith: { first, _ in first })
        self.assist = assist
        self.forwarder = forwarder
        self.logger = logger
        (wakeups, wakeup) = AsyncStream.makeStream(bufferingPolicy: .bufferingNewest(1))
    }

    /// Tells the checker an alert may be held: processing calls it after each event.
    func wake() { wakeup.yield() }

    public func run() async throws {
        await withTaskGroup(of: Void.self) { group in
            // Every answer, expiry and cancellation changes the waiting list.
            group.addTask { [assist, wakeup] in
                for await _ in assist.changes.follow(.waitingList) { wakeup.yield() }
            }
            group.addTask { [wakeup] in
                while (try? await Task.sleep(for: Self.interval)) != nil { wakeup.yield() }
            }
            await checkAll()
            for await _ in wakeups.cancelOnGracefulShutdown() { await checkAll() }
            group.cancelAll()
        }
    }

    struct Held {
        var alertID: Int64
        var eventID: Int64
        var question: String
        var questionID: String?
        var state: String
    }

    /// Asks about every newly held alert, and settles every one whose
    /// question has ended.
    func checkAll() async {
        do {
            let held = try await database.read { db in
                try Row.fetchAll(
                    db,
                    sql: "SELECT alert_id, event_id, question, question_id, state FROM camera_alert_check WHERE state IN ('held', 'asking') ORDER BY alert_id"
                ).map { Held(alertID: $0["alert_id"], eventID: $0["event_id"], question: $0["question"], questionID: $0["question_id"], state: $0["state"]) }
            }
            for alert in held {
                if let questionID = alert.questionID {
                    try await settle(alert, questionID: questionID)
                } else {
                    try await ask(alert)
                }
            }
        } catch {
            logger.error("Checking held alerts failed; they are looked at again shortly", metadata: ["error": "\(error)"])
        }
    }

    private func ask(_ alert: Held) async throws {
        let snapshot = try await database.read { db in
            try Data.fetchOne(db, sql: "SELECT data FROM camera_snapshot WHERE event_id = ?", arguments: [alert.eventID])
        }
        guard let snapshot else { return try await send(alert, check: "unconfirmed: there was no snapshot to show a helper") }
        let question: AssistQuestion
        do {
            question = try await assist.ask(photo: ByteBuffer(bytes: snapshot), question: alert.question, kind: .yesNo)
        } catch {
            return try await send(alert, check: "unconfirmed: no helper could be asked (\(error))")
        }
        try await database.write { db in
            try db.execute(
                sql: "UPDATE camera_alert_check SET state = 'asking', question_id = ? WHERE alert_id = ?", arguments: [question.id, alert.alertID])
        }
        logger.info("An alert waits for a helper", metadata: ["alert": "\(alert.alertID)", "question": "\(question.id)"])
    }

    private func settle(_ alert: Held, questionID: String) async throws {
        let question: AssistQuestion
        do {
            question = try await assist.question(questionID)
        } catch let error as APIError where error.status == .notFound {
            return try await send(alert, check: "unconfirmed: the question to the helpers is gone")
        }
        switch question.status {
        case .waiting:
            return
        case .expired, .cancelled:
            try await send(alert, check: "unconfirmed: nobody answered in time")
        case .answered:
            let answer = question.answer?.text ?? ""
            let helper = question.answer?.helper ?? "a helper"
            switch Self.verdict(answer) {
            case true?: try await send(alert, check: "confirmed by \(helper)")
            case false?: try await withhold(alert, check: "\(helper) said no: \(answer)")
            case nil: try await send(alert, check: "unconfirmed: \(helper) answered neither yes nor no: \(answer)")
            }
        }
    }

    /// Yes or no: the answer is the word alone, or the word and then a
    /// stop ("No, it's the cat."; "Yes - a courier"); nil otherwise, so
    /// "No idea" is not a no and the alert goes out unconfirmed.
    static func verdict(_ answer: String) -> Bool? {
        let text = answer.lowercased().trimmingCharacters(in: .whitespacesAndNewlines)
        let word = String(text.prefix { $0.isLetter })
        let rest = text.dropFirst(word.count).drop { $0 == " " }
        guard rest.isEmpty || ",.;:!-–—".contains(rest.first!) else { return nil }
        if ["yes", "yeah", "yep", "y"].contains(word) { return true }
        if ["no", "nope", "n"].contains(word) { return false }
        return nil
    }

    private func send(_ alert: Held, check: String) async throws {
        let cameras = self.cameras
        try await database.write { db in try Self.send(db, alertID: alert.alertID, check: check, cameras: cameras) }
        forwarder.wake()
        logger.info("A held alert is sent", metadata: ["alert": "\(alert.alertID)", "check": "\(check)"])
    }

    /// Queues a held alert's deliveries, once, with what the check found in
    /// the payload too, so receivers can tell confirmed from unconfirmed.
    static func send(_ db: Database, alertID: Int64, check: String, cameras: [String: CameraConfig]) throws {
        guard
            let row = try Row.fetchOne(db, sql: "SELECT camera_id, payload, state FROM camera_alert_check WHERE alert_id = ?", arguments: [alertID]),
            ["held", "asking"].contains(row["state"] as String)
        else { return }
        try AlertLedger.settle(db, alertID: alertID, state: "sent", check: check, suppressed: false)
        let cameraID: String = row["camera_id"]
        var payload: Data = row["payload"]
        if let camera = cameras[cameraID], let stored = try AlertLedger.alert(db, id: alertID) {
            payload = try AlertLedger.encoder.encode(
                WebhookPayload(
                    type: stored.alert.opensIncident ? "alert.created" : "alert.updated", timestamp: stored.alert.time,
                    data: .init(camera: camera, eventID: stored.eventID, alert: stored.alert)))
        }
        let urls = cameras[cameraID]?.alertTargets.map(\.url) ?? []
        try WebhookOutbox.enqueue(db, cameraID: cameraID, urls: urls, payload: payload, at: Date())
    }

    /// Sends, unconfirmed, every alert still held: for a deployment whose
    /// cameras no longer ask (the setting or the helpers removed), so that
    /// none waits for ever.
    static func releaseAll(_ db: Database, cameras: [CameraConfig]) throws {
        let byID = Dictionary(cameras.map { ($0.id, $0) }, uniquingKeysWith: { first, _ in first })
        for id in try Int64.fetchAll(db, sql: "SELECT alert_id FROM camera_alert_check WHERE state IN ('held', 'asking')") {
            try send(db, alertID: id, check: "unconfirmed: helpers are no longer asked", cameras: byID)
        }
    }

    private func withhold(_ alert: Held, check: String) async throws {
        try await database.write { db in
            try AlertLedger.settle(db, alertID: alert.alertID, state: "rejected", check: check, suppressed: true)
            // The incident was opened, and its cooldown started, for an alert
            // that is not sent: forget them, so that the next sighting alerts
            // again rather than pass as an unchanged incident.
            let cameraID = try String.fetchOne(db, sql: "SELECT camera_id FROM camera_alert_check WHERE alert_id = ?", arguments: [alert.alertID])
            try db.execute(sql: "DELETE FROM camera_incidents WHERE camera_id = ?", arguments: [cameraID])
        }
        logger.info("A held alert is withheld: a helper said no", metadata: ["alert": "\(alert.alertID)"])
    }
}
