import Foundation
import GRDB

/// Questions, their photos and answers, in SQLite (WAL).
///
/// A question is committed with `synchronous = FULL` before the asker hears
/// it was accepted, and an answer before the helper does, so both survive a
/// crash or a restart of the server. Whether a question is still waiting is
/// decided inside the transaction that answers, cancels or expires it, so
/// two helpers answering at once cannot both win.
final class AssistStore: Sendable {
    let path: String
    private let database: DatabasePool

    init(path: String) throws {
        self.path = path
        let directory = URL(fileURLWithPath: path).deletingLastPathComponent().path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        var configuration = Configuration()
        configuration.busyMode = .timeout(10)
        configuration.prepareDatabase { db in
            try db.execute(sql: "PRAGMA synchronous = FULL")
        }
        database = try DatabasePool(path: path, configuration: configuration)
        try Self.migrator.migrate(database)
    }

    private static var migrator: DatabaseMigrator {
        var migrator = DatabaseMigrator()
        migrator.registerMigration("assist v1") { db in
            try db.execute(
                sql: """
                    CREATE TABLE assist_question (
                        id TEXT PRIMARY KEY,
                        status TEXT NOT NULL,
                        question TEXT,
                        asked_at INTEGER NOT NULL,             -- unix milliseconds
                        expires_at INTEGER NOT NULL,
                        ended_at INTEGER,                      -- answered, expired or cancelled
                        draft TEXT,                            -- JSON: AssistQuestion.Draft
                        photo_type TEXT,
                        photo BLOB,
                        answer TEXT,
                        helper_id TEXT,
                        helper_name TEXT,
                        answered_at INTEGER,
                        labels TEXT,                           -- JSON: AssistQuestion.Labels
                        kept INTEGER NOT NULL DEFAULT 0        -- kept as data past the retention
                    );
                    CREATE INDEX assist_question_waiting ON assist_question (status, expires_at);
                    CREATE INDEX assist_question_ended ON assist_question (kept, ended_at);
                    """)
        }
        migrator.registerMigration("assist v2: kinds of question") { db in
            try db.execute(sql: "ALTER TABLE assist_question ADD COLUMN kind TEXT NOT NULL DEFAULT 'open'")
        }
        return migrator
    }

    static func milliseconds(_ date: Date) -> Int64 { Int64((date.timeIntervalSince1970 * 1000).rounded()) }
    static func date(_ milliseconds: Int64) -> Date { Date(timeIntervalSince1970: Double(milliseconds) / 1000) }

    /// Every column but the photo's bytes.
    private static let columns = """
        id, status, kind, question, asked_at, expires_at, draft, answer, helper_name, answered_at, labels, photo IS NOT NULL AS has_photo
        """

    private static func question(_ row: Row) -> AssistQuestion {
        let decoder = JSONDecoder()
        var answer: AssistQuestion.Answer?
        if let text: String = row["answer"], let answeredAt: Int64 = row["answered_at"] {
            answer = AssistQuestion.Answer(text: text, helper: row["helper_name"] ?? "", answeredAt: date(answeredAt))
        }
        return AssistQuestion(
            id: row["id"],
            status: AssistQuestion.Status(rawValue: row["status"]) ?? .cancelled,
            kind: AssistQuestion.Kind(rawValue: row["kind"]) ?? .open,
            question: row["question"],
            askedAt: date(row["asked_at"]),
            expiresAt: date(row["expires_at"]),
            draft: (row["draft"] as String?).flatMap { try? decoder.decode(AssistQuestion.Draft.self, from: Data($0.utf8)) },
            answer: answer,
            labels: (row["labels"] as String?).flatMap { try? decoder.decode(AssistQuestion.Labels.self, from: Data($0.utf8)) },
            hasPhoto: row["has_photo"]
        )
    }

    func insert(_ question: AssistQuestion, photo: Data, photoType: String) async throws {
        let draft = try question.draft.map { String(decoding: try JSONEncoder().encode($0), as: UTF8.self) }
        try await database.write { db in
            try db.execute(
                sql: """
                    INSERT INTO assist_question (id, status, kind, question, asked_at, expires_at, draft, photo_type, photo)
                    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
                    """,
                arguments: [
                    question.id, question.status.rawValue, question.kind.rawValue, question.question, Self.milliseconds(question.askedAt),
                    Self.milliseconds(question.expiresAt), draft, photoType, photo,
                ]
            )
        }
    }

    func question(_ id: String) async throws -> AssistQuestion? {
        try await database.read { db in
            try Row.fetchOne(db, sql: "SELECT \(Self.columns) FROM assist_question WHERE id = ?", arguments: [id]).map(Self.question)
        }
    }

