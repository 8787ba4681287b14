import DescriberHost
import DescriberImaging
import Foundation
import NIOCore
import NIOPosix

/// Describes a photo by running the installed describing functions side by
/// side and composing their answers into one spoken description.
///
/// The describing functions:
/// - `detect`: what is in the photo (people, vehicles, animals, objects);
/// - `caption`: its light, sharpness and colours, and the quality verdict;
/// - `ocr`: the text in the photo, verbatim.
/// Each is used when it is installed and ready; a photo is described by
/// whichever of them are. They are spoken in a fixed order: the quality
/// warning first if any, then the scene and "Text: …", or the text first
/// when the photo is mostly text (see ``compose(_:installed:usable:)``).
/// Their contract (see functions/README.md): answer `application/json` with
/// at least `{"text": "…"}`, optionally
/// `"quality": {"usable": false, "problems": ["too dark"], "advice": "…"}`,
/// and accept a `verbosity` request option if they declare one.
public struct ImageDescriber: Sendable {
    public static let describingFunctions = ["detect", "caption", "ocr"]

    public let host: FunctionHost

    public init(host: FunctionHost) { self.host = host }

    /// The describing functions this host can run now.
    public var installedFunctions: [String] {
        Self.describingFunctions.filter { host.entries[$0]?.pool != nil }
    }

