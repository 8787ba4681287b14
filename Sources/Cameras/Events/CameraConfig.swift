import DescriberConfiguration
import DescriberHost
import Foundation

/// One camera of the deployment, from the `cameras:` mapping of the
/// deployment file (the key is the camera's id).
///
/// ```yaml
/// cameras:
///   front-door:
///     name: Front Door
///     authentication: required        # or none (only on a trusted network)
///     credentials:
///       token: "long random string"   # Authorization: Bearer, ?token= or /events/{token}
///       hmac_secret: "…"              # X-Describer-Timestamp + X-Describer-Signature
///     zones:                          # polygons in normalised coordinates (0…1, origin top left)
///       porch: [[0.1, 0.6], [0.5, 0.6], [0.5, 1.0], [0.1, 1.0]]
///     rules:
///       labels: [person, vehicle]     # what alerts: person, vehicle, animal or a detector label
///       zones: [porch]                # only these zones alert (default: anywhere)
///       min_score: 0.5
///       min_box_area: 0.005           # fraction of the frame
///       cooldown: 2m                  # per label and zone
///       quiet_hours: [{ from: "23:00", to: "06:00" }]
///     alert_targets:
///       - { url: "https://example.net/hooks/describer", secret: "whsec_…" }
///     speech: { enabled: true, voice: default }
///     time_zone: Europe/London
///     locale: en-GB
///     rate_limit: { events_per_second: 5, burst: 20 }
///     ask_helpers: { below_score: 0.6 }  # an alert less sure than this asks assist's helpers first
/// ```
///
/// Secrets can come from the environment instead of the file:
/// `DESCRIBER_CAMERAS__FRONT_DOOR__CREDENTIALS__TOKEN` (in the camera segment,
/// `_` stands for `-`, as for function names).
public struct CameraConfig: Sendable, Equatable {
    public var id: String
    public var name: String
    public var authentication: Authentication
    /// Accepted tokens; more than one while a token is being rotated.
    public var tokens: [String]
    /// Accepted HMAC secrets; more than one while a secret is being rotated.
    public var hmacSecrets: [String]
    public var zones: [Zone]
    public var rules: Rules
    public var alertTargets: [AlertTarget]
    public var speech: Speech
    public var timeZone: String
    public var locale: String
    public var rateLimit: RateLimit
    /// When set, an alert whose best score is below `belowScore` is held
    /// and asked about ("Is there a person at Front Door?"); a helper's yes
    /// sends it, a no suppresses it, and no answer in time sends it marked
    /// unconfirmed: a missed intruder costs more than a false alarm.
    public var askHelpers: AskHelpers?

    public struct AskHelpers: Sendable, Equatable {
        public var belowScore: Double
    }

    public enum Authentication: String, Sendable, Equatable { case required, none }

    /// A named area of the frame; a detection is in it when the bottom
    /// centre of its box (where the object stands) is inside the polygon.
    public struct Zone: Sendable, Equatable {
        public var name: String
        public var polygon: [Point]
    }

    public struct Point: Sendable, Equatable {
        public var x: Double
        public var y: Double
        public init(x: Double, y: Double) {
            self.x = x
            self.y = y
        }
    }

    public struct Rules: Sendable, Equatable {
        public var labels: [String]
        /// Empty: everywhere in the frame alerts.
        public var zones: [String]
        public var minScore: Double
        public var minBoxArea: Double
        public var cooldown: Duration
        public var quietHours: [QuietHours]
    }

    /// Minutes after local midnight; `from > to` spans midnight.
    public struct QuietHours: Sendable, Equatable {
        public var from: Int
        public var to: Int
    }

    public struct AlertTarget: Sendable, Equatable {
        public var url: String
        public var secret: String?
    }

    public struct Speech: Sendable, Equatable {
        public var enabled: Bool
        public var voice: String
    }

    public struct RateLimit: Sendable, Equatable {
        public var eventsPerSecond: Double
        public var burst: Int
    }

    static let keys = [
        "name", "authentication", "credentials", "zones", "rules", "alert_targets", "speech", "time_zone", "locale", "rate_limit", "ask_helpers",
    ]

