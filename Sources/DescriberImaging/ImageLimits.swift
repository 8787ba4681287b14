/// The most an image may cost before decoding starts. Both are checked
/// before any pixel memory is allocated: the byte size up front, the pixel
/// count as soon as the header has been read.
public struct ImageLimits: Sendable, Equatable {
    /// Width x height as the header claims it. 50 megapixels is above any
    /// current phone or consumer camera; decoding one takes 150 MB of RGB.
    public var maxPixels: Int
    /// The encoded input's size.
    public var maxBytes: Int

    public init(maxPixels: Int = 50_000_000, maxBytes: Int = 64 << 20) {
        precondition(maxPixels > 0 && maxBytes > 0, "image limits must be positive")
        self.maxPixels = maxPixels
        self.maxBytes = maxBytes
    }
}
