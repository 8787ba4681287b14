import HTTPTypes

extension HTTPField.Name {
    package static let coldStart = Self("X-Describer-Cold-Start")!
    package static let timeoutMilliseconds = Self("X-Describer-Timeout-Ms")!
    package static let serverTiming = Self("Server-Timing")!
}
