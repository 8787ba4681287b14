/// Typed reads from one mapping of a ``ConfigNode``, with errors that name
/// the origin, the dotted key and the reason, and a check for unknown keys.
package struct ConfigMapping {
    package let entries: [(key: String, value: ConfigNode)]
    package let origin: ConfigOrigin
    package let path: [String]

    package init(_ node: ConfigNode?, path: [String], fallbackOrigin: ConfigOrigin) throws(ConfigError) {
        self.path = path
        switch node {
        case nil:
            self.entries = []
            self.origin = fallbackOrigin
        case .mapping(let entries, let origin):
            self.entries = entries
            self.origin = origin
        case .some(let other):
            throw ConfigError(origin: other.origin, key: ConfigError.dotted(path), reason: "must be a mapping of keys to values")
        }
    }

    package subscript(key: String) -> ConfigNode? { entries.last(where: { $0.key == key })?.value }

    package var keys: [String] { entries.map(\.key) }

    package func error(_ key: String, _ reason: String, at node: ConfigNode? = nil) -> ConfigError {
        ConfigError(origin: (node ?? self[key])?.origin ?? origin, key: ConfigError.dotted(path + [key]), reason: reason)
    }

    /// Refuses keys outside `known`, suggesting the valid ones.
    package func rejectUnknownKeys(_ known: [String]) throws(ConfigError) {
        for (key, value) in entries where !known.contains(key) {
            throw error(key, "is not a known key (expected one of: \(known.joined(separator: ", ")))", at: value)
        }
    }

    package func mapping(_ key: String) throws(ConfigError) -> ConfigMapping {
        try ConfigMapping(self[key], path: path + [key], fallbackOrigin: origin)
    }

    private func scalar(_ key: String) throws(ConfigError) -> (String, ConfigNode.ScalarKind, ConfigNode)? {
        guard let node = self[key] else { return nil }
        guard case .scalar(let text, let kind, _) = node else {
            throw error(key, "must be a single value, not a list or mapping")
        }
        if kind == .null { return nil }
        return (text, kind, node)
    }

    package func string(_ key: String) throws(ConfigError) -> String? {
        try scalar(key)?.0
    }

    package func bool(_ key: String, default defaultValue: Bool) throws(ConfigError) -> Bool {
        guard let (text, kind, node) = try scalar(key) else { return defaultValue }
        guard kind == .bool else { throw error(key, "must be true or false, got '\(node.shownText)'") }
        return ["true", "yes", "on", "y"].contains(text.lowercased())
    }

    package func int(_ key: String, default defaultValue: Int, in range: ClosedRange<Int>) throws(ConfigError) -> Int {
        guard let (text, kind, node) = try scalar(key) else { return defaultValue }
        guard kind == .int, let value = Int(text) else {
            throw error(key, "must be a whole number, got '\(node.shownText)'")
        }
        guard range.contains(value) else {
            throw error(key, "must be between \(range.lowerBound) and \(range.upperBound), got \(node.shownText)")
        }
        return value
    }

    package func double(_ key: String) throws(ConfigError) -> Double? {
        guard let (text, kind, node) = try scalar(key) else { return nil }
        guard kind == .int || kind == .float, let value = Double(text) else {
            throw error(key, "must be a number, got '\(node.shownText)'")
        }
        return value
    }

    /// A duration written with a unit: `250ms`, `5s`, `1.5s`, `2m`, `100us`, `7d`, or `0`.
    package func duration(_ key: String, default defaultValue: Duration, in range: ClosedRange<Duration>) throws(ConfigError) -> Duration {
        guard let (text, _, node) = try scalar(key) else { return defaultValue }
        guard let value = ConfigMapping.parseDuration(text) else {
            throw error(key, "must be a duration with a unit such as 500ms, 5s or 2m, got '\(node.shownText)'")
        }
        guard range.contains(value) else {
            throw error(key, "must be between \(ConfigMapping.format(range.lowerBound)) and \(ConfigMapping.format(range.upperBound)), got \(node.shownText)")
        }
        return value
    }

    /// A size in bytes: `1048576`, `512KiB`, `20MiB`, `20MB`, `1GiB`.
    package func byteCount(_ key: String, default defaultValue: Int, in range: ClosedRange<Int>) throws(ConfigError) -> Int {
        guard let (text, _, node) = try scalar(key) else { return defaultValue }
        guard let value = ConfigMapping.parseByteCount(text) else {
            throw error(key, "must be a size such as 1048576, 512KiB or 20MB, got '\(node.shownText)'")
        }
        guard range.contains(value) else {
            throw error(key, "must be between \(range.lowerBound) and \(range.upperBound) bytes, got \(node.shownText)")
        }
        return value
    }

    package func stringList(_ key: String) throws(ConfigError) -> [String]? {
        guard let node = self[key] else { return nil }
        switch node {
        case .scalar(let text, let kind, _) where kind != .null: return [text]
        case .scalar: return nil
        case .sequence(let items, _):
            var strings: [String] = []
            for item in items {
                guard case .scalar(let text, _, _) = item else {
                    throw error(key, "must be a list of strings")
                }
                strings.append(text)
            }
            return strings
        case .mapping: throw error(key, "must be a list of strings")
        }
    }

    package static func parseDuration(_ text: String) -> Duration? {
        let trimmed = text.trimmingWhitespace()
        if trimmed == "0" { return .zero }
        let units: [(String, Double)] = [("ms", 1e-3), ("us", 1e-6), ("µs", 1e-6), ("ns", 1e-9), ("s", 1), ("m", 60), ("h", 3600), ("d", 86_400)]
        for (suffix, scale) in units where trimmed.hasSuffix(suffix) {
            guard let number = Double(trimmed.dropLast(suffix.count)), number >= 0, number.isFinite else { return nil }
            return .nanoseconds(Int64((number * scale * 1e9).rounded()))
        }
        return nil
    }

    package static func parseByteCount(_ text: String) -> Int? {
        let trimmed = text.trimmingWhitespace()
        let units: [(String, Double)] = [
            ("KiB", 1024), ("MiB", 1024 * 1024), ("GiB", 1024 * 1024 * 1024),
            ("KB", 1000), ("MB", 1_000_000), ("GB", 1_000_000_000), ("B", 1),
        ]
        for (suffix, scale) in units where trimmed.hasSuffix(suffix) {
            guard let number = Double(trimmed.dropLast(suffix.count).trimmingWhitespace()), number >= 0 else { return nil }
            return Int((number * scale).rounded())
        }
        return Int(trimmed).flatMap { $0 >= 0 ? $0 : nil }
    }

    package static func format(_ duration: Duration) -> String {
        let (seconds, attoseconds) = duration.components
        if attoseconds == 0 { return "\(seconds)s" }
        let milliseconds = Double(seconds) * 1000 + Double(attoseconds) / 1e15
        return milliseconds >= 1 ? "\(milliseconds)ms" : "\(milliseconds * 1000)us"
    }
}

extension StringProtocol {
    package func trimmingWhitespace() -> String {
        var slice = Substring(self)
        while let first = slice.first, first.isWhitespace { slice.removeFirst() }
        while let last = slice.last, last.isWhitespace { slice.removeLast() }
        return String(slice)
    }
}
