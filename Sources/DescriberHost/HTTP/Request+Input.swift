import HTTPTypes
import Hummingbird
import NIOCore

extension Request {
    /// The body, refused with 413 past `limit` bytes: at once when
    /// Content-Length announces more, otherwise as soon as more arrives.
    func collectInput(upTo limit: Int, for function: String) async throws -> ByteBuffer {
        if let declared = headers.firstValue(.contentLength).flatMap(Int.init), declared > limit {
            throw APIError(InvocationError(.payloadTooLarge, "the body is \(declared) bytes; '\(function)' accepts at most \(limit)"))
        }
        do {
            return try await body.collect(upTo: limit)
        } catch let error as HTTPError where error.status == .contentTooLarge {
            throw APIError(InvocationError(.payloadTooLarge, "the body is larger than the \(limit) bytes '\(function)' accepts"))
        }
    }

    /// `X-Describer-Timeout-Ms`, bounded before it becomes a Duration (the
    /// host then compares it with the function's maximum).
    func requestedTimeout() throws -> Duration? {
        guard let header = headers.firstValue(.timeoutMilliseconds) else { return nil }
        guard let milliseconds = Int(header), milliseconds > 0, milliseconds <= 86_400_000 * 366 else {
            throw APIError(InvocationError(.badOption, "X-Describer-Timeout-Ms must be a whole number of milliseconds between 1 and a year, got '\(header)'"))
        }
        return .milliseconds(milliseconds)
    }
}

extension HTTPFields {
    /// The value of the first field named `name`. For fields that may not
    /// repeat: unlike the subscript, which joins repeated fields, it builds
    /// no string and runs no unspecialised generic code (seen in a profile
    /// of the invocation route, three lookups a request).
    func firstValue(_ name: HTTPField.Name) -> String? {
        for field in self where field.name == name { return field.value }
        return nil
    }

    /// The credentials of `Authorization: Bearer …`, trimmed; nil for any other scheme.
    var bearerToken: String? {
        guard let header = firstValue(.authorization), header.count > 7, header.prefix(7).lowercased() == "bearer " else { return nil }
        return header.dropFirst(7).trimmingWhitespace()
    }
}

extension Response {
    /// A function's answer: its bytes and content type, whether it waited
    /// for a cold start, and where the time went.
    init(_ output: InvocationOutput, extraHeaders: HTTPFields = [:]) {
        var headers: HTTPFields = [
            .contentType: output.contentType,
            .coldStart: output.coldStart ? "true" : "false",
            .serverTiming: output.timings.serverTimingHeader,
        ]
        // Only when there are any: appending even nothing copies the fields (seen in a profile).
        if !extraHeaders.isEmpty { headers.append(contentsOf: extraHeaders) }
        self.init(status: .ok, headers: headers, body: .init(byteBuffer: output.body))
    }
}

extension Response {
    init(json value: JSONValue, status: HTTPResponse.Status = .ok) {
        self.init(status: status, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(string: value.serialized)))
    }
}
