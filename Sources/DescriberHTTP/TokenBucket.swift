/// A token bucket: `burst` at once, refilled at `perSecond`. Not
/// thread-safe by itself: keep it behind a lock.
package struct TokenBucket: Sendable {
    package let perSecond: Double
    package let burst: Int
    private var tokens: Double
    private var updated: ContinuousClock.Instant?

    package init(perSecond: Double, burst: Int) {
        self.perSecond = perSecond
        self.burst = burst
        tokens = Double(burst)
    }

    /// Takes one token; when none is left, answers how long until one is.
    package mutating func take(now: ContinuousClock.Instant = .now) -> Result<Void, RetryAfter> {
        if let updated {
            let elapsed = now - updated
            let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
            tokens = min(Double(burst), tokens + max(0, seconds) * perSecond)
        }
        updated = now
        guard tokens >= 1 else {
            let wait = (1 - tokens) / perSecond
            return .failure(RetryAfter(seconds: max(1, Int(wait.rounded(.up)))))
        }
        tokens -= 1
        return .success(())
    }

    /// How many whole seconds until a token is free: for `Retry-After`.
    package struct RetryAfter: Error, Equatable {
        package var seconds: Int
        package init(seconds: Int) { self.seconds = seconds }
    }
}
