import DescriberConfiguration

/// A named set of speech settings: one `voices/NAME.yaml` file.
///
/// ```yaml
/// description: US English at 500 words per minute.
/// espeak_voice: en-us+f3   # espeak-ng voice, optionally +variant
/// rate: 500                # words per minute, 80–900 (above 450 espeak-ng uses sonic)
/// pitch: 50                # 0–100
/// range: 40                # 0–100; 0 is monotone
/// volume: 100              # 0–200
/// word_gap: 0              # extra pause between words, in 10 ms units, 0–100
/// punctuation: none        # none, some or all: which punctuation is spoken
/// ```
public struct VoiceProfile: Sendable, Equatable {
    public enum Punctuation: String, Sendable, CaseIterable { case none, some, all }

    public var name: String
    public var description: String
    public var espeakVoice: String
    public var rate: Int
    public var pitch: Int
    public var range: Int
    public var volume: Int
    public var wordGap: Int
    public var punctuation: Punctuation

    /// The bounds the `speak` function accepts; a profile or a request outside them is refused.
    public static let rates = 80...900

    /// Decodes one profile file's parsed contents.
    init(name: String, node: ConfigNode) throws(ConfigError) {
        let mapping = try ConfigMapping(node, path: [], fallbackOrigin: node.origin)
        try mapping.rejectUnknownKeys(["description", "espeak_voice", "rate", "pitch", "range", "volume", "word_gap", "punctuation"])
        self.name = name
        self.description = try mapping.string("description") ?? ""
        guard let voice = try mapping.string("espeak_voice") else {
            throw mapping.error("espeak_voice", "is required (an espeak-ng voice such as en-us or en-us+f3)")
        }
        guard Self.isEspeakVoiceName(voice) else {
            throw mapping.error("espeak_voice", "must be letters, digits, '-', '_' and '+' only, got '\(voice)'")
        }
        self.espeakVoice = voice
        self.rate = try mapping.int("rate", default: 175, in: Self.rates)
        self.pitch = try mapping.int("pitch", default: 50, in: 0...100)
        self.range = try mapping.int("range", default: 50, in: 0...100)
        self.volume = try mapping.int("volume", default: 100, in: 0...200)
        self.wordGap = try mapping.int("word_gap", default: 0, in: 0...100)
        let punctuation = try mapping.string("punctuation") ?? "none"
        guard let parsed = Punctuation(rawValue: punctuation) else {
            throw mapping.error("punctuation", "must be none, some or all, got '\(punctuation)'")
        }
        self.punctuation = parsed
    }

    /// The `speak` function's request options for this profile, with an optional rate override.
    func requestOptions(rate override: Int? = nil) -> [(String, String)] {
        [
            ("voice", espeakVoice),
            ("rate", String(override ?? rate)),
            ("pitch", String(pitch)),
            ("range", String(range)),
            ("volume", String(volume)),
            ("word_gap", String(wordGap)),
            ("punctuation", punctuation.rawValue),
        ]
    }

    package var json: JSONValue {
        .object([
            "name": .string(name),
            "description": .string(description),
            "espeak_voice": .string(espeakVoice),
            "rate": .int(rate),
            "pitch": .int(pitch),
            "range": .int(range),
            "volume": .int(volume),
            "word_gap": .int(wordGap),
            "punctuation": .string(punctuation.rawValue),
        ])
    }

    static func isEspeakVoiceName(_ name: String) -> Bool {
        !name.isEmpty && name.utf8.count <= 64
            && name.unicodeScalars.allSatisfy { $0.isASCII && ($0.properties.isAlphabetic || ("0"..."9").contains($0) || "-_+".unicodeScalars.contains($0)) }
    }
}
