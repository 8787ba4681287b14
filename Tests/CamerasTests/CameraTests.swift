import Crypto
import Foundation
import GRDB
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import NIOCore
import ServerTestSupport
import TestSupport
import Testing

@testable import Cameras
@testable import DescriberConfiguration
@testable import DescriberHost
@testable import DescriberServer

/// The camera webhook: configuration, ingestion in every format,
/// authentication, rate limiting, idempotency, durable storage, processing
/// with the real detector, and reading events back. HTTP goes through the
/// real application factory.
@Suite struct CameraTests {
    // MARK: Configuration

    @Test func readsEveryCameraSetting() throws {
        let settings = try TestSupport.deployment([:], config: CameraFixture.config(database: "/tmp/x.sqlite", processing: true)).deployment.cameras
        let cameras = settings.cameras
        #expect(cameras.map(\.id) == ["front-door", "porch"])
        let camera = cameras[0]
        #expect(camera.name == "Front Door")
        #expect(camera.tokens == [CameraFixture.token] && camera.hmacSecrets == [CameraFixture.secret])
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
        (
            "cameras:\n  cam:\n    authentication: none\n    zones:\n      door: [[0, 0], [1, 1]]",
            "describer.yaml:5: cameras.cam.zones.door must be a list of at least three"
        ),
        (
            "cameras:\n  cam:\n    authentication: none\n    zones:\n      door: [[0, 0], [1.5, 1], [0, 1]]",
            "cameras.cam.zones.door must be a list of at least three [x, y] points with coordinates between 0 and 1"
        ),
        (
            "cameras:\n  cam:\n    authentication: none\n    rules: { zones: [garden] }",
            "cameras.cam.rules.zones names 'garden', which is not one of this camera's zones"
        ),
        ("cameras:\n  cam:\n    authentication: none\n    time_zone: Mars/Olympus", "describer.yaml:4: cameras.cam.time_zone must be an IANA time zone"),
        (
            "cameras:\n  cam:\n    authentication: none\n    rules: { quiet_hours: [{ from: \"25:00\", to: \"06:00\" }] }",
            "cameras.cam.rules.quiet_hours[0].from must be a time of day"
        ),
        (
            "cameras:\n  cam:\n    authentication: none\n    alert_targets: [{ url: \"ftp://x\" }]",
            "cameras.cam.alert_targets[0].url must be an http or https URL"
        ),
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
        let jpeg = try CameraFixture.file("vtest_050.jpg")
        let xml = try CameraFixture.file("hikvision_fielddetection.xml")
        try await CameraFixture.application().test(.router) { client in
            let raw = try await CameraFixture.post(client, ByteBuffer(bytes: jpeg), contentType: "image/jpeg")
            let form = try await CameraFixture.post(
                client, CameraFixture.multipart([("image", "snapshot.jpg", "image/jpeg", try CameraFixture.file("vtest_background.jpg"))]),
                contentType: CameraFixture.multipartType
            )
            let hikvision = try await CameraFixture.post(
                client,
                CameraFixture.multipart([
                    ("fielddetection.xml", "fielddetection.xml", "application/xml", xml),
                    ("fielddetection.jpg", "fielddetection.jpg", "image/jpeg", jpeg),
                ]),
                contentType: CameraFixture.multipartType
            )
            let xmlOnly = try await CameraFixture.post(
                client,
                ByteBuffer(bytes: Data(String(decoding: xml, as: UTF8.self).replacingOccurrences(of: "<activePostCount>1<", with: "<activePostCount>2<").utf8)),
                contentType: "application/xml; charset=\"UTF-8\""
            )
            #expect(Set([raw.event_id, form.event_id, hikvision.event_id, xmlOnly.event_id]).count == 4)
            let heartbeat = "<EventNotificationAlert><eventType>videoloss</eventType><eventState>inactive</eventState></EventNotificationAlert>"
            try await client.execute(
                uri: CameraFixture.events, method: .post, headers: [.contentType: "application/xml", .authorization: "Bearer \(CameraFixture.token)"],
                body: ByteBuffer(string: heartbeat)
            ) { response in
                #expect(response.status == .ok && String(buffer: response.body) == #"{"status":"heartbeat"}"#)
            }

            let page = try await CameraFixture.page(client)
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
        (
            CameraFixture.multipartType,
            "--describer-test-boundary\r\nContent-Disposition: form-data; name=\"note\"\r\n\r\nhi\r\n--describer-test-boundary--\r\n", .badRequest,
            "not_an_image"
        ),
        ("multipart/form-data", "no boundary", .badRequest, "invalid_event"),
        // A header name outside ASCII made MultipartKit's parser trap (found by Tests/Fuzzing).
        (
            CameraFixture.multipartType,
            "--describer-test-boundary\r\nCont\u{E9}nt-Disposition: form-data; name=\"image\"\r\n\r\nhi\r\n--describer-test-boundary--\r\n", .badRequest,
            "invalid_event"
        ),
    ])
    func refusesWhatIsNotAnEvent(_ contentType: String, _ body: String, _ status: HTTPResponse.Status, _ code: String) async throws {
        try await CameraFixture.application().test(.router) { client in
            try await client.execute(
                uri: CameraFixture.events, method: .post, headers: [.contentType: contentType, .authorization: "Bearer \(CameraFixture.token)"],
                body: ByteBuffer(string: body)
            ) { response in
                #expect(response.status == status)
                #expect(String(buffer: response.body).contains("\"code\":\"\(code)\""), "\(String(buffer: response.body))")
            }
            #expect(try await CameraFixture.page(client).events.isEmpty)
        }
    }

