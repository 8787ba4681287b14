import DescriberHost
import Foundation
import NIOCore

/// How well the describing functions describe a folder of photos with known
/// contents: `describer eval FOLDER`. Every photo is described exactly as
/// `speak-this-image` and `POST /v1/describe` would, and scored against its
/// ``Expectations`` with the same rules for every photo.
public struct Evaluation: Sendable, Codable {
    public var folder: String
    /// The describing functions that ran.
    public var functions: [String]
    /// Timed descriptions per photo; latency is their median.
    public var runs: Int
    public var images: [ImageResult]
    public var overall: Overall
    /// Photos in the folder that `expected.json` does not mention, so not scored.
    public var unscored: [String]

    public struct ImageResult: Sendable, Codable {
        public var name: String
        /// Why the photo could not be described, if it could not.
        public var error: String?
        public var spokenText: String?
        /// The labels the description names, most confident first.
        public var named: [String]
        public var mustMentioned: [String]
        public var mustMissed: [String]
        /// Hallucinations: labels named that `must_not` forbids.
        public var mustNotClaimed: [String]
        public var mustNotChecked: Int
        public var quality: QualityCheck
        public var ocr: OCRCheck?
        /// Median wall time of one whole description, in milliseconds.
        public var latencyMs: Double?
        /// Per function and in total, from the last run.
        public var timings: [String: Double]
    }

    public struct QualityCheck: Sendable, Codable {
        /// "usable", or the expected problem ("blurry").
        public var expected: String
        /// "usable", or the problems found ("too blurry").
        public var verdict: String
        public var matches: Bool
    }

    public struct OCRCheck: Sendable, Codable {
        /// "scored", "ocr not installed" or "too long to score".
        public var status: String
        public var characterErrorRate: Double?
        /// What was read, verbatim.
        public var read: String?
    }

    public struct Overall: Sendable, Codable {
        public var imagesScored: Int
        public var failures: Int
        public var mustMentioned: Int
        public var mustTotal: Int
        public var mustNotClaimed: Int
        public var mustNotTotal: Int
        public var qualityMatches: Int
        public var qualityTotal: Int
        /// Photos whose expectations give text, and how many of them were scored.
        public var textImages: Int
        public var textScored: Int
        public var ocrInstalled: Bool
        /// Mean over the scored photos.
        public var meanCharacterErrorRate: Double?
        public var latencyP50Ms: Double?
        public var latencyMaxMs: Double?
    }
}

/// Runs an ``Evaluation``, at normal verbosity: the scene's first sentence
/// then names every object `detect` found, so the objects scored are the
/// objects spoken.
public struct Evaluator: Sendable {
    public let describer: ImageDescriber
    public var runs: Int

    /// At most this many timed runs per photo.
    public static let maxRuns = 100

    public init(describer: ImageDescriber, runs: Int = 3) {
        self.describer = describer
        self.runs = min(max(runs, 1), Self.maxRuns)
    }

