import CLibUV

/// CLOCK_MONOTONIC in nanoseconds: the clock of every deadline in the host
/// and of `describer_request.deadline_ns`. libuv's `uv_hrtime` reads exactly
/// that clock on Linux.
package enum MonotonicClock {
    @inline(__always)
    package static func now() -> UInt64 { uv_hrtime() }
}

extension Duration {
    /// Whole nanoseconds: zero for negative durations, UInt64.max for ones too long to count.
    package var nanosecondsClamped: UInt64 {
        let (seconds, attoseconds) = components
        if seconds < 0 || (seconds == 0 && attoseconds < 0) { return 0 }
        let (whole, overflow) = UInt64(seconds).multipliedReportingOverflow(by: 1_000_000_000)
        let (total, carry) = whole.addingReportingOverflow(UInt64(attoseconds / 1_000_000_000))
        return overflow || carry ? .max : total
    }

    package static func between(_ start: UInt64, _ end: UInt64) -> Duration {
        end > start ? .nanoseconds(Int64(end - start)) : .zero
    }
}
