/// One object the security-event detector saw in one snapshot, as the alert
/// logic needs it.
public struct Sighting: Codable, Sendable, Equatable {
    /// The detector's label, lower case: `person`, `car`, `dog`, ….
    public var label: String
    public var score: Double
    /// The box's share of the image area, 0…1.
    public var area: Double
    /// The camera's zones holding the box's bottom centre (where the object
    /// stands), by name; empty when it is in none.
    public var zones: [String]
    /// The object overlaps where one was in recent snapshots (a parked car):
    /// it is recorded, but never raises or updates an alert.
    public var stationary: Bool

    public init(label: String, score: Double, area: Double, zones: [String] = [], stationary: Bool = false) {
        self.label = label
        self.score = score
        self.area = area
        self.zones = zones
        self.stationary = stationary
    }

    /// What kind of thing the label names, for rules that say "vehicle".
    public var kind: Kind? { Kind(label: label) }

    public enum Kind: String, Codable, Sendable, CaseIterable {
        case person, vehicle, animal

        /// The COCO labels of each kind (YOLO's classes).
        static let labels: [Kind: Set<String>] = [
            .person: ["person"],
            // Darknet's coco.names says "motorbike" and "aeroplane"; other COCO lists, "motorcycle" and "airplane".
            .vehicle: ["bicycle", "car", "motorbike", "motorcycle", "bus", "train", "truck", "boat", "aeroplane", "airplane"],
            .animal: ["bird", "cat", "dog", "horse", "sheep", "cow", "elephant", "bear", "zebra", "giraffe"],
        ]

        init?(label: String) {
            guard let kind = Self.labels.first(where: { $0.value.contains(label) })?.key else { return nil }
            self = kind
        }
    }
}
