import Foundation

/// What a folder of evaluation photos should be described as: the
/// `expected.json` next to them (see ../shared/fixtures/expected.json).
///
/// ```json
/// {"images": {"dog.jpg": {"must": ["dog", "bicycle"], "may": ["car"], "must_not": ["cat"]},
///             "page.png": {"text": "Region-based segmentation\n…"},
///             "text_motion.jpg": {"quality": "blurry"}}}
/// ```
/// Labels are `detect`'s COCO labels. Other top-level keys are ignored.
public struct Expectations: Sendable, Decodable, Equatable {
    public var images: [String: Image]

    public struct Image: Sendable, Decodable, Equatable {
        /// Objects the description must name.
        public var must: [String]
        /// Objects it may name without being wrong (reported, never scored).
        public var may: [String]
        /// Objects it must not claim: naming one is a hallucination.
        public var mustNot: [String]
        /// The text in the photo, when it has any worth reading.
        public var text: String?
        /// The expected quality problem ("blurry", "dark"…); nil: usable.
        public var quality: String?

        enum CodingKeys: String, CodingKey { case must, may, mustNot = "must_not", text, quality }

        public init(from decoder: any Decoder) throws {
            let container = try decoder.container(keyedBy: CodingKeys.self)
            must = try container.decodeIfPresent([String].self, forKey: .must) ?? []
            may = try container.decodeIfPresent([String].self, forKey: .may) ?? []
            mustNot = try container.decodeIfPresent([String].self, forKey: .mustNot) ?? []
            text = try container.decodeIfPresent(String.self, forKey: .text)
            quality = try container.decodeIfPresent(String.self, forKey: .quality)
        }
    }

    /// An expectations file is small; anything bigger is a mistake.
    public static let maxFileBytes = 1 << 20
    /// At most this many photos per evaluation.
    public static let maxImages = 10_000

    /// Reads and checks `path`: its size, its JSON, and that every photo is
    /// named by a plain file name (no folders, so nothing outside the folder
    /// is ever read).
    public static func load(path: String) throws(EvaluationError) -> Expectations {
        guard let attributes = try? FileManager.default.attributesOfItem(atPath: path), let size = attributes[.size] as? Int else {
            throw EvaluationError(.unreadableExpectations, "There is no expectations file at \(path).")
        }
        guard size <= maxFileBytes else {
            throw EvaluationError(.unreadableExpectations, "\(path) is \(size) bytes; an expectations file may be at most \(maxFileBytes).")
        }
        guard let data = FileManager.default.contents(atPath: path) else {
            throw EvaluationError(.unreadableExpectations, "\(path) cannot be read.")
        }
        let expectations: Expectations
        do {
            expectations = try JSONDecoder().decode(Expectations.self, from: data)
        } catch {
            throw EvaluationError(.unreadableExpectations, "\(path) is not an expectations file: \(Self.reason(error)).")
        }
        guard expectations.images.count <= maxImages else {
            throw EvaluationError(.unreadableExpectations, "\(path) names \(expectations.images.count) photos; at most \(maxImages) can be evaluated at once.")
        }
        for name in expectations.images.keys where name.isEmpty || name.contains("/") || name == "." || name == ".." {
            throw EvaluationError(.unreadableExpectations, "\(path) names '\(name)'; photos are named by their file name in the folder, without any path.")
        }
        return expectations
    }

    static func reason(_ error: any Error) -> String {
        switch error as? DecodingError {
        case .typeMismatch(_, let context), .valueNotFound(_, let context), .keyNotFound(_, let context), .dataCorrupted(let context):
            let path = context.codingPath.map(\.stringValue).joined(separator: ".")
            return (path.isEmpty ? "" : "at \(path): ") + context.debugDescription
        default:
            return "\(error)"
        }
    }
}

/// Why an evaluation could not run.
public struct EvaluationError: Error, Sendable, Equatable, CustomStringConvertible {
    public enum Code: String, Sendable {
        case unreadableExpectations = "unreadable_expectations"
        case unreadableFolder = "unreadable_folder"
        case noDescribingFunctions = "no_describing_functions"
    }

    public var code: Code
    public var message: String

    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { message }
}
