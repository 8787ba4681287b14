import CCrashGuard
import Dispatch
import Foundation
import NIOCore
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
/// Only a submission that finds a thread parked pays for a system call.
///
/// The work is a value of the owner's choosing rather than a closure, so
/// that submitting a batch allocates nothing.
final class HandlerThreads<Work: HandlerWork>: Sendable {
    private struct Queue: ~Copyable {
        var items = CircularBuffer<Work>()
        /// Threads asleep on `wakeUp` that no submission has woken yet.
        var parked = 0
        var stopping = false
    }

    private let queue = Mutex(Queue())
    /// Items queued and not yet taken, readable without the lock while lingering.
    private let pending = Atomic<Int>(0)
    /// One signal per parked thread woken.
    private let wakeUp = DispatchSemaphore(value: 0)

    init(name: String, count: Int) {
        for index in 0..<count {
            let threadName = count == 1 ? name : "\(name)-\(index)"
            let thread = Thread { [self] in run(named: threadName) }
            thread.start()
        }
    }

    /// Runs `item` on one of the threads, after the items already queued.
    func submit(_ item: Work) {
        let wake = queue.withLock { queue in
            queue.items.append(item)
            guard queue.parked > 0 else { return false }
            queue.parked -= 1
            return true
        }
        // Only now: a lingering thread that saw it earlier would find the lock still held.
        pending.add(1, ordering: .releasing)
        if wake { wakeUp.signal() }
    }

    /// Lets the threads exit once the items already queued have run.
    func stop() {
        let parked = queue.withLock { queue in
            queue.stopping = true
            defer { queue.parked = 0 }
            return queue.parked
        }
        for _ in 0..<parked { wakeUp.signal() }
    }

    private func run(named name: String) {
        describer_crash_guard_name_thread(name)
        // Function code runs here: give the crash handler a stack of its own,
        // so a stack overflow in a function is remembered too.
        _ = describer_crash_guard_prepare_thread()
        while let item = next() { item.run() }
        describer_crash_guard_release_thread()
    }

    /// Waits for the next item: lingers first, then parks. Nil once stopped and drained.
    private func next() -> Work? {
        while true {
            _ = Spin.wait(until: MonotonicClock.now() + Spin.lingerNanoseconds) { pending.load(ordering: .acquiring) > 0 }
            let taken: Work?? = queue.withLock { queue in
                if let item = queue.items.popFirst() {
                    pending.subtract(1, ordering: .relaxed)
                    return .some(item)
                }
                if queue.stopping { return .some(nil) }
                queue.parked += 1
                return nil
            }
            if let taken { return taken }
            wakeUp.wait()
        }
    }
}

/// One item of work for ``HandlerThreads``.
protocol HandlerWork: Sendable {
    func run()
}
