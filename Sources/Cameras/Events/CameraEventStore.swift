import DescriberConfiguration
import Dispatch
import Foundation
import GRDB

/// Camera events, their detections, snapshots and each camera's detector
/// state, in SQLite (WAL).
///
/// An event is committed with `synchronous = FULL` before ingestion answers,
/// so an acknowledged event survives a crash of the process and of the
/// machine. Events are processed in the order they were accepted, and marked
/// processed in the same transaction that stores their results: a crash
/// between the two leaves the event pending, to be processed again
/// (at-least-once), never half-stored.
final class CameraEventStore: Sendable {
    let path: String
    let database: DatabasePool
    private let checkpointer: WALCheckpointer

    enum Status: String { case pending, processed, failed }

    enum Acceptance: Sendable, Equatable {
        case accepted(Int64)
        /// The same event was accepted before, as this one.
        case duplicate(Int64)

        var eventID: Int64 {
            switch self {
            case .accepted(let id), .duplicate(let id): id
            }
        }
    }

    /// Opens (creating if needed) the database at `path` and its folder.
    /// `walRestartFrames` and `walCheckpointInterval`: see ``WALCheckpointer``.
    init(
        path: String, walRestartFrames: Int = WALCheckpointer.defaultRestartFrames,
        walCheckpointInterval: DispatchTimeInterval = WALCheckpointer.defaultInterval
    ) throws {
        self.path = path
        let directory = URL(fileURLWithPath: path).deletingLastPathComponent().path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        var configuration = Configuration()
        // Ingestion and processing write from different tasks; wait for the lock rather than fail.
        configuration.busyMode = .timeout(10)
        configuration.prepareDatabase { db in
            // FULL: the WAL is synced at every commit, so "accepted" means on disk.
            try db.execute(sql: "PRAGMA synchronous = FULL")
            // Checkpoints run beside the commits, not inside one (WALCheckpointer),
            // and the log file is cut back to 32 MB when it starts again.
            try db.execute(sql: "PRAGMA wal_autocheckpoint = 0")
            try db.execute(sql: "PRAGMA journal_size_limit = 33554432")
        }
        database = try DatabasePool(path: path, configuration: configuration)
        try Self.migrator.migrate(database)
        checkpointer = try WALCheckpointer(path: path, writer: database, interval: walCheckpointInterval, restartFrames: walRestartFrames)
    }

    private static var migrator: DatabaseMigrator {
        var migrator = DatabaseMigrator()
        migrator.registerMigration("camera events v1") { db in
            try db.execute(
                sql: """
                    CREATE TABLE camera_event (
                        id INTEGER PRIMARY KEY AUTOINCREMENT,
                        camera_id TEXT NOT NULL,
                        received_at INTEGER NOT NULL,          -- unix milliseconds
                        source TEXT NOT NULL,
                        idempotency_key TEXT NOT NULL,
                        vendor TEXT NOT NULL,                  -- JSON
                        status TEXT NOT NULL DEFAULT 'pending',
                        attempts INTEGER NOT NULL DEFAULT 0,
                        detector TEXT,
                        processed_at INTEGER,
                        error TEXT
                    );
                    CREATE INDEX camera_event_key ON camera_event (camera_id, idempotency_key);
                    CREATE INDEX camera_event_pending ON camera_event (status, id);
                    CREATE INDEX camera_event_time ON camera_event (camera_id, received_at, id);
                    CREATE TABLE camera_snapshot (
                        event_id INTEGER PRIMARY KEY REFERENCES camera_event (id) ON DELETE CASCADE,
                        content_type TEXT NOT NULL,
                        data BLOB NOT NULL
                    );
                    CREATE TABLE camera_detection (
                        event_id INTEGER NOT NULL REFERENCES camera_event (id) ON DELETE CASCADE,
                        position INTEGER NOT NULL,
                        kind TEXT NOT NULL,
                        label TEXT,
                        score REAL,
                        x REAL, y REAL, width REAL, height REAL,
                        zones TEXT NOT NULL,                   -- JSON array of zone names
                        stationary INTEGER NOT NULL,
                        PRIMARY KEY (event_id, position)
                    );
                    CREATE TABLE camera_state (
                        camera_id TEXT PRIMARY KEY,
                        state BLOB NOT NULL,
                        updated_at INTEGER NOT NULL
                    );
                    """)
        }
        // Incidents, alerts and their outbox live in the same database, so an
        // event's results and the alert they raise commit together.
        AlertLedger.registerMigrations(&migrator)
        return migrator
    }

