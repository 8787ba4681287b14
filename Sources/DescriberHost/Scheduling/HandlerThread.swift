import CLibUV
import Foundation
import NIOConcurrencyHelpers
import Synchronization

/// A dedicated OS thread that runs one instance's calls into its function.
///
/// Handler calls must never run on Swift's cooperative pool (they block), so
/// every invocation crosses to a thread like this one. Waking a parked thread
/// costs tens of microseconds on a small VM, far more than the call itself,
/// so after finishing its work the thread stays runnable for a short while,
/// yielding the CPU to others, before it parks. A steady stream of
/// invocations then never pays for a wake-up; an idle instance costs nothing.
final class HandlerThread: Sendable {
    typealias WorkItem = @Sendable () -> Void

    /// How long the thread stays runnable after its last item.
    static let lingerNanoseconds: UInt64 = 50_000

    /// The queue, guarded by the condition lock; the value is 1 while items wait.
    private let condition = ConditionLock(value: 0)
    /// Only read and written with `condition` held; see `submit` and `next`.
    nonisolated(unsafe) private var items: [WorkItem] = []
    nonisolated(unsafe) private var stopping = false
    /// Items submitted and not yet taken, readable without the lock while lingering.
    private let pending = Atomic<Int>(0)

    init(name: String) {
        let thread = Thread { [self] in run() }
        thread.name = name
        thread.start()
    }

    /// Runs `item` on the thread, after the items already queued.
    func submit(_ item: @escaping WorkItem) {
        condition.lock()
        items.append(item)
        pending.add(1, ordering: .releasing)
        condition.unlock(withValue: 1)
    }

    /// Lets the thread exit once the items already queued have run.
    func stop() {
        condition.lock()
        stopping = true
        condition.unlock(withValue: 1)
    }

    private func run() {
        while let batch = next() {
            for item in batch { item() }
        }
    }

    /// Waits for work: lingers first, then parks. Nil when stopped and drained.
    private func next() -> [WorkItem]? {
        let lingerUntil = uv_hrtime() + Self.lingerNanoseconds
        while pending.load(ordering: .acquiring) == 0 && uv_hrtime() < lingerUntil {
            sched_yield()
        }
        condition.lock(whenValue: 1)
        let batch = items
        items.removeAll(keepingCapacity: true)
        pending.subtract(batch.count, ordering: .relaxed)
        let done = batch.isEmpty && stopping
        condition.unlock(withValue: stopping ? 1 : 0)
        return done ? nil : batch
    }
}
