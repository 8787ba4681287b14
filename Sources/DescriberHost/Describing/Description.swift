/// What `speak-this-image` says and `POST /v1/describe` answers: the words
/// to speak, the parts they were made from, and the quality verdict.
public struct Description: Sendable, Codable, Equatable {
    /// The whole description as it is spoken: the verdict first when the
    /// photo is unusable, otherwise the scene, then any text read from it.
    public var spokenText: String
    /// Whether the photo was good enough to describe. When it was not, the
    /// spoken text says why and what to do; no scene is guessed.
    public var usable: Bool
    /// The problems found ("too dark", "too blurry", …), empty when usable.
    public var problems: [String]
    /// Each describing function's contribution, in the order spoken.
    public var parts: [Part]
    /// Milliseconds per function, and in total.
    public var timings: [String: Double]

    public struct Part: Sendable, Codable, Equatable {
        /// The function that produced it, e.g. `caption` or `ocr`.
        public var function: String
        public var text: String
    }

    enum CodingKeys: String, CodingKey {
        case spokenText = "spoken_text", usable, problems, parts, timings
    }
}

/// How much to say.
public enum Verbosity: String, Sendable, CaseIterable, Codable {
    case brief, normal, detailed
}
