import CImageDecode
import NIOCore

/// Decodes JPEG (libjpeg-turbo) and PNG (libpng) into orientation-corrected
/// RGB8, downscaled to fit a box, with limits checked before any pixel
/// memory is allocated.
///
/// Decoding is blocking C code that can take tens of milliseconds: call it
/// from a thread of your own (the host uses the instance's handler threads),
/// never from Swift's cooperative pool.
public enum ImageDecoder {
    /// Decodes `bytes`, whose format is sniffed from its first bytes.
    /// - Parameters:
    ///   - limits: the byte and pixel limits; the pixel limit applies to the
    ///     size the header claims, before any downscaling.
    ///   - maxWidth, maxHeight: the box to fit, in displayed orientation
    ///     (nil: no limit on that side). The aspect ratio is kept, and images
    ///     are never enlarged.
    ///   - dctScaling: let libjpeg decode at 1/2, 1/4 or 1/8 size when that
    ///     still covers the box. Off only to measure what it saves.
    public static func decode(
        _ bytes: UnsafeRawBufferPointer, limits: ImageLimits = ImageLimits(), maxWidth: Int? = nil, maxHeight: Int? = nil,
        dctScaling: Bool = true
    ) throws(ImageError) -> RGBImage {
        try decodeReportingPlan(bytes, limits: limits, maxWidth: maxWidth, maxHeight: maxHeight, dctScaling: dctScaling).image
    }

    /// Decodes the readable bytes of `buffer`. See the `UnsafeRawBufferPointer` overload.
    public static func decode(
        _ buffer: ByteBuffer, limits: ImageLimits = ImageLimits(), maxWidth: Int? = nil, maxHeight: Int? = nil,
        dctScaling: Bool = true
    ) throws(ImageError) -> RGBImage {
        // Typed throws do not pass through `rethrows`, hence the Result.
        let result = buffer.withUnsafeReadableBytes { bytes in
            Result { () throws(ImageError) in
                try decode(bytes, limits: limits, maxWidth: maxWidth, maxHeight: maxHeight, dctScaling: dctScaling)
            }
        }
        return try result.get()
    }

    /// Decodes `bytes`. See the `UnsafeRawBufferPointer` overload.
    public static func decode(
        _ bytes: [UInt8], limits: ImageLimits = ImageLimits(), maxWidth: Int? = nil, maxHeight: Int? = nil,
        dctScaling: Bool = true
    ) throws(ImageError) -> RGBImage {
        let result = bytes.withUnsafeBytes { bytes in
            Result { () throws(ImageError) in
                try decode(bytes, limits: limits, maxWidth: maxWidth, maxHeight: maxHeight, dctScaling: dctScaling)
            }
        }
        return try result.get()
    }

    /// The size of the image in `buffer` as it is displayed (EXIF
    /// orientations 5–8 swap the sides), read from its header alone: no
    /// pixel memory is allocated. For answering in the caller's pixel
    /// coordinates when a function saw a scaled copy.
    public static func displayedSize(of buffer: ByteBuffer) throws(ImageError) -> (width: Int, height: Int) {
        let result = buffer.withUnsafeReadableBytes { bytes in
            Result { () throws(ImageError) -> (width: Int, height: Int) in
                try withHeader(bytes, limits: ImageLimits()) { _, _, header throws(ImageError) in
                    let swapped = header.orientation >= 5 && header.orientation <= 8
                    return swapped ? (Int(header.height), Int(header.width)) : (Int(header.width), Int(header.height))
                }
            }
        }
        return try result.get()
    }

    /// Checks `bytes` (not empty, within the byte limit, a decodable format),
    /// reads its header and runs `body` with the decoder, which is destroyed
    /// afterwards. The one path into CImageDecode for decoding and sizing alike.
    private static func withHeader<R>(
        _ bytes: UnsafeRawBufferPointer, limits: ImageLimits,
        _ body: (OpaquePointer, ImageFormat, describer_image_header) throws(ImageError) -> R
    ) throws(ImageError) -> R {
        guard !bytes.isEmpty else { throw ImageError(.notAnImage, "the input is empty (0 bytes), not an image") }
        guard bytes.count <= limits.maxBytes else {
            throw ImageError(.imageTooLarge, "the input is \(bytes.count) bytes; the limit for an image is \(limits.maxBytes) bytes")
        }
        guard let format = ImageFormat.sniff(bytes) else {
            throw ImageError(.notAnImage, "the input is not a JPEG or PNG image: it starts with \(preview(of: bytes))")
        }
        guard format.isDecodable else {
            throw ImageError(.unsupportedFormat, "\(format.name) images are not supported; send a JPEG or PNG")
        }
        guard let decoder = describer_image_decoder_create() else {
            throw ImageError(.imageTooLarge, "out of memory before decoding started")
        }
        defer { describer_image_decoder_destroy(decoder) }
        var header = describer_image_header()
        try check(describer_image_read_header(decoder, bytes.baseAddress, bytes.count, &header), decoder, format, header, limits)
        return try body(decoder, format, header)
    }

    /// How an image was decoded: for tests and benchmarks.
    struct Plan: Equatable {
        var format: ImageFormat
        /// The stored size, before orientation and scaling.
        var sourceWidth: Int
        var sourceHeight: Int
        var orientation: Int
        /// The JPEG DCT reduction (1, 2, 4 or 8).
        var scaleDenominator: Int
        /// What libjpeg/libpng produced before the area resize.
        var decodedWidth: Int
        var decodedHeight: Int
    }

