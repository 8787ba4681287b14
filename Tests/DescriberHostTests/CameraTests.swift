import Crypto
import Foundation
import GRDB
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import NIOCore
import Testing

@testable import DescriberHost
@testable import DescriberServer
@testable import DescriberConfiguration
@testable import Cameras

/// The camera webhook: configuration, ingestion in every format,
/// authentication, rate limiting, idempotency, durable storage, processing
/// with the real detector, and reading events back. HTTP goes through the
/// real application factory.
@Suite struct CameraTests {
    static let fixtures = TestSupport.packageRoot + "/Tests/DescriberHostTests/Fixtures/camera"
    static let token = "front-door-token-0123456789"
    static let secret = "front-door-hmac-secret-abcdef"
    static let events = "/v1/cameras/front-door/events"

    static func databasePath() -> String { "\(TestSupport.scratch)/cameras-\(UUID().uuidString)/events.sqlite" }

    /// A deployment with one camera, `front-door`, split into a left and a
    /// right zone and a strip along the top where nobody can stand.
    static func config(database: String, processing: Bool, rateLimit: String = "{ events_per_second: 1000, burst: 1000 }", extra: String = "") -> String {
        """
        cameras:
          front-door:
            name: Front Door
            credentials:
              token: \(token)
              hmac_secret: \(secret)
            zones:
              left: [[0, 0.1], [0.5, 0.1], [0.5, 1], [0, 1]]
              right: [[0.5, 0.1], [1, 0.1], [1, 1], [0.5, 1]]
              sky: [[0, 0], [1, 0], [1, 0.1], [0, 0.1]]
            rules: { labels: [person, vehicle], zones: [left], min_score: 0.4, cooldown: 90s, quiet_hours: [{ from: "23:30", to: "06:00" }] }
            alert_targets:
              - { url: "https://user:pass@hooks.example.net/describer?key=hidden", secret: whsec_abc }
            speech: { enabled: true, voice: default }
            time_zone: Europe/London
            locale: en-GB
            rate_limit: \(rateLimit)
          porch:
            authentication: none
        camera_events:
          database: \(database)
          processing: { enabled: \(processing) }
        \(extra)
        """
    }

    static func system(_ manifests: [String: String] = [:], database: String, processing: Bool = false, rateLimit: String? = nil) throws -> (FunctionHost, CameraSystem) {
        let config = rateLimit.map { Self.config(database: database, processing: processing, rateLimit: $0) } ?? Self.config(database: database, processing: processing)
        let (host, deployment) = try TestSupport.deployment(manifests, config: config)
        return (host, try CameraSystem(settings: deployment.cameras, host: host, logger: TestSupport.logger))
    }

    static func application(_ manifests: [String: String] = [:], database: String = databasePath(), processing: Bool = false, rateLimit: String? = nil) throws -> some ApplicationProtocol {
        let (host, cameras) = try system(manifests, database: database, processing: processing, rateLimit: rateLimit)
        return buildApplication(host: host, cameras: cameras, logger: TestSupport.logger)
    }

    static func file(_ name: String) throws -> Data { try Data(contentsOf: URL(fileURLWithPath: "\(fixtures)/\(name)")) }

    static let boundary = "describer-test-boundary"

    static func multipart(_ parts: [(name: String, filename: String?, contentType: String, body: Data)]) -> ByteBuffer {
        var body = Data()
        for part in parts {
            var head = "--\(boundary)\r\nContent-Disposition: form-data; name=\"\(part.name)\""
            if let filename = part.filename { head += "; filename=\"\(filename)\"" }
            head += "\r\nContent-Type: \(part.contentType)\r\n\r\n"
            body.append(Data(head.utf8))
            body.append(part.body)
            body.append(Data("\r\n".utf8))
        }
        body.append(Data("--\(boundary)--\r\n".utf8))
        return ByteBuffer(bytes: body)
    }

    static let multipartType = "multipart/form-data; boundary=\(boundary)"

    struct Accepted: Decodable {
        var event_id: Int
        var status: String
    }

    struct EventPage: Decodable {
        var events: [Event]
        var next: String?
        struct Event: Decodable {
            var id: Int
            var source: String
            var status: String
            var detector: String?
            var vendor: [String: JSONValue]
            var snapshot: Snapshot?
            var detections: [CameraDetection]
            var error: String?
        }
        struct Snapshot: Decodable {
            var content_type: String
            var bytes: Int
            var url: String
        }
    }

    static func decode<T: Decodable>(_ type: T.Type, _ response: TestResponse) throws -> T {
        try JSONDecoder().decode(type, from: Data(response.body.readableBytesView))
    }

    /// Posts with the camera's bearer token and answers the decoded acknowledgement.
    @discardableResult
    static func post(_ client: some TestClientProtocol, _ body: ByteBuffer, contentType: String, headers extra: HTTPFields = [:], expect status: HTTPResponse.Status = .accepted) async throws -> Accepted {
        var headers: HTTPFields = [.contentType: contentType, .authorization: "Bearer \(token)"]
        headers.append(contentsOf: extra)
        return try await client.execute(uri: events, method: .post, headers: headers, body: body) { response in
            #expect(response.status == status, "\(String(buffer: response.body))")
            return try decode(Accepted.self, response)
        }
    }

    static func page(_ client: some TestClientProtocol, _ query: String = "") async throws -> EventPage {
        try await client.execute(uri: events + query, method: .get) { response in
            #expect(response.status == .ok, "\(String(buffer: response.body))")
            return try decode(EventPage.self, response)
        }
    }

    // MARK: Configuration

