import Dispatch
import GRDB

/// Copies the camera database's write-ahead log back into the database file
/// beside the commits, so that no acknowledgement waits for the bulk of it.
///
/// SQLite's automatic checkpoint runs inside the commit that takes the log
/// past 1,000 pages. At 200 snapshots a second that is every fifth of a
/// second, and that commit then also writes 4 MB into the database file and
/// syncs it: the acknowledgement of every event in its group waits for it,
/// which is where ingestion's slowest answers came from. The store turns the
/// automatic checkpoint off, and every `interval` this copies what the log
/// holds with a passive checkpoint on a connection and a thread of its own,
/// which takes no lock a writer needs.
///
/// A checkpoint beside the commits never quite finishes under a steady
/// stream of them (frames keep arriving while it copies), and the log only
/// starts again from its beginning after a checkpoint that copied all of it.
/// So once the log holds more than `restartFrames` frames, the frames that
/// arrived during the copy are copied again beside the writer until few are
/// left, and then a last passive checkpoint runs on the store's writer,
/// where no commit can land meanwhile: it copies those few, and the next
/// commit rewinds the log. `journal_size_limit` then cuts the file back.
///
/// Durability does not depend on any of this: a commit is on disk once the
/// log is synced (`synchronous = FULL`), whether or not it has been
/// checkpointed.
final class WALCheckpointer: Sendable {
    private let connection: DatabaseQueue
    /// Dispatch sources are thread-safe; Dispatch's overlay does not say so.
    private nonisolated(unsafe) let timer: any DispatchSourceTimer

    /// About 16 MB of 4 KB pages.
    static let defaultRestartFrames = 4_096
    /// What the writer may be left to copy: 256 KB.
    static let tailFrames = 64
    static let defaultInterval = DispatchTimeInterval.milliseconds(250)

    /// Starts checkpointing `writer`'s WAL database at `path` (already created).
    init(path: String, writer: DatabasePool, interval: DispatchTimeInterval = defaultInterval, restartFrames: Int = defaultRestartFrames) throws {
        var configuration = Configuration()
        configuration.label = "camera-events.checkpointer"
        configuration.prepareDatabase { db in
            // A checkpoint syncs the database file before the log may be reused.
            try db.execute(sql: "PRAGMA synchronous = FULL")
        }
        connection = try DatabaseQueue(path: path, configuration: configuration)
        timer = DispatchSource.makeTimerSource(queue: DispatchQueue(label: "describer.camera-events.checkpoint"))
        timer.schedule(deadline: .now() + interval, repeating: interval, leeway: .milliseconds(5))
        timer.setEventHandler { [connection, weak writer] in
            // A busy or failed checkpoint is retried at the next tick; the
            // log only grows meanwhile.
            func copy() -> (log: Int, copied: Int)? {
                guard let result = try? connection.writeWithoutTransaction({ db in try db.checkpoint(.passive) }) else { return nil }
                return (log: result.walFrameCount, copied: result.checkpointedFrameCount)
            }
            guard var (log, copied) = copy(), log >= restartFrames else { return }
            // What arrived during a copy is copied again beside the writer,
            // a smaller part each time, so the writer is held up only for
            // the last few frames and the sync of the database file.
            for _ in 0..<4 where log - copied > Self.tailFrames {
                guard let next = copy() else { return }
                (log, copied) = next
            }
            _ = try? writer?.writeWithoutTransaction { db in try db.checkpoint(.passive) }
        }
        timer.resume()
    }

    deinit {
        timer.cancel()
    }
}
