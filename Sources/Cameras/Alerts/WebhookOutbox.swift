import DescriberHost
import Foundation
import GRDB

/// Alert deliveries waiting to go out, kept in SQLite so that a restart
/// loses none: a delivery is written in the same transaction as the alert
/// it carries, and is only marked delivered after the target said 2xx.
///
/// Each row is one message to one target: `pending` until delivered,
/// retried with exponential back-off and jitter, and `dead` after
/// `maxAttempts` failures, a 410 Gone, or when its target was removed from
/// the configuration; dead ones stay visible in the API and metrics.
public final class WebhookOutbox: Sendable {
    public enum State: String, Sendable, Codable, CaseIterable {
        case pending, delivered, dead
    }

    /// One message to one target.
    public struct Delivery: Sendable, Equatable, Codable {
        public var id: Int64
        /// The `webhook-id`: the same on every attempt, so receivers can
        /// drop repeats.
        public var messageID: String
        /// Which configured target (camera and URL); the secret is looked up
        /// in the configuration when sending, never stored here.
        public var cameraID: String
        public var url: String
        public var payload: Data
        public var state: State
        public var attempts: Int
        public var createdAt: Date
        public var nextAttemptAt: Date
        public var lastError: String?
        public var lastStatus: Int?
        public var deliveredAt: Date?
    }

    /// What one attempt came to.
    public enum AttemptResult: Sendable, Equatable {
        case delivered(status: Int)
        /// A failure worth retrying; `retryAfter` is the target's own wish.
        case failed(status: Int?, reason: String, retryAfter: Duration?)
        /// A failure retrying cannot mend (410 Gone, target removed).
        case rejected(status: Int?, reason: String)
    }

    public struct RetryPolicy: Sendable, Equatable {
        public var maxAttempts: Int
        public var firstDelay: Duration
        public var maxDelay: Duration

        public init(maxAttempts: Int = 10, firstDelay: Duration = .seconds(30), maxDelay: Duration = .seconds(2 * 3600)) {
            self.maxAttempts = maxAttempts
            self.firstDelay = firstDelay
            self.maxDelay = maxDelay
        }

        /// The wait before attempt `attempts + 1`: doubling from `firstDelay`,
        /// capped at `maxDelay`, each randomly shortened by up to half so
        /// that many failed deliveries do not retry in step.
        func delay(after attempts: Int, retryAfter: Duration?, random: Double = Double.random(in: 0...1)) -> Duration {
            let jittered = Backoff(first: firstDelay, maximum: maxDelay, jitter: 0.5).delay(retry: attempts, random: random)
            // The target's Retry-After is honoured even past the cap (it is
            // itself capped at a day when read).
            return min(max(jittered, retryAfter ?? .zero), .seconds(7 * 86_400))
        }
    }

    let database: any DatabaseWriter
    let retry: RetryPolicy

    public init(database: any DatabaseWriter, retry: RetryPolicy = RetryPolicy()) {
        self.database = database
        self.retry = retry
    }

    /// The outbox's table; registered by whoever owns the database's migrator.
    public static func registerMigrations(_ migrator: inout DatabaseMigrator) {
        migrator.registerMigration("webhook outbox v1") { db in
            try db.create(table: "webhook_delivery") { table in
                table.autoIncrementedPrimaryKey("id")
                table.column("message_id", .text).notNull()
                table.column("camera_id", .text).notNull()
                table.column("url", .text).notNull()
                table.column("payload", .blob).notNull()
                table.column("state", .text).notNull()
                table.column("attempts", .integer).notNull().defaults(to: 0)
                table.column("created_at", .double).notNull()
                table.column("next_attempt_at", .double).notNull()
                table.column("last_error", .text)
                table.column("last_status", .integer)
                table.column("delivered_at", .double)
            }
            try db.create(index: "webhook_delivery_due", on: "webhook_delivery", columns: ["state", "next_attempt_at"])
        }
    }

