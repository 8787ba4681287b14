import Foundation
import NIOCore
import TestSupport
import Testing

@testable import DescriberHost
@testable import DescriberImaging

/// JPEG and PNG decoding: sizes, DCT scaling, EXIF orientation, colour
/// conversions, every refusal with its typed error, and the host handing
/// decoded pixels to an RGB8 function.
///
/// Inputs that would be awkward to commit (orientation tags, truncated,
/// corrupted and bomb files) are derived from the fixtures' bytes here.
@Suite struct ImageDecodingTests {
    // MARK: Fixtures and byte surgery

    static func decode(
        _ bytes: [UInt8], limits: ImageLimits = ImageLimits(), maxWidth: Int? = nil, maxHeight: Int? = nil, dctScaling: Bool = true
    )
        throws -> (image: RGBImage, plan: ImageDecoder.Plan)
    {
        try bytes.withUnsafeBytes { raw in
            try ImageDecoder.decodeReportingPlan(raw, limits: limits, maxWidth: maxWidth, maxHeight: maxHeight, dctScaling: dctScaling)
        }
    }

    static func close(_ pixel: (red: UInt8, green: UInt8, blue: UInt8), _ expected: (Int, Int, Int), tolerance: Int) -> Bool {
        abs(Int(pixel.red) - expected.0) <= tolerance && abs(Int(pixel.green) - expected.1) <= tolerance
            && abs(Int(pixel.blue) - expected.2) <= tolerance
    }

    // MARK: Sizes and scaling

    @Test func decodesAJPEGAtFullSize() throws {
        let (image, plan) = try Self.decode(try TestImages.bytes("dog.jpg"))
        #expect(image.width == 768 && image.height == 576 && image.stride == 768 * 3)
        #expect(image.pixels.readableBytes == 768 * 3 * 576)
        #expect(plan.format == .jpeg && plan.scaleDenominator == 1)
    }

    /// Functions are told the size of the picture as sent (ABI 1.1), so a
    /// decoded copy remembers it through scaling and orientation.
    @Test func decodedPicturesRememberTheSizeTheyWereSentAt() throws {
        let dog = try TestImages.bytes("dog.jpg")
        let (scaled, _) = try Self.decode(dog, maxWidth: 320, maxHeight: 320)
        #expect(scaled.width == 320 && scaled.sourceWidth == 768 && scaled.sourceHeight == 576)
        let fitted = try #require(scaled.fitted(maxWidth: 100, maxHeight: 100))
        #expect(fitted.width == 100 && fitted.sourceWidth == 768 && fitted.sourceHeight == 576)
        // Orientation 6: stored 768 x 576, shown turned a quarter.
        let (turned, _) = try Self.decode(TestImages.withOrientation(6, dog), maxWidth: 300, maxHeight: 300)
        #expect(turned.width < turned.height && turned.sourceWidth == 576 && turned.sourceHeight == 768)
    }

    @Test func decodesAPNGAtFullSize() throws {
        let (image, plan) = try Self.decode(try TestImages.bytes("page.png"))
        #expect(image.width == 384 && image.height == 191 && image.stride == 384 * 3)
        #expect(plan.format == .png)
        // An 8-bit grey PNG becomes RGB with three equal channels.
        for y in stride(from: 0, to: 191, by: 17) {
            for x in stride(from: 0, to: 384, by: 13) {
                let pixel = image.pixel(x: x, y: y)
                #expect(pixel.red == pixel.green && pixel.green == pixel.blue)
            }
        }
    }

    struct Box: Sendable, CustomTestStringConvertible {
        var maxWidth: Int
        var maxHeight: Int
        var width: Int
        var height: Int
        var denominator: Int
        var testDescription: String { "\(maxWidth)x\(maxHeight) -> \(width)x\(height) at 1/\(denominator)" }
    }

