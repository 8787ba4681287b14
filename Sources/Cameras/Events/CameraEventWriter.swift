import Dispatch
import Foundation
import Synchronization

/// Commits accepted events in groups: every event that arrives while a
/// commit is syncing the disk joins the next commit, so the disk is synced
/// once per group instead of once per event.
///
/// With `synchronous = FULL` a commit costs one fsync of the WAL; committed
/// one by one, 200 events a second would leave no slack and queue behind
/// each other (BENCHMARKS.md, "Camera event ingestion"). Each caller
/// still returns only after its own event is on disk.
///
/// The commits run on a dispatch queue of their own: they block on the disk,
/// which must not happen on Swift's cooperative threads.
final class CameraEventWriter: Sendable {
    private struct Waiting {
        var event: IncomingCameraEvent
        var receivedAt: Date
        var continuation: CheckedContinuation<Result<CameraEventStore.Acceptance, any Error>, Never>
    }

    private struct State {
        var waiting: [Waiting] = []
        var writing = false
    }

    /// Enough to absorb a burst without making one transaction huge.
    static let maxGroup = 256

    private let store: CameraEventStore
    private let window: Duration
    private let queue = DispatchQueue(label: "describer.camera-events.writer")
    private let state = Mutex(State())

    init(store: CameraEventStore, idempotencyWindow: Duration) {
        self.store = store
        self.window = idempotencyWindow
    }

    /// Stores `event` (received at `receivedAt`) durably, or answers the id
    /// of the same event accepted before.
    func accept(_ event: IncomingCameraEvent, receivedAt: Date) async throws -> CameraEventStore.Acceptance {
        try await withCheckedContinuation { continuation in
            let starts = state.withLock { state in
                state.waiting.append(Waiting(event: event, receivedAt: receivedAt, continuation: continuation))
                defer { state.writing = true }
                return !state.writing
            }
            if starts { queue.async { self.drain() } }
        }.get()
    }

    /// Commits groups until nobody is waiting.
    private func drain() {
        while true {
            let group: [Waiting] = state.withLock { state in
                let group = Array(state.waiting.prefix(Self.maxGroup))
                state.waiting.removeFirst(group.count)
                if group.isEmpty { state.writing = false }
                return group
            }
            if group.isEmpty { return }
            do {
                let answers = try store.acceptAll(group.map { ($0.event, $0.receivedAt) }, window: window)
                for (waiting, answer) in zip(group, answers) { waiting.continuation.resume(returning: .success(answer)) }
            } catch {
                for waiting in group { waiting.continuation.resume(returning: .failure(error)) }
            }
        }
    }
}
