import Yams

/// Where a configuration value came from, so every error can name it.
public struct ConfigOrigin: Sendable, Hashable, CustomStringConvertible {
    /// A file path, or the name of an environment variable.
    public var source: String
    /// The 1-based line in `source`, when it is a file.
    public var line: Int?
    /// The value was marked secret (YAML's `!secret` tag) where it was
    /// written, or laid over one that was: listings, logs and error
    /// messages show it as ``ConfigNode/redacted``, never as written.
    public var isSecret: Bool

    public init(source: String, line: Int?, isSecret: Bool = false) {
        self.source = source
        self.line = line
        self.isSecret = isSecret
    }

    public var description: String {
        if let line { return "\(source):\(line)" }
        return source
    }
}

/// A parsed configuration document (a manifest, the deployment file, or the
/// environment) whose every value remembers its origin.
///
/// Layers are merged with ``overlaid(by:)``: mappings merge key by key, any
/// other value is replaced whole by the upper layer.
public indirect enum ConfigNode: Sendable {
    /// A scalar as written, with the type YAML resolved for it.
    case scalar(String, ScalarKind, ConfigOrigin)
    case sequence([ConfigNode], ConfigOrigin)
    /// Keys keep their written order.
    case mapping([(key: String, value: ConfigNode)], ConfigOrigin)

    public enum ScalarKind: Sendable { case string, int, float, bool, null }

    public var origin: ConfigOrigin {
        switch self {
        case .scalar(_, _, let origin), .sequence(_, let origin), .mapping(_, let origin): origin
        }
    }

    /// Whether the value is a secret (see ``ConfigOrigin/isSecret``).
    public var isSecret: Bool { origin.isSecret }

    /// What is shown in place of a secret value.
    public static let redacted = "(secret)"

    /// This node and everything in it, marked secret.
    public func markedSecret() -> ConfigNode {
        switch self {
        case .scalar(let text, let kind, var origin):
            origin.isSecret = true
            return .scalar(text, kind, origin)
        case .sequence(let items, var origin):
            origin.isSecret = true
            return .sequence(items.map { $0.markedSecret() }, origin)
        case .mapping(let entries, var origin):
            origin.isSecret = true
            return .mapping(entries.map { ($0.key, $0.value.markedSecret()) }, origin)
        }
    }

    /// The text of a scalar for a message: the text itself, or
    /// ``redacted`` for a secret.
    package var shownText: String {
        guard case .scalar(let text, _, _) = self, !isSecret else { return Self.redacted }
        return text
    }

    /// The value under `key`, for mappings.
    public subscript(key: String) -> ConfigNode? {
        guard case .mapping(let entries, _) = self else { return nil }
        return entries.last(where: { $0.key == key })?.value
    }

    /// This node with `upper` laid over it. A value laid over a secret one
    /// is a secret too: the file marks the key, the environment fills it.
    public func overlaid(by upper: ConfigNode) -> ConfigNode {
        guard case .mapping(var entries, let origin) = self, case .mapping(let upperEntries, _) = upper else {
            return isSecret ? upper.markedSecret() : upper
        }
        for (key, value) in upperEntries {
            if let index = entries.firstIndex(where: { $0.key == key }) {
                entries[index].value = entries[index].value.overlaid(by: value)
            } else {
                entries.append((key, isSecret ? value.markedSecret() : value))
            }
        }
        return .mapping(entries, origin)
    }

    /// An empty mapping attributed to `origin`.
    public static func emptyMapping(_ origin: ConfigOrigin) -> ConfigNode { .mapping([], origin) }
}

extension ConfigNode {
    /// Parses YAML text. `source` names the file in errors.
    public static func parseYAML(_ text: String, source: String) throws(ConfigError) -> ConfigNode {
        let node: Node?
        do {
            node = try Yams.compose(yaml: text)
        } catch {
            // Yams' own description quotes the offending line, which may hold
            // a secret: the problem and where it is, only.
            let (problem, line) = Self.describe(error)
            throw ConfigError(origin: ConfigOrigin(source: source, line: line), key: nil, reason: "is not valid YAML: \(problem)")
        }
        guard let node else { return .emptyMapping(ConfigOrigin(source: source, line: nil)) }
        return try ConfigNode(node, source: source, path: [])
    }

    private init(_ node: Node, source: String, path: [String]) throws(ConfigError) {
        let origin = ConfigOrigin(source: source, line: node.mark.map { $0.line })
        if let untagged = Self.withoutSecretTag(node) {
            self = try ConfigNode(untagged, source: source, path: path).markedSecret()
            return
        }
        switch node {
        case .scalar(let scalar):
            self = .scalar(scalar.string, ConfigNode.kind(of: scalar), origin)
        case .sequence(let sequence):
            var items: [ConfigNode] = []
            for (index, item) in sequence.enumerated() {
                items.append(try ConfigNode(item, source: source, path: path + ["[\(index)]"]))
            }
            self = .sequence(items, origin)
        case .mapping(let mapping):
            var entries: [(key: String, value: ConfigNode)] = []
            for (keyNode, valueNode) in mapping {
                guard case .scalar(let keyScalar) = keyNode else {
                    throw ConfigError(origin: origin, key: ConfigError.dotted(path), reason: "has a key that is not a plain string")
                }
                let key = keyScalar.string
                if entries.contains(where: { $0.key == key }) {
                    throw ConfigError(
                        origin: ConfigOrigin(source: source, line: keyNode.mark?.line),
                        key: ConfigError.dotted(path + [key]),
                        reason: "appears twice"
                    )
                }
                entries.append((key, try ConfigNode(valueNode, source: source, path: path + [key])))
            }
            self = .mapping(entries, origin)
        case .alias:
            throw ConfigError(origin: origin, key: ConfigError.dotted(path), reason: "uses a YAML alias, which configuration files do not support")
        }
    }