    init(id: String, mapping: ConfigMapping) throws(ConfigError) {
        try mapping.rejectUnknownKeys(Self.keys)
        self.id = id
        self.name = try mapping.string("name") ?? id

        let authentication = try mapping.string("authentication") ?? "required"
        guard let parsedAuthentication = Authentication(rawValue: authentication) else {
            throw mapping.error("authentication", "must be required or none, got '\(authentication)'")
        }
        self.authentication = parsedAuthentication
        let credentials = try mapping.mapping("credentials")
        try credentials.rejectUnknownKeys(["token", "hmac_secret"])
        self.tokens = try credentials.stringList("token") ?? []
        self.hmacSecrets = try credentials.stringList("hmac_secret") ?? []
        // A short secret is guessable; refuse it rather than protect nothing.
        for (key, values) in [("token", tokens), ("hmac_secret", hmacSecrets)] where values.contains(where: { $0.utf8.count < 16 }) {
            throw credentials.error(key, "must be at least 16 characters long (use a long random string)")
        }
        if parsedAuthentication == .required, tokens.isEmpty, hmacSecrets.isEmpty {
            throw mapping.error(
                "credentials",
                "must set token or hmac_secret: events must be authenticated (set authentication: none only for a camera on a trusted network)",
                at: mapping["credentials"]
            )
        }

        let zonesMapping = try mapping.mapping("zones")
        var zones: [Zone] = []
        for key in zonesMapping.keys {
            zones.append(Zone(name: key, polygon: try Self.polygon(zonesMapping, key)))
        }
        self.zones = zones

        let rules = try mapping.mapping("rules")
        try rules.rejectUnknownKeys(["labels", "zones", "min_score", "min_box_area", "cooldown", "quiet_hours"])
        let ruleZones = try rules.stringList("zones") ?? []
        for zone in ruleZones where !zones.contains(where: { $0.name == zone }) {
            throw rules.error("zones", "names '\(zone)', which is not one of this camera's zones (\(zones.map(\.name).joined(separator: ", ")))")
        }
        let minScore = try rules.double("min_score") ?? 0.5
        guard (0...1).contains(minScore) else { throw rules.error("min_score", "must be between 0 and 1, got \(minScore)") }
        let minBoxArea = try rules.double("min_box_area") ?? 0
        guard (0...1).contains(minBoxArea) else { throw rules.error("min_box_area", "must be between 0 and 1, got \(minBoxArea)") }
        self.rules = Rules(
            labels: try rules.stringList("labels") ?? ["person"],
            zones: ruleZones,
            minScore: minScore,
            minBoxArea: minBoxArea,
            cooldown: try rules.duration("cooldown", default: .seconds(120), in: .zero...(.seconds(86_400))),
            quietHours: try Self.quietHours(rules)
        )

        var targets: [AlertTarget] = []
        if let node = mapping["alert_targets"] {
            guard case .sequence(let items, _) = node else { throw mapping.error("alert_targets", "must be a list of { url, secret }") }
            for (index, item) in items.enumerated() {
                let target = try ConfigMapping(item, path: mapping.path + ["alert_targets", "[\(index)]"], fallbackOrigin: item.origin)
                try target.rejectUnknownKeys(["url", "secret"])
                guard let url = try target.string("url") else { throw target.error("url", "is required") }
                guard let parsed = URL(string: url), ["http", "https"].contains(parsed.scheme?.lowercased() ?? ""), parsed.host?.isEmpty == false else {
                    throw target.error("url", "must be an http or https URL, got '\(CameraConfig.redacted(url))'")
                }
                targets.append(AlertTarget(url: url, secret: try target.string("secret")))
            }
        }
        self.alertTargets = targets

        let speech = try mapping.mapping("speech")
        try speech.rejectUnknownKeys(["enabled", "voice"])
        self.speech = Speech(enabled: try speech.bool("enabled", default: false), voice: try speech.string("voice") ?? "default")

        let timeZone = try mapping.string("time_zone") ?? TimeZone.current.identifier
        guard TimeZone(identifier: timeZone) != nil else {
            throw mapping.error("time_zone", "must be an IANA time zone such as Europe/London, got '\(timeZone)'")
        }
        self.timeZone = timeZone
        let locale = try mapping.string("locale") ?? "en"
        guard !locale.isEmpty, locale.count <= 35, locale.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "-" || $0 == "_" }) else {
            throw mapping.error("locale", "must be a locale identifier such as en-GB, got '\(locale)'")
        }
        self.locale = locale

        let rate = try mapping.mapping("rate_limit")
        try rate.rejectUnknownKeys(["events_per_second", "burst"])
        let perSecond = try rate.double("events_per_second") ?? 5
        guard perSecond > 0, perSecond <= 100_000 else {
            throw rate.error("events_per_second", "must be more than 0 and at most 100000, got \(perSecond)")
        }
        self.rateLimit = RateLimit(eventsPerSecond: perSecond, burst: try rate.int("burst", default: 20, in: 1...100_000))

        if mapping["ask_helpers"] != nil {
            let ask = try mapping.mapping("ask_helpers")
            try ask.rejectUnknownKeys(["below_score"])
            guard let belowScore = try ask.double("below_score"), belowScore > 0, belowScore <= 1 else {
                throw ask.error("below_score", "is required: the score (above 0, at most 1) below which an alert asks a helper first")
            }
            self.askHelpers = AskHelpers(belowScore: belowScore)
        }
    }

    /// `[[x, y], …]` with at least three points, each coordinate in 0…1.
    private static func polygon(_ mapping: ConfigMapping, _ key: String) throws(ConfigError) -> [Point] {
        let reason = "must be a list of at least three [x, y] points with coordinates between 0 and 1"
        guard case .sequence(let items, _)? = mapping[key], items.count >= 3 else { throw mapping.error(key, reason) }
        var points: [Point] = []
        for item in items {
            guard case .sequence(let pair, _) = item, pair.count == 2,
                case .scalar(let xText, _, _) = pair[0], case .scalar(let yText, _, _) = pair[1],
                let x = Double(xText), let y = Double(yText), (0...1).contains(x), (0...1).contains(y)
            else { throw mapping.error(key, reason, at: item) }
            points.append(Point(x: x, y: y))
        }
        return points
    }

    private static func quietHours(_ rules: ConfigMapping) throws(ConfigError) -> [QuietHours] {
        guard let node = rules["quiet_hours"] else { return [] }
        let reason = "must be a list of { from: \"HH:MM\", to: \"HH:MM\" }"
        guard case .sequence(let items, _) = node else { throw rules.error("quiet_hours", reason) }
        var result: [QuietHours] = []
        for (index, item) in items.enumerated() {
            let range = try ConfigMapping(item, path: rules.path + ["quiet_hours", "[\(index)]"], fallbackOrigin: item.origin)
            try range.rejectUnknownKeys(["from", "to"])
            var minutes: [Int] = []
            for key in ["from", "to"] {
                guard let text = try range.string(key), let value = Self.minutesAfterMidnight(text) else {
                    throw range.error(key, "must be a time of day such as \"23:00\"")
                }
                minutes.append(value)
            }
            result.append(QuietHours(from: minutes[0], to: minutes[1]))
        }
        return result
    }

    static func minutesAfterMidnight(_ text: String) -> Int? {
        let parts = text.split(separator: ":")
        guard parts.count == 2, parts[0].count <= 2, parts[1].count == 2, let hours = Int(parts[0]), let minutes = Int(parts[1]),
            (0...23).contains(hours), (0...59).contains(minutes)
        else { return nil }
        return hours * 60 + minutes
    }

    /// Camera ids appear in URLs and environment variable names.
    static func isValidID(_ id: String) -> Bool {
        FunctionHost.isValidName(id)
    }
}

