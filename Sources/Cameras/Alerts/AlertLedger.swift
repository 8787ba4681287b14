import Foundation
import GRDB

/// Incidents and alerts in the camera database: each camera's
/// ``IncidentTracker``, every alert (sent or suppressed, with why), and the
/// outbox deliveries of the sent ones, written in the transaction that
/// stores the event's detections. A restart therefore neither forgets an
/// open incident (and alerts again) nor loses an alert it had decided on.
enum AlertLedger {
    static func registerMigrations(_ migrator: inout DatabaseMigrator) {
        migrator.registerMigration("camera alerts v1") { db in
            try db.create(table: "camera_incidents") { table in
                table.primaryKey("camera_id", .text)
                table.column("tracker", .blob).notNull()
            }
            try db.create(table: "camera_alert") { table in
                table.autoIncrementedPrimaryKey("id")
                table.column("camera_id", .text).notNull()
                table.column("event_id", .integer).notNull()
                table.column("time", .double).notNull()
                table.column("alert", .blob).notNull()
                table.column("suppressed", .boolean).notNull()
            }
            try db.create(index: "camera_alert_time", on: "camera_alert", columns: ["time"])
        }
        WebhookOutbox.registerMigrations(&migrator)
        // Alerts held until a helper says whether they are right (AlertChecker).
        migrator.registerMigration("alert checks v1") { db in
            try db.create(table: "camera_alert_check") { table in
                table.primaryKey("alert_id", .integer).references("camera_alert", onDelete: .cascade)
                table.column("camera_id", .text).notNull()
                table.column("event_id", .integer).notNull()
                table.column("question", .text).notNull()
                table.column("payload", .blob).notNull()
                table.column("state", .text).notNull()  // held, asking, sent, rejected
                table.column("question_id", .text)
            }
            try db.create(index: "camera_alert_check_state", on: "camera_alert_check", columns: ["state"])
        }
    }

    /// Runs the camera's incident tracker over one processed event's
    /// detections, inside the caller's transaction; stores the alert it
    /// raises and queues its deliveries. Returns the alert, if any.
    @discardableResult
    static func record(_ db: Database, camera: CameraConfig, eventID: Int64, time: Date, detections: [CameraDetection]) throws -> Alert? {
        var tracker = IncidentTracker()
        if let data = try Data.fetchOne(db, sql: "SELECT tracker FROM camera_incidents WHERE camera_id = ?", arguments: [camera.id]) {
            // A tracker that cannot be read (an older format) starts afresh: at worst one extra alert.
            tracker = (try? JSONDecoder().decode(IncidentTracker.self, from: data)) ?? IncidentTracker()
        }
        let sightings = detections.compactMap { detection -> Sighting? in
            guard let label = detection.label, let score = detection.score else { return nil }
            let area = detection.box.map { max(0, $0.width) * max(0, $0.height) } ?? 0
            return Sighting(label: label, score: score, area: area, zones: detection.zones, stationary: detection.stationary)
        }
        let outcome = tracker.observe(sightings, at: time, policy: camera.alertPolicy, camera: camera.alertCamera)
        try db.execute(
            sql: "INSERT INTO camera_incidents (camera_id, tracker) VALUES (?, ?) ON CONFLICT (camera_id) DO UPDATE SET tracker = excluded.tracker",
            arguments: [camera.id, try JSONEncoder().encode(tracker)]
        )
        guard let alert = outcome.alert else { return nil }
        let encoded = try storage.encode(alert)
        try db.execute(
            sql: "INSERT INTO camera_alert (camera_id, event_id, time, alert, suppressed) VALUES (?, ?, ?, ?, ?)",
            arguments: [camera.id, eventID, time.timeIntervalSince1970, encoded, alert.suppressed != nil]
        )
        if alert.suppressed == nil, !camera.alertTargets.isEmpty {
            let payload = try encoder.encode(
                WebhookPayload(
                    type: alert.opensIncident ? "alert.created" : "alert.updated", timestamp: time, data: .init(camera: camera, eventID: eventID, alert: alert))
            )
            if let ask = camera.askHelpers, let best = alert.objects.map(\.topScore).max(), best < ask.belowScore {
                try db.execute(
                    sql: "INSERT INTO camera_alert_check (alert_id, camera_id, event_id, question, payload, state) VALUES (?, ?, ?, ?, ?, 'held')",
                    arguments: [db.lastInsertedRowID, camera.id, eventID, Self.question(alert, camera: camera), payload]
                )
            } else {
                try WebhookOutbox.enqueue(db, cameraID: camera.id, urls: camera.alertTargets.map(\.url), payload: payload, at: Date())
            }
        }
        return alert
    }

    /// "Is there a person at Front Door? Answer yes or no.", about the
    /// alert's first object (people first).
    static func question(_ alert: Alert, camera: CameraConfig) -> String {
        let label = alert.objects.first?.label ?? "something"
        let article = "aeiou".contains(label.first ?? "x") ? "an" : "a"
        return "Is there \(article) \(label) at \(camera.name)? Answer yes or no."
    }