    static func milliseconds(_ date: Date) -> Int64 { Int64((date.timeIntervalSince1970 * 1000).rounded()) }

    // MARK: Ingestion

    /// Stores `event` durably, unless the same event (by its idempotency key)
    /// was accepted within `window`; then answers the earlier id.
    func accept(_ event: IncomingCameraEvent, at now: Date, window: Duration) async throws -> Acceptance {
        try await database.write { db in try Self.insert(event, receivedAt: now, window: window, db) }
    }

    /// Stores several events in one transaction, so one sync of the WAL
    /// covers them all; answers in order. Blocks the calling thread for the
    /// commit: call it from a thread of its own (see ``CameraEventWriter``).
    func acceptAll(_ events: [(event: IncomingCameraEvent, receivedAt: Date)], window: Duration) throws -> [Acceptance] {
        try database.write { db in
            // In order, so a repeat within the same batch finds the first one.
            try events.map { try Self.insert($0.event, receivedAt: $0.receivedAt, window: window, db) }
        }
    }

    private static func insert(_ event: IncomingCameraEvent, receivedAt now: Date, window: Duration, _ db: Database) throws -> Acceptance {
        let received = milliseconds(now)
        let windowStart = received - Int64(window.components.seconds * 1000)
        if let existing = try Int64.fetchOne(
            db,
            sql: "SELECT id FROM camera_event WHERE camera_id = ? AND idempotency_key = ? AND received_at >= ? ORDER BY id LIMIT 1",
            arguments: [event.cameraID, event.idempotencyKey.stored, windowStart]
        ) {
            return .duplicate(existing)
        }
        try db.execute(
            sql: "INSERT INTO camera_event (camera_id, received_at, source, idempotency_key, vendor) VALUES (?, ?, ?, ?, ?)",
            arguments: [event.cameraID, received, event.source.rawValue, event.idempotencyKey.stored, JSONValue.object(event.vendor).serialized]
        )
        let id = db.lastInsertedRowID
        if let snapshot = event.snapshot, let contentType = event.snapshotContentType {
            try db.execute(sql: "INSERT INTO camera_snapshot (event_id, content_type, data) VALUES (?, ?, ?)", arguments: [id, contentType, snapshot])
        }
        return .accepted(id)
    }

    // MARK: Processing

    struct PendingEvent: Sendable {
        var id: Int64
        var cameraID: String
        var receivedAt: Date
        var source: String
        var vendor: String
        var attempts: Int
        var snapshot: Data?
        var snapshotContentType: String?
    }

    /// The oldest pending events, in the order they were accepted.
    func pendingEvents(limit: Int) async throws -> [PendingEvent] {
        try await database.read { db in
            try Row.fetchAll(
                db,
                sql: """
                    SELECT e.id, e.camera_id, e.received_at, e.source, e.vendor, e.attempts, s.content_type, s.data
                    FROM camera_event e LEFT JOIN camera_snapshot s ON s.event_id = e.id
                    WHERE e.status = 'pending' ORDER BY e.id LIMIT ?
                    """,
                arguments: [limit]
            ).map { row in
                PendingEvent(
                    id: row["id"], cameraID: row["camera_id"], receivedAt: Date(timeIntervalSince1970: Double(row["received_at"] as Int64) / 1000),
                    source: row["source"], vendor: row["vendor"], attempts: row["attempts"], snapshot: row["data"], snapshotContentType: row["content_type"]
                )
            }
        }
    }

    func state(of cameraID: String) async throws -> Data? {
        try await database.read { db in
            try Data.fetchOne(db, sql: "SELECT state FROM camera_state WHERE camera_id = ?", arguments: [cameraID])
        }
    }

