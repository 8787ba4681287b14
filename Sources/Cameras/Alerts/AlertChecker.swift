import Assist
import Foundation
import GRDB
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
    /// Each camera's alert targets' URLs, where a sent alert goes.
    let targets: [String: [String]]
    let logger: Logger
    /// How often held alerts are looked at when nothing wakes this sooner.
    static let interval: Duration = .seconds(5)
    private let wakeups: AsyncStream<Void>
    private let wakeup: AsyncStream<Void>.Continuation

    init(database: DatabasePool, assist: AssistQueue, forwarder: WebhookForwarder, cameras: [CameraConfig], logger: Logger) {
        self.database = database
        self.targets = Dictionary(cameras.map { ($0.id, $0.alertTargets.map(\.url)) }, uniquingKeysWith: { first, _ in first })
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
        do {
            let question = try await assist.ask(photo: ByteBuffer(bytes: snapshot), question: alert.question, kind: .yesNo)
            try await database.write { db in
                try db.execute(
                    sql: "UPDATE camera_alert_check SET state = 'asking', question_id = ? WHERE alert_id = ?", arguments: [question.id, alert.alertID])
            }
            logger.info("An alert waits for a helper", metadata: ["alert": "\(alert.alertID)", "question": "\(question.id)"])
        } catch {
            try await send(alert, check: "unconfirmed: no helper could be asked (\(error))")
        }
    }

    private func settle(_ alert: Held, questionID: String) async throws {
        let question: AssistQuestion
        do {
            question = try await assist.question(questionID)
        } catch {
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

    /// Yes or no, from the answer's first word; nil when it is neither.
    static func verdict(_ answer: String) -> Bool? {
        let first = answer.lowercased().split(whereSeparator: { !$0.isLetter }).first.map(String.init) ?? ""
        if ["yes", "yeah", "yep", "y", "correct", "confirmed"].contains(first) { return true }
        if ["no", "nope", "n", "nothing", "false"].contains(first) { return false }
        return nil
    }

    private func send(_ alert: Held, check: String) async throws {
        try await database.write { db in
            guard
                let row = try Row.fetchOne(db, sql: "SELECT camera_id, payload, state FROM camera_alert_check WHERE alert_id = ?", arguments: [alert.alertID]),
                ["held", "asking"].contains(row["state"] as String)
            else { return }
            try AlertLedger.settle(db, alertID: alert.alertID, state: "sent", check: check, suppressed: false)
            try WebhookOutbox.enqueue(db, cameraID: row["camera_id"], urls: self.targets[row["camera_id"] as String] ?? [], payload: row["payload"], at: Date())
        }
        forwarder.wake()
        logger.info("A held alert is sent", metadata: ["alert": "\(alert.alertID)", "check": "\(check)"])
    }

    private func withhold(_ alert: Held, check: String) async throws {
        try await database.write { db in
            try AlertLedger.settle(db, alertID: alert.alertID, state: "rejected", check: check, suppressed: true)
        }
        logger.info("A held alert is withheld: a helper said no", metadata: ["alert": "\(alert.alertID)"])
    }
}
