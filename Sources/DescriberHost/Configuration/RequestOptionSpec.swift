import DescriberConfiguration

/// The declaration of one per-request option in a manifest's
/// `request_options`. Query parameters are checked against these before a
/// request is queued, so a function only ever sees values within its bounds.
///
/// ```yaml
/// request_options:
///   upper: { type: bool }
///   repeat: { type: integer, min: 1, max: 8 }
///   voice: { type: string, values: [default, fast] }
/// ```
public struct RequestOptionSpec: Sendable, Equatable {
    public enum Kind: String, Sendable, Equatable { case bool, integer, number, string }

    public var kind: Kind
    public var minimum: Double?
    public var maximum: Double?
    /// For strings: the allowed values, if restricted.
    public var allowedValues: [String]?
    /// For strings: the longest value accepted.
    public var maxLength: Int

    init(_ mapping: ConfigMapping) throws(ConfigError) {
        try mapping.rejectUnknownKeys(["type", "min", "max", "values", "max_length"])
        guard let typeName = try mapping.string("type") else {
            throw mapping.error("type", "is required (bool, integer, number or string)")
        }
        guard let kind = Kind(rawValue: typeName) else {
            throw mapping.error("type", "must be bool, integer, number or string, got '\(typeName)'")
        }
        self.kind = kind
        self.minimum = try mapping.double("min")
        self.maximum = try mapping.double("max")
        self.allowedValues = try mapping.stringList("values")
        self.maxLength = try mapping.int("max_length", default: 1024, in: 1...1_048_576)
        if let minimum, let maximum, minimum > maximum {
            throw mapping.error("min", "must not be greater than max")
        }
    }

    /// Parses and checks one query value, or explains what is wrong with it.
    public func value(for name: String, from text: String) -> Result<JSONValue, InvocationError> {
        func bad(_ reason: String) -> Result<JSONValue, InvocationError> {
            .failure(InvocationError(.badOption, "option '\(name)' \(reason)"))
        }
        switch kind {
        case .bool:
            switch text.lowercased() {
            // A bare `?upper` (no value) switches the option on.
            case "", "true", "1", "yes": return .success(.bool(true))
            case "false", "0", "no": return .success(.bool(false))
            default: return bad("must be true or false, got '\(text)'")
            }
        case .integer:
            guard let value = Int(text) else { return bad("must be a whole number, got '\(text)'") }
            if let minimum, Double(value) < minimum { return bad("must be at least \(Self.format(minimum)), got \(value)") }
            if let maximum, Double(value) > maximum { return bad("must be at most \(Self.format(maximum)), got \(value)") }
            return .success(.int(value))
        case .number:
            guard let value = Double(text), value.isFinite else { return bad("must be a number, got '\(text)'") }
            if let minimum, value < minimum { return bad("must be at least \(Self.format(minimum)), got \(text)") }
            if let maximum, value > maximum { return bad("must be at most \(Self.format(maximum)), got \(text)") }
            return .success(.double(value))
        case .string:
            if text.utf8.count > maxLength { return bad("must be at most \(maxLength) bytes long") }
            if let allowedValues, !allowedValues.contains(text) {
                return bad("must be one of \(allowedValues.joined(separator: ", ")), got '\(text)'")
            }
            return .success(.string(text))
        }
    }

    private static func format(_ value: Double) -> String {
        value == value.rounded() && abs(value) < 1e15 ? String(Int(value)) : String(value)
    }

    /// A JSON description for `GET /v1/functions/{name}`.
    var json: JSONValue {
        var members: [String: JSONValue] = ["type": .string(kind.rawValue)]
        if let minimum { members["min"] = .double(minimum) }
        if let maximum { members["max"] = .double(maximum) }
        if let allowedValues { members["values"] = .array(allowedValues.map(JSONValue.string)) }
        if kind == .string { members["max_length"] = .int(maxLength) }
        return .object(members)
    }
}
