import DescriberImaging

/// Why an invocation did not produce an output. Each code maps to one HTTP
/// status and appears as `{"error":{"code":…,"message":…}}`.
public struct InvocationError: Error, Sendable, Equatable, CustomStringConvertible {
    public struct Code: RawRepresentable, Sendable, Hashable {
        public var rawValue: String
        public init(rawValue: String) { self.rawValue = rawValue }

        /// A query option is unknown or out of bounds, or the timeout header is wrong.
        public static let badOption = Code(rawValue: "bad_option")
        /// The function rejected the input.
        public static let invalidInput = Code(rawValue: "invalid_input")
        public static let unknownFunction = Code(rawValue: "unknown_function")
        public static let payloadTooLarge = Code(rawValue: "payload_too_large")
        public static let unsupportedMediaType = Code(rawValue: "unsupported_media_type")
        public static let queueFull = Code(rawValue: "queue_full")
        /// The function failed or returned no result.
        public static let functionFailed = Code(rawValue: "function_failed")
        /// The worker process running the function died (isolation: process).
        public static let functionCrashed = Code(rawValue: "function_crashed")
        /// An instance could not be created.
        public static let initFailed = Code(rawValue: "function_init_failed")
        /// The function is not loaded (refused library, bad manifest) or the host is stopping.
        public static let unavailable = Code(rawValue: "function_unavailable")
        /// The version invoked was replaced by a hot reload before it took the
        /// request; the host hands the request to the new version.
        static let superseded = Code(rawValue: "function_superseded")
        public static let deadlineExceeded = Code(rawValue: "deadline_exceeded")
        public static let cancelled = Code(rawValue: "cancelled")
        /// For RGB8 functions: the input has no JPEG or PNG signature, or is corrupt.
        public static let notAnImage = Code(rawValue: ImageError.Code.notAnImage.rawValue)
        /// For RGB8 functions: a recognised image format (GIF, WebP, …) or feature the host does not decode.
        public static let unsupportedFormat = Code(rawValue: ImageError.Code.unsupportedFormat.rawValue)
        /// For RGB8 functions: the image data ends early.
        public static let truncatedImage = Code(rawValue: ImageError.Code.truncatedImage.rawValue)
        /// For RGB8 functions: over the pixel or byte limit.
        public static let imageTooLarge = Code(rawValue: ImageError.Code.imageTooLarge.rawValue)
    }

    public var code: Code
    public var message: String
    /// For `queueFull`: a suggested wait before retrying.
    public var retryAfterSeconds: Int?

    public init(_ code: Code, _ message: String, retryAfterSeconds: Int? = nil) {
        self.code = code
        self.message = message
        self.retryAfterSeconds = retryAfterSeconds
    }

    /// The host could not decode an RGB8 function's input.
    public init(_ error: ImageError) {
        self.init(Code(rawValue: error.code.rawValue), error.message)
    }

    /// The HTTP status for this error.
    public var httpStatus: Int {
        switch code {
        case .badOption, .invalidInput, .notAnImage, .truncatedImage: 400
        case .unknownFunction: 404
        case .payloadTooLarge, .imageTooLarge: 413
        case .unsupportedMediaType, .unsupportedFormat: 415
        case .queueFull: 429
        case .cancelled: 499
        case .functionFailed, .initFailed, .functionCrashed: 502
        case .unavailable, .superseded: 503
        case .deadlineExceeded: 504
        default: 500
        }
    }

    /// The outcome label used in metrics.
    var outcome: String {
        switch code {
        case .deadlineExceeded: "deadline_exceeded"
        case .queueFull: "rejected"
        case .functionFailed, .initFailed: "function_error"
        case .functionCrashed: "crashed"
        case .cancelled: "cancelled"
        case .unavailable, .superseded: "unavailable"
        default: "client_error"
        }
    }

    public var description: String { "\(code.rawValue): \(message)" }
}
