import Prometheus

/// The Prometheus series one function feeds. Created once per function from
/// the host's registry; every update is a lock-free or briefly locked write.
package struct FunctionMetrics: Sendable {
    private let registry: PrometheusCollectorRegistry
    private let function: String
    let duration: DurationHistogram
    let batchSize: ValueHistogram
    let queueDepth: Gauge
    let instancesIdle: Gauge
    let instancesBusy: Gauge
    let instancesStarting: Gauge
    let instancesStuck: Gauge
    let stuckCalls: Counter
    let coldStarts: Counter
    let coldStartDuration: DurationHistogram
    /// The common outcome, kept to skip the registry lookup on the hot path.
    private let succeeded: Counter
    static var invocations: MetricNameDescriptor {
        MetricNameDescriptor(namespace: "describer", metricName: "invocations", unitName: "total", helpText: "Invocations by outcome.")
    }

    package static let durationBuckets: [Duration] = [
        .microseconds(50), .microseconds(100), .microseconds(250), .microseconds(500), .milliseconds(1),
        .milliseconds(2.5), .milliseconds(5), .milliseconds(10), .milliseconds(25), .milliseconds(50),
        .milliseconds(100), .milliseconds(250), .milliseconds(500), .seconds(1), .seconds(2.5), .seconds(5),
        .seconds(10), .seconds(30),
    ]
    static let batchBuckets: [Double] = [1, 2, 4, 8, 16, 32, 64, 128]

    init(registry: PrometheusCollectorRegistry, function: String) {
        self.registry = registry
        self.function = function
        let labels = [("function", function)]
        duration = registry.makeDurationHistogram(
            descriptor: MetricNameDescriptor(
                namespace: "describer", metricName: "invocation_duration", unitName: "seconds", helpText: "Time from admission to answer, per invocation."),
            labels: labels, buckets: Self.durationBuckets
        )
        batchSize = registry.makeValueHistogram(
            descriptor: MetricNameDescriptor(namespace: "describer", metricName: "batch_size", unitName: "", helpText: "Requests per call into the function."),
            labels: labels, buckets: Self.batchBuckets
        )
        queueDepth = registry.makeGauge(
            descriptor: MetricNameDescriptor(namespace: "describer", metricName: "queue_depth", unitName: "", helpText: "Invocations waiting for an instance."),
            labels: labels
        )
        let instances = MetricNameDescriptor(namespace: "describer", metricName: "instances", unitName: "", helpText: "Instances by state.")
        instancesIdle = registry.makeGauge(descriptor: instances, labels: labels + [("state", "idle")])
        instancesBusy = registry.makeGauge(descriptor: instances, labels: labels + [("state", "busy")])
        instancesStarting = registry.makeGauge(descriptor: instances, labels: labels + [("state", "starting")])
        instancesStuck = registry.makeGauge(descriptor: instances, labels: labels + [("state", "stuck")])
        stuckCalls = registry.makeCounter(
            descriptor: MetricNameDescriptor(
                namespace: "describer", metricName: "stuck_calls", unitName: "total",
                helpText: "Calls into an in-process function still running a second past their deadline."),
            labels: labels
        )
        coldStarts = registry.makeCounter(
            descriptor: MetricNameDescriptor(namespace: "describer", metricName: "cold_starts", unitName: "total", helpText: "Instances created."),
            labels: labels
        )
        coldStartDuration = registry.makeDurationHistogram(
            descriptor: MetricNameDescriptor(
                namespace: "describer", metricName: "cold_start_duration", unitName: "seconds", helpText: "Time describer_instance_create took."),
            labels: labels, buckets: Self.durationBuckets
        )
        succeeded = registry.makeCounter(descriptor: Self.invocations, labels: labels + [("outcome", "ok")])
    }

    static var workerCrashes: MetricNameDescriptor {
        MetricNameDescriptor(
            namespace: "describer", metricName: "worker_crashes", unitName: "total",
            helpText: "Worker processes that died on their own, by signal (or exit)."
        )
    }

    static var workerKills: MetricNameDescriptor {
        MetricNameDescriptor(
            namespace: "describer", metricName: "worker_kills", unitName: "total",
            helpText: "Worker processes the host killed, by reason."
        )
    }

    /// Counts a worker process that died on its own: `signal` is `SIGSEGV`,
    /// `SIGXCPU`, …, or `exit` for a non-zero exit.
    func recordWorkerCrash(signal: String) {
        registry.makeCounter(descriptor: Self.workerCrashes, labels: [("function", function), ("signal", signal)]).increment()
    }

    /// Counts a worker process the host killed: `deadline`, `shutdown`, `protocol`.
    func recordWorkerKill(reason: String) {
        registry.makeCounter(descriptor: Self.workerKills, labels: [("function", function), ("reason", reason)]).increment()
    }

    /// Counts invocations the function answered (outcome `ok`).
    func recordAnswers(_ count: Int) {
        if count > 0 { succeeded.increment(by: Int64(count)) }
    }

    /// Counts one invocation that failed, by outcome.
    func recordOutcome(_ outcome: String) {
        registry.makeCounter(descriptor: Self.invocations, labels: [("function", function), ("outcome", outcome)]).increment()
    }
}
