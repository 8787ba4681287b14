import Foundation
import NIOCore
import ServerTestSupport
import TestSupport
import Testing

@testable import DescriberHost
@testable import DescriberImaging
@testable import DescriberTesting
@testable import Describing

/// The `ocr` function on the real PP-OCRv6 models and OpenVINO runtime
/// (installed by `scripts/setup` through functions/ocr/fetch-model), in its
/// worker processes as the manifest runs it. Serialized: every test starts a
/// worker that compiles both networks on every core, so side by side they
/// would only slow each other down.
@Suite(.serialized) struct OCRTests {
    static let ocrDirectory = TestSupport.packageRoot + "/functions/ocr"
    static let runtimeLibraries = TestSupport.packageRoot + "/functions/openvino/runtime/lib"
    static let fixtures = TestSupport.fixtures
    /// A cold start compiles both networks, which takes seconds on a busy machine.
    static let timeout = Duration.seconds(60)

    /// The function's own manifest and library, as `make -C functions` built
    /// them. Fails, not skips, when they are missing: CI installs them.
    static func manifest(modelDirectory: String? = nil, runtimeDirectory: String? = nil) throws -> String {
        let library = ocrDirectory + "/libocr.so"
        for path in [library, ocrDirectory + "/model/PP-OCRv6_rec_small.onnx", runtimeLibraries + "/libopenvino_c.so.2641"]
        where !FileManager.default.fileExists(atPath: path) {
            throw TestError("\(path) is not installed: run `make -C functions` (scripts/setup does)")
        }
        return try String(contentsOfFile: ocrDirectory + "/function.yaml", encoding: .utf8)
            .replacingOccurrences(of: "library: libocr.so", with: "library: \(library)")
            .replacingOccurrences(of: "model_directory: model ", with: "model_directory: \(modelDirectory ?? ocrDirectory + "/model") ")
            .replacingOccurrences(
                of: "runtime_directory: ../openvino/runtime ",
                with: "runtime_directory: \(runtimeDirectory ?? TestSupport.packageRoot + "/functions/openvino/runtime") ")
    }

    struct Answer: Decodable {
        var text: String
        var textCoverage: Double
        var lowConfidenceLines: Int
        var lines: [Line]
        var blocks: [Block]
        struct Line: Decodable {
            var text: String
            var confidence: Double
            var lowConfidence: Bool
            var box: [[Double]]
        }
        struct Block: Decodable {
            var text: String
            var lines: [Int]
            var box: [[Double]]
        }
    }

    static func decode(_ output: InvocationOutput) throws -> Answer {
        let decoder = JSONDecoder()
        decoder.keyDecodingStrategy = .convertFromSnakeCase
        #expect(output.contentType == "application/json")
        return try decoder.decode(Answer.self, from: Data(output.body.readableBytesView))
    }

    static func read(_ host: FunctionHost, _ path: String, options: [(String, String)] = []) async throws -> Answer {
        let body = try TestSupport.buffer(path)
        let type = path.hasSuffix(".png") ? "image/png" : "image/jpeg"
        return try decode(try await host.invoke("ocr", InvocationRequest(body: body, contentType: type, options: options, timeout: timeout)))
    }

    static var expectedPageText: String {
        get throws { try String(contentsOfFile: fixtures + "/images/page.txt", encoding: .utf8) }
    }

    /// What must hold of every answer, whatever the image.
    static func checkShape(_ answer: Answer, width: Int, height: Int) {
        #expect((0...1).contains(answer.textCoverage))
        #expect(answer.lowConfidenceLines == answer.lines.filter(\.lowConfidence).count)
        for line in answer.lines {
            #expect((0...1).contains(line.confidence), "\(line)")
            #expect(line.box.count == 4 && line.box.allSatisfy { $0.count == 2 })
            for corner in line.box {
                #expect((0...Double(width)).contains(corner[0]) && (0...Double(height)).contains(corner[1]), "\(line)")
            }
        }
        // "text" is the confident lines, block by block, nothing else.
        #expect(answer.text == answer.blocks.map(\.text).joined(separator: "\n\n"))
        let inBlocks = answer.blocks.flatMap(\.lines)
        #expect(Set(inBlocks).count == inBlocks.count && inBlocks.allSatisfy { answer.lines.indices.contains($0) })
        #expect(inBlocks.allSatisfy { !answer.lines[$0].lowConfidence })
        #expect(inBlocks.count + answer.lowConfidenceLines == answer.lines.count, "every line is either read or marked")
    }

