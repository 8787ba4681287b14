import Synchronization

/// A token bucket per camera: `burst` events at once, refilled at
/// `events_per_second`. A camera stuck in a loop (or a leaked token) cannot
/// fill the disk or starve the other cameras' processing.
final class CameraRateLimiter: Sendable {
    private struct Bucket {
        var tokens: Double
        var updated: ContinuousClock.Instant
    }

    private let limits: [String: CameraConfig.RateLimit]
    private let buckets: Mutex<[String: Bucket]>

    init(cameras: [CameraConfig]) {
        var limits: [String: CameraConfig.RateLimit] = [:]
        for camera in cameras { limits[camera.id] = camera.rateLimit }
        self.limits = limits
        self.buckets = Mutex([:])
    }

    /// Takes one token; when none is left, answers how many seconds until one is.
    func admit(_ cameraID: String, now: ContinuousClock.Instant = .now) -> Result<Void, RetryAfter> {
        guard let limit = limits[cameraID] else { return .success(()) }
        return buckets.withLock { buckets in
            var bucket = buckets[cameraID] ?? Bucket(tokens: Double(limit.burst), updated: now)
            let elapsed = now - bucket.updated
            let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
            bucket.tokens = min(Double(limit.burst), bucket.tokens + max(0, seconds) * limit.eventsPerSecond)
            bucket.updated = now
            defer { buckets[cameraID] = bucket }
            guard bucket.tokens >= 1 else {
                let wait = (1 - bucket.tokens) / limit.eventsPerSecond
                return .failure(RetryAfter(seconds: max(1, Int(wait.rounded(.up)))))
            }
            bucket.tokens -= 1
            return .success(())
        }
    }

    struct RetryAfter: Error, Equatable { var seconds: Int }
}
