/// Why an image could not be decoded. Each code has one meaning for every
/// format, and `message` says, in words a caller can act on, what was wrong
/// (including the library's own reason where there is one).
public struct ImageError: Error, Sendable, Equatable, CustomStringConvertible {
    public enum Code: String, Sendable {
        /// No known image signature, an empty input, or data that is
        /// corrupt past the signature (bad headers, damaged compressed data).
        case notAnImage = "not_an_image"
        /// A recognised format (GIF, WebP, BMP, …) or a feature of JPEG/PNG
        /// (12-bit or lossless JPEG) this decoder does not handle.
        case unsupportedFormat = "unsupported_format"
        /// The data ends before the image does.
        case truncatedImage = "truncated_image"
        /// Over the pixel or byte limit, or beyond what the libraries handle.
        case imageTooLarge = "image_too_large"
    }

    public var code: Code
    public var message: String

    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { "\(code.rawValue): \(message)" }
}