    @Test func readsAPageInReadingOrder() async throws {
        let host = try TestSupport.host(["ocr": try Self.manifest()])
        await host.start()
        let page = try await Self.read(host, Self.fixtures + "/images/page.png")
        let strict = try await Self.read(host, Self.fixtures + "/images/page.png", options: [("min_confidence", "1")])
        await host.shutdown()

        // The reference is line by line in reading order, so lines read out
        // of order cost their whole length.
        let rate = try #require(CharacterErrorRate.of(page.text, reference: try Self.expectedPageText))
        #expect(rate <= 0.03, "character error rate \(rate) reading:\n\(page.text)")
        Self.checkShape(page, width: 384, height: 191)
        #expect(page.lowConfidenceLines == 0, "\(page.lines)")
        #expect(page.textCoverage > 0.3, "a page of text is mostly text: \(page.textCoverage)")

        // Asking for full certainty: the same lines, those read with less
        // marked and left out of the text, none dropped.
        #expect(strict.lines.count == page.lines.count && strict.lowConfidenceLines > 0)
        #expect(strict.lines.filter { $0.confidence < 0.9995 }.allSatisfy { $0.lowConfidence })
        #expect(strict.text.count < page.text.count && strict.textCoverage < page.textCoverage)
        Self.checkShape(strict, width: 384, height: 191)
    }

    @Test func readsARotatedPage() async throws {
        let original = try ImageDecoder.decode(try TestSupport.buffer(Self.fixtures + "/images/page.png"))
        let host = try TestSupport.host(["ocr": try Self.manifest()])
        await host.start()
        var answers: [(Double, Answer, RGBImage)] = []
        for degrees in [12.0, -15.0] {
            let turned = Self.rotated(original, degrees: degrees)
            // Handed over decoded, as the describe pipeline does: the body is not decoded again.
            let request = InvocationRequest(
                body: try TestSupport.buffer(Self.fixtures + "/images/page.png"), contentType: "image/png", timeout: Self.timeout,
                decodedImage: DecodedImage(image: turned, maxWidth: 2048, maxHeight: 2048)
            )
            answers.append((degrees, try Self.decode(try await host.invoke("ocr", request)), turned))
        }
        await host.shutdown()

        let expected = try Self.expectedPageText
        for (degrees, answer, image) in answers {
            let rate = try #require(CharacterErrorRate.of(answer.text, reference: expected))
            #expect(rate <= 0.10, "at \(degrees)°: character error rate \(rate) reading:\n\(answer.text)")
            Self.checkShape(answer, width: image.width, height: image.height)
            // The boxes follow the lines: rotated rectangles, not upright ones.
            let slopes = answer.lines.filter { !$0.lowConfidence && $0.text.count > 20 }.map { line in
                atan2(line.box[1][1] - line.box[0][1], line.box[1][0] - line.box[0][0]) * 180 / .pi
            }
            #expect(!slopes.isEmpty && slopes.allSatisfy { abs($0 + degrees) < 4 }, "at \(degrees)°: line angles \(slopes)")
        }
    }

    @Test func aPhotoWithoutTextReadsAsNothing() async throws {
        let host = try TestSupport.host(["ocr": try Self.manifest()])
        await host.start()
        let street = try await Self.read(host, Self.fixtures + "/camera/vtest_background.jpg")
        let dog = try await Self.read(host, Self.fixtures + "/images/dog.jpg")
        let person = try await Self.read(host, Self.fixtures + "/images/person.jpg")
        await host.shutdown()
        for answer in [street, dog, person] {
            #expect(answer.text.count <= 8, "\(answer.text)")
            #expect(answer.textCoverage < 0.02)
        }
    }

    @Test func badOptionsAreRefusedBeforeReading() async throws {
        let host = try TestSupport.host(["ocr": try Self.manifest()])
        await host.start()
        let page = try TestSupport.buffer(Self.fixtures + "/images/page.png")
        let tooHigh = await host.result("ocr", InvocationRequest(body: page, contentType: "image/png", options: [("min_confidence", "1.5")]))
        let unknown = await host.result("ocr", InvocationRequest(body: page, contentType: "image/png", options: [("language", "en")]))
        let notAnImage = await host.result("ocr", InvocationRequest(body: ByteBuffer(string: "not a picture"), contentType: "image/png", timeout: Self.timeout))
        await host.shutdown()
        #expect(tooHigh.failure?.code == .badOption && unknown.failure?.code == .badOption)
        #expect(notAnImage.failure?.code == .notAnImage)
    }

    /// Starts an instance on `manifest` and returns why it failed.
    static func startFailure(_ manifest: String) async throws -> String {
        let host = try TestSupport.host(["ocr": manifest])
        await host.start()
        let result = await host.result(
            "ocr", InvocationRequest(body: try TestSupport.buffer(fixtures + "/images/page.png"), contentType: "image/png", timeout: timeout)
        )
        await host.shutdown()
        #expect(result.failure?.code == .initFailed, "\(result)")
        return result.failure?.message ?? ""
    }

    @Test func missingModelsAndRuntimeAreClearStartFailures() async throws {
        let noModel = try await Self.startFailure(try Self.manifest(modelDirectory: TestSupport.scratch + "/no-model"))
        #expect(noModel.contains("\(TestSupport.scratch)/no-model/") && noModel.contains("is not installed"), "\(noModel)")
        #expect(noModel.contains("make -C functions/ocr (which scripts/setup runs) installs it"), "\(noModel)")

        let noRuntime = try await Self.startFailure(try Self.manifest(runtimeDirectory: TestSupport.scratch + "/no-runtime"))
        #expect(noRuntime.contains("the OpenVINO runtime could not be loaded from \(TestSupport.scratch)/no-runtime/lib"), "\(noRuntime)")
        #expect(noRuntime.contains("make -C functions/openvino (which scripts/setup runs) installs it"), "\(noRuntime)")
    }

