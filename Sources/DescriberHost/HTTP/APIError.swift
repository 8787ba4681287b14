import HTTPTypes
import Hummingbird
import Logging
import Prometheus
import NIOCore

/// An error answered as `{"error":{"code":"…","message":"…"}}` with its status.
struct APIError: HTTPResponseError {
    var status: HTTPResponse.Status
    var code: String
    var message: String
    var retryAfterSeconds: Int?
    /// The `WWW-Authenticate` challenge a 401 carries.
    var challenge: String?

    init(status: HTTPResponse.Status, code: String, message: String, retryAfterSeconds: Int? = nil, challenge: String? = nil) {
        self.status = status
        self.code = code
        self.message = message
        self.retryAfterSeconds = retryAfterSeconds
        self.challenge = challenge
    }

    init(_ error: InvocationError) {
        self.init(
            status: HTTPResponse.Status(code: error.httpStatus),
            code: error.code.rawValue,
            message: error.message,
            retryAfterSeconds: error.retryAfterSeconds
        )
    }

    func response(from request: Request, context: some RequestContext) throws -> Response {
        Response(status: status, headers: headers, body: .init(byteBuffer: body))
    }

    /// The response's fields, before the framework's own (Content-Length, Date, Server).
    var headers: HTTPFields {
        var headers: HTTPFields = [.contentType: "application/json"]
        if let retryAfterSeconds { headers[.retryAfter] = String(retryAfterSeconds) }
        if let challenge { headers[.wwwAuthenticate] = challenge }
        return headers
    }

    /// `{"error":{"code":"…","message":"…"}}`
    var body: ByteBuffer {
        ByteBuffer(string: JSONValue.object(["error": .object(["code": .string(code), "message": .string(message)])]).serialized)
    }
}

/// Turns every error a route or the router throws into the JSON error shape,
/// so clients never have to parse anything else.
struct JSONErrorMiddleware<Context: RequestContext>: RouterMiddleware {
    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        do {
            return try await next(request, context)
        } catch let error as APIError {
            throw error
        } catch let error as HTTPError {
            throw APIError(status: error.status, code: Self.code(for: error.status), message: error.body ?? Self.message(for: error.status, request: request))
        } catch {
            context.logger.error("Unhandled error", metadata: ["error": "\(error)"])
            throw APIError(status: .internalServerError, code: "internal_error", message: "the server failed to handle the request")
        }
    }

    static func code(for status: HTTPResponse.Status) -> String {
        switch status {
        case .notFound: "not_found"
        case .methodNotAllowed: "method_not_allowed"
        case .contentTooLarge: InvocationError.Code.payloadTooLarge.rawValue
        case .badRequest: "bad_request"
        default: status.reasonPhrase.lowercased().split(separator: " ").joined(separator: "_")
        }
    }

    static func message(for status: HTTPResponse.Status, request: Request) -> String {
        switch status {
        case .notFound: "no route for \(request.method) \(request.uri.path)"
        case .contentTooLarge: "the request body is larger than the server accepts"
        default: status.reasonPhrase
        }
    }
}