    @Test func readsEveryCameraSetting() throws {
        let settings = try TestSupport.deployment([:], config: Self.config(database: "/tmp/x.sqlite", processing: true)).deployment.cameras
        let cameras = settings.cameras
        #expect(cameras.map(\.id) == ["front-door", "porch"])
        let camera = cameras[0]
        #expect(camera.name == "Front Door")
        #expect(camera.tokens == [Self.token] && camera.hmacSecrets == [Self.secret])
        #expect(camera.zones.map(\.name) == ["left", "right", "sky"])
        #expect(camera.zones[0].polygon[1] == CameraConfig.Point(x: 0.5, y: 0.1))
        #expect(camera.rules.labels == ["person", "vehicle"] && camera.rules.zones == ["left"] && camera.rules.minScore == 0.4)
        #expect(camera.rules.cooldown == .seconds(90))
        #expect(camera.rules.quietHours == [CameraConfig.QuietHours(from: 23 * 60 + 30, to: 6 * 60)])
        #expect(camera.alertTargets.count == 1 && camera.alertTargets[0].secret == "whsec_abc")
        #expect(camera.speech == CameraConfig.Speech(enabled: true, voice: "default"))
        #expect(camera.timeZone == "Europe/London" && camera.locale == "en-GB")
        #expect(cameras[1].name == "porch" && cameras[1].authentication == .none)
        #expect(settings.store.databasePath == "/tmp/x.sqlite")
        #expect(settings.store.maxSnapshotAge == .seconds(7 * 86_400))
    }

    @Test func secretsComeFromTheEnvironment() throws {
        let (_, deployment) = try TestSupport.deployment(
            [:], config: "cameras:\n  back-yard:\n    name: Back Yard",
            environment: ["DESCRIBER_CAMERAS__BACK_YARD__CREDENTIALS__TOKEN": "a-token-from-the-environment"]
        )
        #expect(deployment.cameras.cameras.first?.tokens == ["a-token-from-the-environment"])
    }

    @Test(arguments: [
        ("cameras:\n  cam:\n    name: Cam", "describer.yaml:3: cameras.cam.credentials must set token or hmac_secret"),
        ("cameras:\n  cam:\n    credentials: { token: short }", "cameras.cam.credentials.token must be at least 16 characters"),
        ("cameras:\n  cam:\n    authentication: none\n    zones:\n      door: [[0, 0], [1, 1]]", "describer.yaml:5: cameras.cam.zones.door must be a list of at least three"),
        ("cameras:\n  cam:\n    authentication: none\n    zones:\n      door: [[0, 0], [1.5, 1], [0, 1]]", "cameras.cam.zones.door must be a list of at least three [x, y] points with coordinates between 0 and 1"),
        ("cameras:\n  cam:\n    authentication: none\n    rules: { zones: [garden] }", "cameras.cam.rules.zones names 'garden', which is not one of this camera's zones"),
        ("cameras:\n  cam:\n    authentication: none\n    time_zone: Mars/Olympus", "describer.yaml:4: cameras.cam.time_zone must be an IANA time zone"),
        ("cameras:\n  cam:\n    authentication: none\n    rules: { quiet_hours: [{ from: \"25:00\", to: \"06:00\" }] }", "cameras.cam.rules.quiet_hours[0].from must be a time of day"),
        ("cameras:\n  cam:\n    authentication: none\n    alert_targets: [{ url: \"ftp://x\" }]", "cameras.cam.alert_targets[0].url must be an http or https URL"),
        ("cameras:\n  Front Door:\n    authentication: none", "cameras.Front Door is not a valid camera id"),
        ("cameras:\n  cam:\n    authentication: none\n    colour: red", "cameras.cam.colour is not a known key"),
        ("camera_events:\n  snapshots: { max_age: forever }", "camera_events.snapshots.max_age must be a duration"),
    ])
    func configurationErrorsNameTheFileKeyAndReason(_ yaml: String, _ expected: String) throws {
        let node = try ConfigNode.parseYAML(yaml, source: "describer.yaml")
        #expect(throws: ConfigError.self) { try DeploymentConfig(document: ConfigDocument(root: node)) }
        do {
            _ = try DeploymentConfig(document: ConfigDocument(root: node))
        } catch {
            #expect(error.description.contains(expected), "\(error.description)")
        }
    }

    // MARK: Ingestion formats

