import DescriberConfiguration
import DescriberHost
import Foundation
import NIOCore

/// Runs the security-event detector on one stored event.
///
/// The detector is the `security-events` function (its contract:
/// `Cameras/SECURITY-EVENTS.md`). Until one is installed, the `detect`
/// function stands in: its labels become person / vehicle / animal and zone
/// membership is computed here, so the pipeline works on real detections.
/// An event without a picture keeps what the camera itself reported. Every
/// result names the detector that produced it.
struct CameraEventProcessor: Sendable {
    static let securityEvents = "security-events"
    static let fallbackDetector = "detect"
    /// What a result is attributed to when only the camera's own report was available.
    static let cameraReport = "camera"
    /// The most base64 a camera's state may take (the function's option limit).
    static let maxStateBase64 = 1_048_576
    static let maxEvents = 256

    let host: FunctionHost

    func isAvailable(_ function: String) -> Bool { host.entries[function]?.pool != nil }

    func process(_ event: CameraEventStore.PendingEvent, camera: CameraConfig?, state: Data?) async throws(InvocationError) -> ProcessingResult {
        let reported = Self.reportedDetections(vendorJSON: event.vendor)
        guard let snapshot = event.snapshot, let contentType = event.snapshotContentType else {
            return ProcessingResult(detector: Self.cameraReport, detections: reported, newState: nil)
        }
        let body = ByteBuffer(bytes: snapshot)
        if isAvailable(Self.securityEvents) {
            return try await runSecurityEvents(body: body, contentType: contentType, event: event, camera: camera, state: state)
        }
        if isAvailable(Self.fallbackDetector) {
            let output = try await host.invoke(Self.fallbackDetector, InvocationRequest(body: body, contentType: contentType))
            return ProcessingResult(
                detector: Self.fallbackDetector, detections: try Self.detections(fromDetect: output, zones: camera?.zones ?? []), newState: nil)
        }
        return ProcessingResult(detector: Self.cameraReport, detections: reported, newState: nil)
    }

    // MARK: security-events

    private func runSecurityEvents(
        body: ByteBuffer, contentType: String, event: CameraEventStore.PendingEvent, camera: CameraConfig?, state: Data?
    ) async throws(InvocationError) -> ProcessingResult {
        var options = [("camera", Self.context(for: camera, cameraID: event.cameraID, event: event).serialized)]
        if let state {
            let encoded = state.base64EncodedString()
            // A state the function can no longer be handed is dropped: it starts afresh rather than never running again.
            if encoded.utf8.count <= Self.maxStateBase64 { options.append(("state", encoded)) }
        }
        let output = try await host.invoke(Self.securityEvents, InvocationRequest(body: body, contentType: contentType, options: options))
        struct Answer: Decodable {
            var events: [CameraDetection.Decoded]
            var state: String?
        }
        guard let answer = try? JSONDecoder().decode(Answer.self, from: Data(output.body.readableBytesView)) else {
            throw InvocationError(
                .functionFailed, "\(Self.securityEvents) answered something that is not its documented JSON ({\"events\": […], \"state\": \"…\"})")
        }
        guard answer.events.count <= Self.maxEvents else {
            throw InvocationError(.functionFailed, "\(Self.securityEvents) answered \(answer.events.count) events; at most \(Self.maxEvents) are kept")
        }
        var newState: Data?
        if let text = answer.state {
            guard text.utf8.count <= Self.maxStateBase64, let decoded = Data(base64Encoded: text) else {
                throw InvocationError(
                    .functionFailed, "\(Self.securityEvents) answered a state that is not base64 of at most \(Self.maxStateBase64) characters")
            }
            newState = decoded
        }
        let detections = try answer.events.map { decoded throws(InvocationError) in try decoded.validated() }
        return ProcessingResult(detector: Self.securityEvents, detections: detections, newState: newState)
    }

