import DescriberConfiguration
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import NIOCore
import TestSupport
import Testing

@testable import Cameras
@testable import DescriberHost
@testable import DescriberServer

/// A deployment with cameras for the camera suites: its configuration, the
/// application over it, and the webhook's requests and answers.
package enum CameraFixture {
    package static let fixtures = TestSupport.fixtures + "/camera"
    package static let token = "front-door-token-0123456789"
    package static let secret = "front-door-hmac-secret-abcdef"
    package static let events = "/v1/cameras/front-door/events"

    package static func databasePath() -> String { "\(TestSupport.scratch)/cameras-\(UUID().uuidString)/events.sqlite" }

    /// A deployment with one camera, `front-door`, split into a left and a
    /// right zone and a strip along the top where nobody can stand.
    package static func config(database: String, processing: Bool, rateLimit: String = "{ events_per_second: 1000, burst: 1000 }", extra: String = "") -> String
    {
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

    package static func system(
        _ manifests: [String: String] = [:], database: String, processing: Bool = false, rateLimit: String? = nil
    ) throws -> (FunctionHost, CameraSystem) {
        let config =
            rateLimit.map { Self.config(database: database, processing: processing, rateLimit: $0) } ?? Self.config(database: database, processing: processing)
        let (host, deployment) = try TestSupport.deployment(manifests, config: config)
        return (host, try CameraSystem(settings: deployment.cameras, host: host, logger: TestSupport.logger))
    }

    package static func application(
        _ manifests: [String: String] = [:], database: String = databasePath(), processing: Bool = false, rateLimit: String? = nil
    ) throws -> some ApplicationProtocol {
        let (host, cameras) = try system(manifests, database: database, processing: processing, rateLimit: rateLimit)
        return buildApplication(host: host, cameras: cameras, logger: TestSupport.logger)
    }

    package static func file(_ name: String) throws -> Data { try Data(contentsOf: URL(fileURLWithPath: "\(fixtures)/\(name)")) }

    package static let boundary = "describer-test-boundary"

    package static func multipart(_ parts: [(name: String, filename: String?, contentType: String, body: Data)]) -> ByteBuffer {
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

    package static let multipartType = "multipart/form-data; boundary=\(boundary)"

    package struct Accepted: Decodable {
        package var event_id: Int
        package var status: String
    }

    package struct EventPage: Decodable {
        package var events: [Event]
        package var next: String?
        package struct Event: Decodable {
            package var id: Int
            package var source: String
            package var status: String
            package var detector: String?
            package var vendor: [String: JSONValue]
            package var snapshot: Snapshot?
            package var detections: [CameraDetection]
            package var error: String?
        }
        package struct Snapshot: Decodable {
            package var content_type: String
            package var bytes: Int
            package var url: String
        }
    }

    package static func decode<T: Decodable>(_ type: T.Type, _ response: TestResponse) throws -> T {
        try JSONDecoder().decode(type, from: Data(response.body.readableBytesView))
    }

    /// Posts with the camera's bearer token and answers the decoded acknowledgement.
    @discardableResult
    package static func post(
        _ client: some TestClientProtocol, _ body: ByteBuffer, contentType: String, headers extra: HTTPFields = [:],
        expect status: HTTPResponse.Status = .accepted
    ) async throws -> Accepted {
        var headers: HTTPFields = [.contentType: contentType, .authorization: "Bearer \(token)"]
        headers.append(contentsOf: extra)
        return try await client.execute(uri: events, method: .post, headers: headers, body: body) { response in
            #expect(response.status == status, "\(String(buffer: response.body))")
            return try decode(Accepted.self, response)
        }
    }

    package static func page(_ client: some TestClientProtocol, _ query: String = "") async throws -> EventPage {
        try await client.execute(uri: events + query, method: .get) { response in
            #expect(response.status == .ok, "\(String(buffer: response.body))")
            return try decode(EventPage.self, response)
        }
    }
}
