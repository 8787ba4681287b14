import Crypto
import Foundation
import GRDB
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Logging
import Prometheus
import ServerTestSupport
import Synchronization
import TestSupport
import Testing

@testable import Cameras
@testable import DescriberHost

/// Signed alert forwarding from a persisted outbox, against a real HTTP receiver.
@Suite struct WebhookTests {
    /// The Standard Webhooks specification's own example.
    @Test func signaturesMatchTheStandardWebhooksExample() {
        let signature = WebhookSignature(secret: "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
            .sign(id: "msg_p5jXN8AQM9LWM0D4loKWxJek", timestamp: 1_614_265_330, body: Data(#"{"test": 2432232314}"#.utf8))
        #expect(signature == "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=")
        // The prefix is optional, as in the reference libraries.
        let bare = WebhookSignature(secret: "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
            .sign(id: "msg_p5jXN8AQM9LWM0D4loKWxJek", timestamp: 1_614_265_330, body: Data(#"{"test": 2432232314}"#.utf8))
        #expect(bare == signature)
    }

    @Test func retriesBackOffWithJitterAndHonourRetryAfter() {
        let policy = WebhookOutbox.RetryPolicy(maxAttempts: 5, firstDelay: .seconds(30), maxDelay: .seconds(3600))
        #expect(policy.delay(after: 1, retryAfter: nil, random: 1) == .seconds(30))
        #expect(policy.delay(after: 1, retryAfter: nil, random: 0) == .seconds(15))
        #expect(policy.delay(after: 3, retryAfter: nil, random: 1) == .seconds(120))
        #expect(policy.delay(after: 20, retryAfter: nil, random: 1) == .seconds(3600), "capped")
        #expect(policy.delay(after: 1, retryAfter: .seconds(7200), random: 0) == .seconds(7200), "Retry-After wins, even past the cap")
        #expect(WebhookForwarder.retryAfter("120") == .seconds(120))
        // A target cannot park a delivery for ever, nor overflow the arithmetic.
        #expect(WebhookForwarder.retryAfter("10000000000000000000") == nil)
        #expect(WebhookForwarder.retryAfter("1000000000000000") == .seconds(86_400))
        #expect(policy.delay(after: 1, retryAfter: .seconds(Int64.max / 2), random: 0) == .seconds(7 * 86_400))
        #expect(WebhookForwarder.retryAfter("soon") == nil)
    }

    @Test func aDeliveryIsSignedAndSurvivesARestartUntilSent() async throws {
        let receiver = WebhookReceiver([(204, [:])])
        try await receiver.application.test(.live) { client in
            let url = "http://127.0.0.1:\(client.port!)/hook"
            let path = WebhookFixture.scratchDatabase()
            let payload = Data(#"{"type":"alert.created","data":{"text":"Person at Front Door, 14:02"}}"#.utf8)
            let messageID = try await WebhookFixture.database(path).write { db in
                try WebhookOutbox.enqueue(db, cameraID: "front-door", urls: [url], payload: payload, at: Date())
            }
            // A new process: the queued delivery is still there and goes out.
            let outbox = WebhookOutbox(database: try WebhookFixture.database(path))
            #expect(try await WebhookFixture.forwarder(outbox).deliverDue(now: Date()) == 1)
            let got = try #require(receiver.received.withLock { $0.first })
            #expect(got.body == payload)
            #expect(got.headers["webhook-id"] == messageID)
            let timestamp = try #require(got.headers["webhook-timestamp"].flatMap { Int64($0) })
            #expect(abs(Double(timestamp) - Date().timeIntervalSince1970) < 60)
            // Verified the way a receiver does it.
            let key = SymmetricKey(data: Data(base64Encoded: "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")!)
            let expected = HMAC<SHA256>.authenticationCode(for: Data("\(messageID).\(timestamp).".utf8) + payload, using: key)
            #expect(got.headers["webhook-signature"] == "v1," + Data(expected).base64EncodedString())
            #expect(try await outbox.counts()[.delivered] == 1)
            #expect(try await outbox.due(at: Date().addingTimeInterval(3600), limit: 10).isEmpty)
        }
    }

    @Test func aFailingTargetIsRetriedThenDeadLettered() async throws {
        let receiver = WebhookReceiver([(500, [:]), (429, ["Retry-After": "90"]), (503, [:])])
        try await receiver.application.test(.live) { client in
            let url = "http://127.0.0.1:\(client.port!)/hook"
            let database = try WebhookFixture.database(WebhookFixture.scratchDatabase())
            let outbox = WebhookOutbox(database: database, retry: .init(maxAttempts: 3, firstDelay: .seconds(10), maxDelay: .seconds(60)))
            try await database.write { db in _ = try WebhookOutbox.enqueue(db, cameraID: "c", urls: [url], payload: Data("{}".utf8), at: Date()) }
            let metrics = PrometheusCollectorRegistry()
            let forwarder = WebhookFixture.forwarder(outbox, metrics: metrics)

            var now = Date()
            #expect(try await forwarder.deliverDue(now: now) == 1)
            var delivery = try #require(try await outbox.deliveries(state: .pending, limit: 1).first)
            #expect(delivery.attempts == 1 && delivery.lastStatus == 500)
            let firstWait = delivery.nextAttemptAt.timeIntervalSince(now)
            #expect(firstWait >= 4 && firstWait <= 11, "10 s, jittered by up to half: \(firstWait)")
            #expect(try await forwarder.deliverDue(now: now) == 0, "not due yet")

            now = delivery.nextAttemptAt
            #expect(try await forwarder.deliverDue(now: now) == 1)
            delivery = try #require(try await outbox.deliveries(state: .pending, limit: 1).first)
            #expect(delivery.lastStatus == 429)
            #expect(delivery.nextAttemptAt.timeIntervalSince(now) >= 89, "Retry-After: 90 is honoured over the 60 s cap")

            now = delivery.nextAttemptAt
            #expect(try await forwarder.deliverDue(now: now) == 1)
            let dead = try #require(try await outbox.deliveries(state: .dead, limit: 1).first)
            #expect(dead.attempts == 3 && dead.lastStatus == 503)
            #expect(dead.lastError?.contains("gave up after 3 attempts") == true)
            #expect(receiver.received.withLock { $0.count } == 3)

            var text: [UInt8] = []
            metrics.emit(into: &text)
            let exposition = String(decoding: text, as: UTF8.self)
            #expect(exposition.contains("# HELP describer_webhook_deliveries_total Webhook delivery attempts by outcome"))
            #expect(exposition.contains(#"describer_webhook_deliveries_total{outcome="retry"} 2"#), "\(exposition)")
            #expect(exposition.contains(#"describer_webhook_deliveries_total{outcome="dead"} 1"#), "\(exposition)")
        }
    }

    @Test func goneAndUnconfiguredTargetsAreFinal() async throws {
        let receiver = WebhookReceiver([(410, [:])])
        try await receiver.application.test(.live) { client in
            let url = "http://127.0.0.1:\(client.port!)/hook"
            let database = try WebhookFixture.database(WebhookFixture.scratchDatabase())
            let outbox = WebhookOutbox(database: database)
            try await database.write { db in _ = try WebhookOutbox.enqueue(db, cameraID: "c", urls: [url, url], payload: Data("{}".utf8), at: Date()) }
            let gone = try #require(try await outbox.due(at: Date(), limit: 1).first)
            try await outbox.record(gone, await WebhookFixture.forwarder(outbox).attempt(gone), at: Date())
            #expect(try await outbox.deliveries(state: .dead, limit: 5).first?.lastStatus == 410)
            #expect(try await WebhookFixture.forwarder(outbox, configured: false).deliverDue(now: Date()) == 1)
            let removed = try #require(try await outbox.deliveries(state: .dead, limit: 5).first)
            #expect(removed.lastError?.contains("no longer configured") == true)
            #expect(receiver.received.withLock { $0.count } == 1, "nothing is sent to a target that was removed")
        }
    }

    @Test func anUnreachableTargetIsRetried() async throws {
        let database = try WebhookFixture.database(WebhookFixture.scratchDatabase())
        let outbox = WebhookOutbox(database: database)
        // Port 9 (discard) on loopback: nothing listens, the connection is refused.
        try await database.write { db in
            _ = try WebhookOutbox.enqueue(db, cameraID: "c", urls: ["http://127.0.0.1:9/hook"], payload: Data("{}".utf8), at: Date())
        }
        #expect(try await WebhookFixture.forwarder(outbox, timeout: .seconds(1)).deliverDue(now: Date()) == 1)
        let delivery = try #require(try await outbox.deliveries(state: .pending, limit: 1).first)
        #expect(delivery.attempts == 1 && delivery.lastStatus == nil && delivery.lastError != nil)
    }
}
