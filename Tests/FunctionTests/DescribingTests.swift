import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import NIOCore
import ServerTestSupport
import TestSupport
import Testing

@testable import DescriberHost
@testable import DescriberServer
@testable import Describing

/// The `caption` function's quality gate and scene text, and the describer
/// that composes the describing functions' answers.
@Suite struct DescribingTests {
    static let images = TestSupport.fixtures + "/images"
    static let degraded = TestSupport.fixtures + "/quality"

    static func file(_ path: String) throws -> ByteBuffer {
        ByteBuffer(bytes: try Data(contentsOf: URL(fileURLWithPath: path)))
    }

    struct Answer: Decodable {
        var text: String
        var quality: Quality
        struct Quality: Decodable { var usable: Bool; var problems: [String]; var advice: String }
    }

    static func caption(_ host: FunctionHost, _ path: String, verbosity: String? = nil) async throws -> Answer {
        let contentType = path.hasSuffix(".png") ? "image/png" : "image/jpeg"
        let options = verbosity.map { [("verbosity", $0)] } ?? []
        let output = try await host.invoke("caption", InvocationRequest(body: try file(path), contentType: contentType, options: options))
        #expect(output.contentType == "application/json")
        return try JSONDecoder().decode(Answer.self, from: Data(output.body.readableBytesView))
    }

    @Test(arguments: ["dog.jpg", "person.jpg", "page.png"])
    func sharpWellLitPhotosAreUsableAndDescribed(_ name: String) async throws {
        let host = try TestSupport.host(["caption": try BundledFunctions.caption()])
        await host.start()
        let answer = try await Self.caption(host, Self.images + "/" + name)
        await host.shutdown()
        #expect(answer.quality.usable, "\(answer.quality.problems)")
        #expect(answer.quality.problems.isEmpty)
        #expect(answer.text.hasPrefix("A well-lit, sharp photo"), "\(answer.text)")
        #expect(answer.text.contains("main colours are"))
    }

    @Test(arguments: [
        ("images/text_motion.jpg", "too blurry", "steady"),  // a page photographed while moving
        ("quality/person_blur3.jpg", "too blurry", "steady"),  // Gaussian blur, sigma 3
        ("quality/kite_motion15_1.jpg", "too blurry", "steady"),  // 15 px of horizontal motion
        ("quality/dog_dark.jpg", "too dark", "light"),
    ])
    func unusablePhotosAreReportedWithAdviceNotDescribed(_ path: String, _ problem: String, _ advice: String) async throws {
        let host = try TestSupport.host(["caption": try BundledFunctions.caption()])
        await host.start()
        let answer = try await Self.caption(host, TestSupport.fixtures + "/" + path)
        await host.shutdown()
        #expect(!answer.quality.usable)
        #expect(answer.quality.problems == [problem])
        #expect(answer.quality.advice.contains(advice))
        #expect(answer.text.isEmpty, "no scene is guessed from an unusable photo")
    }

    @Test func verbositySetsHowMuchIsSaid() async throws {
        let host = try TestSupport.host(["caption": try BundledFunctions.caption()])
        await host.start()
        let brief = try await Self.caption(host, Self.images + "/dog.jpg", verbosity: "brief")
        let normal = try await Self.caption(host, Self.images + "/dog.jpg", verbosity: "normal")
        let detailed = try await Self.caption(host, Self.images + "/dog.jpg", verbosity: "detailed")
        await host.shutdown()
        #expect(brief.text.count < normal.text.count && normal.text.count < detailed.text.count)
        #expect(detailed.text.contains("Brightness"))
    }

    @Test func theDescriberComposesAndIsHonestAboutUnusablePhotos() async throws {
        let host = try TestSupport.host(["caption": try BundledFunctions.caption()])
        await host.start()
        let describer = ImageDescriber(host: host)
        #expect(describer.installedFunctions == ["caption"])

        let good = try await describer.describe(try Self.file(Self.images + "/dog.jpg"))
        #expect(good.usable && good.problems.isEmpty)
        #expect(good.parts.map(\.function) == ["caption"])
        #expect(
            good.spokenText == good.parts[0].text + " No object detector is installed, so nothing in the photo is named."
                + " No text reader is installed, so any text in the photo is not read.")
        #expect(good.objects == nil, "nothing was looked for")
        #expect(good.timings["caption"] != nil && good.timings["total"] != nil)

        let blurry = try await describer.describe(try Self.file(Self.images + "/text_motion.jpg"))
        #expect(!blurry.usable)
        #expect(blurry.problems == ["too blurry"])
        #expect(blurry.parts.isEmpty)
        #expect(blurry.spokenText.hasPrefix("The photo is too blurry to describe reliably. Hold the camera steady"))