    /// dog.jpg is 768 x 576. The DCT reduction is the largest whose output
    /// still covers the box; the area resize does the rest.
    @Test(arguments: [
        Box(maxWidth: 200, maxHeight: 200, width: 200, height: 150, denominator: 2),
        Box(maxWidth: 100, maxHeight: 1000, width: 100, height: 75, denominator: 4),
        Box(maxWidth: 96, maxHeight: 72, width: 96, height: 72, denominator: 8),
        Box(maxWidth: 50, maxHeight: 50, width: 50, height: 38, denominator: 8),
        Box(maxWidth: 1000, maxHeight: 300, width: 400, height: 300, denominator: 1),
        Box(maxWidth: 2000, maxHeight: 2000, width: 768, height: 576, denominator: 1),
    ])
    func dctScalingFitsTheBox(_ box: Box) throws {
        let (image, plan) = try Self.decode(try TestImages.bytes("dog.jpg"), maxWidth: box.maxWidth, maxHeight: box.maxHeight)
        #expect(image.width == box.width && image.height == box.height)
        #expect(image.width <= box.maxWidth && image.height <= box.maxHeight)
        #expect(plan.scaleDenominator == box.denominator)
        #expect(plan.decodedWidth >= image.width && plan.decodedHeight >= image.height)
    }

    /// The DCT-scaled path and the full decode plus area resize give
    /// nearly the same picture.
    @Test func dctScalingLooksLikeAFullDecodeResized() throws {
        let bytes = try TestImages.bytes("dog.jpg")
        let (scaled, scaledPlan) = try Self.decode(bytes, maxWidth: 200, maxHeight: 200)
        let (full, fullPlan) = try Self.decode(bytes, maxWidth: 200, maxHeight: 200, dctScaling: false)
        #expect(scaledPlan.scaleDenominator == 2 && fullPlan.scaleDenominator == 1)
        #expect(scaled.width == full.width && scaled.height == full.height)
        let a = Array(scaled.pixels.readableBytesView), b = Array(full.pixels.readableBytesView)
        let meanDifference = Double(zip(a, b).reduce(0) { $0 + abs(Int($1.0) - Int($1.1)) }) / Double(a.count)
        #expect(meanDifference < 4, "mean absolute difference \(meanDifference)")
    }

    @Test func pngIsResizedAndNothingIsEnlarged() throws {
        let page = try Self.decode(try TestImages.bytes("page.png"), maxWidth: 100, maxHeight: 100).image
        #expect(page.width == 100 && page.height == 50)
        let small = try Self.decode(try TestImages.bytes("gray.jpg"), maxWidth: 1000, maxHeight: 1000).image
        #expect(small.width == 32 && small.height == 24)
    }

    @Test func theOverloadsAgree() throws {
        let bytes = try TestImages.bytes("text_motion.jpg")
        let fromArray = try ImageDecoder.decode(bytes, maxWidth: 120, maxHeight: 120)
        let fromBuffer = try ImageDecoder.decode(ByteBuffer(bytes: bytes), maxWidth: 120, maxHeight: 120)
        #expect(fromArray == fromBuffer)
        #expect(fromArray.width == 120 && fromArray.height == 74)  // 588 x 365: 365 * 120 / 588 = 74.49, rounded
    }

    // MARK: Orientation

    /// Where displayed pixel (x, y) comes from in the stored image, per EXIF orientation.
    static func source(of x: Int, _ y: Int, orientation: Int, width w: Int, height h: Int) -> (Int, Int) {
        switch orientation {
        case 2: (w - 1 - x, y)
        case 3: (w - 1 - x, h - 1 - y)
        case 4: (x, h - 1 - y)
        case 5: (y, x)
        case 6: (y, h - 1 - x)
        case 7: (w - 1 - y, h - 1 - x)
        case 8: (w - 1 - y, x)
        default: (x, y)
        }
    }

    @Test(arguments: 1...8)
    func appliesTheEXIFOrientation(_ orientation: Int) throws {
        let original = try TestImages.bytes("person.jpg")  // 640 x 424
        let upright = try Self.decode(original).image
        let (image, plan) = try Self.decode(TestImages.withOrientation(UInt16(orientation), original, littleEndian: orientation % 2 == 0))
        #expect(plan.orientation == orientation)
        let transposed = orientation >= 5
        #expect(image.width == (transposed ? 424 : 640) && image.height == (transposed ? 640 : 424))
        var mismatches = 0
        for y in 0..<image.height {
            for x in 0..<image.width {
                let (sx, sy) = Self.source(of: x, y, orientation: orientation, width: 640, height: 424)
                if image.pixel(x: x, y: y) != upright.pixel(x: sx, y: sy) { mismatches += 1 }
            }
        }
        #expect(mismatches == 0)
    }

    @Test func theBoxAppliesToTheDisplayedOrientation() throws {
        // Stored 640 x 424, displayed 424 x 640 (orientation 6).
        let image = try Self.decode(TestImages.withOrientation(6, try TestImages.bytes("person.jpg")), maxWidth: 100, maxHeight: 200).image
        #expect(image.width == 100 && image.height == 151)
    }

