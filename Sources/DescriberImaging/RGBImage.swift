import CImageDecode
import NIOCore

/// Decoded 8-bit RGB pixels: `height` rows of `stride` bytes, each row
/// starting with `width` pixels of three bytes (R, G, B). The layout of
/// `describer_request` for `DESCRIBER_INPUT_RGB8`.
public struct RGBImage: Sendable, Equatable {
    public var width: Int
    public var height: Int
    /// Bytes from one row to the next; at least `width * 3`.
    public var stride: Int
    /// A `ByteBuffer` so that the host can lend its storage to a function
    /// without copying.
    public var pixels: ByteBuffer
    /// The size of the picture these pixels were scaled from, upright: what
    /// the caller sent. The same as `width` and `height` when not scaled.
    public var sourceWidth: Int
    public var sourceHeight: Int

    public init(width: Int, height: Int, stride: Int, pixels: ByteBuffer, sourceWidth: Int? = nil, sourceHeight: Int? = nil) {
        precondition(width > 0 && height > 0 && stride >= width * 3 && pixels.readableBytes >= stride * height)
        self.width = width
        self.height = height
        self.stride = stride
        self.pixels = pixels
        self.sourceWidth = sourceWidth ?? width
        self.sourceHeight = sourceHeight ?? height
    }

    /// The pixel at column `x`, row `y` (0-based, from the top left).
    public func pixel(x: Int, y: Int) -> (red: UInt8, green: UInt8, blue: UInt8) {
        precondition(x >= 0 && x < width && y >= 0 && y < height, "pixel (\(x), \(y)) is outside \(width) x \(height)")
        let offset = pixels.readerIndex + y * stride + x * 3
        return (pixels.getInteger(at: offset)!, pixels.getInteger(at: offset + 1)!, pixels.getInteger(at: offset + 2)!)
    }
}

extension RGBImage {
    /// This image shrunk to fit `maxWidth` x `maxHeight` with the decoder's
    /// area filter (itself when it already fits), so one decode can serve
    /// functions that want different boxes. Blocking work: call it where
    /// decoding would be called.
    public func fitted(maxWidth: Int, maxHeight: Int) -> RGBImage? {
        var outWidth: UInt32 = 0, outHeight: UInt32 = 0
        describer_image_fit(UInt32(width), UInt32(height), UInt32(clamping: maxWidth), UInt32(clamping: maxHeight), &outWidth, &outHeight)
        if Int(outWidth) == width && Int(outHeight) == height { return self }
        let stride = Int(outWidth) * 3, size = stride * Int(outHeight)
        var output = ByteBufferAllocator().buffer(capacity: size)
        // Nothing is written unless the resize succeeded.
        let written = pixels.withUnsafeReadableBytes { source in
            output.writeWithUnsafeMutableBytes(minimumWritableBytes: size) { destination in
                let status = describer_image_resize(
                    source.baseAddress!.assumingMemoryBound(to: UInt8.self), UInt32(width), UInt32(height), self.stride,
                    destination.baseAddress!.assumingMemoryBound(to: UInt8.self), outWidth, outHeight, stride, destination.count
                )
                return status == DESCRIBER_IMAGE_OK ? size : 0
            }
        }
        guard written == size else { return nil }
        return RGBImage(
            width: Int(outWidth), height: Int(outHeight), stride: stride, pixels: output, sourceWidth: sourceWidth, sourceHeight: sourceHeight
        )
    }
}