        await #expect(throws: DescribeError(.notAnImage, "The file is text, not a picture.")) {
            try await describer.describe(ByteBuffer(string: "hello, this is not a photo"))
        }
        let gif = "The file is a GIF picture; only JPEG and PNG photos can be described."
        await #expect(throws: DescribeError(.notAnImage, gif, underlying: InvocationError(.unsupportedFormat, gif))) {
            try await describer.describe(ByteBuffer(string: "GIF89a\u{1}\u{0}\u{1}\u{0}"))
        }
        await #expect(throws: DescribeError(.notAnImage, "The file is empty.")) {
            try await describer.describe(ByteBuffer())
        }
        // A JPEG cut short: the decoder's own sentence is passed on.
        var truncated = try Self.file(Self.images + "/dog.jpg")
        truncated = truncated.getSlice(at: 0, length: truncated.readableBytes / 3)!
        do {
            _ = try await describer.describe(truncated)
            Issue.record("a truncated JPEG was described")
        } catch {
            #expect(error.code == .notAnImage)
            #expect(error.underlying?.code == .truncatedImage)
        }
        await host.shutdown()
    }

    @Test func withNoDescribingFunctionsItSaysSo() async throws {
        let host = try TestSupport.host(["echo": "library: \(try TestSupport.library("echo", source: TestSupport.echoSource))"])
        await host.start()
        await #expect(throws: DescribeError(.describingFailed, "No describing functions are installed (looked for detect, caption and ocr).")) {
            try await ImageDescriber(host: host).describe(try Self.file(Self.images + "/dog.jpg"))
        }
        await host.shutdown()
    }

    /// A test-only reader (Fixtures/ocrfn.c) that answers OCR-shaped JSON
    /// with `text`, for any photo, so the order can be checked exactly.
    static func ocrManifest(text: String, coverage: Double, lowConfidence: Bool = false, extra: String = "") throws -> String {
        let library = try TestSupport.library(
            "ocrfn", source: TestSupport.fixtures + "/ocrfn.c", defines: ["_GNU_SOURCE"]
        )
        let encoder = JSONEncoder()
        encoder.outputFormatting = .withoutEscapingSlashes
        // A JSON string is a YAML double-quoted scalar.
        let quoted = String(decoding: try encoder.encode(text), as: UTF8.self)
        return """
            library: \(library)
            options: { text: \(quoted), text_coverage: \(coverage), low_confidence: \(lowConfidence) }
            \(extra)
            """
    }

    static let noDetector = "No object detector is installed, so nothing in the photo is named."

    /// Text that must come through untouched: line breaks, code, quotes.
    static let verbatim = "Fire exit\n>>> markers = np.zeros_like(coins)\n\"Keep clear\" — 24/7"

    @Test func aPhotoWithLittleTextIsTheSceneThenTheTextVerbatim() async throws {
        let host = try TestSupport.host(["caption": try BundledFunctions.caption(), "ocr": try Self.ocrManifest(text: Self.verbatim, coverage: 0.02)])
        let description = try await host.run { host in
            try await ImageDescriber(host: host).describe(try Self.file(Self.images + "/dog.jpg"))
        }
        #expect(description.parts.map(\.function) == ["caption", "ocr"])
        #expect(description.parts[1].text == Self.verbatim, "the text read is its own part, verbatim")
        let scene = Self.sentence(description.parts[0].text) + " " + Self.noDetector
        #expect(description.spokenText == scene + " Text: " + Self.verbatim)
    }

    @Test(arguments: [
        (0.4, "three words only"),  // a page held close: the text covers much of the photo
        (0.01, Array(repeating: "word", count: ImageDescriber.textLeadingWords).joined(separator: " ")),  // a notice from afar
    ])
    func aPhotoThatIsMostlyTextHasTheTextFirst(_ coverage: Double, _ text: String) async throws {
        let host = try TestSupport.host(["caption": try BundledFunctions.caption(), "ocr": try Self.ocrManifest(text: text, coverage: coverage)])
        let description = try await host.run { host in
            try await ImageDescriber(host: host).describe(try Self.file(Self.images + "/page.png"))
        }
        #expect(description.parts.map(\.function) == ["ocr", "caption"])
        #expect(description.spokenText == "Text: \(text) End of text. " + Self.sentence(description.parts[1].text) + " " + Self.noDetector)
    }

    @Test(arguments: [false, true])
    func anUnusablePhotoWarnsFirstAndKeepsOnlyConfidentText(_ lowConfidence: Bool) async throws {
        let host = try TestSupport.host([
            "caption": try BundledFunctions.caption(), "ocr": try Self.ocrManifest(text: Self.verbatim, coverage: 0.5, lowConfidence: lowConfidence),
        ])
        let description = try await host.run { host in
            try await ImageDescriber(host: host).describe(try Self.file(Self.images + "/text_motion.jpg"))
        }
        #expect(!description.usable && description.problems == ["too blurry"])
        #expect(description.spokenText.hasPrefix("The photo is too blurry to describe reliably. Hold the camera steady"))
        if lowConfidence {
            #expect(description.parts.isEmpty && !description.spokenText.contains("Text:"), "text read with low confidence is not spoken")
        } else {
            #expect(description.parts.map(\.function) == ["ocr"])
            #expect(description.spokenText.hasSuffix(" Text: " + Self.verbatim), "the warning first, then what could be read")
        }
    }

    @Test func aReaderThatFailsIsSaidNotSilent() async throws {
        // An answer over its output limit fails the request (502), as a real reader's could.
        let ocr = try Self.ocrManifest(text: Self.verbatim, coverage: 0.5, extra: "output: { max_bytes: 16 }")
        let host = try TestSupport.host(["caption": try BundledFunctions.caption(), "ocr": ocr])
        let description = try await host.run { host in
            try await ImageDescriber(host: host).describe(try Self.file(Self.images + "/dog.jpg"))
        }
        #expect(description.parts.map(\.function) == ["caption"])
        #expect(description.spokenText.hasSuffix(Self.noDetector + " Reading text in the photo failed this time."))
    }

    static func sentence(_ text: String) -> String { ImageDescriber.sentence(text) }

    @Test func unsureWhenUnusableWhenNothingIsFoundOrWhenSomethingIsHedged() throws {
        func detect(_ objects: String) throws -> ImageDescriber.FunctionAnswer {
            try JSONDecoder().decode(ImageDescriber.FunctionAnswer.self, from: Data(#"{"text": "", "objects": [\#(objects)]}"#.utf8))
        }
        let box = #""box": {"x": 0.1, "y": 0.1, "width": 0.5, "height": 0.5}"#
        let sure = try detect(#"{"label": "dog", "confidence": 0.9, \#(box), "hedged": false}"#)
        let hedged = try detect(#"{"label": "dog", "confidence": 0.9, \#(box), "hedged": false}, {"label": "cup", "confidence": 0.3, \#(box), "hedged": true}"#)
        let nothing = try detect("")
        let text = [Description.Part(function: "ocr", text: "OPEN")]
        #expect(!ImageDescriber.isUnsure(["detect": sure], usable: true, parts: []))
        #expect(ImageDescriber.isUnsure(["detect": sure], usable: false, parts: []), "an unusable photo")
        #expect(ImageDescriber.isUnsure(["detect": hedged], usable: true, parts: []), "one thing hedged")
        #expect(ImageDescriber.isUnsure(["detect": nothing], usable: true, parts: []), "nothing found, nothing read")
        #expect(!ImageDescriber.isUnsure(["detect": nothing], usable: true, parts: text), "a page: nothing to find, its text read")
        #expect(ImageDescriber.isUnsure([:], usable: true, parts: text), "recognising failed or is not installed")
    }

    @Test func describeOverHTTPAnswersJSONAndTypedErrors() async throws {
        let host = try TestSupport.host(["caption": try BundledFunctions.caption()])
        try await buildApplication(host: host, logger: TestSupport.logger).test(.router) { client in
            try await client.execute(
                uri: "/v1/describe?verbosity=brief", method: .post, headers: [.contentType: "image/jpeg"], body: try Self.file(Self.images + "/dog.jpg")
            ) { response in
                #expect(response.status == .ok)
                #expect(response.headers[.contentType] == "application/json")
                let description = try JSONDecoder().decode(Description.self, from: Data(response.body.readableBytesView))
                #expect(description.usable && description.spokenText.hasPrefix("A well-lit landscape photo"))
            }
            try await client.execute(uri: "/v1/describe", method: .post, body: try Self.file(Self.images + "/text_motion.jpg")) { response in
                #expect(response.status == .ok, "an unusable photo is an answer, not an error")
                let description = try JSONDecoder().decode(Description.self, from: Data(response.body.readableBytesView))
                #expect(!description.usable && description.problems == ["too blurry"])
            }
            for (body, status, code) in [
                (ByteBuffer(string: "plain text"), HTTPResponse.Status.badRequest, "not_an_image"),
                (ByteBuffer(string: "GIF89a\u{1}\u{0}"), .unsupportedMediaType, "unsupported_format"),
                (ByteBuffer(bytes: Array("RIFF".utf8) + [16, 0, 0, 0] + Array("WEBPVP8 ".utf8)), .unsupportedMediaType, "unsupported_format"),
            ] {
                try await client.execute(uri: "/v1/describe", method: .post, body: body) { response in
                    #expect(response.status == status)
                    #expect(String(buffer: response.body).contains("\"code\":\"\(code)\""))
                }
            }
            try await client.execute(uri: "/v1/describe?verbosity=chatty", method: .post, body: try Self.file(Self.images + "/dog.jpg")) { response in
                #expect(response.status == .badRequest)
                #expect(String(buffer: response.body).contains("brief, normal or detailed"))
            }
            try await client.execute(uri: "/v1/describe?verbosty=brief", method: .post, body: try Self.file(Self.images + "/dog.jpg")) { response in
                #expect(response.status == .badRequest)
                #expect(String(buffer: response.body).contains("no option 'verbosty'; it takes rate, verbosity, voice"))
            }
        }
    }
}
