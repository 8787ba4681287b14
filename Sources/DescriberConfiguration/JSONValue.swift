/// A JSON value with one canonical serialisation: no insignificant
/// whitespace, object keys sorted, so functions can rely on the exact bytes.
public enum JSONValue: Sendable, Equatable {
    case null
    case bool(Bool)
    case int(Int)
    case double(Double)
    case string(String)
    case array([JSONValue])
    case object([String: JSONValue])

    /// The canonical UTF-8 serialisation.
    public var serialized: String {
        var output = ""
        write(into: &output)
        return output
    }

    private func write(into output: inout String) {
        switch self {
        case .null: output += "null"
        case .bool(let value): output += value ? "true" : "false"
        case .int(let value): output += String(value)
        case .double(let value): output += value.isFinite ? "\(value)" : "null"
        case .string(let value): JSONValue.writeString(value, into: &output)
        case .array(let values):
            output += "["
            for (index, value) in values.enumerated() {
                if index > 0 { output += "," }
                value.write(into: &output)
            }
            output += "]"
        case .object(let members):
            output += "{"
            // By UTF-8 bytes, as describer_function.h promises, not by Swift's
            // Unicode-aware String ordering.
            for (index, key) in members.keys.sorted(by: { $0.utf8.lexicographicallyPrecedes($1.utf8) }).enumerated() {
                if index > 0 { output += "," }
                JSONValue.writeString(key, into: &output)
                output += ":"
                members[key]!.write(into: &output)
            }
            output += "}"
        }
    }

    static func writeString(_ value: String, into output: inout String) {
        output += "\""
        for scalar in value.unicodeScalars {
            switch scalar {
            case "\"": output += "\\\""
            case "\\": output += "\\\\"
            case "\n": output += "\\n"
            case "\r": output += "\\r"
            case "\t": output += "\\t"
            case _ where scalar.value < 0x20:
                let hex = String(scalar.value, radix: 16)
                output += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
            default: output.unicodeScalars.append(scalar)
            }
        }
        output += "\""
    }
}

extension ConfigNode {
    /// The node as JSON, typed as YAML resolved its scalars.
    public var json: JSONValue {
        switch self {
        case .scalar(let text, let kind, _):
            switch kind {
            case .null: return .null
            case .bool: return .bool(["true", "yes", "on", "y"].contains(text.lowercased()))
            case .int: return Int(text).map(JSONValue.int) ?? .string(text)
            case .float: return Double(text).map(JSONValue.double) ?? .string(text)
            case .string: return .string(text)
            }
        case .sequence(let items, _): return .array(items.map(\.json))
        case .mapping(let entries, _):
            var members: [String: JSONValue] = [:]
            for (key, value) in entries { members[key] = value.json }
            return .object(members)
        }
    }

    /// The node as JSON to show: ``json`` with every secret value replaced
    /// by ``redacted``.
    public var redactedJSON: JSONValue {
        switch self {
        case .scalar where isSecret: return .string(Self.redacted)
        case .scalar: return json
        case .sequence(let items, _): return .array(items.map(\.redactedJSON))
        case .mapping(let entries, _):
            var members: [String: JSONValue] = [:]
            for (key, value) in entries { members[key] = value.redactedJSON }
            return .object(members)
        }
    }
}

extension JSONValue: Decodable {
    /// Reads any JSON document back (stored JSON, a function's answer).
    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        if container.decodeNil() {
            self = .null
        } else if let value = try? container.decode(Bool.self) {
            self = .bool(value)
        } else if let value = try? container.decode(Int.self) {
            self = .int(value)
        } else if let value = try? container.decode(Double.self) {
            self = .double(value)
        } else if let value = try? container.decode(String.self) {
            self = .string(value)
        } else if let value = try? container.decode([JSONValue].self) {
            self = .array(value)
        } else {
            self = .object(try container.decode([String: JSONValue].self))
        }
    }
}