    public func describe(_ image: ByteBuffer, verbosity: Verbosity = .normal, timeout: Duration? = nil) async throws(DescribeError) -> Description {
        let format = image.withUnsafeReadableBytes { ImageFormat.sniff($0) }
        guard let format, format.isDecodable else {
            let message = Self.notAnImageMessage(image, format)
            // A picture in a format the host does not decode is 415
            // unsupported_format, as everywhere else; anything else is 400.
            let underlying = format.map { _ in InvocationError(.unsupportedFormat, message) }
            throw DescribeError(.notAnImage, message, underlying: underlying)
        }
        let functions = installedFunctions
        guard !functions.isEmpty else {
            throw DescribeError(.describingFailed, "No describing functions are installed (looked for \(Self.list(Self.describingFunctions))).")
        }
        let started = ContinuousClock.now
        // One decode, at the largest box any describing function wants; the
        // others get area-filtered copies of it. The photo is never decoded
        // twice for one description.
        var boxes: [(maxWidth: Int, maxHeight: Int)] = []
        for name in functions {
            if case .rgb8(let maxWidth, let maxHeight)? = host.entries[name]?.capabilities?.input,
                !boxes.contains(where: { $0 == (maxWidth, maxHeight) })
            {
                boxes.append((maxWidth, maxHeight))
            }
        }
        var decoded: [String: DecodedImage] = [:]
        if !boxes.isEmpty {
            switch await Self.decode(image, boxes: boxes) {
            case .success(let images): decoded = images
            case .failure(let error):
                throw DescribeError(.notAnImage, "The file could not be read as a picture: \(error.message).", underlying: InvocationError(error))
            }
        }
        let decodeDuration = ContinuousClock.now - started
        let decodedBoxes = decoded
        let results = await withTaskGroup(of: (Int, String, Result<InvocationOutput, InvocationError>, Duration).self) { group in
            for (index, name) in functions.enumerated() {
                group.addTask {
                    let began = ContinuousClock.now
                    var options: [(String, String)] = []
                    if host.entries[name]?.config?.requestOptions["verbosity"] != nil { options.append(("verbosity", verbosity.rawValue)) }
                    var shared: DecodedImage?
                    if case .rgb8(let maxWidth, let maxHeight)? = host.entries[name]?.capabilities?.input {
                        shared = decodedBoxes["\(maxWidth)x\(maxHeight)"]
                    }
                    let request = InvocationRequest(
                        body: image, contentType: format == .png ? "image/png" : "image/jpeg", options: options, timeout: timeout, decodedImage: shared
                    )
                    do throws(InvocationError) {
                        return (index, name, .success(try await host.invoke(name, request)), ContinuousClock.now - began)
                    } catch {
                        return (index, name, .failure(error), ContinuousClock.now - began)
                    }
                }
            }
            var collected: [(Int, String, Result<InvocationOutput, InvocationError>, Duration)] = []
            for await result in group { collected.append(result) }
            return collected.sorted { $0.0 < $1.0 }
        }
        var answers: [String: FunctionAnswer] = [:]
        var problems: [String] = []
        var advice: [String] = []
        var timings: [String: Double] = [:]
        var failures: [InvocationError] = []
        for (_, name, result, duration) in results {
            timings[name] = duration.milliseconds
            switch result {
            case .success(let output):
                guard let answer = try? JSONDecoder().decode(FunctionAnswer.self, from: Data(output.body.readableBytesView)) else {
                    failures.append(InvocationError(.functionFailed, "\(name) answered something other than its JSON description"))
                    continue
                }
                if let quality = answer.quality, !quality.usable {
                    problems += quality.problems
                    if let text = quality.advice, !text.isEmpty { advice.append(text) }
                }
                answers[name] = answer
            case .failure(let error):
                // The image itself is bad: every function would say the same.
                if Self.imageProblems.contains(error.code) {
                    throw DescribeError(.notAnImage, "The file could not be read as a picture: \(error.message).", underlying: error)
                }
                // The request itself is wrong (a deadline past a function's
                // maximum): only the caller can fix it, so it is not hidden in a
                // description with a part missing, nor blamed on the functions.
                if error.code == .badOption {
                    throw DescribeError(.describingFailed, "Describing the photo failed: \(error.message).", underlying: error)
                }
                failures.append(error)
            }
        }
        timings["decode"] = decodeDuration.milliseconds
        timings["total"] = (ContinuousClock.now - started).milliseconds
        let usable = !answers.values.contains { $0.quality?.usable == false }
        let source = decoded.values.first.map { (width: $0.image.sourceWidth, height: $0.image.sourceHeight) }
        let composed = Self.compose(answers, installed: functions, usable: usable, photoSize: source, verbosity: verbosity)
        if composed.parts.isEmpty && usable, let first = failures.first {
            throw DescribeError(.describingFailed, "Describing the photo failed: \(first.message).", underlying: first)
        }
        var spoken: [String] = []
        if !usable {
            // Honesty over guessing: an unusable photo gets the verdict and
            // the advice first, and never a scene made up from bad pixels.
            spoken.append(
                Self.sentence("The photo is \(Self.list(problems)) to describe reliably.") + (advice.isEmpty ? "" : " " + advice.joined(separator: " ")))
        }
        spoken += composed.spoken
        let text = spoken.joined(separator: " ")
        return Description(
            spokenText: text.isEmpty ? "Nothing could be made out in the photo." : text, usable: usable, problems: problems,
            parts: composed.parts, objects: usable ? answers["detect"]?.objects : nil, timings: timings,
            unsure: Self.isUnsure(answers, usable: usable, parts: composed.parts)
        )
    }

    /// Whether a person would do better than this description (see
    /// ``Description/unsure``): it is judged from what the functions said,
    /// never from the wording.
    static func isUnsure(_ answers: [String: FunctionAnswer], usable: Bool, parts: [Description.Part]) -> Bool {
        guard usable, let detect = answers["detect"] else { return true }
        let objects = detect.objects ?? []
        if objects.contains(where: { $0.hedged == true }) { return true }
        // Nothing recognised and no text read: silence is not an answer.
        return objects.isEmpty && !parts.contains { $0.function == "ocr" }
    }

    /// When the photo is mostly text, the text is read before the scene:
    /// when text boxes cover at least this share of the photo (a page, a
    /// screen, a letter held close)…
    public static let textLeadingCoverage = 0.15
    /// …or when it holds at least this many words (a notice or a menu
    /// photographed from further away).
    public static let textLeadingWords = 30