    @Test func malformedEXIFIsIgnored() throws {
        let original = try TestImages.bytes("person.jpg")
        let cases: [[UInt8]] = [
            Array("Exif".utf8) + [0, 0] + Array("MM".utf8) + [0, 42, 0xFF, 0xFF, 0xFF, 0xF0],  // IFD0 past the end
            Array("Exif".utf8) + [0, 0] + Array("MM".utf8) + [0, 42, 0, 0, 0, 8, 0xFF, 0xFF, 1, 0x12],  // 65535 entries claimed, half of one present
            Array("Exif".utf8) + [0, 0] + Array("II".utf8) + [42, 0, 8, 0, 0, 0, 1, 0, 0x12, 0x01, 3, 0, 1, 0, 0, 0, 9, 0, 0, 0],  // orientation 9
            Array("Exif".utf8) + [0, 0] + Array("XX".utf8),  // no TIFF header
        ]
        for payload in cases {
            let (image, plan) = try Self.decode(TestImages.segment(app1: payload, into: original))
            #expect(plan.orientation == 1)
            #expect(image.width == 640 && image.height == 424)
        }
    }

    // MARK: Colour conversions (generated fixtures; see Fixtures/images/NOTICE.md)

    @Test func convertsEveryColourModelToRGB8() throws {
        let rgba = try Self.decode(try TestImages.bytes("rgba.png")).image
        #expect(rgba.pixel(x: 0, y: 0) == (255, 0, 0))  // opaque red
        #expect(rgba.pixel(x: 31, y: 0) == (255, 255, 255))  // fully transparent: white
        #expect(rgba.pixel(x: 5, y: 23) == (127, 127, 255))  // half-transparent blue on white

        let sixteen = try Self.decode(try TestImages.bytes("rgb16.png")).image
        #expect(sixteen.pixel(x: 3, y: 3) == (255, 128, 0))

        let grey = try Self.decode(try TestImages.bytes("gray2.png")).image
        #expect((0..<4).map { grey.pixel(x: $0, y: 5).red } == [0, 85, 170, 255])
        #expect(grey.pixel(x: 2, y: 5) == (170, 170, 170))

        let palette = try Self.decode(try TestImages.bytes("palette.png")).image
        #expect(palette.pixel(x: 0, y: 0) == (255, 0, 0))
        #expect(palette.pixel(x: 0, y: 7) == (0, 255, 0))
        #expect(palette.pixel(x: 0, y: 13) == (0, 0, 255))
        #expect(palette.pixel(x: 0, y: 23) == (255, 255, 255))  // the transparent entry

        let (interlaced, interlacedPlan) = try Self.decode(try TestImages.bytes("interlaced.png"))
        #expect(interlaced.pixel(x: 7, y: 5) == (56, 40, 200))
        #expect(interlaced.pixel(x: 31, y: 23) == (248, 184, 200))
        #expect(interlacedPlan.format == .png)

        let cmyk = try Self.decode(try TestImages.bytes("cmyk.jpg")).image
        #expect(Self.close(cmyk.pixel(x: 4, y: 4), (255, 0, 0), tolerance: 6))
        #expect(Self.close(cmyk.pixel(x: 4, y: 20), (128, 128, 128), tolerance: 6))

        let greyJPEG = try Self.decode(try TestImages.bytes("gray.jpg")).image
        #expect(greyJPEG.pixel(x: 10, y: 10) == (100, 100, 100))

        let progressive = try Self.decode(try TestImages.bytes("progressive.jpg")).image
        #expect(Self.close(progressive.pixel(x: 3, y: 3), (0, 200, 0), tolerance: 6))
        #expect(Self.close(progressive.pixel(x: 28, y: 20), (40, 40, 160), tolerance: 6))
    }

    // MARK: Refusals

    struct Refusal: Sendable, CustomTestStringConvertible {
        var name: String
        var code: ImageError.Code
        var mentions: String
        var limits = ImageLimits()
        var bytes: @Sendable () throws -> [UInt8]
        var testDescription: String { "\(name) -> \(code.rawValue)" }
    }