    /// Records what became of a held alert: its check's state, and on the
    /// alert itself why it was sent or not.
    static func settle(_ db: Database, alertID: Int64, state: String, check: String, suppressed: Bool) throws {
        try db.execute(sql: "UPDATE camera_alert_check SET state = ? WHERE alert_id = ?", arguments: [state, alertID])
        guard let stored = try alert(db, id: alertID) else { return }
        var alert = stored.alert
        alert.check = check
        if suppressed { alert.suppressed = check }
        try db.execute(
            sql: "UPDATE camera_alert SET alert = ?, suppressed = ? WHERE id = ?", arguments: [try storage.encode(alert), suppressed, alertID])
    }

    /// Alerts from `since` on, oldest first, sent and suppressed.
    static func alerts(_ db: Database, since: Date?, cameraID: String?, limit: Int) throws -> [StoredAlert] {
        var sql = "SELECT id, camera_id, event_id, alert FROM camera_alert WHERE time >= ?"
        var arguments: StatementArguments = [since?.timeIntervalSince1970 ?? 0]
        if let cameraID {
            sql += " AND camera_id = ?"
            arguments += [cameraID]
        }
        sql += " ORDER BY time, id LIMIT ?"
        arguments += [limit]
        return try Row.fetchAll(db, sql: sql, arguments: arguments).compactMap { row in
            guard let alert = try? storage.decode(Alert.self, from: row["alert"] as Data) else { return nil }
            return StoredAlert(id: row["id"], cameraID: row["camera_id"], eventID: row["event_id"], alert: alert)
        }
    }

    static func alert(_ db: Database, id: Int64) throws -> StoredAlert? {
        guard let row = try Row.fetchOne(db, sql: "SELECT id, camera_id, event_id, alert FROM camera_alert WHERE id = ?", arguments: [id]),
            let alert = try? storage.decode(Alert.self, from: row["alert"] as Data)
        else { return nil }
        return StoredAlert(id: row["id"], cameraID: row["camera_id"], eventID: row["event_id"], alert: alert)
    }

    /// How alerts are kept in the database: Codable's own keys, which
    /// round-trip exactly (snake case would turn `incidentID` into `incidentId`).
    struct Storage {
        let encoder: JSONEncoder = {
            let encoder = JSONEncoder()
            encoder.dateEncodingStrategy = .iso8601
            return encoder
        }()
        let decoder: JSONDecoder = {
            let decoder = JSONDecoder()
            decoder.dateDecodingStrategy = .iso8601
            return decoder
        }()

        func encode(_ alert: Alert) throws -> Data { try encoder.encode(alert) }
        func decode(_ type: Alert.Type, from data: Data) throws -> Alert { try decoder.decode(type, from: data) }
    }

    static let storage = Storage()

    /// What the API and webhooks write: snake_case keys, ISO 8601 times.
    static let encoder: JSONEncoder = {
        let encoder = JSONEncoder()
        encoder.dateEncodingStrategy = .iso8601
        encoder.keyEncodingStrategy = .convertToSnakeCase
        encoder.outputFormatting = [.sortedKeys]
        return encoder
    }()

}

/// An alert as stored, with where it came from.
struct StoredAlert: Codable, Sendable {
    var id: Int64
    var cameraID: String
    var eventID: Int64
    var alert: Alert
}

/// What alert targets receive: Standard Webhooks' `type`, `timestamp`, `data`.
struct WebhookPayload: Encodable {
    var type: String
    var timestamp: Date
    var data: Body

    struct Body: Encodable {
        var camera: Camera
        var eventID: Int64
        var alert: Alert

        init(camera: CameraConfig, eventID: Int64, alert: Alert) {
            self.camera = Camera(id: camera.id, name: camera.name)
            self.eventID = eventID
            self.alert = alert
        }
    }

    struct Camera: Encodable {
        var id: String
        var name: String
    }
}

extension CameraConfig {
    /// The camera's rules as the incident tracker reads them.
    var alertPolicy: AlertPolicy {
        AlertPolicy(
            labels: Set(rules.labels), minScore: rules.minScore, minArea: rules.minBoxArea,
            zones: rules.zones.isEmpty ? nil : Set(rules.zones), cooldown: rules.cooldown,
            quietHours: rules.quietHours.map { Cameras.QuietHours(start: $0.from, end: $0.to) }
        )
    }

    /// The camera as alert text names it. A locale with a region decides the
    /// time format ("en_US": 2:02 PM); a bare language keeps 24-hour time.
    var alertCamera: AlertCamera {
        let region = Locale(identifier: locale).region
        return AlertCamera(
            name: name, timeZone: TimeZone(identifier: timeZone) ?? .current, locale: region == nil ? nil : Locale(identifier: locale)
        )
    }
}