    static func decodeReportingPlan(
        _ bytes: UnsafeRawBufferPointer, limits: ImageLimits, maxWidth: Int?, maxHeight: Int?, dctScaling: Bool
    ) throws(ImageError) -> (image: RGBImage, plan: Plan) {
        precondition(maxWidth.map { $0 > 0 } ?? true && maxHeight.map { $0 > 0 } ?? true, "the box to fit must be positive")
        return try withHeader(bytes, limits: limits) { decoder, format, header throws(ImageError) in
            guard Int(header.width) * Int(header.height) <= limits.maxPixels else {
                throw tooManyPixels(format, header, limits)
            }
            var plan = describer_image_plan()
            let status = describer_image_plan_output(
                decoder, UInt32(clamping: maxWidth ?? 0), UInt32(clamping: maxHeight ?? 0), dctScaling ? 1 : 0, &plan
            )
            try check(status, decoder, format, header, limits)

            let width = Int(plan.width), height = Int(plan.height), stride = width * 3
            var pixels = ByteBufferAllocator().buffer(capacity: stride * height)
            var decodeStatus = DESCRIBER_IMAGE_OK
            pixels.writeWithUnsafeMutableBytes(minimumWritableBytes: stride * height) { destination in
                decodeStatus = describer_image_decode(
                    decoder, destination.baseAddress!.assumingMemoryBound(to: UInt8.self), stride, destination.count
                )
                return decodeStatus == DESCRIBER_IMAGE_OK ? stride * height : 0
            }
            try check(decodeStatus, decoder, format, header, limits)
            // Orientations 5 to 8 turn the picture a quarter.
            let turned = header.orientation >= 5 && header.orientation <= 8
            return (
                RGBImage(
                    width: width, height: height, stride: stride, pixels: pixels,
                    sourceWidth: Int(turned ? header.height : header.width), sourceHeight: Int(turned ? header.width : header.height)
                ),
                Plan(
                    format: format, sourceWidth: Int(header.width), sourceHeight: Int(header.height),
                    orientation: Int(header.orientation), scaleDenominator: Int(plan.scale_denom),
                    decodedWidth: Int(plan.decoded_width), decodedHeight: Int(plan.decoded_height)
                )
            )
        }
    }

    /// The one place a CImageDecode status becomes a Swift error.
    private static func check(
        _ status: describer_image_status, _ decoder: OpaquePointer, _ format: ImageFormat, _ header: describer_image_header,
        _ limits: ImageLimits
    ) throws(ImageError) {
        guard status != DESCRIBER_IMAGE_OK else { return }
        let reason = String(cString: describer_image_message(decoder))
        let name = format.name
        switch status {
        case DESCRIBER_IMAGE_NOT_AN_IMAGE:
            throw ImageError(.notAnImage, "the \(name) data is corrupt: \(reason)")
        case DESCRIBER_IMAGE_UNSUPPORTED:
            throw ImageError(.unsupportedFormat, "this \(name) uses a feature the decoder does not support: \(reason)")
        case DESCRIBER_IMAGE_TRUNCATED:
            throw ImageError(.truncatedImage, "the \(name) data ends before the image does; the file is truncated (\(reason))")
        case DESCRIBER_IMAGE_TOO_LARGE:
            // libjpeg refuses sides over 65500 itself; it still reports the claimed size.
            if Int(header.width) * Int(header.height) > limits.maxPixels { throw tooManyPixels(format, header, limits) }
            throw ImageError(.imageTooLarge, "the \(name) image is too large to decode: \(reason)")
        default:
            // DESCRIBER_IMAGE_MISUSE: the calls above are in the documented order.
            preconditionFailure("CImageDecode was called out of order: \(reason)")
        }
    }

    private static func tooManyPixels(_ format: ImageFormat, _ header: describer_image_header, _ limits: ImageLimits) -> ImageError {
        let pixels = Int(header.width) * Int(header.height)
        return ImageError(
            .imageTooLarge,
            "the \(format.name) header claims \(header.width) x \(header.height) pixels (\(megapixels(pixels))); the limit is \(megapixels(limits.maxPixels))"
        )
    }

    /// "4294 MP", "50 MP", "0.3 MP": whole megapixels from 10 up, one decimal below.
    static func megapixels(_ pixels: Int) -> String {
        if pixels >= 10_000_000 { return "\(pixels / 1_000_000) MP" }
        let tenths = pixels / 100_000
        return "\(tenths / 10).\(tenths % 10) MP"
    }

    /// The first bytes in hex, and as text when they are printable, to tell
    /// the caller what they sent instead.
    private static func preview(of bytes: UnsafeRawBufferPointer) -> String {
        let head = bytes.prefix(8)
        let hex = head.map { ($0 < 16 ? "0" : "") + String($0, radix: 16) }.joined(separator: " ")
        if head.allSatisfy({ (0x20..<0x7F).contains($0) || $0 == 0x0A || $0 == 0x0D || $0 == 0x09 }) {
            let text = String(decoding: head.map { $0 < 0x20 ? 0x20 : $0 }, as: UTF8.self)
            return "\(hex) (\"\(text)\", which looks like text)"
        }
        return hex
    }
}
