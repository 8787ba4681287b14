#if canImport(Glibc)
import Glibc
#endif

/// Bounded busy-waiting, for the two places where waking a parked thread
/// would cost more than the wait itself: a handler thread lingering for its
/// next item and a caller polling for a fast answer.
enum Spin {
    /// Polls `condition` until it holds or the monotonic clock reaches
    /// `limit`; returns whether it held. Between short runs of plain polls
    /// it yields the CPU, so a thread that shares a core with the one it
    /// waits for does not starve it.
    static func wait(until limit: UInt64, for condition: () -> Bool) -> Bool {
        var yieldAt = MonotonicClock.now() + pollNanoseconds
        while true {
            for _ in 0..<16 where condition() { return true }
            let now = MonotonicClock.now()
            if now >= limit { return condition() }
            if now >= yieldAt {
                sched_yield()
                yieldAt = MonotonicClock.now() + pollNanoseconds
            }
        }
    }

    /// Plain polling between yields. A yield is a system call costing a
    /// microsecond or more on a VM, during which the awaited event goes
    /// unseen, so yielding after every poll would add that to every wait.
    static let pollNanoseconds: UInt64 = 4_000

    /// How long a thread that calls into functions (``HandlerThreads``, a
    /// worker's supervisor) stays runnable after its last item of work.
    static let lingerNanoseconds: UInt64 = 50_000
}