    @Test func refusesABodyOverTheLimit() async throws {
        let database = CameraFixture.databasePath()
        let (host, deployment) = try TestSupport.deployment(
            [:], config: CameraFixture.config(database: database, processing: false, extra: "  max_body_size: 64KiB"))
        let app = buildApplication(
            host: host, cameras: try CameraSystem(settings: deployment.cameras, host: host, logger: TestSupport.logger), logger: TestSupport.logger)
        try await app.test(.router) { client in
            try await client.execute(
                uri: CameraFixture.events, method: .post, headers: [.contentType: "image/jpeg", .authorization: "Bearer \(CameraFixture.token)"],
                body: ByteBuffer(bytes: try CameraFixture.file("vtest_050.jpg"))
            ) { response in
                #expect(response.status == .contentTooLarge)
            }
        }
    }

    // MARK: Authentication

    static func signed(_ body: Data, timestamp: Int64, secret: String = CameraFixture.secret) -> HTTPFields {
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
        var path = CameraFixture.events
        var headers: @Sendable (Data) -> HTTPFields
        var status: HTTPResponse.Status
        var testDescription: String { name }
    }

    static let authCases: [AuthCase] = [
        AuthCase(name: "no credentials", headers: { _ in [:] }, status: .unauthorized),
        AuthCase(name: "wrong token", headers: { _ in [.authorization: "Bearer front-door-token-0123456780"] }, status: .unauthorized),
        AuthCase(name: "token of another length", headers: { _ in [.authorization: "Bearer x"] }, status: .unauthorized),
        AuthCase(name: "wrong token in the path", path: CameraFixture.events + "/front-door-token-9999999999", headers: { _ in [:] }, status: .unauthorized),
        AuthCase(
            name: "unknown camera", path: "/v1/cameras/garage/events", headers: { _ in [.authorization: "Bearer \(CameraFixture.token)"] },
            status: .unauthorized),
        AuthCase(
            name: "signature with the wrong secret", headers: { signed($0, timestamp: Int64(Date().timeIntervalSince1970), secret: "another-secret-0123456") },
            status: .unauthorized),
        AuthCase(
            name: "signature over another body", headers: { _ in signed(Data("other".utf8), timestamp: Int64(Date().timeIntervalSince1970)) },
            status: .unauthorized),
        AuthCase(name: "stale timestamp", headers: { signed($0, timestamp: Int64(Date().timeIntervalSince1970) - 330) }, status: .unauthorized),
        AuthCase(name: "timestamp from the future", headers: { signed($0, timestamp: Int64(Date().timeIntervalSince1970) + 330) }, status: .unauthorized),
        AuthCase(name: "bearer token", headers: { _ in [.authorization: "Bearer \(CameraFixture.token)"] }, status: .accepted),
        AuthCase(name: "token in the path", path: CameraFixture.events + "/" + CameraFixture.token, headers: { _ in [:] }, status: .accepted),
        AuthCase(name: "token in the query", path: CameraFixture.events + "?token=" + CameraFixture.token, headers: { _ in [:] }, status: .accepted),
        AuthCase(name: "valid signature", headers: { signed($0, timestamp: Int64(Date().timeIntervalSince1970) - 200) }, status: .accepted),
        AuthCase(name: "camera without authentication", path: "/v1/cameras/porch/events", headers: { _ in [:] }, status: .accepted),
    ]