    func photo(_ id: String) async throws -> (contentType: String, data: Data)? {
        try await database.read { db in
            try Row.fetchOne(db, sql: "SELECT photo_type, photo FROM assist_question WHERE id = ? AND photo IS NOT NULL", arguments: [id])
                .map { ($0["photo_type"], $0["photo"]) }
        }
    }

    /// The questions waiting for an answer, oldest first.
    func waiting() async throws -> [AssistQuestion] {
        try await database.read { db in
            try Row.fetchAll(db, sql: "SELECT \(Self.columns) FROM assist_question WHERE status = 'waiting' ORDER BY asked_at, id")
                .map(Self.question)
        }
    }

    func waitingCount() async throws -> Int {
        try await database.read { db in
            try Int.fetchOne(db, sql: "SELECT count(*) FROM assist_question WHERE status = 'waiting'") ?? 0
        }
    }

    /// Records the answer if the question is still waiting; answers
    /// whether it was.
    func answer(
        _ id: String, text: String, helperID: String, helperName: String, labels: AssistQuestion.Labels?, at now: Date, keep: Bool
    ) async throws -> Bool {
        let labels = try labels.map { String(decoding: try JSONEncoder().encode($0), as: UTF8.self) }
        return try await database.write { db in
            try db.execute(
                sql: """
                    UPDATE assist_question
                    SET status = 'answered', answer = ?, helper_id = ?, helper_name = ?, answered_at = ?, ended_at = ?, labels = ?, kept = ?
                    WHERE id = ? AND status = 'waiting' AND expires_at > ?
                    """,
                arguments: [text, helperID, helperName, Self.milliseconds(now), Self.milliseconds(now), labels, keep, id, Self.milliseconds(now)]
            )
            return db.changesCount == 1
        }
    }

    /// Withdraws a question: one still waiting is cancelled; in any case
    /// its photo is deleted and it is not kept as data. Answers the question
    /// as it is now and whether this cancelled it, or nil when there is none.
    func withdraw(_ id: String, at now: Date) async throws -> (question: AssistQuestion, cancelled: Bool)? {
        try await database.write { db in
            try db.execute(
                sql: "UPDATE assist_question SET status = 'cancelled', ended_at = ? WHERE id = ? AND status = 'waiting'",
                arguments: [Self.milliseconds(now), id])
            let cancelled = db.changesCount == 1
            try db.execute(sql: "UPDATE assist_question SET photo = NULL, kept = 0 WHERE id = ?", arguments: [id])
            return try Row.fetchOne(db, sql: "SELECT \(Self.columns) FROM assist_question WHERE id = ?", arguments: [id])
                .map { (Self.question($0), cancelled) }
        }
    }

    /// Ends every waiting question whose time is up; answers their ids.
    func expire(at now: Date) async throws -> [String] {
        try await database.write { db in
            let cutoff = Self.milliseconds(now)
            let ids = try String.fetchAll(
                db, sql: "SELECT id FROM assist_question WHERE status = 'waiting' AND expires_at <= ?", arguments: [cutoff])
            try db.execute(
                sql: "UPDATE assist_question SET status = 'expired', ended_at = ? WHERE status = 'waiting' AND expires_at <= ?",
                arguments: [cutoff, cutoff])
            return ids
        }
    }

    /// When the next waiting question expires, if any is waiting.
    func nextExpiry() async throws -> Date? {
        try await database.read { db in
            try Int64.fetchOne(db, sql: "SELECT min(expires_at) FROM assist_question WHERE status = 'waiting'").map(Self.date)
        }
    }

    /// Deletes questions (photo, draft, answer) that ended before
    /// `cutoff`, except those kept as data; answers how many.
    @discardableResult
    func prune(endedBefore cutoff: Date) async throws -> Int {
        try await database.write { db in
            try db.execute(
                sql: "DELETE FROM assist_question WHERE kept = 0 AND ended_at IS NOT NULL AND ended_at < ?",
                arguments: [Self.milliseconds(cutoff)])
            return db.changesCount
        }
    }

    /// The answered questions kept as data, with their photos, oldest first.
    func kept() async throws -> [(question: AssistQuestion, photoType: String, photo: Data)] {
        try await database.read { db in
            try Row.fetchAll(
                db,
                sql: """
                    SELECT \(Self.columns), photo_type, photo FROM assist_question
                    WHERE kept = 1 AND status = 'answered' AND photo IS NOT NULL ORDER BY asked_at, id
                    """
            ).map { (Self.question($0), $0["photo_type"], $0["photo"]) }
        }
    }
}
