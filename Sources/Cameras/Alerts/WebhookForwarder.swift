import AsyncHTTPClient
import DescriberHost
import Foundation
import Logging
import NIOCore
import NIOHTTP1
import Prometheus
import ServiceLifecycle
import Synchronization

/// Sends the outbox's deliveries to their targets as signed JSON POSTs, one
/// at a time in the order they fell due, until cancelled.
///
/// A 2xx answer delivers; 410 Gone, or a target no longer in the
/// configuration, is final; anything else (another status, a refused
/// connection, a timeout) is retried later, honouring `Retry-After`.
public final class WebhookForwarder: Service, Sendable {
    /// How a target is reached now: its signing secret, or nil to send
    /// unsigned. The outer nil means the target is no longer configured.
    public typealias TargetLookup = @Sendable (_ cameraID: String, _ url: String) -> String??

    let outbox: WebhookOutbox
    let lookup: TargetLookup
    let client: HTTPClient
    let timeout: Duration
    /// The longest sleep between looks at the outbox when nothing is due.
    let idleWait: Duration
    let logger: Logger
    private let outcomes: [String: Counter]
    /// Set by ``wake()``: something was queued.
    private let rung = Atomic<Bool>(false)

    public init(
        outbox: WebhookOutbox, lookup: @escaping TargetLookup, client: HTTPClient = .shared, timeout: Duration = .seconds(10),
        idleWait: Duration = .seconds(5), metrics: PrometheusCollectorRegistry, logger: Logger
    ) {
        self.outbox = outbox
        self.lookup = lookup
        self.client = client
        self.timeout = timeout
        self.idleWait = idleWait
        self.logger = logger
        var outcomes: [String: Counter] = [:]
        for outcome in ["delivered", "retry", "dead"] {
            outcomes[outcome] = metrics.makeCounter(descriptor: Self.deliveries, labels: [("outcome", outcome)])
        }
        self.outcomes = outcomes
    }

    static var deliveries: MetricNameDescriptor {
        MetricNameDescriptor(
            namespace: "describer", metricName: "webhook_deliveries", unitName: "total",
            helpText: "Webhook delivery attempts by outcome: delivered, retry (will be tried again) or dead (given up)."
        )
    }

    /// Something was queued: look at the outbox now rather than at the next tick.
    public func wake() { rung.store(true, ordering: .releasing) }

    /// Delivers until graceful shutdown; what is left stays queued for the next start.
    public func run() async throws {
        await cancelWhenGracefulShutdown { await self.deliver() }
    }

    /// Delivers until the task is cancelled.
    public func deliver() async {
        while !Task.isCancelled {
            do {
                rung.store(false, ordering: .relaxed)
                while try await deliverDue(now: Date()) > 0, !Task.isCancelled {}
                var wait = idleWait
                if let next = try await outbox.nextDue() {
                    wait = min(wait, .milliseconds(Int64(min(max(0, next.timeIntervalSinceNow), idleWait.seconds) * 1000)))
                }
                // Sleep until the next delivery is due or something is
                // queued, looking at the bell every tick.
                let until = ContinuousClock.now + wait
                while ContinuousClock.now < until, !rung.load(ordering: .acquiring) {
                    try await Task.sleep(for: min(Self.tick, until - ContinuousClock.now))
                }
            } catch is CancellationError {
                return
            } catch {
                logger.error("The webhook outbox cannot be read", metadata: ["reason": "\(error)"])
                try? await Task.sleep(for: idleWait)
            }
        }
    }

    static let tick: Duration = .milliseconds(100)

    /// Sends every delivery due at `now`; returns how many were attempted.
    @discardableResult
    public func deliverDue(now: Date, limit: Int = 32) async throws -> Int {
        let due = try await outbox.due(at: now, limit: limit)
        let started = ContinuousClock.now
        for delivery in due {
            let result = await attempt(delivery)
            // Retries are timed from when the answer came.
            try await outbox.record(delivery, result, at: now.addingTimeInterval((ContinuousClock.now - started).seconds))
            switch result {
            case .delivered:
                outcomes["delivered"]?.increment()
            case .rejected(_, let reason):
                outcomes["dead"]?.increment()
                logger.error(
                    "Webhook delivery given up",
                    metadata: ["url": "\(CameraConfig.redacted(delivery.url))", "message": "\(delivery.messageID)", "reason": "\(reason)"])
            case .failed(_, let reason, _):
                let final = delivery.attempts + 1 >= outbox.retry.maxAttempts
                outcomes[final ? "dead" : "retry"]?.increment()
                logger.warning(
                    final ? "Webhook delivery given up" : "Webhook delivery failed; it will be retried",
                    metadata: [
                        "url": "\(CameraConfig.redacted(delivery.url))", "message": "\(delivery.messageID)", "attempt": "\(delivery.attempts + 1)",
                        "reason": "\(reason)",
                    ]
                )
            }
        }
        return due.count
    }

    func attempt(_ delivery: WebhookOutbox.Delivery) async -> WebhookOutbox.AttemptResult {
        guard let secret = lookup(delivery.cameraID, delivery.url) else {
            return .rejected(status: nil, reason: "the target is no longer configured for camera \(delivery.cameraID)")
        }
        var request = HTTPClientRequest(url: delivery.url)
        request.method = .POST
        request.headers.add(name: "Content-Type", value: "application/json")
        request.headers.add(name: "User-Agent", value: "describer")
        if let secret {
            let timestamp = Int64(Date().timeIntervalSince1970)
            for (name, value) in WebhookSignature(secret: secret).headers(id: delivery.messageID, timestamp: timestamp, body: delivery.payload) {
                request.headers.add(name: name, value: value)
            }
        } else {
            request.headers.add(name: "webhook-id", value: delivery.messageID)
        }
        request.body = .bytes(ByteBuffer(bytes: delivery.payload))
        do {
            let response = try await client.execute(request, timeout: .nanoseconds(Int64(timeout.nanosecondsClamped)))
            // Read a little of the answer so the connection can be reused; its content does not matter.
            _ = try? await response.body.collect(upTo: 64 << 10)
            let status = Int(response.status.code)
            switch status {
            case 200..<300: return .delivered(status: status)
            case 410: return .rejected(status: status, reason: "the target answered 410 Gone")
            default:
                let retryAfter = response.headers.first(name: "Retry-After").flatMap(Self.retryAfter)
                return .failed(status: status, reason: "the target answered \(status)", retryAfter: retryAfter)
            }
        } catch {
            return .failed(status: nil, reason: "\(error)", retryAfter: nil)
        }
    }

    /// The longest `Retry-After` honoured: a target cannot park a delivery for longer.
    static let maxRetryAfter = 86_400

    /// `Retry-After` in seconds or as an HTTP date, at most a day.
    static func retryAfter(_ value: String) -> Duration? {
        if let seconds = Int(value.trimmingCharacters(in: .whitespaces)), seconds >= 0 { return .seconds(min(seconds, maxRetryAfter)) }
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "GMT")
        formatter.dateFormat = "EEE, dd MMM yyyy HH:mm:ss zzz"
        guard let date = formatter.date(from: value) else { return nil }
        return .milliseconds(Int64(min(max(0, date.timeIntervalSinceNow), Double(maxRetryAfter)) * 1000))
    }
}
