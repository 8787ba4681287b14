import Foundation

/// When a camera's sightings become an alert: the camera's rules.
///
/// Built to avoid what Frigate and Blue Iris users complain of: a parked car
/// re-alerting whenever the wind moves a tree (stationary sightings never
/// alert), "person person person" for one passer-by (one incident, one
/// alert), and cooldowns that start from alerts that were never sent (only
/// sent alerts start one).
public struct AlertPolicy: Sendable, Equatable {
    /// Labels that alert (`person`, `car`) or kinds (`person`, `vehicle`, `animal`).
    public var labels: Set<String>
    public var minScore: Double
    /// The smallest box, as a share of the image, that alerts.
    public var minArea: Double
    /// Only sightings standing in one of these zones alert; nil: anywhere.
    public var zones: Set<String>?
    /// After an alert for a label in a zone, a new incident with only that
    /// label in that zone does not alert again for this long.
    public var cooldown: Duration
    /// An incident ends after this long without a sighting that alerts.
    public var clearAfter: Duration
    /// Times of day (in the camera's time zone) when incidents are recorded
    /// but no alert is sent.
    public var quietHours: [QuietHours]
    /// At most this many alerts per hour for the camera; nil: no cap.
    public var maxAlertsPerHour: Int?

    public init(
        labels: Set<String> = ["person", "vehicle"], minScore: Double = 0.5, minArea: Double = 0, zones: Set<String>? = nil,
        cooldown: Duration = .seconds(300), clearAfter: Duration = .seconds(60), quietHours: [QuietHours] = [], maxAlertsPerHour: Int? = nil
    ) {
        self.labels = labels
        self.minScore = minScore
        self.minArea = minArea
        self.zones = zones
        self.cooldown = cooldown
        self.clearAfter = clearAfter
        self.quietHours = quietHours
        self.maxAlertsPerHour = maxAlertsPerHour
    }

    /// Whether `sighting` may raise or update an alert, and if not, why not.
    func admits(_ sighting: Sighting) -> Bool {
        guard labels.contains(sighting.label) || sighting.kind.map({ labels.contains($0.rawValue) }) == true else { return false }
        guard sighting.score >= minScore, sighting.area >= minArea, !sighting.stationary else { return false }
        if let zones { return !zones.isDisjoint(with: sighting.zones) }
        return true
    }

    /// The zones of `sighting` that count for this policy.
    func zones(of sighting: Sighting) -> [String] {
        guard let zones else { return sighting.zones }
        return sighting.zones.filter(zones.contains)
    }

    /// The quiet span `time` falls in, in the camera's time zone, if any.
    func quietHours(at time: Date, in timeZone: TimeZone) -> QuietHours? {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = timeZone
        let parts = calendar.dateComponents([.hour, .minute], from: time)
        let minute = (parts.hour ?? 0) * 60 + (parts.minute ?? 0)
        return quietHours.first { $0.contains(minuteOfDay: minute) }
    }
}

/// A span of the day, e.g. 23:00–06:30; it may wrap past midnight.
public struct QuietHours: Sendable, Equatable, CustomStringConvertible {
    /// Minutes after midnight.
    public var start: Int
    public var end: Int

    public init(start: Int, end: Int) {
        self.start = start
        self.end = end
    }

    /// Parses "23:00-06:30".
    public init?(_ text: String) {
        let parts = text.split(separator: "-").map { $0.trimmingCharacters(in: .whitespaces) }
        guard parts.count == 2, let start = Self.minutes(parts[0]), let end = Self.minutes(parts[1]), start != end else { return nil }
        self.init(start: start, end: end)
    }

    static func minutes(_ text: String) -> Int? {
        let parts = text.split(separator: ":")
        guard parts.count == 2, let hour = Int(parts[0]), let minute = Int(parts[1]), (0..<24).contains(hour), (0..<60).contains(minute) else {
            return nil
        }
        return hour * 60 + minute
    }

    func contains(minuteOfDay minute: Int) -> Bool {
        start < end ? (start..<end).contains(minute) : (minute >= start || minute < end)
    }

    public var description: String {
        String(format: "%02d:%02d-%02d:%02d", start / 60, start % 60, end / 60, end % 60)
    }
}