    public func evaluate(folder: String, expectations: Expectations) async throws(EvaluationError) -> Evaluation {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: folder, isDirectory: &isDirectory), isDirectory.boolValue,
            let files = try? FileManager.default.contentsOfDirectory(atPath: folder)
        else {
            throw EvaluationError(.unreadableFolder, "\(folder) is not a folder that can be read.")
        }
        let functions = describer.installedFunctions
        guard !functions.isEmpty else {
            throw EvaluationError(
                .noDescribingFunctions, "No describing functions are installed (looked for \(ImageDescriber.list(ImageDescriber.describingFunctions))).")
        }
        let names = expectations.images.keys.sorted()
        let photos = names.map { (name: $0, bytes: Self.read(folder + "/" + $0)) }
        // One untimed description first, so that no photo pays for the
        // instances' cold start (the model loads) in its latency.
        if case .success(let bytes)? = photos.first(where: { (try? $0.bytes.get()) != nil })?.bytes {
            _ = try? await describer.describe(bytes)
        }
        var results: [Evaluation.ImageResult] = []
        for photo in photos {
            results.append(await evaluate(photo.name, photo.bytes, expectations.images[photo.name]!, ocrInstalled: functions.contains("ocr")))
        }
        let unscored = files.filter { file in
            expectations.images[file] == nil && ["jpg", "jpeg", "png"].contains(URL(fileURLWithPath: file).pathExtension.lowercased())
        }.sorted()
        return Evaluation(
            folder: folder, functions: functions, runs: runs, images: results,
            overall: Self.overall(results, ocrInstalled: functions.contains("ocr")), unscored: unscored
        )
    }

    func evaluate(
        _ name: String, _ bytes: Result<ByteBuffer, EvaluationError>, _ expected: Expectations.Image, ocrInstalled: Bool
    ) async -> Evaluation.ImageResult {
        var description: Description?
        var failure: String?
        var latencies: [Double] = []
        switch bytes {
        case .failure(let error):
            failure = error.message
        case .success(let image):
            for _ in 0..<runs {
                let started = ContinuousClock.now
                do throws(DescribeError) {
                    description = try await describer.describe(image)
                    latencies.append((ContinuousClock.now - started).milliseconds)
                } catch {
                    description = nil
                    failure = error.message
                    break
                }
            }
        }
        var named: [String] = []
        for object in description?.objects ?? [] where !named.contains(object.label) { named.append(object.label) }
        let expectedQuality = expected.quality ?? "usable"
        let verdict = description.map { $0.usable ? "usable" : $0.problems.joined(separator: ", ") } ?? "not described"
        let qualityMatches =
            description.map { description in
                guard let problem = expected.quality else { return description.usable }
                // "blurry" is met by "too blurry": the expected word among the problems' words.
                return !description.usable && description.problems.contains { $0.split(separator: " ").contains(Substring(problem)) }
            } ?? false
        var ocr: Evaluation.OCRCheck?
        if let text = expected.text {
            if !ocrInstalled {
                ocr = Evaluation.OCRCheck(status: "ocr not installed")
            } else {
                let read = description?.parts.first { $0.function == "ocr" }?.text ?? ""
                let rate = CharacterErrorRate.of(read, reference: text)
                ocr = Evaluation.OCRCheck(status: rate == nil ? "too long to score" : "scored", characterErrorRate: rate, read: read)
            }
        }
        return Evaluation.ImageResult(
            name: name, error: failure, spokenText: description?.spokenText, named: named,
            mustMentioned: expected.must.filter(named.contains), mustMissed: expected.must.filter { !named.contains($0) },
            mustNotClaimed: expected.mustNot.filter(named.contains), mustNotChecked: expected.mustNot.count,
            quality: Evaluation.QualityCheck(expected: expectedQuality, verdict: verdict, matches: qualityMatches),
            ocr: ocr, latencyMs: latencies.isEmpty ? nil : Self.median(latencies), timings: description?.timings ?? [:]
        )
    }

    static func overall(_ results: [Evaluation.ImageResult], ocrInstalled: Bool) -> Evaluation.Overall {
        let rates = results.compactMap { $0.ocr?.characterErrorRate }
        let latencies = results.compactMap(\.latencyMs)
        return Evaluation.Overall(
            imagesScored: results.count,
            failures: results.filter { $0.error != nil }.count,
            mustMentioned: results.map(\.mustMentioned.count).reduce(0, +),
            mustTotal: results.map { $0.mustMentioned.count + $0.mustMissed.count }.reduce(0, +),
            mustNotClaimed: results.map(\.mustNotClaimed.count).reduce(0, +),
            mustNotTotal: results.map(\.mustNotChecked).reduce(0, +),
            qualityMatches: results.filter(\.quality.matches).count,
            qualityTotal: results.count,
            textImages: results.filter { $0.ocr != nil }.count,
            textScored: rates.count,
            ocrInstalled: ocrInstalled,
            meanCharacterErrorRate: rates.isEmpty ? nil : rates.reduce(0, +) / Double(rates.count),
            latencyP50Ms: latencies.isEmpty ? nil : median(latencies),
            latencyMaxMs: latencies.max()
        )
    }

    static func read(_ path: String) -> Result<ByteBuffer, EvaluationError> {
        guard let attributes = try? FileManager.default.attributesOfItem(atPath: path), let size = attributes[.size] as? Int else {
            return .failure(EvaluationError(.unreadableFolder, "the file is missing"))
        }
        guard size <= HostConfig.defaultBodyLimit else {
            return .failure(EvaluationError(.unreadableFolder, "the file is \(size) bytes, over the \(HostConfig.defaultBodyLimit)-byte limit for a photo"))
        }
        guard let data = FileManager.default.contents(atPath: path) else {
            return .failure(EvaluationError(.unreadableFolder, "the file cannot be read"))
        }
        return .success(ByteBuffer(bytes: data))
    }

    static func median(_ values: [Double]) -> Double { values.sorted()[values.count / 2] }
}

