import DescriberConfiguration
import DescriberHost
import HTTPTypes
import Hummingbird
import Logging
import NIOCore
import NIOHTTP1
import Prometheus

/// An error answered as `{"error":{"code":"…","message":"…"}}` with its status.
package struct APIError: HTTPResponseError {
    package var status: HTTPResponse.Status
    package var code: String
    package var message: String
    package var retryAfterSeconds: Int?
    /// The `WWW-Authenticate` challenge a 401 carries.
    package var challenge: String?

    package init(status: HTTPResponse.Status, code: String, message: String, retryAfterSeconds: Int? = nil, challenge: String? = nil) {
        self.status = status
        self.code = code
        self.message = message
        self.retryAfterSeconds = retryAfterSeconds
        self.challenge = challenge
    }

    package init(_ error: InvocationError) {
        self.init(
            status: HTTPResponse.Status(code: error.httpStatus),
            code: error.code.rawValue,
            message: error.message,
            retryAfterSeconds: error.retryAfterSeconds
        )
    }

    /// A request body the connection ended, or framed wrongly, before it was complete.
    package init(unreadableBody error: HTTPParserError) {
        let message =
            error == .invalidEOFState
            ? "the connection ended before the request's body was complete"
            : "the request's body could not be read (\(error))"
        self.init(InvocationError(.invalidInput, message))
    }

    package func response(from request: Request, context: some RequestContext) throws -> Response {
        Response(status: status, headers: headers, body: .init(byteBuffer: body))
    }

    /// The response's fields, before the framework's own (Content-Length, Date, Server).
    package var headers: HTTPFields {
        var headers: HTTPFields = [.contentType: "application/json"]
        if let retryAfterSeconds { headers[.retryAfter] = String(retryAfterSeconds) }
        if let challenge { headers[.wwwAuthenticate] = challenge }
        return headers
    }

    /// `{"error":{"code":"…","message":"…"}}`
    package var body: ByteBuffer {
        ByteBuffer(string: JSONValue.object(["error": .object(["code": .string(code), "message": .string(message)])]).serialized)
    }
}

/// Turns every error a route or the router throws into the JSON error shape,
/// so clients never have to parse anything else.
package struct JSONErrorMiddleware<Context: RequestContext>: RouterMiddleware {
    package init() {}

    package func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        do {
            return try await next(request, context)
        } catch let error as APIError {
            throw error
        } catch let error as HTTPParserError {
            // The body ended early (the client half-closed or hung up) or was malformed.
            throw APIError(unreadableBody: error)
        } catch let error as HTTPError {
            throw APIError(status: error.status, code: Self.code(for: error.status), message: error.body ?? Self.message(for: error.status, request: request))
        } catch {
            context.logger.error("Unhandled error", metadata: ["error": "\(error)"])
            throw APIError(status: .internalServerError, code: "internal_error", message: "the server failed to handle the request")
        }
    }

    package static func code(for status: HTTPResponse.Status) -> String {
        switch status {
        case .notFound: "not_found"
        case .methodNotAllowed: "method_not_allowed"
        case .contentTooLarge: InvocationError.Code.payloadTooLarge.rawValue
        case .badRequest: "bad_request"
        default: status.reasonPhrase.lowercased().split(separator: " ").joined(separator: "_")
        }
    }

    package static func message(for status: HTTPResponse.Status, request: Request) -> String {
        switch status {
        case .notFound: "no route for \(request.method) \(request.uri.path)"
        case .contentTooLarge: "the request body is larger than the server accepts"
        default: status.reasonPhrase
        }
    }
}