    @Test func damagedModelFilesAreClearStartFailures() async throws {
        let installed = Self.ocrDirectory + "/model"
        let names = ["PP-OCRv6_det_small.onnx", "PP-OCRv6_rec_small.onnx", "PP-OCRv6_rec_small.dict"]
        /// A copy of the installed models with `name` replaced by `damage` of its bytes.
        func damagedCopy(_ name: String, _ damage: (Data) -> Data) throws -> String {
            let directory = "\(TestSupport.scratch)/damaged-\(UUID().uuidString)"
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
            for file in names {
                let bytes = try Data(contentsOf: URL(fileURLWithPath: "\(installed)/\(file)"))
                try (file == name ? damage(bytes) : bytes).write(to: URL(fileURLWithPath: "\(directory)/\(file)"))
            }
            return directory
        }
        let truncated = try damagedCopy("PP-OCRv6_det_small.onnx") { $0.prefix($0.count / 2) }
        let garbled = try damagedCopy("PP-OCRv6_rec_small.onnx") { bytes in
            var bytes = bytes
            for offset in stride(from: 0, to: bytes.count, by: 4096) { bytes[offset] ^= 0x5A }
            return bytes
        }
        let shortDictionary = try damagedCopy("PP-OCRv6_rec_small.dict") { $0.prefix(1000) }

        let detector = try await Self.startFailure(try Self.manifest(modelDirectory: truncated))
        #expect(detector.contains("the model \(truncated)/PP-OCRv6_det_small.onnx could not be read, it may be damaged"), "\(detector)")
        let recogniser = try await Self.startFailure(try Self.manifest(modelDirectory: garbled))
        #expect(recogniser.contains("the model \(garbled)/PP-OCRv6_rec_small.onnx could not be read, it may be damaged"), "\(recogniser)")
        let dictionary = try await Self.startFailure(try Self.manifest(modelDirectory: shortDictionary))
        #expect(dictionary.contains("the recogniser's dictionary") && dictionary.contains("does not match the model (18710)"), "\(dictionary)")
        for message in [detector, recogniser, dictionary] {
            #expect(message.contains("make -C functions/ocr (which scripts/setup runs) installs it again"), "\(message)")
        }
    }

    /// `image` turned by `degrees` (counter-clockwise as seen, like a page
    /// photographed askew) about its centre, on a white canvas grown to hold
    /// all of it; bilinear sampling.
    static func rotated(_ image: RGBImage, degrees: Double) -> RGBImage {
        let angle = degrees * .pi / 180, c = cos(angle), s = sin(angle)
        let width = Int((Double(image.width) * abs(c) + Double(image.height) * abs(s)).rounded(.up))
        let height = Int((Double(image.width) * abs(s) + Double(image.height) * abs(c)).rounded(.up))
        let (sourceX, sourceY) = (Double(image.width) / 2, Double(image.height) / 2)
        let (targetX, targetY) = (Double(width) / 2, Double(height) / 2)
        var pixels = [UInt8](repeating: 255, count: width * height * 3)
        for y in 0..<height {
            for x in 0..<width {
                // The source point that lands here: the inverse rotation (y grows downwards).
                let dx = Double(x) + 0.5 - targetX, dy = Double(y) + 0.5 - targetY
                let u = c * dx - s * dy + sourceX - 0.5, v = s * dx + c * dy + sourceY - 0.5
                guard u >= 0, v >= 0, u <= Double(image.width - 1), v <= Double(image.height - 1) else { continue }
                let (x0, y0) = (Int(u), Int(v))
                let (x1, y1) = (min(x0 + 1, image.width - 1), min(y0 + 1, image.height - 1))
                let (fx, fy) = (u - Double(x0), v - Double(y0))
                let corners = [(x0, y0), (x1, y0), (x0, y1), (x1, y1)].map { image.pixel(x: $0.0, y: $0.1) }
                let weights = [(1 - fx) * (1 - fy), fx * (1 - fy), (1 - fx) * fy, fx * fy]
                var mixed = (0.0, 0.0, 0.0)
                for (corner, weight) in zip(corners, weights) {
                    mixed.0 += Double(corner.red) * weight
                    mixed.1 += Double(corner.green) * weight
                    mixed.2 += Double(corner.blue) * weight
                }
                let offset = (y * width + x) * 3
                pixels[offset] = UInt8(min(255, mixed.0.rounded()))
                pixels[offset + 1] = UInt8(min(255, mixed.1.rounded()))
                pixels[offset + 2] = UInt8(min(255, mixed.2.rounded()))
            }
        }
        return RGBImage(width: width, height: height, stride: width * 3, pixels: ByteBuffer(bytes: pixels))
    }
}