    @Test func acceptsEveryFormatAndStoresItBeforeAnswering() async throws {
        let jpeg = try Self.file("vtest_050.jpg")
        let xml = try Self.file("hikvision_fielddetection.xml")
        try await Self.application().test(.router) { client in
            let raw = try await Self.post(client, ByteBuffer(bytes: jpeg), contentType: "image/jpeg")
            let form = try await Self.post(
                client, Self.multipart([("image", "snapshot.jpg", "image/jpeg", try Self.file("vtest_background.jpg"))]), contentType: Self.multipartType
            )
            let hikvision = try await Self.post(
                client,
                Self.multipart([
                    ("fielddetection.xml", "fielddetection.xml", "application/xml", xml),
                    ("fielddetection.jpg", "fielddetection.jpg", "image/jpeg", jpeg),
                ]),
                contentType: Self.multipartType
            )
            let xmlOnly = try await Self.post(
                client, ByteBuffer(bytes: Data(String(decoding: xml, as: UTF8.self).replacingOccurrences(of: "<activePostCount>1<", with: "<activePostCount>2<").utf8)),
                contentType: "application/xml; charset=\"UTF-8\""
            )
            #expect(Set([raw.event_id, form.event_id, hikvision.event_id, xmlOnly.event_id]).count == 4)
            let heartbeat = "<EventNotificationAlert><eventType>videoloss</eventType><eventState>inactive</eventState></EventNotificationAlert>"
            try await client.execute(
                uri: Self.events, method: .post, headers: [.contentType: "application/xml", .authorization: "Bearer \(Self.token)"], body: ByteBuffer(string: heartbeat)
            ) { response in
                #expect(response.status == .ok && String(buffer: response.body) == #"{"status":"heartbeat"}"#)
            }

            let page = try await Self.page(client)
            #expect(page.events.map(\.id) == [raw.event_id, form.event_id, hikvision.event_id, xmlOnly.event_id])
            #expect(page.events.map(\.source) == ["image", "multipart", "hikvision", "hikvision"])
            #expect(page.events.allSatisfy { $0.status == "pending" && $0.detections.isEmpty })
            #expect(page.events[0].snapshot?.bytes == jpeg.count && page.events[0].snapshot?.content_type == "image/jpeg")
            #expect(page.events[2].snapshot?.bytes == jpeg.count)
            #expect(page.events[3].snapshot == nil)
            let vendor = page.events[2].vendor
            #expect(vendor["event_type"] == .string("fielddetection"))
            #expect(vendor["channel_name"] == .string("Garden & Path"))
            #expect(vendor["detection_targets"] == .array([.string("human")]))
            #expect(vendor["mac_address"] == .string("44:19:b6:00:00:01"))

            // The stored picture is the one sent, byte for byte.
            try await client.execute(uri: try #require(page.events[0].snapshot?.url), method: .get) { response in
                #expect(response.status == .ok && response.headers[.contentType] == "image/jpeg")
                #expect(Data(response.body.readableBytesView) == jpeg)
            }
        }
    }

    @Test(arguments: [
        ("text/plain", "hello", HTTPResponse.Status.unsupportedMediaType, "unsupported_media_type"),
        ("image/jpeg", "not a jpeg at all", .badRequest, "not_an_image"),
        ("application/xml", "<html>nope</html>", .badRequest, "invalid_event"),
        (multipartType, "--describer-test-boundary\r\nContent-Disposition: form-data; name=\"note\"\r\n\r\nhi\r\n--describer-test-boundary--\r\n", .badRequest, "not_an_image"),
        ("multipart/form-data", "no boundary", .badRequest, "invalid_event"),
    ])
    func refusesWhatIsNotAnEvent(_ contentType: String, _ body: String, _ status: HTTPResponse.Status, _ code: String) async throws {
        try await Self.application().test(.router) { client in
            try await client.execute(uri: Self.events, method: .post, headers: [.contentType: contentType, .authorization: "Bearer \(Self.token)"], body: ByteBuffer(string: body)) { response in
                #expect(response.status == status)
                #expect(String(buffer: response.body).contains("\"code\":\"\(code)\""), "\(String(buffer: response.body))")
            }
            #expect(try await Self.page(client).events.isEmpty)
        }
    }

    @Test func refusesABodyOverTheLimit() async throws {
        let database = Self.databasePath()
        let (host, deployment) = try TestSupport.deployment([:], config: Self.config(database: database, processing: false, extra: "  max_body_size: 64KiB"))
        let app = buildApplication(host: host, cameras: try CameraSystem(settings: deployment.cameras, host: host, logger: TestSupport.logger), logger: TestSupport.logger)
        try await app.test(.router) { client in
            try await client.execute(
                uri: Self.events, method: .post, headers: [.contentType: "image/jpeg", .authorization: "Bearer \(Self.token)"],
                body: ByteBuffer(bytes: try Self.file("vtest_050.jpg"))
            ) { response in
                #expect(response.status == .contentTooLarge)
            }
        }
    }

    // MARK: Authentication

    static func signed(_ body: Data, timestamp: Int64, secret: String = secret) -> HTTPFields {
        var message = Data(String(timestamp).utf8)
        message.append(UInt8(ascii: "."))
        message.append(body)
        let code = HMAC<SHA256>.authenticationCode(for: message, using: SymmetricKey(data: Data(secret.utf8)))
        return [
            HTTPField.Name("X-Describer-Timestamp")!: String(timestamp),
            HTTPField.Name("X-Describer-Signature")!: "sha256=" + code.map { String(format: "%02x", $0) }.joined(),
        ]
    }

    struct AuthCase: Sendable, CustomTestStringConvertible {
        var name: String
        var path = CameraTests.events
        var headers: @Sendable (Data) -> HTTPFields
        var status: HTTPResponse.Status
        var testDescription: String { name }
    }

    static let authCases: [AuthCase] = [
        AuthCase(name: "no credentials", headers: { _ in [:] }, status: .unauthorized),
        AuthCase(name: "wrong token", headers: { _ in [.authorization: "Bearer front-door-token-0123456780"] }, status: .unauthorized),
        AuthCase(name: "token of another length", headers: { _ in [.authorization: "Bearer x"] }, status: .unauthorized),
        AuthCase(name: "wrong token in the path", path: CameraTests.events + "/front-door-token-9999999999", headers: { _ in [:] }, status: .unauthorized),
        AuthCase(name: "unknown camera", path: "/v1/cameras/garage/events", headers: { _ in [.authorization: "Bearer \(CameraTests.token)"] }, status: .unauthorized),
        AuthCase(name: "signature with the wrong secret", headers: { signed($0, timestamp: Int64(Date().timeIntervalSince1970), secret: "another-secret-0123456") }, status: .unauthorized),
        AuthCase(name: "signature over another body", headers: { _ in signed(Data("other".utf8), timestamp: Int64(Date().timeIntervalSince1970)) }, status: .unauthorized),
        AuthCase(name: "stale timestamp", headers: { signed($0, timestamp: Int64(Date().timeIntervalSince1970) - 330) }, status: .unauthorized),
        AuthCase(name: "timestamp from the future", headers: { signed($0, timestamp: Int64(Date().timeIntervalSince1970) + 330) }, status: .unauthorized),
        AuthCase(name: "bearer token", headers: { _ in [.authorization: "Bearer \(CameraTests.token)"] }, status: .accepted),
        AuthCase(name: "token in the path", path: CameraTests.events + "/" + CameraTests.token, headers: { _ in [:] }, status: .accepted),
        AuthCase(name: "token in the query", path: CameraTests.events + "?token=" + CameraTests.token, headers: { _ in [:] }, status: .accepted),
        AuthCase(name: "valid signature", headers: { signed($0, timestamp: Int64(Date().timeIntervalSince1970) - 200) }, status: .accepted),
        AuthCase(name: "camera without authentication", path: "/v1/cameras/porch/events", headers: { _ in [:] }, status: .accepted),
    ]

