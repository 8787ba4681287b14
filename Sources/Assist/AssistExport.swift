import Foundation

/// Writes the answered questions kept as data (`assist.keep_answers`) as an
/// evaluation set that `describer eval FOLDER` runs on: each photo, an
/// `expected.json` made from what the helper marked (the labels they
/// confirmed must be named, those they rejected must not, the text, the
/// quality), and `answers.jsonl` with everything else: the question, the
/// machine's draft, the answer in words, who gave it and when.
public enum AssistExport {
    public struct Summary: Sendable, Equatable {
        public var photos: Int
        /// Photos with at least one label, text or quality marked: the ones `eval` can score.
        public var labelled: Int
    }

    public struct ExportError: Error, CustomStringConvertible {
        public var description: String
    }

    public static func export(databasePath: String, to folder: String) async throws -> Summary {
        guard FileManager.default.fileExists(atPath: databasePath) else {
            throw ExportError(description: "there is no questions' database at \(databasePath): nothing was ever asked, or assist.database names another file")
        }
        let expectedPath = folder + "/expected.json"
        guard !FileManager.default.fileExists(atPath: expectedPath) else {
            throw ExportError(description: "\(expectedPath) exists already: export into a new or empty folder")
        }
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        let store = try AssistStore(path: databasePath)
        var images: [String: Expectation] = [:]
        var lines = Data()
        var summary = Summary(photos: 0, labelled: 0)
        let encoder = AssistQuestion.encoder
        for (question, photoType, photo) in try await store.kept() {
            let file = question.id + (photoType == "image/png" ? ".png" : ".jpg")
            try photo.write(to: URL(fileURLWithPath: folder + "/" + file), options: .atomic)
            let expectation = Expectation(question, answer: question.answer?.text ?? "")
            images[file] = expectation
            summary.photos += 1
            if expectation.isLabelled { summary.labelled += 1 }
            lines.append(try encoder.encode(Line(photo: file, question: question)))
            lines.append(UInt8(ascii: "\n"))
        }
        try lines.write(to: URL(fileURLWithPath: folder + "/answers.jsonl"), options: .atomic)
        let expected = ExpectedFile(
            source: "describer assist export: what helpers said about the photos people asked them about", images: images)
        let fileEncoder = JSONEncoder()
        fileEncoder.outputFormatting = [.sortedKeys, .prettyPrinted, .withoutEscapingSlashes]
        try fileEncoder.encode(expected).write(to: URL(fileURLWithPath: expectedPath), options: .atomic)
        return summary
    }

    struct ExpectedFile: Encodable {
        var source: String
        var images: [String: Expectation]
    }

    /// One photo's entry in `expected.json` (``Describing/Expectations``).
    struct Expectation: Encodable {
        var must: [String]
        var mustNot: [String]
        var text: String?
        var quality: String?
        /// For a person reading the file; `eval` ignores it.
        var answer: String

        init(_ question: AssistQuestion, answer: String) {
            must = question.labels?.present ?? []
            mustNot = question.labels?.absent ?? []
            text = question.labels?.text.flatMap { $0.isEmpty ? nil : $0 }
            quality = question.labels?.quality.flatMap { $0 == .usable ? nil : $0.rawValue }
            self.answer = answer
        }

        var isLabelled: Bool { !must.isEmpty || !mustNot.isEmpty || text != nil || quality != nil }

        enum CodingKeys: String, CodingKey { case must, mustNot = "must_not", text, quality, answer }
    }

    struct Line: Encodable {
        var photo: String
        var question: AssistQuestion

        enum CodingKeys: String, CodingKey { case photo, labels }

        func encode(to encoder: any Encoder) throws {
            try question.encode(to: encoder)
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encode(photo, forKey: .photo)
            try container.encode(question.labels, forKey: .labels)
        }
    }
}
