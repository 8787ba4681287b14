/// Exponential back-off: a first delay, doubled for each further retry up to
/// a maximum, and optionally shortened at random so that many waiters do
/// not retry in step. The one policy of every retry loop: the pool starting
/// instances, crashing worker processes, camera events and webhook deliveries.
public struct Backoff: Sendable, Equatable {
    public var first: Duration
    public var maximum: Duration
    /// How much of each delay may be taken off at random: 0 none, 0.5 up to half.
    public var jitter: Double

    /// Out-of-range settings are clamped: a negative first delay to zero, a
    /// maximum below the first delay to it, the jitter to 0…1.
    public init(first: Duration, maximum: Duration, jitter: Double = 0) {
        self.first = max(first, .zero)
        self.maximum = max(maximum, self.first)
        self.jitter = min(max(jitter, 0), 1)
    }

    /// The wait before retry number `retry` (1 for the first).
    /// - Parameter random: in 0…1; 1 takes nothing off.
    public func delay(retry: Int, random: Double = Double.random(in: 0...1)) -> Duration {
        let doublings = min(max(retry - 1, 0), 62)
        var full = first
        for _ in 0..<doublings where full < maximum { full = min(full * 2, maximum) }
        guard jitter > 0 else { return full }
        return full * (1 - jitter * (1 - min(max(random, 0), 1)))
    }
}