/// Where camera events are kept and for how long, from the `camera_events:`
/// mapping of the deployment file.
///
/// ```yaml
/// data_directory: data            # the service's own files; relative to the config file
/// camera_events:
///   database: cameras.sqlite      # relative to data_directory
///   max_body_size: 10MiB          # per event request
///   idempotency_window: 24h       # how long a repeated event is recognised
///   snapshots: { max_per_camera: 1000, max_age: 7d }
///   max_event_age: 30d            # older events and their detections are deleted
///   processing: { enabled: true, max_attempts: 5 }
/// ```
///
/// `processing.enabled: false` makes an ingest-only service: events are
/// accepted and stored, and another replica on the same database (or this
/// one after a restart) processes them.
public struct CameraStoreConfig: Sendable, Equatable {
    public var databasePath: String
    public var maxBodySize: Int
    public var idempotencyWindow: Duration
    public var maxSnapshotsPerCamera: Int
    public var maxSnapshotAge: Duration
    public var maxEventAge: Duration
    public var processingEnabled: Bool
    public var maxAttempts: Int

    public init(databasePath: String) {
        self.databasePath = databasePath
        self.maxBodySize = 10 << 20
        self.idempotencyWindow = .seconds(86_400)
        self.maxSnapshotsPerCamera = 1000
        self.maxSnapshotAge = .seconds(7 * 86_400)
        self.maxEventAge = .seconds(30 * 86_400)
        self.processingEnabled = true
        self.maxAttempts = 5
    }

    init(mapping: ConfigMapping, dataDirectory: String) throws(ConfigError) {
        try mapping.rejectUnknownKeys(["database", "max_body_size", "idempotency_window", "snapshots", "max_event_age", "processing"])
        let database = try mapping.string("database") ?? "cameras.sqlite"
        self.init(databasePath: database.hasPrefix("/") ? database : dataDirectory + "/" + database)
        let year = Duration.seconds(366 * 86_400)
        self.maxBodySize = try mapping.byteCount("max_body_size", default: maxBodySize, in: 1024...(1 << 30))
        self.idempotencyWindow = try mapping.duration("idempotency_window", default: idempotencyWindow, in: .seconds(1)...year)
        let snapshots = try mapping.mapping("snapshots")
        try snapshots.rejectUnknownKeys(["max_per_camera", "max_age"])
        self.maxSnapshotsPerCamera = try snapshots.int("max_per_camera", default: maxSnapshotsPerCamera, in: 0...10_000_000)
        self.maxSnapshotAge = try snapshots.duration("max_age", default: maxSnapshotAge, in: .zero...year)
        self.maxEventAge = try mapping.duration("max_event_age", default: maxEventAge, in: .seconds(60)...(year * 10))
        let processing = try mapping.mapping("processing")
        try processing.rejectUnknownKeys(["enabled", "max_attempts"])
        self.processingEnabled = try processing.bool("enabled", default: true)
        self.maxAttempts = try processing.int("max_attempts", default: maxAttempts, in: 1...1000)
    }
}