    static let refusals: [Refusal] = [
        Refusal(name: "JPEG cut in half", code: .truncatedImage, mentions: "the JPEG data ends before the image does") {
            let jpeg = try TestImages.bytes("dog.jpg")
            return Array(jpeg[..<(jpeg.count / 2)])
        },
        Refusal(name: "JPEG cut inside its headers", code: .truncatedImage, mentions: "truncated") { Array(try TestImages.bytes("dog.jpg")[..<300]) },
        Refusal(name: "progressive JPEG cut short", code: .truncatedImage, mentions: "truncated") {
            let jpeg = try TestImages.bytes("progressive.jpg")
            return Array(jpeg[..<(jpeg.count - 200)])
        },
        Refusal(name: "PNG cut in half", code: .truncatedImage, mentions: "the PNG data ends before the image does") {
            let png = try TestImages.bytes("page.png")
            return Array(png[..<(png.count / 2)])
        },
        Refusal(name: "interlaced PNG cut short", code: .truncatedImage, mentions: "truncated") {
            let png = try TestImages.bytes("interlaced.png")
            return Array(png[..<(png.count - 40)])
        },
        Refusal(name: "EOI marker in the middle of the scan", code: .notAnImage, mentions: "corrupt") {
            var jpeg = try TestImages.bytes("dog.jpg")
            jpeg.replaceSubrange((jpeg.count / 2)..<(jpeg.count / 2 + 2), with: [0xFF, 0xD9])
            return jpeg
        },
        Refusal(name: "bogus SOF length", code: .notAnImage, mentions: "Bogus marker length") {
            var jpeg = try TestImages.bytes("dog.jpg")
            let sof = try TestImages.startOfFrame(in: jpeg)
            jpeg[sof + 2] = 0
            jpeg[sof + 3] = 1
            return jpeg
        },
        Refusal(name: "PNG with a damaged IHDR", code: .notAnImage, mentions: "CRC") {
            var png = try TestImages.bytes("page.png")
            png[18] ^= 0x55
            return png
        },
        Refusal(name: "JPEG signature then noise", code: .truncatedImage, mentions: "truncated") {
            [0xFF, 0xD8, 0xFF] + (0..<500).map { UInt8(truncatingIfNeeded: $0 * 37 % 251) }
        },
        Refusal(name: "12-bit JPEG", code: .unsupportedFormat, mentions: "precision 12") {
            var jpeg = try TestImages.bytes("dog.jpg")
            jpeg[try TestImages.startOfFrame(in: jpeg) + 4] = 12
            return jpeg
        },
        Refusal(name: "lossless JPEG", code: .unsupportedFormat, mentions: "SOF type 0xc3") {
            var jpeg = try TestImages.bytes("dog.jpg")
            jpeg[try TestImages.startOfFrame(in: jpeg) + 1] = 0xC3
            return jpeg
        },
        Refusal(name: "zero bytes", code: .notAnImage, mentions: "the input is empty") { [] },
        Refusal(name: "text", code: .notAnImage, mentions: "which looks like text") { Array("hello, this is not a picture".utf8) },
        Refusal(name: "GIF", code: .unsupportedFormat, mentions: "GIF images are not supported") { Array("GIF89a".utf8) + [1, 0, 1, 0, 0, 0, 0] },
        Refusal(name: "WebP", code: .unsupportedFormat, mentions: "WebP images are not supported") {
            Array("RIFF".utf8) + [26, 0, 0, 0] + Array("WEBPVP8 ".utf8) + [UInt8](repeating: 0, count: 14)
        },
        Refusal(name: "BMP", code: .unsupportedFormat, mentions: "BMP images are not supported") { Array("BM".utf8) + [UInt8](repeating: 0, count: 60) },
        Refusal(
            name: "JPEG header bomb, 65535 x 65535", code: .imageTooLarge,
            mentions: "the JPEG header claims 65535 x 65535 pixels (4294 MP); the limit is 50 MP"
        ) {
            var jpeg = try TestImages.bytes("dog.jpg")
            let sof = try TestImages.startOfFrame(in: jpeg)
            jpeg.replaceSubrange((sof + 5)..<(sof + 9), with: [0xFF, 0xFF, 0xFF, 0xFF])
            return jpeg
        },
        Refusal(name: "JPEG header bomb, 10000 x 10000", code: .imageTooLarge, mentions: "claims 10000 x 10000 pixels (100 MP); the limit is 50 MP") {
            var jpeg = try TestImages.bytes("dog.jpg")
            let sof = try TestImages.startOfFrame(in: jpeg)
            jpeg.replaceSubrange((sof + 5)..<(sof + 9), with: [0x27, 0x10, 0x27, 0x10])
            return jpeg
        },
        Refusal(name: "PNG IHDR bomb", code: .imageTooLarge, mentions: "the PNG header claims 100000 x 100000 pixels (10000 MP)") {
            TestImages.pngClaiming(width: 100_000, height: 100_000, try TestImages.bytes("page.png"))
        },
        Refusal(name: "PNG at the format's maximum", code: .imageTooLarge, mentions: "claims 2147483647 x 2147483647 pixels") {
            TestImages.pngClaiming(width: 0x7FFF_FFFF, height: 0x7FFF_FFFF, try TestImages.bytes("page.png"))
        },
        Refusal(name: "over the byte limit", code: .imageTooLarge, mentions: "the limit for an image is 1000 bytes", limits: ImageLimits(maxBytes: 1000)) {
            try TestImages.bytes("dog.jpg")
        },
        Refusal(
            name: "over a small pixel limit", code: .imageTooLarge, mentions: "claims 640 x 424 pixels (0.2 MP); the limit is 0.1 MP",
            limits: ImageLimits(maxPixels: 100_000)
        ) {
            try TestImages.bytes("person.jpg")
        },
    ]

