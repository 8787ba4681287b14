import Describing
import Foundation

/// A photo someone asked a person about, and what came of it.
public struct AssistQuestion: Sendable, Equatable {
    public enum Status: String, Sendable, Codable {
        case waiting, answered, expired, cancelled

        /// Nothing more happens to a question once it has ended.
        public var isFinal: Bool { self != .waiting }
    }

    public var id: String
    public var status: Status
    /// What kind of answer is wanted: words, or a yes or a no (a camera's alert).
    public var kind: Kind
    /// What the asker wants to know, if they said.
    public var question: String?
    public var askedAt: Date
    public var expiresAt: Date
    /// The machine's own description of the photo, which the helper sees;
    /// nil when describing failed.
    public var draft: Draft?
    public var answer: Answer?
    /// What the helper marked, beside their words: the labelled data.
    public var labels: Labels?
    /// Whether the photo is still stored.
    public var hasPhoto: Bool

    public enum Kind: String, Sendable, Codable {
        /// Anything the asker wants to know, answered in words.
        case open
        /// A yes or a no decides something (whether a camera's alert is sent);
        /// the helper's page offers the two as buttons.
        case yesNo = "yes_no"
    }

    /// The parts of the machine's ``Description`` a helper needs.
    public struct Draft: Sendable, Equatable, Codable {
        public var spokenText: String
        public var usable: Bool
        public var problems: [String]
        public var objects: [DetectedObject]

        public init(_ description: Description) {
            spokenText = description.spokenText
            usable = description.usable
            problems = description.problems
            objects = description.objects ?? []
        }

        enum CodingKeys: String, CodingKey { case spokenText = "spoken_text", usable, problems, objects }
    }

    public struct Answer: Sendable, Equatable, Codable {
        public var text: String
        /// The helper's display name.
        public var helper: String
        public var answeredAt: Date

        enum CodingKeys: String, CodingKey { case text, helper, answeredAt = "answered_at" }
    }

    /// What a helper may mark about the photo, beside the answer in words:
    /// which of the machine's labels are there and which are not, its text,
    /// and its quality. `describer assist export` turns them into an
    /// evaluation set's expectations.
    public struct Labels: Sendable, Equatable, Codable {
        public var present: [String]
        public var absent: [String]
        public var text: String?
        public var quality: Quality?

        public enum Quality: String, Sendable, Codable, CaseIterable {
            case usable, dark, bright, blurry, small
        }

        public init(present: [String] = [], absent: [String] = [], text: String? = nil, quality: Quality? = nil) {
            self.present = present
            self.absent = absent
            self.text = text
            self.quality = quality
        }

        public init(from decoder: any Decoder) throws {
            let container = try decoder.container(keyedBy: CodingKeys.self)
            present = try container.decodeIfPresent([String].self, forKey: .present) ?? []
            absent = try container.decodeIfPresent([String].self, forKey: .absent) ?? []
            text = try container.decodeIfPresent(String.self, forKey: .text)
            quality = try container.decodeIfPresent(Quality.self, forKey: .quality)
        }

        enum CodingKeys: String, CodingKey { case present, absent, text, quality }

        static let maxLabels = 100
        static let maxLabelLength = 64
    }
}

extension AssistQuestion: Encodable {
    enum CodingKeys: String, CodingKey {
        case id, status, kind, question, askedAt = "asked_at", expiresAt = "expires_at", draft, answer, labels
    }

    /// The question as the API answers it: `labels` only for helpers
    /// (``HelperView``), never the photo itself.
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(id, forKey: .id)
        try container.encode(status, forKey: .status)
        try container.encode(kind, forKey: .kind)
        try container.encode(question, forKey: .question)
        try container.encode(askedAt, forKey: .askedAt)
        try container.encode(expiresAt, forKey: .expiresAt)
        try container.encode(draft, forKey: .draft)
        try container.encode(answer, forKey: .answer)
    }

    /// A waiting question as a helper sees it, with where its photo is.
    struct HelperView: Encodable {
        var question: AssistQuestion

        enum CodingKeys: String, CodingKey { case photoURL = "photo_url" }

        func encode(to encoder: any Encoder) throws {
            try question.encode(to: encoder)
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encode("/v1/assist/\(question.id)/photo", forKey: .photoURL)
        }
    }

    /// Sorted keys, and times as RFC 3339 in UTC to the second.
    static var encoder: JSONEncoder {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        encoder.dateEncodingStrategy = .iso8601
        return encoder
    }
}
