import DescriberConfiguration
import DescriberHost
import HTTPTypes
import Hummingbird
import HummingbirdCore
import NIOCore
import NIOHTTP1

extension Request {
    /// The body, refused with 413 past `limit` bytes: at once when
    /// Content-Length announces more, otherwise as soon as more arrives; and
    /// with 400 when the connection ends before it is complete.
    package func collectInput(upTo limit: Int, for function: String) async throws -> ByteBuffer {
        if let declared = headers.firstValue(.contentLength).flatMap(Int.init), declared > limit {
            throw APIError(InvocationError(.payloadTooLarge, "the body is \(declared) bytes; '\(function)' accepts at most \(limit)"))
        }
        do {
            return try await body.collect(upTo: limit)
        } catch let error as HTTPParserError {
            throw APIError(unreadableBody: error)
        } catch {
            // HTTPError 413 for a body Hummingbird had whole; NIOTooManyBytesError
            // for a chunked one, which announced no length, outgrowing the limit.
            let tooLarge = (error as? HTTPError)?.status == .contentTooLarge || error is NIOTooManyBytesError
            guard tooLarge else { throw error }
            throw APIError(InvocationError(.payloadTooLarge, "the body is larger than the \(limit) bytes '\(function)' accepts"))
        }
    }

    /// `X-Describer-Timeout-Ms` (see ``HTTPFields/requestedTimeout()``).
    package func requestedTimeout() throws -> Duration? { try headers.requestedTimeout() }

    /// The query's parameters as a function's per-request options (see ``URI/invocationOptions``).
    package var invocationOptions: [(String, String)] { uri.invocationOptions }
}

extension URI {
    /// The query's parameters as a function's per-request options, names
    /// and values percent-decoded.
    package var invocationOptions: [(String, String)] {
        query == nil ? [] : queryParameters.map { (String($0.key).percentDecoded ?? String($0.key), String($0.value)) }
    }

    /// Refuses a query parameter `route` does not take with 400 `bad_option`,
    /// as invoke refuses an option its manifest does not declare: a misspelt
    /// option, silently ignored, would answer a question nobody asked.
    package func refuseUnknownOptions(allowed: Set<String>, route: String) throws(APIError) {
        guard query != nil else { return }
        for (name, _) in invocationOptions where !allowed.contains(name) {
            let known = allowed.sorted().joined(separator: ", ")
            throw APIError(InvocationError(.badOption, "\(route) takes no option '\(name)'; it takes \(known)"))
        }
    }
}

extension HTTPFields {
    /// `X-Describer-Timeout-Ms`, bounded before it becomes a Duration (the
    /// host then compares it with the function's maximum).
    package func requestedTimeout() throws(APIError) -> Duration? {
        guard let header = firstValue(.timeoutMilliseconds) else { return nil }
        guard let milliseconds = Int(header), milliseconds > 0, milliseconds <= 86_400_000 * 366 else {
            throw APIError(InvocationError(.badOption, "X-Describer-Timeout-Ms must be a whole number of milliseconds between 1 and a year, got '\(header)'"))
        }
        return .milliseconds(milliseconds)
    }

    /// The value of the first field named `name`. For fields that may not
    /// repeat: unlike the subscript, which joins repeated fields, it builds
    /// no string and runs no unspecialised generic code (seen in a profile
    /// of the invocation route, three lookups a request).
    package func firstValue(_ name: HTTPField.Name) -> String? {
        for field in self where field.name == name { return field.value }
        return nil
    }

    /// The credentials of `Authorization: Bearer …`, trimmed; nil for any other scheme.
    package var bearerToken: String? {
        guard let header = firstValue(.authorization), header.count > 7, header.prefix(7).lowercased() == "bearer " else { return nil }
        return header.dropFirst(7).trimmingWhitespace()
    }
}

extension Response {
    /// A function's answer: its bytes and content type, whether it waited
    /// for a cold start, and where the time went.
    package init(_ output: InvocationOutput, extraHeaders: HTTPFields = [:]) {
        var headers = HTTPFields(answering: output)
        // Only when there are any: appending even nothing copies the fields (seen in a profile).
        if !extraHeaders.isEmpty { headers.append(contentsOf: extraHeaders) }
        self.init(status: .ok, headers: headers, body: .init(byteBuffer: output.body))
    }
}

extension HTTPFields {
    /// The fields of a function's answer: its content type, whether it
    /// waited for a cold start, and where the time went. `reserving` makes
    /// room for fields the caller adds.
    package init(answering output: InvocationOutput, reserving extra: Int = 0) {
        self.init()
        reserveCapacity(3 + extra)
        append(HTTPField(name: .contentType, value: output.contentType))
        append(HTTPField(name: .coldStart, value: output.coldStart ? "true" : "false"))
        append(HTTPField(name: .serverTiming, value: output.timings.serverTimingHeader))
    }
}

extension Response {
    package init(json value: JSONValue, status: HTTPResponse.Status = .ok) {
        self.init(status: status, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(string: value.serialized)))
    }
}