    @Test(arguments: authCases)
    func authenticatesWithoutSayingWhy(_ authCase: AuthCase) async throws {
        let jpeg = try Self.file("vtest_background.jpg")
        try await Self.application().test(.router) { client in
            var headers: HTTPFields = [.contentType: "image/jpeg"]
            headers.append(contentsOf: authCase.headers(jpeg))
            try await client.execute(uri: authCase.path, method: .post, headers: headers, body: ByteBuffer(bytes: jpeg)) { response in
                #expect(response.status == authCase.status, "\(String(buffer: response.body))")
                if authCase.status == .unauthorized {
                    // The same answer whatever was wrong.
                    #expect(String(buffer: response.body) == #"{"error":{"code":"unauthorized","message":"authentication failed"}}"#)
                }
            }
            let stored = try await Self.page(client).events.count
            #expect(stored == (authCase.status == .accepted && authCase.path.hasPrefix(Self.events) ? 1 : 0))
        }
    }

    // MARK: Rate limit and idempotency

    @Test func limitsTheRatePerCamera() async throws {
        try await Self.application(rateLimit: "{ events_per_second: 0.01, burst: 2 }").test(.router) { client in
            for index in 0..<2 {
                try await Self.post(client, ByteBuffer(bytes: try Self.file("vtest_050.jpg")), contentType: "image/jpeg", headers: [.idempotencyKey: "event-\(index)"])
            }
            try await client.execute(
                uri: Self.events, method: .post, headers: [.contentType: "image/jpeg", .authorization: "Bearer \(Self.token)", .idempotencyKey: "event-2"],
                body: ByteBuffer(bytes: try Self.file("vtest_050.jpg"))
            ) { response in
                #expect(response.status == .tooManyRequests)
                let retryAfter = try #require(response.headers[.retryAfter].flatMap(Int.init))
                #expect(retryAfter >= 1 && retryAfter <= 100)
            }
            // Another camera has its own bucket.
            try await client.execute(uri: "/v1/cameras/porch/events", method: .post, headers: [.contentType: "image/jpeg"], body: ByteBuffer(bytes: try Self.file("vtest_050.jpg"))) { response in
                #expect(response.status == .accepted)
            }
            #expect(try await Self.page(client).events.count == 2)
            try await client.execute(uri: "/metrics", method: .get) { response in
                let text = String(buffer: response.body)
                #expect(text.contains(#"describer_camera_requests_total{camera="front-door",outcome="accepted"} 2"#), "\(text)")
                #expect(text.contains(#"describer_camera_requests_total{camera="front-door",outcome="rate_limited"} 1"#))
                #expect(text.contains(#"describer_camera_requests_total{camera="porch",outcome="accepted"} 1"#))
            }
        }
    }

    @Test func aRepeatedEventAnswersTheOriginalID() async throws {
        let jpeg = try Self.file("vtest_050.jpg")
        let background = try Self.file("vtest_background.jpg")
        let xml = try Self.file("hikvision_fielddetection.xml")
        try await Self.application().test(.router) { client in
            // By Idempotency-Key: the same key is the same event, whatever the body.
            let first = try await Self.post(client, ByteBuffer(bytes: jpeg), contentType: "image/jpeg", headers: [.idempotencyKey: "delivery-1"])
            let again = try await Self.post(client, ByteBuffer(bytes: background), contentType: "image/jpeg", headers: [.idempotencyKey: "delivery-1"], expect: .ok)
            #expect(again.event_id == first.event_id && again.status == "duplicate")
            // By content: the same body without a key.
            let byContent = try await Self.post(client, ByteBuffer(bytes: background), contentType: "image/jpeg")
            let byContentAgain = try await Self.post(client, ByteBuffer(bytes: background), contentType: "image/jpeg", expect: .ok)
            #expect(byContentAgain.event_id == byContent.event_id && byContent.event_id != first.event_id)
            // By the camera's own event identity: a retransmitted alert, even with another picture.
            let alert = try await Self.post(client, Self.multipart([("a.xml", "a.xml", "application/xml", xml), ("a.jpg", "a.jpg", "image/jpeg", jpeg)]), contentType: Self.multipartType)
            let retransmitted = try await Self.post(
                client, Self.multipart([("a.xml", "a.xml", "application/xml", xml), ("a.jpg", "a.jpg", "image/jpeg", background)]), contentType: Self.multipartType, expect: .ok
            )
            #expect(retransmitted.event_id == alert.event_id)
            let page = try await Self.page(client)
            #expect(page.events.map(\.id) == [first.event_id, byContent.event_id, alert.event_id])
            // A key not fit for a header value is refused, not stored.
            try await client.execute(
                uri: Self.events, method: .post, headers: [.contentType: "image/jpeg", .authorization: "Bearer \(Self.token)", .idempotencyKey: String(repeating: "k", count: 256)],
                body: ByteBuffer(bytes: jpeg)
            ) { response in
                #expect(response.status == .badRequest)
            }
        }
    }