    @Test(arguments: authCases)
    func authenticatesWithoutSayingWhy(_ authCase: AuthCase) async throws {
        let jpeg = try CameraFixture.file("vtest_background.jpg")
        try await CameraFixture.application().test(.router) { client in
            var headers: HTTPFields = [.contentType: "image/jpeg"]
            headers.append(contentsOf: authCase.headers(jpeg))
            try await client.execute(uri: authCase.path, method: .post, headers: headers, body: ByteBuffer(bytes: jpeg)) { response in
                #expect(response.status == authCase.status, "\(String(buffer: response.body))")
                if authCase.status == .unauthorized {
                    // The same answer whatever was wrong.
                    #expect(String(buffer: response.body) == #"{"error":{"code":"unauthorized","message":"authentication failed"}}"#)
                }
            }
            let stored = try await CameraFixture.page(client).events.count
            #expect(stored == (authCase.status == .accepted && authCase.path.hasPrefix(CameraFixture.events) ? 1 : 0))
        }
    }

    // MARK: Rate limit and idempotency

    @Test func limitsTheRatePerCamera() async throws {
        try await CameraFixture.application(rateLimit: "{ events_per_second: 0.01, burst: 2 }").test(.router) { client in
            for index in 0..<2 {
                try await CameraFixture.post(
                    client, ByteBuffer(bytes: try CameraFixture.file("vtest_050.jpg")), contentType: "image/jpeg", headers: [.idempotencyKey: "event-\(index)"])
            }
            try await client.execute(
                uri: CameraFixture.events, method: .post,
                headers: [.contentType: "image/jpeg", .authorization: "Bearer \(CameraFixture.token)", .idempotencyKey: "event-2"],
                body: ByteBuffer(bytes: try CameraFixture.file("vtest_050.jpg"))
            ) { response in
                #expect(response.status == .tooManyRequests)
                let retryAfter = try #require(response.headers[.retryAfter].flatMap(Int.init))
                #expect(retryAfter >= 1 && retryAfter <= 100)
            }
            // Another camera has its own bucket.
            try await client.execute(
                uri: "/v1/cameras/porch/events", method: .post, headers: [.contentType: "image/jpeg"],
                body: ByteBuffer(bytes: try CameraFixture.file("vtest_050.jpg"))
            ) { response in
                #expect(response.status == .accepted)
            }
            #expect(try await CameraFixture.page(client).events.count == 2)
            try await client.execute(uri: "/metrics", method: .get) { response in
                let text = String(buffer: response.body)
                #expect(text.contains(#"describer_camera_requests_total{camera="front-door",outcome="accepted"} 2"#), "\(text)")
                #expect(text.contains(#"describer_camera_requests_total{camera="front-door",outcome="rate_limited"} 1"#))
                #expect(text.contains(#"describer_camera_requests_total{camera="porch",outcome="accepted"} 1"#))
            }
        }
    }