    /// The camera context `security-events` receives as its `camera` option.
    static func context(for camera: CameraConfig?, cameraID: String, event: CameraEventStore.PendingEvent) -> JSONValue {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        var members: [String: JSONValue] = [
            "camera_id": .string(cameraID),
            "event_id": .int(Int(event.id)),
            "received_at": .string(formatter.string(from: event.receivedAt)),
        ]
        if let camera {
            members["name"] = .string(camera.name)
            members["time_zone"] = .string(camera.timeZone)
            members["locale"] = .string(camera.locale)
            members["zones"] = .array(
                camera.zones.map { zone in
                    .object(["name": .string(zone.name), "polygon": .array(zone.polygon.map { .array([.double($0.x), .double($0.y)]) })])
                })
            members["rules"] = .object([
                "labels": .array(camera.rules.labels.map(JSONValue.string)),
                "zones": .array(camera.rules.zones.map(JSONValue.string)),
                "min_score": .double(camera.rules.minScore),
                "min_box_area": .double(camera.rules.minBoxArea),
            ])
        }
        return .object(members)
    }

    // MARK: detect

    /// `detect`'s objects as security detections: only the labels that are a
    /// person, a vehicle or an animal, each with the zones its bottom centre is in.
    static func detections(fromDetect output: InvocationOutput, zones: [CameraConfig.Zone]) throws(InvocationError) -> [CameraDetection] {
        struct Answer: Decodable {
            var objects: [Object]
            struct Object: Decodable {
                var label: String
                var confidence: Double
                var box: CameraDetection.Box
            }
        }
        guard let answer = try? JSONDecoder().decode(Answer.self, from: Data(output.body.readableBytesView)) else {
            throw InvocationError(.functionFailed, "\(fallbackDetector) answered something that is not its documented JSON")
        }
        return answer.objects.prefix(maxEvents).compactMap { object in
            guard let kind = SecurityClass.of(label: object.label) else { return nil }
            return CameraDetection(
                kind: kind.rawValue, label: object.label, score: object.confidence, box: object.box,
                zones: zonesHolding(object.box.bottomCentre, in: zones), stationary: false
            )
        }
    }

    static func zonesHolding(_ point: CameraConfig.Point, in zones: [CameraConfig.Zone]) -> [String] {
        zones.filter { contains($0.polygon, point) }.map(\.name)
    }

    /// Even-odd ray casting; a point on the bottom edge of the frame counts
    /// as inside a zone that reaches it (boxes of people often touch it).
    static func contains(_ polygon: [CameraConfig.Point], _ point: CameraConfig.Point) -> Bool {
        let y = min(point.y, 1 - 1e-9)
        var inside = false
        var previous = polygon[polygon.count - 1]
        for current in polygon {
            if (current.y > y) != (previous.y > y) {
                let crossing = previous.x + (y - previous.y) / (current.y - previous.y) * (current.x - previous.x)
                if point.x < crossing { inside.toggle() }
            }
            previous = current
        }
        return inside
    }

    // MARK: The camera's own report

    static func reportedDetections(vendorJSON: String) -> [CameraDetection] {
        struct Vendor: Decodable {
            var vendor: String?
            var event_type: String?
            var detection_targets: [String]?
        }
        guard let vendor = try? JSONDecoder().decode(Vendor.self, from: Data(vendorJSON.utf8)), vendor.vendor == "hikvision" else { return [] }
        return HikvisionAlert.reportedDetections(eventType: vendor.event_type, targets: vendor.detection_targets ?? [])
    }
}

extension CameraDetection {
    /// One event as `security-events` answers it, checked before it is stored.
    struct Decoded: Decodable {
        var kind: String
        var label: String?
        var score: Double?
        var box: Box?
        var zones: [String]?
        var stationary: Bool?

        func validated() throws(InvocationError) -> CameraDetection {
            func bad(_ reason: String) -> InvocationError { InvocationError(.functionFailed, "security-events answered an event whose \(reason)") }
            guard !kind.isEmpty, kind.utf8.count <= 32 else { throw bad("kind is empty or longer than 32 bytes") }
            if let label, label.utf8.count > 64 { throw bad("label is longer than 64 bytes") }
            if let score, !(0...1).contains(score) { throw bad("score is outside 0…1") }
            if let box, ![box.x, box.y, box.width, box.height].allSatisfy({ $0.isFinite && (-1...2).contains($0) }) { throw bad("box is not normalised") }
            let zones = zones ?? []
            guard zones.count <= 64, zones.allSatisfy({ $0.utf8.count <= 64 }) else { throw bad("zones are too many or too long") }
            return CameraDetection(kind: kind, label: label, score: score, box: box, zones: zones, stationary: stationary ?? false)
        }
    }
}