    // MARK: Processing

    static func detectManifests() throws -> [String: String] { ["detect": try DetectTests.manifest()] }

    @Test func processesWithTheDetectorAndRecordsZonesByTheBottomCentre() async throws {
        let database = Self.databasePath()
        let (host, system) = try Self.system(try Self.detectManifests(), database: database)
        let app = buildApplication(host: host, cameras: system, logger: TestSupport.logger)
        try await app.test(.router) { client in
            let street = try await Self.post(client, ByteBuffer(bytes: try Self.file("vtest_050.jpg")), contentType: "image/jpeg")
            let empty = try await Self.post(client, ByteBuffer(bytes: try Self.file("vtest_background.jpg")), contentType: "image/jpeg")
            let xmlOnly = try await Self.post(client, ByteBuffer(bytes: try Self.file("hikvision_fielddetection.xml")), contentType: "text/xml")
            await host.start()
            #expect(await system.service.processPending() == 3)
            // Nothing is processed twice.
            #expect(await system.service.processPending() == 0)
            await host.shutdown()

            let events = try await Self.page(client).events
            #expect(events.map(\.id) == [street.event_id, empty.event_id, xmlOnly.event_id])
            #expect(events.allSatisfy { $0.status == "processed" })
            #expect(events.map(\.detector) == ["detect", "detect", "camera"])

            let people = events[0].detections.filter { $0.kind == "person" }
            #expect(people.count >= 2, "\(events[0].detections)")
            for detection in events[0].detections {
                let box = try #require(detection.box)
                #expect(["person", "vehicle", "animal"].contains(detection.kind) && detection.label != nil)
                // The zones split the frame at x = 0.5 below y = 0.1: the bottom centre alone decides.
                let x = box.x + box.width / 2, y = box.y + box.height
                let expected = y < 0.1 ? ["sky"] : [x < 0.5 ? "left" : "right"]
                #expect(detection.zones == expected, "\(detection)")
            }
            #expect(!events[1].detections.contains { $0.kind == "person" }, "\(events[1].detections)")
            #expect(events[1].detections.contains { $0.kind == "vehicle" }, "\(events[1].detections)")
            #expect(events[2].detections.map(\.kind) == ["person"] && events[2].detections[0].box == nil)
        }
    }

    @Test func anUndecodablePictureFailsItsEventOnly() async throws {
        let (host, system) = try Self.system(try Self.detectManifests(), database: Self.databasePath())
        try await buildApplication(host: host, cameras: system, logger: TestSupport.logger).test(.router) { client in
            var truncated = try Self.file("vtest_050.jpg")
            truncated = truncated.prefix(600)
            try await Self.post(client, ByteBuffer(bytes: truncated), contentType: "image/jpeg")
            try await Self.post(client, ByteBuffer(bytes: try Self.file("vtest_050.jpg")), contentType: "image/jpeg")
            await host.start()
            await system.service.processPending()
            await host.shutdown()
            let events = try await Self.page(client).events
            #expect(events.map(\.status) == ["failed", "processed"])
            #expect(events[0].error?.isEmpty == false)
        }
    }

    /// The camera service runs as the application's service: an event
    /// accepted by a service that stopped before processing it (here one
    /// that only ingests) is processed by the next service to open the
    /// same database, and a repeat delivery is still recognised.
    @Test func anAcknowledgedEventIsProcessedAfterARestart() async throws {
        let database = Self.databasePath()
        let jpeg = try Self.file("vtest_050.jpg")
        let accepted = try await Self.application(try Self.detectManifests(), database: database, processing: false).test(.router) { client in
            let accepted = try await Self.post(client, ByteBuffer(bytes: jpeg), contentType: "image/jpeg")
            #expect(try await Self.page(client).events.map(\.status) == ["pending"])
            return accepted
        }
        try await Self.application(try Self.detectManifests(), database: database, processing: true).test(.router) { client in
            var events: [EventPage.Event] = []
            for _ in 0..<600 {
                events = try await Self.page(client).events
                if events.first?.status != "pending" { break }
                try await Task.sleep(for: .milliseconds(100))
            }
            #expect(events.map(\.id) == [accepted.event_id])
            #expect(events.first?.status == "processed" && events.first?.detector == "detect")
            #expect(events.first?.detections.contains { $0.kind == "person" } == true)
            let again = try await Self.post(client, ByteBuffer(bytes: jpeg), contentType: "image/jpeg", expect: .ok)
            #expect(again.event_id == accepted.event_id)
        }
    }