    /// Stores the results and the camera's new state and marks the event
    /// processed, all or nothing. Results of an event already processed
    /// (a second delivery of the same work) are dropped.
    /// `alongside` runs in the same transaction (the alert the results raise).
    func complete(
        _ eventID: Int64, cameraID: String, result: ProcessingResult, at now: Date, alongside: @escaping @Sendable (Database) throws -> Void = { _ in }
    ) async throws {
        try await database.write { db in
            let status = try String.fetchOne(db, sql: "SELECT status FROM camera_event WHERE id = ?", arguments: [eventID])
            guard status == Status.pending.rawValue else { return }
            try alongside(db)
            for (position, detection) in result.detections.enumerated() {
                try db.execute(
                    sql: """
                        INSERT INTO camera_detection (event_id, position, kind, label, score, x, y, width, height, zones, stationary)
                        VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                        """,
                    arguments: [
                        eventID, position, detection.kind, detection.label, detection.score,
                        detection.box?.x, detection.box?.y, detection.box?.width, detection.box?.height,
                        JSONValue.array(detection.zones.map(JSONValue.string)).serialized, detection.stationary,
                    ]
                )
            }
            if let state = result.newState {
                try db.execute(
                    sql:
                        "INSERT INTO camera_state (camera_id, state, updated_at) VALUES (?, ?, ?) ON CONFLICT (camera_id) DO UPDATE SET state = excluded.state, updated_at = excluded.updated_at",
                    arguments: [cameraID, state, Self.milliseconds(now)]
                )
            }
            try db.execute(
                sql: "UPDATE camera_event SET status = 'processed', detector = ?, processed_at = ?, attempts = attempts + 1, error = NULL WHERE id = ?",
                arguments: [result.detector, Self.milliseconds(now), eventID]
            )
        }
    }

    /// Records a failed attempt; the event stays pending for another try
    /// unless `final`.
    func recordFailure(_ eventID: Int64, reason: String, final: Bool, at now: Date) async throws {
        try await database.write { db in
            try db.execute(
                sql: "UPDATE camera_event SET attempts = attempts + 1, error = ?, status = ?, processed_at = ? WHERE id = ? AND status = 'pending'",
                arguments: [reason, final ? Status.failed.rawValue : Status.pending.rawValue, final ? Self.milliseconds(now) : nil, eventID]
            )
        }
    }

    // MARK: Retention

    /// Deletes snapshots past the per-camera count or the age limit, and
    /// events (with their detections) past `maxEventAge`. Snapshots of
    /// pending events are kept: they are still to be processed.
    @discardableResult
    func prune(_ config: CameraStoreConfig, now: Date) async throws -> (snapshots: Int, events: Int) {
        let nowMS = Self.milliseconds(now)
        let snapshotCutoff = nowMS - Int64(config.maxSnapshotAge.components.seconds * 1000)
        let eventCutoff = nowMS - Int64(config.maxEventAge.components.seconds * 1000)
        return try await database.write { db in
            try db.execute(
                sql: """
                    DELETE FROM camera_snapshot WHERE event_id IN (
                        SELECT e.id FROM camera_event e JOIN camera_snapshot s ON s.event_id = e.id
                        WHERE e.status != 'pending' AND (e.received_at < ? OR e.id NOT IN (
                            SELECT e2.id FROM camera_event e2 JOIN camera_snapshot s2 ON s2.event_id = e2.id
                            WHERE e2.camera_id = e.camera_id ORDER BY e2.id DESC LIMIT ?)))
                    """,
                arguments: [snapshotCutoff, config.maxSnapshotsPerCamera]
            )
            let snapshots = db.changesCount
            try db.execute(
                sql: "DELETE FROM camera_detection WHERE event_id IN (SELECT id FROM camera_event WHERE received_at < ? AND status != 'pending')",
                arguments: [eventCutoff])
            try db.execute(
                sql: "DELETE FROM camera_snapshot WHERE event_id IN (SELECT id FROM camera_event WHERE received_at < ? AND status != 'pending')",
                arguments: [eventCutoff])
            try db.execute(sql: "DELETE FROM camera_event WHERE received_at < ? AND status != 'pending'", arguments: [eventCutoff])
            return (snapshots, db.changesCount)
        }
    }