    /// A YAML error's problem and 1-based line, without the text around it.
    private static func describe(_ error: any Error) -> (problem: String, line: Int?) {
        switch error as? YamlError {
        case .scanner(let context, let problem, let mark, _), .parser(let context, let problem, let mark, _),
            .composer(let context, let problem, let mark, _):
            return ([context?.text, problem].compactMap { $0 }.filter { !$0.isEmpty }.joined(separator: ": "), mark.line)
        case .reader(let problem, _, _, _):
            return (problem, nil)
        case .duplicatedKeysInMapping(let duplicates, let context):
            // context.text is the mapping's own text: not shown.
            return ("\(duplicates.map { "'\($0)'" }.joined(separator: ", ")) appears more than once in a mapping", context.mark.line)
        default:
            return ("the text cannot be read", nil)
        }
    }

    /// The YAML tag that marks a value secret: `token: !secret "…"`.
    static let secretTag = "!secret"

    /// `node` without its `!secret` tag, typed as it would be untagged; nil
    /// when it has no such tag. The tag as written is read, not the one
    /// Yams resolves, which would be a standard type.
    private static func withoutSecretTag(_ node: Node) -> Node? {
        switch node {
        case .scalar(var scalar) where scalar.tag.rawValue == secretTag:
            scalar.tag = Tag(.implicit)
            return .scalar(scalar)
        case .sequence(var sequence) where sequence.tag.rawValue == secretTag:
            sequence.tag = Tag(.implicit)
            return .sequence(sequence)
        case .mapping(var mapping) where mapping.tag.rawValue == secretTag:
            mapping.tag = Tag(.implicit)
            return .mapping(mapping)
        default: return nil
        }
    }

    /// Resolves the YAML 1.1 core types the same way for files and for
    /// environment variables, so `MAX_INSTANCES=4` means the number 4.
    static func kind(of scalar: Node.Scalar) -> ScalarKind {
        if scalar.style != .plain { return .string }
        if scalar.string.isEmpty || scalar.string == "~" || scalar.string == "null" { return .null }
        if Bool.construct(from: scalar) != nil { return .bool }
        if Int.construct(from: scalar) != nil { return .int }
        if Double.construct(from: scalar) != nil { return .float }
        return .string
    }

    /// A scalar read from an environment variable, typed like a plain YAML scalar.
    static func environmentScalar(_ value: String, variable: String) -> ConfigNode {
        let scalar = Node.Scalar(value, .implicit, .plain)
        return .scalar(value, kind(of: scalar), ConfigOrigin(source: "environment variable \(variable)", line: nil))
    }
}

extension ConfigNode {
    /// Builds the overlay that environment variables make.
    ///
    /// `DESCRIBER_` followed by path segments joined with `__` names a key:
    /// `DESCRIBER_SERVER__PORT=9000` sets `server.port`, and
    /// `DESCRIBER_FUNCTIONS__ECHO__SCALING__MAX_INSTANCES=8` sets
    /// `functions.echo.scaling.max_instances`. Segments are lower-cased; in the
    /// segment after one of `namedSections` (the host's `functions`, the
    /// cameras' `cameras`), `_` stands for the `-` of a function name or
    /// camera id.
    public static func environmentOverlay(
        _ environment: [String: String], prefix: String = "DESCRIBER_", namedSections: Set<String> = ["functions"]
    ) -> ConfigNode {
        var root = ConfigNode.emptyMapping(ConfigOrigin(source: "environment", line: nil))
        for (variable, value) in environment.sorted(by: { $0.key < $1.key }) where variable.hasPrefix(prefix) {
            var segments = variable.dropFirst(prefix.count).split(separator: "__", omittingEmptySubsequences: false)
                .map { $0.lowercased() }
            guard !segments.isEmpty, !segments.contains(where: \.isEmpty) else { continue }
            if segments.count >= 2, namedSections.contains(segments[0]) {
                segments[1] = segments[1].replacingOccurrences(of: "_", with: "-")
            }
            var node = environmentScalar(value, variable: variable)
            for segment in segments.reversed() {
                node = .mapping([(segment, node)], node.origin)
            }
            root = root.overlaid(by: node)
        }
        return root
    }
}

extension String {
    fileprivate func replacingOccurrences(of target: String, with replacement: String) -> String {
        split(separator: Character(target), omittingEmptySubsequences: false).joined(separator: replacement)
    }
}