    /// A real `describer serve` killed with SIGKILL right after it
    /// acknowledged an event: the next server on the same data folder
    /// processes it. The first one only ingests, so the kill certainly falls
    /// between the acknowledgement and the processing.
    @Test func anEventSurvivesSIGKILLOfTheServerThatAcceptedIt() async throws {
        let data = "\(TestSupport.scratch)/kill-\(UUID().uuidString)"
        let config = "\(data).yaml"
        try """
        data_directory: \(data)
        cameras:
          front-door:
            credentials: { token: \(Self.token) }
        camera_events:
          processing: { enabled: false }
        """.write(toFile: config, atomically: true, encoding: .utf8)
        let functions = try TestSupport.functionsDirectory(try Self.detectManifests())
        let jpeg = try Self.file("vtest_050.jpg")

        let first = try await Server.start(config: config, functions: functions)
        let accepted = try await TestClient.withClient(host: "127.0.0.1", port: first.port) { client in
            let response = try await client.post(Self.events, headers: [.contentType: "image/jpeg", .authorization: "Bearer \(Self.token)"], body: ByteBuffer(bytes: jpeg))
            #expect(response.head.status == .accepted)
            return try JSONDecoder().decode(Accepted.self, from: Data((response.body ?? ByteBuffer()).readableBytesView))
        }
        kill(first.process.processIdentifier, SIGKILL)
        first.process.waitUntilExit()
        #expect(first.process.terminationReason == .uncaughtSignal && first.process.terminationStatus == SIGKILL)

        let second = try await Server.start(config: config, functions: functions, environment: ["DESCRIBER_CAMERA_EVENTS__PROCESSING__ENABLED": "true"])
        defer {
            second.process.terminate()
            second.process.waitUntilExit()
        }
        let events = try await TestClient.withClient(host: "127.0.0.1", port: second.port) { client in
            var events: [EventPage.Event] = []
            for _ in 0..<600 {
                let response = try await client.get(Self.events)
                events = try JSONDecoder().decode(EventPage.self, from: Data((response.body ?? ByteBuffer()).readableBytesView)).events
                if events.first?.status != "pending" { break }
                try await Task.sleep(for: .milliseconds(100))
            }
            return events
        }
        #expect(events.map(\.id) == [accepted.event_id])
        #expect(events.first?.status == "processed" && events.first?.detector == "detect", "\(events)")
    }

    /// A `describer serve` child process and the port it listens on.
    struct Server {
        var process: Process
        var port: Int

