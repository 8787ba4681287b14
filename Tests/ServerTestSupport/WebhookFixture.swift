import Foundation
import GRDB
import Prometheus
import TestSupport

@testable import Cameras

/// An alert outbox in a scratch database, and a forwarder over it.
package enum WebhookFixture {
    package static func database(_ path: String) throws -> DatabasePool {
        let pool = try DatabasePool(path: path)
        var migrator = DatabaseMigrator()
        WebhookOutbox.registerMigrations(&migrator)
        try migrator.migrate(pool)
        return pool
    }

    package static func scratchDatabase() -> String { "\(TestSupport.scratch)/outbox-\(UUID().uuidString).sqlite" }

    package static func forwarder(
        _ outbox: WebhookOutbox, secret: String? = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", configured: Bool = true, timeout: Duration = .seconds(5),
        metrics: PrometheusCollectorRegistry = PrometheusCollectorRegistry()
    ) -> WebhookForwarder {
        WebhookForwarder(
            outbox: outbox, lookup: { _, _ in configured ? .some(secret) : nil }, timeout: timeout,
            metrics: metrics, logger: TestSupport.logger
        )
    }
}