    @Test(arguments: refusals)
    func refusesWithATypedError(_ refusal: Refusal) throws {
        let bytes = try refusal.bytes()
        let error = #expect(throws: ImageError.self) { try ImageDecoder.decode(bytes, limits: refusal.limits, maxWidth: 512, maxHeight: 512) }
        #expect(error?.code == refusal.code)
        #expect(error?.message.contains(refusal.mentions) == true, "\(error?.message ?? "no error")")
    }

    @Test func megapixelsAreReadable() {
        #expect(ImageDecoder.megapixels(4_294_836_225) == "4294 MP")
        #expect(ImageDecoder.megapixels(50_000_000) == "50 MP")
        #expect(ImageDecoder.megapixels(271_360) == "0.2 MP")
        #expect(ImageDecoder.megapixels(9_999_999) == "9.9 MP")
    }

    @Test func imageErrorsMapToHTTPStatuses() {
        let statuses = [ImageError.Code.notAnImage, .truncatedImage, .unsupportedFormat, .imageTooLarge].map {
            let error = InvocationError(ImageError($0, "x"))
            return "\(error.code.rawValue) \(error.httpStatus)"
        }
        #expect(statuses == ["not_an_image 400", "truncated_image 400", "unsupported_format 415", "image_too_large 413"])
    }

    // MARK: Through the host

    static func fields(_ output: InvocationOutput) -> [String: String] {
        var fields: [String: String] = [:]
        for (index, part) in output.text.split(separator: " ").enumerated() {
            let pair = part.split(separator: "=", maxSplits: 1)
            if pair.count == 2 { fields[String(pair[0])] = String(pair[1]) } else if index == 0 { fields["geometry"] = String(part) }
        }
        return fields
    }

    @Test func anRGB8FunctionGetsDecodedOrientedPixels() async throws {
        let host = try TestSupport.host(["pixels": try TestSupport.rgbManifest()])
        await host.start()
        // text_motion.jpg is 588 x 365; the function's box is 256 x 256.
        let jpeg = try TestImages.bytes("text_motion.jpg")
        let output = try await host.invoke("pixels", InvocationRequest(body: ByteBuffer(bytes: jpeg), contentType: "image/jpeg"))
        let fields = Self.fields(output)
        #expect(fields["geometry"] == "256x159")
        #expect(fields["stride"] == "768" && fields["size"] == "\(768 * 159)")
        #expect(fields["type"] == "application/x-describer-rgb8")
        let expected = try ImageDecoder.decode(jpeg, maxWidth: 256, maxHeight: 256).pixel(x: 0, y: 0)
        #expect(fields["first"] == "\(expected.red),\(expected.green),\(expected.blue)")

        // Sniffed by its bytes, rotated by its EXIF tag, whatever image type it was sent as.
        let rotated = TestImages.withOrientation(6, jpeg)
        let turned = try await host.invoke("pixels", InvocationRequest(body: ByteBuffer(bytes: rotated), contentType: "image/png"))
        #expect(Self.fields(turned)["geometry"] == "159x256")

        let png = try await host.invoke("pixels", InvocationRequest(body: ByteBuffer(bytes: try TestImages.bytes("page.png")), contentType: "image/png"))
        #expect(Self.fields(png)["geometry"] == "256x127")
        await host.shutdown()
    }