        static func start(config: String, functions: String, environment: [String: String] = [:]) async throws -> Server {
            let process = Process()
            process.executableURL = URL(fileURLWithPath: CLITests.executable)
            process.arguments = ["serve", "--config", config, "--functions", functions, "--port", "0"]
            process.environment = ProcessInfo.processInfo.environment.filter { !$0.key.hasPrefix("DESCRIBER_") }.merging(environment) { $1 }
            let log = "\(config)-\(UUID().uuidString).log"
            _ = FileManager.default.createFile(atPath: log, contents: nil)
            let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: log))
            process.standardError = handle
            process.standardOutput = handle
            try process.run()
            var port: Int?
            for _ in 0..<1000 where port == nil {
                port = Self.listeningPort(in: (try? String(contentsOfFile: log, encoding: .utf8)) ?? "")
                if port == nil { try await Task.sleep(for: .milliseconds(10)) }
            }
            guard let port else {
                process.terminate()
                throw TestError("describer serve did not start: \((try? String(contentsOfFile: log, encoding: .utf8)) ?? "")")
            }
            return Server(process: process, port: port)
        }

        /// The port from Hummingbird's "Server started and listening" line.
        static func listeningPort(in log: String) -> Int? {
            guard let line = log.split(separator: "\n").first(where: { $0.contains("Server started and listening") }),
                  let colon = line.range(of: "127.0.0.1:", options: .backwards)
            else { return nil }
            return Int(line[colon.upperBound...].prefix { $0.isNumber })
        }
    }

    @Test func storedResultsAreNotOverwrittenByASecondDelivery() async throws {
        let store = try CameraEventStore(path: Self.databasePath())
        let event = IncomingCameraEvent(
            cameraID: "front-door", source: .image, snapshot: try Self.file("vtest_050.jpg"), snapshotContentType: "image/jpeg", vendor: [:],
            idempotencyKey: IdempotencyKey(kind: .header, value: "x")
        )
        let id = try await store.accept(event, at: Date(), window: .seconds(60)).eventID
        let person = CameraDetection(kind: "person", label: "person", score: 0.9, box: .init(x: 0.1, y: 0.1, width: 0.1, height: 0.3), zones: ["left"], stationary: false)
        try await store.complete(id, cameraID: "front-door", result: ProcessingResult(detector: "detect", detections: [person], newState: Data([1, 2, 3])), at: Date())
        try await store.complete(id, cameraID: "front-door", result: ProcessingResult(detector: "detect", detections: [person, person], newState: Data([4])), at: Date())
        let stored = try await store.events(cameraID: "front-door", since: nil, after: nil, limit: 10)
        #expect(stored.count == 1 && stored[0].detections == [person] && stored[0].attempts == 1)
        #expect(try await store.state(of: "front-door") == Data([1, 2, 3]))
        #expect(try await store.pendingEvents(limit: 10).isEmpty)
    }

    @Test func concurrentEventsAreCommittedInGroupsWithoutLosingOrDoublingAny() async throws {
        let store = try CameraEventStore(path: Self.databasePath())
        let writer = CameraEventWriter(store: store, idempotencyWindow: .seconds(60))
        let snapshot = try Self.file("vtest_050.jpg")
        // 300 deliveries of 100 events: each event arrives three times, at once.
        let answers = try await withThrowingTaskGroup(of: (String, CameraEventStore.Acceptance).self) { group in
            for index in 0..<300 {
                let key = "event-\(index % 100)"
                group.addTask {
                    let event = IncomingCameraEvent(
                        cameraID: "front-door", source: .image, snapshot: snapshot, snapshotContentType: "image/jpeg", vendor: [:],
                        idempotencyKey: IdempotencyKey(kind: .header, value: key)
                    )
                    return (key, try await writer.accept(event, receivedAt: Date()))
                }
            }
            return try await group.reduce(into: []) { $0.append($1) }
        }
        var accepted: [String: Int64] = [:]
        for case let (key, .accepted(id)) in answers {
            #expect(accepted[key] == nil, "\(key) accepted twice")
            accepted[key] = id
        }
        #expect(accepted.count == 100)
        for case let (key, .duplicate(id)) in answers { #expect(accepted[key] == id) }
        let stored = try await store.events(cameraID: "front-door", since: nil, after: nil, limit: 500)
        #expect(stored.count == 100 && Set(stored.map(\.id)) == Set(accepted.values))
    }

    /// Commits never checkpoint (that would hold up their acknowledgements);
    /// the checkpointer beside them copies the log into the database file,
    /// and under a steady stream of commits the log still starts again
    /// rather than growing with everything ever written.
    @Test func theLogIsCheckpointedBesideTheCommitsAndStaysBounded() async throws {
        // A restart threshold of 1 MB (256 pages) and a checkpoint every
        // 10 ms, so that a test-sized stream crosses both many times.
        let store = try CameraEventStore(path: Self.databasePath(), walRestartFrames: 256, walCheckpointInterval: .milliseconds(10))
        let writer = CameraEventWriter(store: store, idempotencyWindow: .seconds(60))
        let snapshot = try Self.file("vtest_050.jpg")
        let mainFileBefore = try Self.size(store.path)
        // About 30 MB, committed back to back: dozens of checkpoint
        // intervals, with no pause for the log to drain in.
        var largestLog = 0
        for index in 0..<340 {
            let event = IncomingCameraEvent(
                cameraID: "front-door", source: .image, snapshot: snapshot, snapshotContentType: "image/jpeg", vendor: [:],
                idempotencyKey: IdempotencyKey(kind: .header, value: "event-\(index)")
            )
            _ = try await writer.accept(event, receivedAt: Date())
            largestLog = max(largestLog, try Self.size(store.path + "-wal"))
        }
        let written = 340 * snapshot.count
        var mainFile = 0
        for _ in 0..<100 {
            mainFile = try Self.size(store.path)
            if mainFile - mainFileBefore >= written { break }
            try await Task.sleep(for: .milliseconds(50))
        }
        #expect(mainFile - mainFileBefore >= written, "the database file grew by \(mainFile - mainFileBefore) bytes, not \(written)")
        #expect(largestLog < written / 2, "the log reached \(largestLog) bytes of \(written) written")
        let autocheckpoint = try await store.database.write { db in try Int.fetchOne(db, sql: "PRAGMA wal_autocheckpoint") }
        #expect(autocheckpoint == 0, "commits do not checkpoint")
    }

    static func size(_ path: String) throws -> Int {
        (try? FileManager.default.attributesOfItem(atPath: path)[.size] as? Int) ?? 0
    }

    @Test func retentionDropsOldSnapshotsButNeverPendingOnes() async throws {
        let store = try CameraEventStore(path: Self.databasePath())
        var ids: [Int64] = []
        for index in 0..<4 {
            let event = IncomingCameraEvent(
                cameraID: "front-door", source: .image, snapshot: Data([0xFF, 0xD8, 0xFF, UInt8(index)]), snapshotContentType: "image/jpeg", vendor: [:],
                idempotencyKey: IdempotencyKey(kind: .header, value: "k\(index)")
            )
            ids.append(try await store.accept(event, at: Date(), window: .seconds(60)).eventID)
        }
        for id in ids.prefix(3) {
            try await store.complete(id, cameraID: "front-door", result: ProcessingResult(detector: "detect", detections: [], newState: nil), at: Date())
        }
        var config = CameraStoreConfig(databasePath: store.path)
        config.maxSnapshotsPerCamera = 1
        try await store.prune(config, now: Date())
        var withSnapshots = try await store.events(cameraID: "front-door", since: nil, after: nil, limit: 10).filter { $0.snapshotBytes != nil }.map(\.id)
        // The newest snapshot is kept by the count; the pending one is kept regardless.
        #expect(withSnapshots == [ids[3]])
        config.maxSnapshotsPerCamera = 10
        config.maxSnapshotAge = .zero
        try await store.prune(config, now: Date().addingTimeInterval(1))
        withSnapshots = try await store.events(cameraID: "front-door", since: nil, after: nil, limit: 10).filter { $0.snapshotBytes != nil }.map(\.id)
        #expect(withSnapshots == [ids[3]])
        #expect(try await store.events(cameraID: "front-door", since: nil, after: nil, limit: 10).count == 4)
    }

    // MARK: Reading back

    @Test func anAPITokenGuardsTheReadBackAndTheAPIButNotTheWebhookOrMonitoring() async throws {
        let apiToken = "api-token-0123456789abcdef"
        let config = Self.config(database: Self.databasePath(), processing: false, extra: "server: { api_token: \(apiToken) }")
        let (host, deployment) = try TestSupport.deployment([:], config: config)
        let app = buildApplication(host: host, cameras: try CameraSystem(settings: deployment.cameras, host: host, logger: TestSupport.logger), logger: TestSupport.logger)
        try await app.test(.router) { client in
            // The camera authenticates itself; it never needs the API token.
            let accepted = try await Self.post(client, ByteBuffer(bytes: try Self.file("vtest_050.jpg")), contentType: "image/jpeg")
            let guarded = ["/v1/cameras", "/v1/cameras/front-door/events", "/v1/cameras/front-door/snapshots/\(accepted.event_id)", "/v1/alerts", "/v1/functions", "/v1/voices"]
            for uri in guarded {
                for authorization in [nil, "Bearer \(Self.token)", "Bearer \(apiToken)x", "Basic \(apiToken)"] {
                    let headers: HTTPFields = authorization.map { [.authorization: $0] } ?? [:]
                    try await client.execute(uri: uri, method: .get, headers: headers) { response in
                        #expect(response.status == .unauthorized, "\(uri) with \(authorization ?? "nothing")")
                        #expect(response.headers[.wwwAuthenticate] == #"Bearer realm="describer""#)
                        #expect(String(buffer: response.body).contains(#""code":"unauthorized""#))
                    }
                }
                try await client.execute(uri: uri, method: .get, headers: [.authorization: "Bearer \(apiToken)"]) { response in
                    #expect(response.status == .ok, "\(uri) with the API token")
                }
            }
            try await client.execute(uri: "/v1/speak", method: .post, body: ByteBuffer(string: "hello")) { response in
                #expect(response.status == .unauthorized)
            }
            for uri in ["/healthz", "/readyz", "/metrics", "/v1/status/ping"] {
                try await client.execute(uri: uri, method: .get) { response in
                    #expect(response.status == .ok, "\(uri) stays open")
                }
            }
        }
    }

    @Test func listsCamerasWithoutSecrets() async throws {
        try await Self.application().test(.router) { client in
            try await Self.post(client, ByteBuffer(bytes: try Self.file("vtest_050.jpg")), contentType: "image/jpeg")
            try await client.execute(uri: "/v1/cameras", method: .get) { response in
                #expect(response.status == .ok)
                let text = String(buffer: response.body)
                for secret in [Self.token, Self.secret, "whsec_abc", "hidden", "pass"] { #expect(!text.contains(secret), "\(secret) leaked") }
                let json = try Self.decode(JSONValue.self, response)
                guard case .object(let root) = json, case .array(let cameras)? = root["cameras"], case .object(let camera)? = cameras.first else {
                    Issue.record("unexpected shape: \(text)")
                    return
                }
                #expect(camera["name"] == .string("Front Door"))
                #expect(camera["authentication"] == .object(["mode": .string("required"), "methods": .array([.string("token"), .string("hmac")])]))
                #expect(camera["alert_targets"] == .array([.object(["url": .string("https://hooks.example.net/describer"), "signed": .bool(true)])]))
                guard case .object(let events)? = camera["events"] else {
                    Issue.record("no event counts: \(text)")
                    return
                }
                #expect(events["pending"] == .int(1) && events["processed"] == .int(0) && events["failed"] == .int(0))
                #expect(events["last_received_at"] != nil)
            }
        }
    }

    @Test func pagesThroughEventsSinceATime() async throws {
        let start = Date()
        try await Self.application().test(.router) { client in
            var ids: [Int] = []
            for index in 0..<5 {
                ids.append(try await Self.post(client, ByteBuffer(bytes: try Self.file("vtest_050.jpg")), contentType: "image/jpeg", headers: [.idempotencyKey: "page-\(index)"]).event_id)
            }
            var seen: [Int] = []
            var query = "?limit=2"
            while true {
                let page = try await Self.page(client, query)
                seen += page.events.map(\.id)
                guard let next = page.next else { break }
                query = String(next.dropFirst(Self.events.count))
            }
            #expect(seen == ids)
            #expect(try await Self.page(client, "?since=\(Int(start.timeIntervalSince1970) + 3600)").events.isEmpty)
            #expect(try await Self.page(client, "?since=\(Int(start.timeIntervalSince1970) - 1)").events.map(\.id) == ids)
            let iso = ISO8601DateFormatter().string(from: start.addingTimeInterval(-1))
            #expect(try await Self.page(client, "?since=\(iso)").events.count == 5)
            for bad in ["?limit=0", "?limit=501", "?since=yesterday", "?after=-1"] {
                try await client.execute(uri: Self.events + bad, method: .get) { response in
                    #expect(response.status == .badRequest, "\(bad)")
                }
            }
            try await client.execute(uri: "/v1/cameras/garage/events", method: .get) { response in
                #expect(response.status == .notFound)
            }
        }
    }

    // MARK: Pieces

    @Test func zoneMembershipIsByThePointInThePolygon() {
        let triangle = [CameraConfig.Point(x: 0, y: 1), CameraConfig.Point(x: 0.5, y: 0), CameraConfig.Point(x: 1, y: 1)]
        #expect(CameraEventProcessor.contains(triangle, .init(x: 0.5, y: 0.5)))
        #expect(!CameraEventProcessor.contains(triangle, .init(x: 0.1, y: 0.2)))
        // Standing on the bottom edge of the frame counts.
        #expect(CameraEventProcessor.contains(triangle, .init(x: 0.5, y: 1)))
        let box = CameraDetection.Box(x: 0.4, y: 0.2, width: 0.2, height: 0.5)
        #expect(box.bottomCentre == CameraConfig.Point(x: 0.5, y: 0.7))
    }

    @Test func readsHikvisionAlertsEvenWithAnUnescapedAmpersand() throws {
        let alert = try #require(HikvisionAlert(xml: String(decoding: try Self.file("hikvision_fielddetection.xml"), as: UTF8.self)))
        #expect(alert.eventType == "fielddetection" && alert.eventState == "active" && alert.channelID == "1")
        #expect(alert.channelName == "Garden & Path")
        #expect(alert.detectionTargets == ["human"])
        #expect(alert.vendorEventKey == "44:19:b6:00:00:01|1|fielddetection|2026-11-25T14:02:07+00:00|1")
        let motion = try #require(HikvisionAlert(xml: "<EventNotificationAlert><eventType>VMD</eventType><channelIDs>9</channelIDs><dynChannelID>3</dynChannelID></EventNotificationAlert>"))
        #expect(motion.channelID == "3" && motion.reportedDetections.map(\.kind) == ["motion"])
        #expect(HikvisionAlert(xml: "<EventNotificationAlert><eventState>active</eventState></EventNotificationAlert>") == nil)
    }
}
