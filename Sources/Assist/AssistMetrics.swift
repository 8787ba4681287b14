import DescriberHost
import Prometheus

/// The Prometheus series of asking a person: how many questions are
/// waiting, how each ended, and how long people took to answer.
struct AssistMetrics: Sendable {
    private let registry: PrometheusCollectorRegistry
    private let waiting: Gauge
    private let answerTime: DurationHistogram

    init(registry: PrometheusCollectorRegistry) {
        self.registry = registry
        waiting = registry.makeGauge(
            descriptor: MetricNameDescriptor(namespace: "describer", metricName: "assist_waiting", helpText: "Questions waiting for a person."))
        answerTime = registry.makeDurationHistogram(
            descriptor: MetricNameDescriptor(
                namespace: "describer", metricName: "assist_answer_duration", unitName: "seconds",
                helpText: "From a question asked to its answer."),
            labels: [], buckets: [.seconds(10), .seconds(30), .seconds(60), .seconds(120), .seconds(300), .seconds(900), .seconds(3600)]
        )
    }

    static var questions: MetricNameDescriptor {
        MetricNameDescriptor(
            namespace: "describer", metricName: "assist_questions", unitName: "total",
            helpText: "Questions by outcome: asked, answered, expired, cancelled.")
    }

    func record(_ outcome: String, count: Int = 1) {
        registry.makeCounter(descriptor: Self.questions, labels: [("outcome", outcome)]).increment(by: Int64(count))
    }

    func recordAnswer(after duration: Duration) { answerTime.record(duration) }

    func setWaiting(_ count: Int) { waiting.set(Double(count)) }
}