    @Test func aBadImageFailsOnlyItsOwnItemInABatch() async throws {
        let host = try TestSupport.host(["pixels": try TestSupport.rgbManifest("batching: { max_batch_size: 4, max_batch_delay: 300ms }")])
        await host.start()
        let good = try TestImages.bytes("gray.jpg")
        let truncated = Array(try TestImages.bytes("dog.jpg")[..<5000])
        async let first = host.result("pixels", InvocationRequest(body: ByteBuffer(bytes: good), contentType: "image/jpeg"))
        async let second = host.result("pixels", InvocationRequest(body: ByteBuffer(bytes: truncated), contentType: "image/jpeg"))
        let (a, b) = await (first, second)
        #expect(a.success.map { Self.fields($0)["geometry"] } == "32x24")
        #expect(a.success?.timings.batchSize == 1)
        #expect(b.failure?.code == .truncatedImage)
        #expect(b.failure?.httpStatus == 400)
        await host.shutdown()
    }

    @Test func anRGB8FunctionRefusesContentTypesItCannotDecode() throws {
        let host = try TestSupport.host([
            "pixels": try TestSupport.rgbManifest(),
            "jpegonly": try TestSupport.rgbManifest("input: { content_types: [image/jpeg] }"),
            "textonly": try TestSupport.rgbManifest("input: { content_types: [text/plain] }"),
        ])
        #expect(host.entries["pixels"]?.pool?.limits.contentTypes == ["image/jpeg", "image/png"])
        #expect(host.entries["jpegonly"]?.pool?.limits.contentTypes == ["image/jpeg"])
        #expect(host.entries["textonly"]?.problem?.contains("admits none of the formats the host decodes") == true)
    }
}

/// One decode shared by several functions.
extension ImageDecodingTests {
    @Test func aCallerDecodedImageIsUsedInsteadOfDecodingTheBodyAgain() async throws {
        let host = try TestSupport.host(["pixels": try TestSupport.rgbManifest()])
        await host.start()
        let jpeg = try TestImages.bytes("text_motion.jpg")
        let shared = try ImageDecoder.decode(jpeg, maxWidth: 256, maxHeight: 256)
        // The body is not an image at all: only the shared pixels can answer.
        let request = InvocationRequest(
            body: ByteBuffer(string: "not decoded again"), contentType: "image/jpeg",
            decodedImage: DecodedImage(image: shared, maxWidth: 256, maxHeight: 256)
        )
        let output = try await host.invoke("pixels", request)
        #expect(Self.fields(output)["geometry"] == "256x159")
        // Pixels decoded for another box are not used: the body is decoded (and here refused).
        let otherBox = InvocationRequest(
            body: ByteBuffer(string: "not decoded again"), contentType: "image/jpeg",
            decodedImage: DecodedImage(image: shared, maxWidth: 512, maxHeight: 512)
        )
        let refused = await host.result("pixels", otherBox)
        #expect(refused.failure?.code == .notAnImage)
        await host.shutdown()
    }

    @Test func fittingADecodedImageMatchesDecodingForTheSmallerBox() throws {
        let jpeg = try TestImages.bytes("dog.jpg")  // 768 x 576
        let large = try ImageDecoder.decode(jpeg, maxWidth: 832, maxHeight: 832)
        let fitted = try #require(large.fitted(maxWidth: 640, maxHeight: 640))
        let direct = try ImageDecoder.decode(jpeg, maxWidth: 640, maxHeight: 640)
        #expect(fitted.width == direct.width && fitted.height == direct.height)
        // The same area filter from nearly the same source: pixels agree closely.
        var total = 0, count = 0
        for y in Swift.stride(from: 0, to: direct.height, by: 7) {
            for x in Swift.stride(from: 0, to: direct.width, by: 7) {
                let a = fitted.pixel(x: x, y: y), b = direct.pixel(x: x, y: y)
                total += abs(Int(a.red) - Int(b.red)) + abs(Int(a.green) - Int(b.green)) + abs(Int(a.blue) - Int(b.blue))
                count += 3
            }
        }
        #expect(Double(total) / Double(count) < 3, "mean difference \(Double(total) / Double(count))")
        #expect(large.fitted(maxWidth: 2000, maxHeight: 2000) == large, "never enlarged")
    }
}