    /// Queues `payload` for each target, inside the caller's transaction
    /// (the one that stores the alert). Returns the message id.
    @discardableResult
    public static func enqueue(_ db: Database, cameraID: String, urls: [String], payload: Data, at now: Date) throws -> String {
        let messageID = "msg_" + UUID().uuidString.replacingOccurrences(of: "-", with: "").lowercased()
        for url in urls {
            try db.execute(
                sql: """
                    INSERT INTO webhook_delivery (message_id, camera_id, url, payload, state, created_at, next_attempt_at)
                    VALUES (?, ?, ?, ?, 'pending', ?, ?)
                    """,
                arguments: [messageID, cameraID, url, payload, now.timeIntervalSince1970, now.timeIntervalSince1970]
            )
        }
        return messageID
    }

    /// Pending deliveries whose time has come, oldest first.
    public func due(at now: Date, limit: Int) async throws -> [Delivery] {
        try await database.read { db in
            try Row.fetchAll(
                db,
                sql: "SELECT * FROM webhook_delivery WHERE state = 'pending' AND next_attempt_at <= ? ORDER BY next_attempt_at, id LIMIT ?",
                arguments: [now.timeIntervalSince1970, limit]
            ).map(Self.delivery)
        }
    }

    /// When the next pending delivery is due, if any is pending.
    public func nextDue() async throws -> Date? {
        try await database.read { db in
            try Double.fetchOne(db, sql: "SELECT MIN(next_attempt_at) FROM webhook_delivery WHERE state = 'pending'")
                .map(Date.init(timeIntervalSince1970:))
        }
    }

    /// Records an attempt and decides what happens next.
    public func record(_ delivery: Delivery, _ result: AttemptResult, at now: Date) async throws {
        let attempts = delivery.attempts + 1
        var state = State.pending
        var next = now
        var status: Int?
        var reason: String?
        var deliveredAt: Double?
        switch result {
        case .delivered(let code):
            state = .delivered
            status = code
            deliveredAt = now.timeIntervalSince1970
        case .rejected(let code, let why):
            state = .dead
            status = code
            reason = why
        case .failed(let code, let why, let retryAfter):
            status = code
            reason = why
            if attempts >= retry.maxAttempts {
                state = .dead
                reason = "\(why) (gave up after \(attempts) attempts)"
            } else {
                next = now.addingTimeInterval(retry.delay(after: attempts, retryAfter: retryAfter).seconds)
            }
        }
        let arguments: StatementArguments = [state.rawValue, attempts, next.timeIntervalSince1970, status, reason, deliveredAt, delivery.id]
        try await database.write { db in
            try db.execute(
                sql: """
                    UPDATE webhook_delivery SET state = ?, attempts = ?, next_attempt_at = ?, last_status = ?, last_error = ?, delivered_at = ?
                    WHERE id = ?
                    """,
                arguments: arguments
            )
        }
    }

    /// Deliveries in `state` (all when nil), newest first, for the API.
    public func deliveries(state: State?, limit: Int) async throws -> [Delivery] {
        try await database.read { db in
            if let state {
                return try Row.fetchAll(
                    db, sql: "SELECT * FROM webhook_delivery WHERE state = ? ORDER BY id DESC LIMIT ?", arguments: [state.rawValue, limit]
                ).map(Self.delivery)
            }
            return try Row.fetchAll(db, sql: "SELECT * FROM webhook_delivery ORDER BY id DESC LIMIT ?", arguments: [limit]).map(Self.delivery)
        }
    }

    /// How many deliveries are in each state.
    public func counts() async throws -> [State: Int] {
        try await database.read { db in
            var counts = Dictionary(uniqueKeysWithValues: State.allCases.map { ($0, 0) })
            for row in try Row.fetchAll(db, sql: "SELECT state, COUNT(*) AS n FROM webhook_delivery GROUP BY state") {
                if let state = State(rawValue: row["state"]) { counts[state] = row["n"] }
            }
            return counts
        }
    }

    static func delivery(_ row: Row) -> Delivery {
        Delivery(
            id: row["id"], messageID: row["message_id"], cameraID: row["camera_id"], url: row["url"], payload: row["payload"],
            state: State(rawValue: row["state"]) ?? .dead, attempts: row["attempts"],
            createdAt: Date(timeIntervalSince1970: row["created_at"]), nextAttemptAt: Date(timeIntervalSince1970: row["next_attempt_at"]),
            lastError: row["last_error"], lastStatus: row["last_status"],
            deliveredAt: (row["delivered_at"] as Double?).map(Date.init(timeIntervalSince1970:))
        )
    }
}