extension Evaluation {
    /// The plain-text report: one block per photo, then the totals.
    public var report: String {
        var lines = [
            "Evaluated \(Self.photos(images.count)) in \(folder) with \(ImageDescriber.list(functions))"
                + (functions.contains("ocr") ? "" : " (ocr not installed)") + "; latency is "
                + (runs == 1 ? "one warm run." : "the median of \(runs) warm runs."), "",
        ]
        for image in images {
            lines.append("\(image.name)" + (image.latencyMs.map { "  \(Self.format($0)) ms" } ?? ""))
            if let error = image.error { lines.append("  error:    \(error)") }
            if let spoken = image.spokenText { lines.append("  said:     \(spoken.replacingOccurrences(of: "\n", with: " / "))") }
            lines.append("  named:    \(image.named.isEmpty ? "nothing" : image.named.joined(separator: ", "))")
            let total = image.mustMentioned.count + image.mustMissed.count
            if total > 0 {
                lines.append(
                    "  must:     \(image.mustMentioned.count)/\(total) mentioned"
                        + (image.mustMissed.isEmpty ? "" : "; missed \(image.mustMissed.joined(separator: ", "))"))
            }
            if image.mustNotChecked > 0 {
                lines.append(
                    "  must_not: \(image.mustNotClaimed.count)/\(image.mustNotChecked) claimed"
                        + (image.mustNotClaimed.isEmpty ? "" : ": \(image.mustNotClaimed.joined(separator: ", "))"))
            }
            lines.append("  quality:  \(image.quality.verdict) (expected \(image.quality.expected)) \(image.quality.matches ? "ok" : "WRONG")")
            if let ocr = image.ocr {
                lines.append("  ocr:      " + (ocr.characterErrorRate.map { "character error rate \(Self.percent($0))" } ?? ocr.status))
            }
        }
        lines.append("")
        lines.append("overall (\(Self.photos(overall.imagesScored))\(overall.failures > 0 ? ", \(overall.failures) not described" : ""))")
        lines.append("  must mentioned:       \(overall.mustMentioned)/\(overall.mustTotal)")
        lines.append("  must_not claimed:     \(overall.mustNotClaimed)/\(overall.mustNotTotal)")
        lines.append("  quality as expected:  \(overall.qualityMatches)/\(overall.qualityTotal)")
        if overall.textImages > 0 {
            lines.append(
                "  ocr:                  "
                    + (!overall.ocrInstalled
                        ? "ocr not installed (\(Self.photos(overall.textImages)) with text)"
                        : overall.meanCharacterErrorRate.map { "mean character error rate \(Self.percent($0)) over \(Self.photos(overall.textScored))" }
                            ?? "not scored"))
        }
        if let p50 = overall.latencyP50Ms, let max = overall.latencyMaxMs {
            lines.append("  latency:              p50 \(Self.format(p50)) ms, max \(Self.format(max)) ms")
        }
        if !unscored.isEmpty { lines.append("  not in expected.json: \(unscored.joined(separator: ", "))") }
        return lines.joined(separator: "\n")
    }

    static func photos(_ count: Int) -> String { count == 1 ? "1 photo" : "\(count) photos" }
    static func format(_ milliseconds: Double) -> String { String(format: "%.0f", milliseconds) }
    static func percent(_ rate: Double) -> String { String(format: "%.1f %%", rate * 100) }
}
