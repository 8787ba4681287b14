import DescriberHost
import Prometheus

/// The Prometheus series of the camera webhook and its processing.
struct CameraMetrics: Sendable {
    private let registry: PrometheusCollectorRegistry
    private let commitDuration: DurationHistogram

    init(registry: PrometheusCollectorRegistry) {
        self.registry = registry
        commitDuration = registry.makeDurationHistogram(
            descriptor: MetricNameDescriptor(
                namespace: "describer", metricName: "camera_event_commit_duration", unitName: "seconds",
                helpText: "Time to store an accepted camera event durably, before it is acknowledged."
            ),
            labels: [], buckets: FunctionMetrics.durationBuckets
        )
    }

    static var requests: MetricNameDescriptor {
        MetricNameDescriptor(
            namespace: "describer", metricName: "camera_requests", unitName: "total",
            helpText: "Camera event requests by outcome: accepted, duplicate, unauthorized, rate_limited, invalid, storage_error."
        )
    }

    static var processed: MetricNameDescriptor {
        MetricNameDescriptor(
            namespace: "describer", metricName: "camera_events_processed", unitName: "total",
            helpText: "Camera events finished by outcome (processed, failed) and detector, and attempts to retry."
        )
    }

    /// `camera` is a configured id, or `unknown` (so probing cannot grow the series).
    func recordRequest(camera: String, outcome: String) {
        registry.makeCounter(descriptor: Self.requests, labels: [("camera", camera), ("outcome", outcome)]).increment()
    }

    /// How long committing an accepted event took: the part of the
    /// acknowledgement that waits for the disk.
    func recordCommit(_ duration: Duration) { commitDuration.record(duration) }

    func recordProcessing(camera: String, outcome: String, detector: String) {
        registry.makeCounter(descriptor: Self.processed, labels: [("camera", camera), ("outcome", outcome), ("detector", detector)]).increment()
    }
}
