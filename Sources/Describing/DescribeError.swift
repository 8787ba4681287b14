import DescriberHost

/// Why a photo could not be described. Each code has its own exit status in
/// `speak-this-image` and its own HTTP status.
public struct DescribeError: Error, Sendable, Equatable, CustomStringConvertible {
    public enum Code: String, Sendable {
        /// The input is not an image this service reads (400; exit 3).
        case notAnImage = "not_an_image"
        /// No describing function is installed, or every one failed (502; exit 5).
        case describingFailed = "describing_failed"
    }

    public var code: Code
    /// A plain sentence for people: what happened, and what to do if anything.
    public var message: String
    /// The function error behind it, if one.
    public var underlying: InvocationError?

    public init(_ code: Code, _ message: String, underlying: InvocationError? = nil) {
        self.code = code
        self.message = message
        self.underlying = underlying
    }

    public var description: String { message }
}
