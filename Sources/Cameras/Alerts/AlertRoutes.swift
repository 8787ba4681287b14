import DescriberHTTP
import DescriberHost
import Describing
import Foundation
import GRDB
import HTTPTypes
import Hummingbird
import NIOCore

/// Reading alerts back, and hearing them:
/// - `GET /v1/alerts?since=…&camera=…&limit=…`: alerts oldest first, sent
///   and suppressed (with why), each with its text, speech, rule, zone and scores;
/// - `GET /v1/alerts/{id}/speech`: the alert's speech form as a WAV, spoken
///   with the camera's voice by the `speak` function;
/// - `GET /v1/alerts/deliveries?state=pending|delivered|dead`: the outbox,
///   dead letters included, and how many are in each state.
package struct AlertRoutes: Sendable {
    let system: CameraSystem
    let speaker: Speaker

    package init(system: CameraSystem, speaker: Speaker) {
        self.system = system
        self.speaker = speaker
    }

    package func register(on router: some RouterMethods<BasicRequestContext>) {
        router.get("/v1/alerts", use: alerts)
        router.get("/v1/alerts/deliveries", use: deliveries)
        router.get("/v1/alerts/:id/speech", use: speech)
    }

    @Sendable func alerts(_ request: Request, context: BasicRequestContext) async throws -> Response {
        let query = request.uri.queryParameters
        let since = try CameraRoutes.since(query["since"])
        let camera = query["camera"].map(String.init)
        if let camera, system.camerasByID[camera] == nil {
            throw APIError(status: .notFound, code: "unknown_camera", message: "no camera named '\(camera)'")
        }
        let limit = try Self.limit(query["limit"])
        let alerts = try await system.store.database.read { db in try AlertLedger.alerts(db, since: since, cameraID: camera, limit: limit) }
        struct Listing: Encodable { var alerts: [StoredAlert] }
        return try Self.json(Listing(alerts: alerts))
    }

    @Sendable func deliveries(_ request: Request, context: BasicRequestContext) async throws -> Response {
        let query = request.uri.queryParameters
        var state: WebhookOutbox.State?
        if let text = query["state"] {
            guard let parsed = WebhookOutbox.State(rawValue: String(text)) else {
                throw APIError(status: .badRequest, code: "bad_option", message: "state must be pending, delivered or dead, got '\(text)'")
            }
            state = parsed
        }
        let deliveries = try await system.outbox.deliveries(state: state, limit: try Self.limit(query["limit"]))
        let counts = try await system.outbox.counts()
        struct Listing: Encodable {
            var counts: [String: Int]
            var deliveries: [Delivery]
        }
        // The payload is the alert already listed; here, where it went and how.
        struct Delivery: Encodable {
            var id: Int64
            var messageID: String
            var cameraID: String
            var url: String
            var state: String
            var attempts: Int
            var createdAt: Date
            var nextAttemptAt: Date
            var lastStatus: Int?
            var lastError: String?
            var deliveredAt: Date?
        }
        return try Self.json(
            Listing(
                counts: Dictionary(uniqueKeysWithValues: counts.map { ($0.key.rawValue, $0.value) }),
                deliveries: deliveries.map {
                    Delivery(
                        id: $0.id, messageID: $0.messageID, cameraID: $0.cameraID, url: CameraConfig.redacted($0.url), state: $0.state.rawValue,
                        attempts: $0.attempts, createdAt: $0.createdAt, nextAttemptAt: $0.nextAttemptAt, lastStatus: $0.lastStatus,
                        lastError: $0.lastError, deliveredAt: $0.deliveredAt
                    )
                }
            ))
    }

    @Sendable func speech(_ request: Request, context: BasicRequestContext) async throws -> Response {
        let text = try context.parameters.require("id")
        guard let id = Int64(text),
            let stored = try await system.store.database.read({ db in try AlertLedger.alert(db, id: id) })
        else {
            throw APIError(status: .notFound, code: "unknown_alert", message: "no alert with id '\(text)'")
        }
        let voice = system.camerasByID[stored.cameraID].map { $0.speech.voice }
        let output: InvocationOutput
        do throws(InvocationError) {
            output = try await speaker.speak(ByteBuffer(string: stored.alert.speech), voice: voice)
        } catch {
            // Answered as /v1/speak answers the same failure (a full queue is
            // 429, a missing `speak` 404…); thrown as it was, it became 500.
            throw APIError(error)
        }
        return Response(status: .ok, headers: [.contentType: output.contentType], body: .init(byteBuffer: output.body))
    }

    static let maxPageSize = 500

    static func limit(_ text: Substring?) throws -> Int {
        guard let text else { return 100 }
        guard let limit = Int(text), (1...maxPageSize).contains(limit) else {
            throw APIError(status: .badRequest, code: "bad_option", message: "limit must be between 1 and \(maxPageSize), got '\(text)'")
        }
        return limit
    }

    static func json(_ value: some Encodable) throws -> Response {
        let data = try AlertLedger.encoder.encode(value)
        return Response(status: .ok, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(bytes: data)))
    }
}
