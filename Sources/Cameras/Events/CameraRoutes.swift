import Crypto
import DescriberConfiguration
import DescriberHTTP
import Foundation
import HTTPTypes
import Hummingbird
import Logging
import NIOCore

extension HTTPField.Name {
    static let idempotencyKey = Self("Idempotency-Key")!
    static let signatureTimestamp = Self("X-Describer-Timestamp")!
    static let signature = Self("X-Describer-Signature")!
}

/// The camera webhook and reading events back.
///
/// - `POST /v1/cameras/{id}/events` (or `…/events/{token}` for cameras that
///   can only be given a URL): a JPEG or PNG body, a `multipart/form-data`
///   form with an `image` part, or a Hikvision alert (XML alone, or XML and
///   JPEG parts). Authenticated as ``CameraAuthenticator`` describes; 401
///   without detail otherwise. 429 with `Retry-After` past the camera's rate
///   limit. The event is committed to the database before the answer:
///   **202** `{"event_id": N, "status": "accepted"}` for a new event,
///   **200** `{"event_id": N, "status": "duplicate"}` for one accepted
///   before (same `Idempotency-Key`, same Hikvision event, or the same body),
///   which is not processed again. Hikvision's heartbeat (video loss,
///   inactive) answers 200 `{"status": "heartbeat"}` and is not stored.
/// - `GET /v1/cameras`: the cameras and their settings, without secrets, and
///   their event counts.
/// - `GET /v1/cameras/{id}/events?since=…&after=…&limit=…`: events oldest
///   first with their detections; `since` is an ISO 8601 time or Unix
///   seconds, `after` an event id (the `next` link carries it), `limit` 1–500
///   (default 100).
/// - `GET /v1/cameras/{id}/snapshots/{event}`: an event's stored picture,
///   while retention keeps it.
///
/// The webhook authenticates each camera itself; the routes that read back
/// go where the API token (if any) is required.
package struct CameraRoutes: Sendable {
    let system: CameraSystem?

    package init(system: CameraSystem?) { self.system = system }

    static let defaultPageSize = 100
    static let maxPageSize = 500

    package func register(webhookOn router: some RouterMethods<BasicRequestContext>, readingBackOn api: some RouterMethods<BasicRequestContext>) {
        router.post("/v1/cameras/:id/events", use: ingest)
        router.post("/v1/cameras/:id/events/:token", use: ingest)
        api.get("/v1/cameras", use: list)
        api.get("/v1/cameras/:id/events", use: events)
        api.get("/v1/cameras/:id/snapshots/:event", use: snapshot)
    }

    static let unauthorized = APIError(status: .unauthorized, code: "unauthorized", message: "authentication failed")

    // MARK: Ingestion

    @Sendable func ingest(_ request: Request, context: BasicRequestContext) async throws -> Response {
        let id = try context.parameters.require("id")
        // An unknown camera answers like a wrong token, so ids cannot be probed.
        guard let system else { throw Self.unauthorized }
        let cameraLabel = system.camerasByID[id] == nil ? "unknown" : id
        do {
            let (response, outcome) = try await accept(request, context: context, cameraID: id, system: system)
            system.metrics.recordRequest(camera: cameraLabel, outcome: outcome)
            return response
        } catch let error as APIError {
            let outcome =
                switch error.code {
                case Self.unauthorized.code, "rate_limited": error.code
                case "storage_unavailable": "storage_error"
                default: "invalid"
                }
            system.metrics.recordRequest(camera: cameraLabel, outcome: outcome)
            throw error
        }
    }

    /// Authenticates, limits, parses and stores one event.
    private func accept(
        _ request: Request, context: BasicRequestContext, cameraID id: String, system: CameraSystem
    ) async throws -> (Response, outcome: String) {
        guard let camera = system.camerasByID[id], let authenticator = system.authenticators[id] else { throw Self.unauthorized }
        let credentials = CameraAuthenticator.Credentials(
            token: context.parameters.get("token") ?? request.headers.bearerToken ?? request.uri.queryParameters["token"].map(String.init),
            timestamp: request.headers[.signatureTimestamp],
            signature: request.headers[.signature]
        )
        if authenticator.requiresCredentials, credentials.isEmpty { throw Self.unauthorized }
        let body = try await request.collectInput(upTo: system.config.maxBodySize, for: "camera events")
        let bytes = Data(body.readableBytesView)
        guard authenticator.isAuthentic(credentials, body: bytes, now: Date()) else { throw Self.unauthorized }
        if case .failure(let wait) = system.rateLimiter.admit(id) {
            throw APIError(
                status: .tooManyRequests, code: "rate_limited",
                message: "camera '\(id)' is limited to \(camera.rateLimit.eventsPerSecond) events per second (burst \(camera.rateLimit.burst))",
                retryAfterSeconds: wait.seconds
            )
        }
        let payload: CameraPayload
        switch CameraPayload.parse(contentType: request.headers[.contentType], body: body) {
        case .success(let parsed): payload = parsed
        case .failure(let refusal): throw APIError(status: HTTPResponse.Status(code: refusal.status), code: refusal.code, message: refusal.message)
        }
        if let alert = payload.hikvision, alert.isHeartbeat {
            // Hikvision repeats "video loss: inactive" every few seconds to say it is alive; it is not an event.
            return (Response(json: .object(["status": .string("heartbeat")]), status: .ok), "heartbeat")
        }
        let key: IdempotencyKey
        if let header = request.headers[.idempotencyKey] {
            guard (1...255).contains(header.utf8.count), header.unicodeScalars.allSatisfy({ (0x21...0x7E).contains($0.value) }) else {
                throw APIError(status: .badRequest, code: "bad_idempotency_key", message: "Idempotency-Key must be 1 to 255 visible ASCII characters")
            }
            key = IdempotencyKey(kind: .header, value: header)
        } else if let vendorKey = payload.hikvision?.vendorEventKey {
            key = IdempotencyKey(kind: .vendor, value: vendorKey)
        } else {
            key = IdempotencyKey(kind: .content, value: SHA256.hash(data: bytes).hexString)
        }
        let event = IncomingCameraEvent(
            cameraID: id, source: payload.source, snapshot: payload.snapshot, snapshotContentType: payload.snapshotContentType,
            vendor: payload.hikvision?.json ?? [:], idempotencyKey: key
        )
        let acceptance: CameraEventStore.Acceptance
        do {
            let started = ContinuousClock.now
            acceptance = try await system.writer.accept(event, receivedAt: Date())
            system.metrics.recordCommit(ContinuousClock.now - started)
        } catch {
            context.logger.error("Cannot store a camera event", metadata: ["camera": "\(id)", "error": "\(error)"])
            throw APIError(
                status: .serviceUnavailable, code: "storage_unavailable", message: "the event could not be stored; send it again", retryAfterSeconds: 1)
        }
        switch acceptance {
        case .accepted(let eventID):
            system.service.eventAccepted()
            return (Response(json: .object(["event_id": .int(Int(eventID)), "status": .string("accepted")]), status: .accepted), "accepted")
        case .duplicate(let eventID):
            return (Response(json: .object(["event_id": .int(Int(eventID)), "status": .string("duplicate")]), status: .ok), "duplicate")
        }
    }

    // MARK: Reading back

    @Sendable func list(_ request: Request, context: BasicRequestContext) async throws -> Response {
        guard let system else { return Response(json: .object(["cameras": .array([])])) }
        let counts = try await system.store.counts()
        return Response(
            json: .object([
                "cameras": .array(
                    system.cameras.map { camera in
                        var members = camera.publicJSON
                        let count = counts[camera.id] ?? CameraEventStore.CameraCounts()
                        var events: [String: JSONValue] = ["pending": .int(count.pending), "processed": .int(count.processed), "failed": .int(count.failed)]
                        if let last = count.lastEventAt { events["last_received_at"] = .string(Self.timestamp(last)) }
                        members["events"] = .object(events)
                        return .object(members)
                    })
            ]))
    }

    @Sendable func events(_ request: Request, context: BasicRequestContext) async throws -> Response {
        let id = try context.parameters.require("id")
        guard let system, system.camerasByID[id] != nil else {
            throw APIError(status: .notFound, code: "unknown_camera", message: "no camera named '\(id)'")
        }
        let query = request.uri.queryParameters
        let since = try Self.since(query["since"])
        var after: Int64?
        if let text = query["after"] {
            guard let parsed = Int64(text), parsed >= 0 else {
                throw APIError(status: .badRequest, code: "bad_option", message: "after must be an event id, got '\(text)'")
            }
            after = parsed
        }
        var limit = Self.defaultPageSize
        if let text = query["limit"] {
            guard let parsed = Int(text), (1...Self.maxPageSize).contains(parsed) else {
                throw APIError(status: .badRequest, code: "bad_option", message: "limit must be between 1 and \(Self.maxPageSize), got '\(text)'")
            }
            limit = parsed
        }
        let events = try await system.store.events(cameraID: id, since: since, after: after, limit: limit)
        var members: [String: JSONValue] = ["camera": .string(id), "events": .array(events.map(Self.json))]
        if events.count == limit, let last = events.last {
            var next = "/v1/cameras/\(id)/events?after=\(last.id)&limit=\(limit)"
            if let since { next += "&since=\(Int64(since.timeIntervalSince1970))" }
            members["next"] = .string(next)
        } else {
            members["next"] = .null
        }
        return Response(json: .object(members))
    }

    @Sendable func snapshot(_ request: Request, context: BasicRequestContext) async throws -> Response {
        let id = try context.parameters.require("id")
        let eventText = try context.parameters.require("event")
        guard let system, let eventID = Int64(eventText), let snapshot = try await system.store.snapshot(cameraID: id, eventID: eventID) else {
            throw APIError(status: .notFound, code: "no_snapshot", message: "no stored snapshot for event '\(eventText)' of camera '\(id)'")
        }
        return Response(status: .ok, headers: [.contentType: snapshot.contentType], body: .init(byteBuffer: ByteBuffer(bytes: snapshot.data)))
    }

    static func json(_ event: CameraEventStore.StoredEvent) -> JSONValue {
        var members: [String: JSONValue] = [
            "id": .int(Int(event.id)),
            "camera": .string(event.cameraID),
            "received_at": .string(timestamp(event.receivedAt)),
            "source": .string(event.source),
            "status": .string(event.status),
            "attempts": .int(event.attempts),
            "detections": .array(event.detections.map(\.json)),
            "vendor": (try? JSONDecoder().decode(JSONValue.self, from: Data(event.vendor.utf8))) ?? .object([:]),
        ]
        members["detector"] = event.detector.map(JSONValue.string) ?? .null
        members["processed_at"] = event.processedAt.map { .string(timestamp($0)) } ?? .null
        members["error"] = event.error.map(JSONValue.string) ?? .null
        if let type = event.snapshotContentType, let bytes = event.snapshotBytes {
            members["snapshot"] = .object([
                "content_type": .string(type), "bytes": .int(bytes), "url": .string("/v1/cameras/\(event.cameraID)/snapshots/\(event.id)"),
            ])
        } else {
            members["snapshot"] = .null
        }
        return .object(members)
    }

    static func timestamp(_ milliseconds: Int64) -> String {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        return formatter.string(from: Date(timeIntervalSince1970: Double(milliseconds) / 1000))
    }

    /// The `since` query parameter, if given.
    static func since(_ text: Substring?) throws -> Date? {
        guard let text = text.map(String.init) else { return nil }
        guard let parsed = parseTime(text) else {
            throw APIError(
                status: .badRequest, code: "bad_option", message: "since must be an ISO 8601 time (2026-01-31T14:02:00Z) or Unix seconds, got '\(text)'")
        }
        return parsed
    }

    static func parseTime(_ text: String) -> Date? {
        if let seconds = Double(text), seconds.isFinite, abs(seconds) < 1e11 { return Date(timeIntervalSince1970: seconds) }
        let formatter = ISO8601DateFormatter()
        if let date = formatter.date(from: text) { return date }
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        return formatter.date(from: text)
    }
}

