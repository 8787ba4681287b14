/// A configuration value that cannot be used: names the file (or environment
/// variable), the key and the reason.
public struct ConfigError: Error, Sendable, Equatable, CustomStringConvertible {
    public var origin: ConfigOrigin
    /// The dotted key path, e.g. `scaling.max_instances`.
    public var key: String?
    public var reason: String

    public init(origin: ConfigOrigin, key: String?, reason: String) {
        self.origin = origin
        self.key = key
        self.reason = reason
    }

    public var description: String {
        if let key, !key.isEmpty { return "\(origin): \(key) \(reason)" }
        return "\(origin): \(reason)"
    }

    static func dotted(_ path: [String]) -> String {
        path.reduce(into: "") { result, segment in
            if segment.hasPrefix("[") || result.isEmpty { result += segment } else { result += "." + segment }
        }
    }
}
