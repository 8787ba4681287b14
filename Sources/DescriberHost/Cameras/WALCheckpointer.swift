import Dispatch
import GRDB

/// Copies the camera database's write-ahead log back into the database file
/// on a connection and a thread of its own, so that no commit waits for it.
///
/// SQLite's automatic checkpoint runs inside the commit that takes the log
/// past 1,000 pages. At 200 snapshots a second that is every fifth of a
/// second, and that commit then also writes 4 MB into the database file and
/// syncs it: the acknowledgement of every event in its group waits for it,
/// which is where ingestion's slowest answers came from. The store turns the
/// automatic checkpoint off and this runs a passive one every `interval`
/// instead. A passive checkpoint takes no lock a writer needs: commits go on
/// while it copies, and it copies what it can. When the log is empty it costs
/// a few microseconds.
///
/// Durability does not depend on it: a commit is on disk once the log is
/// synced (`synchronous = FULL`), whether or not it has been checkpointed.
final class WALCheckpointer: Sendable {
    private let connection: DatabaseQueue
    /// Dispatch sources are thread-safe; Dispatch's overlay does not say so.
    private nonisolated(unsafe) let timer: any DispatchSourceTimer

    /// Starts checkpointing the WAL database at `path` (already created).
    init(path: String, interval: DispatchTimeInterval = .milliseconds(250)) throws {
        var configuration = Configuration()
        configuration.label = "camera-events.checkpointer"
        connection = try DatabaseQueue(path: path, configuration: configuration)
        timer = DispatchSource.makeTimerSource(queue: DispatchQueue(label: "describer.camera-events.checkpoint"))
        timer.schedule(deadline: .now() + interval, repeating: interval, leeway: .milliseconds(50))
        timer.setEventHandler { [connection] in
            // A busy or failed checkpoint is retried at the next tick; the
            // log only grows meanwhile.
            _ = try? connection.writeWithoutTransaction { db in try db.checkpoint(.passive) }
        }
        timer.resume()
    }

    deinit {
        timer.cancel()
    }
}
