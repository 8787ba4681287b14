import DescriberHTTP
import Synchronization

/// A token bucket per camera: `burst` events at once, refilled at
/// `events_per_second`. A camera stuck in a loop (or a leaked token) cannot
/// fill the disk or starve the other cameras' processing.
final class CameraRateLimiter: Sendable {
    private let limits: [String: CameraConfig.RateLimit]
    private let buckets: Mutex<[String: TokenBucket]>

    init(cameras: [CameraConfig]) {
        var limits: [String: CameraConfig.RateLimit] = [:]
        for camera in cameras { limits[camera.id] = camera.rateLimit }
        self.limits = limits
        self.buckets = Mutex([:])
    }

    /// Takes one token; when none is left, answers how many seconds until one is.
    func admit(_ cameraID: String, now: ContinuousClock.Instant = .now) -> Result<Void, TokenBucket.RetryAfter> {
        guard let limit = limits[cameraID] else { return .success(()) }
        return buckets.withLock { buckets in
            var bucket = buckets[cameraID] ?? TokenBucket(perSecond: limit.eventsPerSecond, burst: limit.burst)
            defer { buckets[cameraID] = bucket }
            return bucket.take(now: now)
        }
    }
}