    @Test func aRepeatedEventAnswersTheOriginalID() async throws {
        let jpeg = try CameraFixture.file("vtest_050.jpg")
        let background = try CameraFixture.file("vtest_background.jpg")
        let xml = try CameraFixture.file("hikvision_fielddetection.xml")
        try await CameraFixture.application().test(.router) { client in
            // By Idempotency-Key: the same key is the same event, whatever the body.
            let first = try await CameraFixture.post(client, ByteBuffer(bytes: jpeg), contentType: "image/jpeg", headers: [.idempotencyKey: "delivery-1"])
            let again = try await CameraFixture.post(
                client, ByteBuffer(bytes: background), contentType: "image/jpeg", headers: [.idempotencyKey: "delivery-1"], expect: .ok)
            #expect(again.event_id == first.event_id && again.status == "duplicate")
            // By content: the same body without a key.
            let byContent = try await CameraFixture.post(client, ByteBuffer(bytes: background), contentType: "image/jpeg")
            let byContentAgain = try await CameraFixture.post(client, ByteBuffer(bytes: background), contentType: "image/jpeg", expect: .ok)
            #expect(byContentAgain.event_id == byContent.event_id && byContent.event_id != first.event_id)
            // By the camera's own event identity: a retransmitted alert, even with another picture.
            let alert = try await CameraFixture.post(
                client, CameraFixture.multipart([("a.xml", "a.xml", "application/xml", xml), ("a.jpg", "a.jpg", "image/jpeg", jpeg)]),
                contentType: CameraFixture.multipartType)
            let retransmitted = try await CameraFixture.post(
                client, CameraFixture.multipart([("a.xml", "a.xml", "application/xml", xml), ("a.jpg", "a.jpg", "image/jpeg", background)]),
                contentType: CameraFixture.multipartType, expect: .ok
            )
            #expect(retransmitted.event_id == alert.event_id)
            let page = try await CameraFixture.page(client)
            #expect(page.events.map(\.id) == [first.event_id, byContent.event_id, alert.event_id])
            // A key not fit for a header value is refused, not stored.
            try await client.execute(
                uri: CameraFixture.events, method: .post,
                headers: [.contentType: "image/jpeg", .authorization: "Bearer \(CameraFixture.token)", .idempotencyKey: String(repeating: "k", count: 256)],
                body: ByteBuffer(bytes: jpeg)
            ) { response in
                #expect(response.status == .badRequest)
            }
        }
    }

    @Test func storedResultsAreNotOverwrittenByASecondDelivery() async throws {
        let store = try CameraEventStore(path: CameraFixture.databasePath())
        let event = IncomingCameraEvent(
            cameraID: "front-door", source: .image, snapshot: try CameraFixture.file("vtest_050.jpg"), snapshotContentType: "image/jpeg", vendor: [:],
            idempotencyKey: IdempotencyKey(kind: .header, value: "x")
        )
        let id = try await store.accept(event, at: Date(), window: .seconds(60)).eventID
        let person = CameraDetection(
            kind: "person", label: "person", score: 0.9, box: .init(x: 0.1, y: 0.1, width: 0.1, height: 0.3), zones: ["left"], stationary: false)
        try await store.complete(
            id, cameraID: "front-door", result: ProcessingResult(detector: "detect", detections: [person], newState: Data([1, 2, 3])), at: Date())
        try await store.complete(
            id, cameraID: "front-door", result: ProcessingResult(detector: "detect", detections: [person, person], newState: Data([4])), at: Date())
        let stored = try await store.events(cameraID: "front-door", since: nil, after: nil, limit: 10)
        #expect(stored.count == 1 && stored[0].detections == [person] && stored[0].attempts == 1)
        #expect(try await store.state(of: "front-door") == Data([1, 2, 3]))
        #expect(try await store.pendingEvents(limit: 10).isEmpty)
    }