extension CameraConfig {
    /// `url` without its query and user info, which may hold a secret.
    static func redacted(_ url: String) -> String {
        var components = URLComponents(string: url)
        components?.query = nil
        components?.user = nil
        components?.password = nil
        return components?.string ?? ""
    }

    /// What `GET /v1/cameras` shows: the settings, never a token or secret
    /// (alert target URLs lose their query and user info, which may hold one).
    var publicJSON: [String: JSONValue] {
        var methods: [JSONValue] = []
        if !tokens.isEmpty { methods.append(.string("token")) }
        if !hmacSecrets.isEmpty { methods.append(.string("hmac")) }
        func clock(_ minutes: Int) -> JSONValue { .string(String(format: "%02d:%02d", minutes / 60, minutes % 60)) }
        return [
            "id": .string(id),
            "name": .string(name),
            "authentication": .object(["mode": .string(authentication.rawValue), "methods": .array(methods)]),
            "zones": .array(
                zones.map { zone in
                    .object(["name": .string(zone.name), "polygon": .array(zone.polygon.map { .array([.double($0.x), .double($0.y)]) })])
                }),
            "rules": .object([
                "labels": .array(rules.labels.map(JSONValue.string)),
                "zones": .array(rules.zones.map(JSONValue.string)),
                "min_score": .double(rules.minScore),
                "min_box_area": .double(rules.minBoxArea),
                "cooldown_seconds": .int(Int(rules.cooldown.components.seconds)),
                "quiet_hours": .array(rules.quietHours.map { .object(["from": clock($0.from), "to": clock($0.to)]) }),
            ]),
            "alert_targets": .array(
                alertTargets.map { target in
                    .object(["url": .string(Self.redacted(target.url)), "signed": .bool(target.secret != nil)])
                }),
            "speech": .object(["enabled": .bool(speech.enabled), "voice": .string(speech.voice)]),
            "time_zone": .string(timeZone),
            "locale": .string(locale),
            "rate_limit": .object(["events_per_second": .double(rateLimit.eventsPerSecond), "burst": .int(rateLimit.burst)]),
        ]
    }
}
