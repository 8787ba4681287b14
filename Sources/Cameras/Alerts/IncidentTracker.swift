import Foundation

/// Turns one camera's snapshots into incidents, not frames: one alert when
/// something that alerts arrives, an update only when something material
/// changes (a new label, more of a label than seen so far, a new zone), and
/// nothing for objects that stay put.
///
/// A value: the camera service stores it per camera (it is Codable) and
/// hands it back with the next snapshot, so incidents survive a restart.
public struct IncidentTracker: Codable, Sendable, Equatable {
    public struct Incident: Codable, Sendable, Equatable {
        public var id: String
        public var startedAt: Date
        public var lastSeenAt: Date
        /// The most of each label seen in one snapshot.
        public var peakCounts: [String: Int]
        public var zones: Set<String>
        public var alertsSent: Int
    }

    /// What one snapshot did.
    public struct Outcome: Sendable, Equatable {
        /// The incident that ended before this snapshot (quiet for `clearAfter`).
        public var ended: Incident?
        /// The incident open after this snapshot.
        public var incident: Incident?
        /// The alert this snapshot raised; `alert.suppressed` says when it is
        /// recorded but not sent.
        public var alert: Alert?
    }

    public private(set) var incident: Incident?
    /// When an alert last went out, by "label|zone" ("label|" outside zones).
    private var lastSent: [String: Date] = [:]
    /// When the alerts of the last hour went out.
    private var sentRecently: [Date] = []

    public init() {}

    public mutating func observe(_ sightings: [Sighting], at time: Date, policy: AlertPolicy, camera: AlertCamera) -> Outcome {
        var outcome = Outcome()
        if let open = incident, time.timeIntervalSince(open.lastSeenAt) > policy.clearAfter.seconds {
            outcome.ended = open
            incident = nil
        }
        let alerting = sightings.filter(policy.admits)
        guard !alerting.isEmpty else {
            outcome.incident = incident
            return outcome
        }
        var counts: [String: Int] = [:]
        var topScores: [String: Double] = [:]
        var zoneCounts: [String: Int] = [:]
        var keys: Set<String> = []
        for sighting in alerting {
            counts[sighting.label, default: 0] += 1
            topScores[sighting.label] = max(topScores[sighting.label] ?? 0, sighting.score)
            let zones = policy.zones(of: sighting)
            for zone in zones { zoneCounts[zone, default: 0] += 1 }
            if zones.isEmpty { keys.insert("\(sighting.label)|") }
            for zone in zones { keys.insert("\(sighting.label)|\(zone)") }
        }
        // Where most of them stand names the place; ties go alphabetically.
        let zone = zoneCounts.max { $0.value != $1.value ? $0.value < $1.value : $0.key > $1.key }?.key

        var changes: [String] = []
        let opens = incident == nil
        var current = incident ?? Incident(id: UUID().uuidString, startedAt: time, lastSeenAt: time, peakCounts: [:], zones: [], alertsSent: 0)
        if opens {
            changes.append("arrived")
        } else {
            for (label, count) in counts.sorted(by: { $0.key < $1.key }) {
                if let peak = current.peakCounts[label] {
                    if count > peak { changes.append("more \(label): \(count)") }
                } else {
                    changes.append("new label: \(label)")
                }
            }
            for newZone in Set(zoneCounts.keys).subtracting(current.zones).sorted() { changes.append("new zone: \(newZone)") }
        }
        current.lastSeenAt = time
        current.peakCounts.merge(counts) { max($0, $1) }
        current.zones.formUnion(zoneCounts.keys)
        defer { incident = current }
        guard !changes.isEmpty else {
            outcome.incident = current
            return outcome
        }

        var alert = Alert(
            incidentID: current.id, time: time, opensIncident: opens, changes: changes,
            objects: Self.ordered(counts).map { Alert.Object(label: $0.label, count: $0.count, topScore: topScores[$0.label] ?? 0) },
            zone: zone, rule: Self.describe(policy), text: "", speech: ""
        )
        (alert.text, alert.speech) = AlertText.compose(alert, camera: camera)
        sentRecently.removeAll { time.timeIntervalSince($0) >= 3600 }
        if let quiet = policy.quietHours(at: time, in: camera.timeZone) {
            alert.suppressed = "quiet hours \(quiet)"
        } else if opens, keys.allSatisfy({ key in lastSent[key].map { time.timeIntervalSince($0) < policy.cooldown.seconds } ?? false }) {
            alert.suppressed =
                "cooldown of \(Int(policy.cooldown.seconds)) s for \(keys.sorted().map { $0.replacingOccurrences(of: "|", with: " in ") }.joined(separator: ", "))"
        } else if let cap = policy.maxAlertsPerHour, sentRecently.count >= cap {
            alert.suppressed = "limit of \(cap) alerts per hour"
        } else {
            // Only alerts that were sent start a cooldown.
            for key in keys { lastSent[key] = time }
            sentRecently.append(time)
            current.alertsSent += 1
        }
        outcome.alert = alert
        outcome.incident = current
        return outcome
    }

    /// People first, then vehicles, then animals; more before fewer.
    static func ordered(_ counts: [String: Int]) -> [(label: String, count: Int)] {
        func rank(_ label: String) -> Int { Sighting.Kind(label: label).map { Sighting.Kind.allCases.firstIndex(of: $0)! } ?? 3 }
        return counts.map { ($0.key, $0.value) }.sorted {
            (rank($0.0), -$0.1, $0.0) < (rank($1.0), -$1.1, $1.0)
        }
    }

    static func describe(_ policy: AlertPolicy) -> String {
        var rule = "\(policy.labels.sorted().joined(separator: ", ")) with score ≥ \(policy.minScore)"
        if policy.minArea > 0 { rule += ", area ≥ \(policy.minArea)" }
        if let zones = policy.zones { rule += ", in \(zones.sorted().joined(separator: ", "))" }
        return rule
    }
}

/// What a camera's alert says, and why it fired.
public struct Alert: Codable, Sendable, Equatable {
    public struct Object: Codable, Sendable, Equatable {
        public var label: String
        public var count: Int
        public var topScore: Double
    }

    public var incidentID: String
    public var time: Date
    /// True for the alert that opened its incident, false for an update.
    public var opensIncident: Bool
    /// What made it material: "arrived", "more person: 3", "new label: car", "new zone: Garden".
    public var changes: [String]
    /// What is there now, people first.
    public var objects: [Object]
    /// The zone most of them stand in; nil when none.
    public var zone: String?
    /// The rule that fired.
    public var rule: String
    /// "Person at Front Door, 14:02".
    public var text: String
    /// "A person is at the front door.": no symbols or times; counts to twelve in words.
    public var speech: String
    /// Why it was recorded but not sent (cooldown, quiet hours, hourly limit,
    /// a helper's no).
    public var suppressed: String?
    /// For a camera that asks helpers first: what they said ("confirmed by
    /// Mum", "Mum said no: …", "unconfirmed: nobody answered in time").
    public var check: String?
}

/// The camera facts alert text needs.
public struct AlertCamera: Sendable, Equatable {
    /// "Front Door".
    public var name: String
    public var timeZone: TimeZone
    /// Decides the time format ("14:02" or "2:02 PM"); nil: 24-hour.
    public var locale: Locale?

    public init(name: String, timeZone: TimeZone = .current, locale: Locale? = nil) {
        self.name = name
        self.timeZone = timeZone
        self.locale = locale
    }
}

extension Duration {
    var seconds: Double { Double(components.seconds) + Double(components.attoseconds) / 1e18 }
}