    /// Below this many pixels on its longer side, a photo's objects come
    /// with a warning. The detector looks at 640 × 640: on the evaluation's
    /// five photos scaled down, it named 7 of the 9 required objects at 240 px,
    /// 5 at 160 px, with horses called a cow, and 2 at 120 px. Each time it
    /// sounded as sure as on the full photo. See EVALUATION.md, "Small photos".
    static let smallPhotoLongSide = 240

    /// The spoken sentences after any quality warning, and the parts they
    /// came from, in one fixed order a listener can learn:
    /// - the scene (`detect`'s objects, then `caption`'s light and colours),
    ///   then "Text: …" with the words read, verbatim;
    /// - but the text first, ended by "End of text.", when the photo is
    ///   mostly text (``textLeadingCoverage``, ``textLeadingWords``);
    /// - for an unusable photo no scene at all, and only the lines `ocr`
    ///   read with confidence, after the warning.
    /// What could not be looked for is said, so that silence is never
    /// mistaken for absence. A photo smaller than ``smallPhotoLongSide``
    /// gets a warning before its objects.
    static func compose(
        _ answers: [String: FunctionAnswer], installed: [String], usable: Bool, photoSize: (width: Int, height: Int)? = nil,
        verbosity: Verbosity = .normal
    ) -> (spoken: [String], parts: [Description.Part]) {
        var scene: [Description.Part] = []
        var sceneSentences: [String] = []
        if usable {
            for name in ["detect", "caption"] {
                guard let text = answers[name]?.text.trimmingCharacters(in: .whitespacesAndNewlines), !text.isEmpty else { continue }
                scene.append(Description.Part(function: name, text: text))
                sceneSentences.append(Self.sentence(text))
            }
            if !installed.contains("detect") {
                sceneSentences.append("No object detector is installed, so nothing in the photo is named.")
            } else if answers["detect"] == nil {
                sceneSentences.append("Recognising what is in the photo failed this time.")
            } else if !scene.contains(where: { $0.function == "detect" }) {
                sceneSentences.insert("No people, animals or familiar objects were recognised.", at: 0)
            }
            // Said before the objects, so that they are heard as the guesses they are.
            if answers["detect"] != nil, let photoSize, max(photoSize.width, photoSize.height) < smallPhotoLongSide {
                sceneSentences.insert(
                    verbosity == .brief
                        ? "A small photo: things may be missed or misnamed."
                        : "The photo is small, \(photoSize.width) by \(photoSize.height) pixels, so things in it may be missed or misnamed; the full-size photo would do better.",
                    at: 0
                )
            }
        }
        var textPart: Description.Part?
        var textSentences: [String] = []
        if let ocr = answers["ocr"] {
            // Verbatim: the reader's own line breaks and punctuation are kept,
            // and nothing is added inside the text.
            let text = (usable ? ocr.text : ocr.confidentText).trimmingCharacters(in: .whitespacesAndNewlines)
            if !text.isEmpty {
                textPart = Description.Part(function: "ocr", text: text)
                textSentences.append("Text: " + text)
            }
        } else if installed.contains("ocr") {
            textSentences.append("Reading text in the photo failed this time.")
        } else if usable {
            textSentences.append("No text reader is installed, so any text in the photo is not read.")
        }
        let textLeads = usable && textPart != nil && answers["ocr"].map(Self.isMostlyText) == true
        if textLeads, let textPart {
            return (textSentences + ["End of text."] + sceneSentences, [textPart] + scene)
        }
        return (sceneSentences + textSentences, scene + (textPart.map { [$0] } ?? []))
    }

    static func isMostlyText(_ answer: FunctionAnswer) -> Bool {
        let words = answer.text.split(whereSeparator: \.isWhitespace).count
        return (answer.textCoverage ?? 0) >= textLeadingCoverage || words >= textLeadingWords
    }

