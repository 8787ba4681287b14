import DescriberConfiguration
import Foundation

/// An event as it arrives: what the camera sent, before any detector ran.
struct IncomingCameraEvent: Sendable {
    enum Source: String, Sendable {
        /// A bare JPEG or PNG body.
        case image
        /// `multipart/form-data` with an `image` part (Home Assistant, motionEye, scripts).
        case multipart
        /// A Hikvision ISAPI `EventNotificationAlert`, with or without pictures.
        case hikvision
    }

    var cameraID: String
    var source: Source
    var snapshot: Data?
    var snapshotContentType: String?
    /// What the camera said about the event (Hikvision's event type, state, targets…).
    var vendor: [String: JSONValue]
    /// What makes a repetition of this event recognisable; see ``IdempotencyKey``.
    var idempotencyKey: IdempotencyKey
}

/// How a repeated delivery is recognised, strongest first: the sender's own
/// `Idempotency-Key`, the camera's event identity, or the body's SHA-256.
struct IdempotencyKey: Sendable, Equatable {
    enum Kind: String, Sendable { case header, vendor, content }
    var kind: Kind
    var value: String

    /// The stored form, so keys of different kinds never collide.
    var stored: String { "\(kind.rawValue):\(value)" }
}

/// One thing the detector found in a snapshot.
public struct CameraDetection: Sendable, Equatable, Codable {
    /// `motion`, `person`, `vehicle` or `animal`.
    public var kind: String
    /// The detector's own label (`car`, `dog`…); nil for motion.
    public var label: String?
    public var score: Double?
    /// Normalised to the frame: x, y of the top left corner, width, height.
    public var box: Box?
    /// The zones holding the box's bottom centre.
    public var zones: [String]
    /// Overlaps where something was seen before (a parked car).
    public var stationary: Bool

    public struct Box: Sendable, Equatable, Codable {
        public var x, y, width, height: Double
        public init(x: Double, y: Double, width: Double, height: Double) {
            self.x = x
            self.y = y
            self.width = width
            self.height = height
        }

        /// Where an object stands: what zone membership is judged by.
        var bottomCentre: CameraConfig.Point { CameraConfig.Point(x: x + width / 2, y: y + height) }
        var area: Double { width * height }
    }

    public init(kind: String, label: String?, score: Double?, box: Box?, zones: [String], stationary: Bool) {
        self.kind = kind
        self.label = label
        self.score = score
        self.box = box
        self.zones = zones
        self.stationary = stationary
    }

    var json: JSONValue {
        var members: [String: JSONValue] = ["kind": .string(kind), "zones": .array(zones.map(JSONValue.string)), "stationary": .bool(stationary)]
        if let label { members["label"] = .string(label) }
        if let score { members["score"] = .double(score) }
        if let box {
            members["box"] = .object(["x": .double(box.x), "y": .double(box.y), "width": .double(box.width), "height": .double(box.height)])
        }
        return .object(members)
    }
}

/// What processing an event produced, stored in one transaction with the
/// event marked processed.
struct ProcessingResult: Sendable {
    /// `security-events`, `detect`, or `camera` when only the camera's own report was available.
    var detector: String
    var detections: [CameraDetection]
    /// The camera's new opaque state, when the detector keeps one.
    var newState: Data?
}
