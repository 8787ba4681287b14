import CCrashGuard
import CLibUV
import Foundation
import NIOConcurrencyHelpers
import Synchronization

/// The dedicated OS threads of one instance, sharing one FIFO of work.
///
/// Handler calls must never run on Swift's cooperative pool (they block), so
/// every invocation crosses to a thread like these. Any idle thread takes
/// the next item, so a reentrant instance with several threads never leaves
/// work waiting behind a long call while another thread idles.
///
/// Waking a parked thread costs tens of microseconds on a small VM, far more
/// than a small call, so after finishing its work a thread stays runnable
/// for a short while, yielding the CPU, before it parks. A steady stream of
/// invocations then never pays for a wake-up; an idle instance costs nothing.
final class HandlerThreads: Sendable {
    typealias WorkItem = @Sendable () -> Void

    /// How long a thread stays runnable after its last item.
    static let lingerNanoseconds: UInt64 = 50_000

    /// Guards `items` and `stopping`; its value is 1 while items wait (or
    /// once stopping, so that every thread wakes to exit).
    private let condition = ConditionLock(value: 0)
    /// Only touched with `condition` held, which makes the unchecked access sound.
    nonisolated(unsafe) private var items: [WorkItem] = []
    nonisolated(unsafe) private var stopping = false
    /// Items queued and not yet taken, readable without the lock while lingering.
    private let pending = Atomic<Int>(0)

    init(name: String, count: Int) {
        for index in 0..<count {
            let thread = Thread { [self] in run() }
            thread.name = count == 1 ? name : "\(name)-\(index)"
            thread.start()
        }
    }

    /// Runs `item` on one of the threads, after the items already queued.
    func submit(_ item: @escaping WorkItem) {
        condition.lock()
        items.append(item)
        pending.add(1, ordering: .releasing)
        condition.unlock(withValue: 1)
    }

    /// Lets the threads exit once the items already queued have run.
    func stop() {
        condition.lock()
        stopping = true
        condition.unlock(withValue: 1)
    }

    private func run() {
        // Function code runs here: give the crash handler a stack of its own,
        // so a stack overflow in a function is remembered too.
        _ = describer_crash_guard_prepare_thread()
        while let item = next() { item() }
        describer_crash_guard_release_thread()
    }

    /// Waits for the next item: lingers first, then parks. Nil once stopped and drained.
    private func next() -> WorkItem? {
        _ = Spin.wait(until: uv_hrtime() + Self.lingerNanoseconds) { pending.load(ordering: .acquiring) > 0 }
        condition.lock(whenValue: 1)
        guard !items.isEmpty else {
            // Only `stopping` keeps the value at 1 with an empty queue.
            condition.unlock(withValue: 1)
            return nil
        }
        let item = items.removeFirst()
        pending.subtract(1, ordering: .relaxed)
        condition.unlock(withValue: items.isEmpty && !stopping ? 0 : 1)
        return item
    }
}