    // MARK: Reading back

    struct StoredEvent: Sendable {
        var id: Int64
        var cameraID: String
        var receivedAt: Int64
        var source: String
        var vendor: String
        var status: String
        var attempts: Int
        var detector: String?
        var processedAt: Int64?
        var error: String?
        var snapshotContentType: String?
        var snapshotBytes: Int?
        var detections: [CameraDetection]
    }

    /// A camera's events received at or after `since` and with an id above
    /// `after`, oldest first, at most `limit`.
    func events(cameraID: String, since: Date?, after: Int64?, limit: Int) async throws -> [StoredEvent] {
        try await database.read { db in
            var events = try Row.fetchAll(
                db,
                sql: """
                    SELECT e.*, s.content_type AS snapshot_type, length(s.data) AS snapshot_bytes
                    FROM camera_event e LEFT JOIN camera_snapshot s ON s.event_id = e.id
                    WHERE e.camera_id = ? AND e.received_at >= ? AND e.id > ?
                    ORDER BY e.received_at, e.id LIMIT ?
                    """,
                arguments: [cameraID, since.map(Self.milliseconds) ?? Int64.min, after ?? 0, limit]
            ).map { row in
                StoredEvent(
                    id: row["id"], cameraID: row["camera_id"], receivedAt: row["received_at"], source: row["source"], vendor: row["vendor"],
                    status: row["status"], attempts: row["attempts"], detector: row["detector"], processedAt: row["processed_at"], error: row["error"],
                    snapshotContentType: row["snapshot_type"], snapshotBytes: row["snapshot_bytes"], detections: []
                )
            }
            for index in events.indices {
                events[index].detections = try Row.fetchAll(
                    db, sql: "SELECT * FROM camera_detection WHERE event_id = ? ORDER BY position", arguments: [events[index].id]
                ).map { row in
                    var box: CameraDetection.Box?
                    if let x: Double = row["x"], let y: Double = row["y"], let width: Double = row["width"], let height: Double = row["height"] {
                        box = CameraDetection.Box(x: x, y: y, width: width, height: height)
                    }
                    let zones = (try? JSONDecoder().decode([String].self, from: Data((row["zones"] as String).utf8))) ?? []
                    return CameraDetection(kind: row["kind"], label: row["label"], score: row["score"], box: box, zones: zones, stationary: row["stationary"])
                }
            }
            return events
        }
    }

    func snapshot(cameraID: String, eventID: Int64) async throws -> (contentType: String, data: Data)? {
        try await database.read { db in
            try Row.fetchOne(
                db,
                sql: "SELECT s.content_type, s.data FROM camera_snapshot s JOIN camera_event e ON e.id = s.event_id WHERE e.id = ? AND e.camera_id = ?",
                arguments: [eventID, cameraID]
            ).map { ($0["content_type"], $0["data"]) }
        }
    }

    struct CameraCounts: Sendable {
        var pending = 0, processed = 0, failed = 0
        var lastEventAt: Int64?
    }

    func counts() async throws -> [String: CameraCounts] {
        try await database.read { db in
            var result: [String: CameraCounts] = [:]
            for row in try Row.fetchAll(
                db, sql: "SELECT camera_id, status, count(*) AS n, max(received_at) AS last FROM camera_event GROUP BY camera_id, status")
            {
                let camera: String = row["camera_id"]
                var counts = result[camera] ?? CameraCounts()
                let n: Int = row["n"]
                switch row["status"] as String {
                case Status.pending.rawValue: counts.pending = n
                case Status.processed.rawValue: counts.processed = n
                default: counts.failed += n
                }
                let last: Int64 = row["last"]
                counts.lastEventAt = max(counts.lastEventAt ?? last, last)
                result[camera] = counts
            }
            return result
        }
    }
}