    @Test func concurrentEventsAreCommittedInGroupsWithoutLosingOrDoublingAny() async throws {
        let store = try CameraEventStore(path: CameraFixture.databasePath())
        let writer = CameraEventWriter(store: store, idempotencyWindow: .seconds(60))
        let snapshot = try CameraFixture.file("vtest_050.jpg")
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
        let store = try CameraEventStore(path: CameraFixture.databasePath(), walRestartFrames: 256, walCheckpointInterval: .milliseconds(10))
        let writer = CameraEventWriter(store: store, idempotencyWindow: .seconds(60))
        let snapshot = try CameraFixture.file("vtest_050.jpg")
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
        let store = try CameraEventStore(path: CameraFixture.databasePath())
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
        let config = CameraFixture.config(database: CameraFixture.databasePath(), processing: false, extra: "server: { api_token: \(apiToken) }")
        let (host, deployment) = try TestSupport.deployment([:], config: config)
        let app = buildApplication(
            host: host, cameras: try CameraSystem(settings: deployment.cameras, host: host, logger: TestSupport.logger), logger: TestSupport.logger)
        try await app.test(.router) { client in
            // The camera authenticates itself; it never needs the API token.
            let accepted = try await CameraFixture.post(client, ByteBuffer(bytes: try CameraFixture.file("vtest_050.jpg")), contentType: "image/jpeg")
            let guarded = [
                "/v1/cameras", "/v1/cameras/front-door/events", "/v1/cameras/front-door/snapshots/\(accepted.event_id)", "/v1/alerts", "/v1/functions",
                "/v1/voices",
            ]
            for uri in guarded {
                for authorization in [nil, "Bearer \(CameraFixture.token)", "Bearer \(apiToken)x", "Basic \(apiToken)"] {
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
        try await CameraFixture.application().test(.router) { client in
            try await CameraFixture.post(client, ByteBuffer(bytes: try CameraFixture.file("vtest_050.jpg")), contentType: "image/jpeg")
            try await client.execute(uri: "/v1/cameras", method: .get) { response in
                #expect(response.status == .ok)
                let text = String(buffer: response.body)
                for secret in [CameraFixture.token, CameraFixture.secret, "whsec_abc", "hidden", "pass"] { #expect(!text.contains(secret), "\(secret) leaked") }
                let json = try CameraFixture.decode(JSONValue.self, response)
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
        try await CameraFixture.application().test(.router) { client in
            var ids: [Int] = []
            for index in 0..<5 {
                ids.append(
                    try await CameraFixture.post(
                        client, ByteBuffer(bytes: try CameraFixture.file("vtest_050.jpg")), contentType: "image/jpeg",
                        headers: [.idempotencyKey: "page-\(index)"]
                    ).event_id)
            }
            var seen: [Int] = []
            var query = "?limit=2"
            while true {
                let page = try await CameraFixture.page(client, query)
                seen += page.events.map(\.id)
                guard let next = page.next else { break }
                query = String(next.dropFirst(CameraFixture.events.count))
            }
            #expect(seen == ids)
            #expect(try await CameraFixture.page(client, "?since=\(Int(start.timeIntervalSince1970) + 3600)").events.isEmpty)
            #expect(try await CameraFixture.page(client, "?since=\(Int(start.timeIntervalSince1970) - 1)").events.map(\.id) == ids)
            let iso = ISO8601DateFormatter().string(from: start.addingTimeInterval(-1))
            #expect(try await CameraFixture.page(client, "?since=\(iso)").events.count == 5)
            for bad in ["?limit=0", "?limit=501", "?since=yesterday", "?after=-1"] {
                try await client.execute(uri: CameraFixture.events + bad, method: .get) { response in
                    #expect(response.status == .badRequest, "\(bad)")
                }
            }
            try await client.execute(uri: "/v1/cameras/garage/events", method: .get) { response in
                #expect(response.status == .notFound)
            }
        }
    }

    // MARK: Pieces

    @Test func aFailedEventIsRetriedAfterADoublingWait() {
        #expect((1...8).map { CameraService.retryBackoff.delay(retry: $0) } == [500, 1000, 2000, 4000, 8000, 16_000, 30_000, 30_000].map { .milliseconds($0) })
    }

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
        let alert = try #require(HikvisionAlert(xml: String(decoding: try CameraFixture.file("hikvision_fielddetection.xml"), as: UTF8.self)))
        #expect(alert.eventType == "fielddetection" && alert.eventState == "active" && alert.channelID == "1")
        #expect(alert.channelName == "Garden & Path")
        #expect(alert.detectionTargets == ["human"])
        #expect(alert.vendorEventKey == "44:19:b6:00:00:01|1|fielddetection|2026-11-25T14:02:07+00:00|1")
        let motion = try #require(
            HikvisionAlert(
                xml: "<EventNotificationAlert><eventType>VMD</eventType><channelIDs>9</channelIDs><dynChannelID>3</dynChannelID></EventNotificationAlert>"))
        #expect(motion.channelID == "3" && motion.reportedDetections.map(\.kind) == ["motion"])
        #expect(HikvisionAlert(xml: "<EventNotificationAlert><eventState>active</eventState></EventNotificationAlert>") == nil)
    }

    /// Found trying the scanner's fuzz target (Tests/Fuzzing) on inputs at
    /// the size limit, which the fuzzer itself keeps far below: each search
    /// for an element went through Foundation, which copied the rest of the
    /// text when it was not ASCII, so an alert full of near misses took
    /// seconds of a request thread.
    @Test(arguments: ["<eventTypeé", "<eventType/>", "<eventType></eventType>"])
    func anAlertFullOfNearMissesIsReadInOnePass(_ nearMiss: String) {
        let head = "<EventNotificationAlert>"
        let text = head + String(repeating: nearMiss, count: (HikvisionAlert.maxBytes - head.utf8.count) / nearMiss.utf8.count)
        let started = ContinuousClock.now
        #expect(HikvisionAlert(xml: text) == nil)
        #expect(ContinuousClock.now - started < .seconds(2))
    }
}
