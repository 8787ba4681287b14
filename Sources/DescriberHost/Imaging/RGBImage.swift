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

    public init(width: Int, height: Int, stride: Int, pixels: ByteBuffer) {
        precondition(width > 0 && height > 0 && stride >= width * 3 && pixels.readableBytes >= stride * height)
        self.width = width
        self.height = height
        self.stride = stride
        self.pixels = pixels
    }

    /// The pixel at column `x`, row `y` (0-based, from the top left).
    public func pixel(x: Int, y: Int) -> (red: UInt8, green: UInt8, blue: UInt8) {
        precondition(x >= 0 && x < width && y >= 0 && y < height, "pixel (\(x), \(y)) is outside \(width) x \(height)")
        let offset = pixels.readerIndex + y * stride + x * 3
        return (pixels.getInteger(at: offset)!, pixels.getInteger(at: offset + 1)!, pixels.getInteger(at: offset + 2)!)
    }
}