    /// Decodes once for the largest of `boxes` and fits copies for the
    /// others, keyed "WxH". On NIO's blocking pool: libjpeg must not hold a
    /// thread of Swift's cooperative pool for tens of milliseconds.
    static func decode(_ image: ByteBuffer, boxes: [(maxWidth: Int, maxHeight: Int)]) async -> Result<[String: DecodedImage], ImageError> {
        let largest = boxes.max { $0.maxWidth * $0.maxHeight < $1.maxWidth * $1.maxHeight }!
        do {
            return try await NIOThreadPool.singleton.runIfActive {
                Result { () throws(ImageError) -> [String: DecodedImage] in
                    let full = try ImageDecoder.decode(image, maxWidth: largest.maxWidth, maxHeight: largest.maxHeight)
                    var images: [String: DecodedImage] = [:]
                    for box in boxes {
                        guard let fitted = full.fitted(maxWidth: box.maxWidth, maxHeight: box.maxHeight) else {
                            throw ImageError(.imageTooLarge, "out of memory while scaling the image")
                        }
                        images["\(box.maxWidth)x\(box.maxHeight)"] = DecodedImage(image: fitted, maxWidth: box.maxWidth, maxHeight: box.maxHeight)
                    }
                    return images
                }
            }
        } catch {
            return .failure(ImageError(.imageTooLarge, "the decoder could not run: \(error)"))
        }
    }

    /// Failures that mean the file itself cannot be used as a picture.
    static let imageProblems: Set<InvocationError.Code> = [.notAnImage, .truncatedImage, .imageTooLarge, .unsupportedFormat]

    /// What describing functions answer: every one `text` and perhaps a
    /// `quality` verdict; `detect` its `objects`; `ocr` how much of the photo
    /// is text and its `lines`, each marked when read with low confidence.
    struct FunctionAnswer: Decodable {
        var text: String
        var quality: Quality?
        var objects: [DetectedObject]?
        var textCoverage: Double?
        var lines: [Line]?

        struct Quality: Decodable {
            var usable: Bool
            var problems: [String]
            var advice: String?
        }

        struct Line: Decodable {
            var text: String
            var lowConfidence: Bool?

            enum CodingKeys: String, CodingKey { case text, lowConfidence = "low_confidence" }
        }

        enum CodingKeys: String, CodingKey {
            case text, quality, objects, lines, textCoverage = "text_coverage"
        }

        /// The lines read with confidence, one per line; none when the
        /// reader does not mark its lines.
        var confidentText: String {
            (lines ?? []).filter { $0.lowConfidence == false }.map(\.text).joined(separator: "\n")
        }
    }

    static func sentence(_ text: String) -> String {
        guard let last = text.last else { return text }
        return ".!?".contains(last) ? text : text + "."
    }

    /// "too dark", "too dark and too blurry", "too dark, too bright and too blurry".
    static func list(_ items: [String]) -> String {
        switch items.count {
        case 0: "not good enough"
        case 1: items[0]
        default: items.dropLast().joined(separator: ", ") + " and " + items.last!
        }
    }

    static func notAnImageMessage(_ bytes: ByteBuffer, _ format: ImageFormat?) -> String {
        if bytes.readableBytes == 0 { return "The file is empty." }
        if let format {
            return "The file is a \(format.name) picture; only JPEG and PNG photos can be described."
        }
        let prefix = bytes.getBytes(at: bytes.readerIndex, length: min(512, bytes.readableBytes)) ?? []
        if String(validating: prefix, as: UTF8.self) != nil {
            return "The file is text, not a picture."
        }
        return "The file is not a picture (not a JPEG or PNG image)."
    }
}

extension Duration {
    var milliseconds: Double {
        let (seconds, attoseconds) = components
        return Double(seconds) * 1000 + Double(attoseconds) / 1e15
    }
}
