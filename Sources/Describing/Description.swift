/// What `speak-this-image` says and `POST /v1/describe` answers: the words
/// to speak, the parts they were made from, and the quality verdict.
public struct Description: Sendable, Codable, Equatable {
    /// The whole description as it is spoken: the quality warning first if
    /// the photo is unusable; then the scene and any text read from it, or
    /// the text first when the photo is mostly text.
    public var spokenText: String
    /// Whether the photo was good enough to describe. When it was not, the
    /// spoken text says why and what to do; no scene is guessed.
    public var usable: Bool
    /// The problems found ("too dark", "too blurry", …), empty when usable.
    public var problems: [String]
    /// Each describing function's contribution, in the order spoken. The
    /// text read (`ocr`) is its own part, verbatim, never mixed into the
    /// scene's wording.
    public var parts: [Part]
    /// What `detect` found and the scene names, with confidences and boxes;
    /// nil when nothing was looked for or the photo was unusable.
    public var objects: [DetectedObject]?
    /// Milliseconds per function, and in total.
    public var timings: [String: Double]
    /// Whether a person would do better: the photo is unusable, nothing in
    /// it was recognised or read, recognising failed, or something was
    /// named with a hedge. The web app then offers to ask one.
    public var unsure: Bool

    public struct Part: Sendable, Codable, Equatable {
        /// The function that produced it, e.g. `caption` or `ocr`.
        public var function: String
        public var text: String
    }

    enum CodingKeys: String, CodingKey {
        case spokenText = "spoken_text", usable, problems, parts, objects, timings, unsure
    }
}

/// One thing `detect` found: its COCO label, confidence (0…1) and box, in
/// fractions of the photo's width and height.
public struct DetectedObject: Sendable, Codable, Equatable {
    public var label: String
    public var confidence: Double
    public var box: Box
    /// Whether the detector named it with a hedge ("may be", "uncertain");
    /// nil from a detector that does not say.
    public var hedged: Bool?

    public struct Box: Sendable, Codable, Equatable {
        public var x, y, width, height: Double
    }
}

/// How much to say.
public enum Verbosity: String, Sendable, CaseIterable, Codable {
    case brief, normal, detailed
}
