import Crypto
import Foundation
import HTTPTypes
import Hummingbird

/// Lets a request through only with `Authorization: Bearer <server.api_token>`.
///
/// Without it, anyone who can reach the port could read the cameras' events
/// and snapshots and use the functions. A server bound beyond localhost
/// needs that port reachable, because cameras post to it. The token's
/// digest is compared, in constant time, so how long a refusal takes tells
/// nothing about the token.
package struct APITokenMiddleware<Context: RequestContext>: RouterMiddleware {
    private let token: APIToken

    package init(token: String) {
        self.token = APIToken(token)
    }

    package func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        guard token.admits(request.headers) else { throw Self.refusal }
        return try await next(request, context)
    }

    private static var refusal: APIError {
        APIError(
            status: .unauthorized, code: "unauthorized",
            message: "this route needs the API token: send 'Authorization: Bearer' with server.api_token",
            challenge: #"Bearer realm="describer""#
        )
    }
}

/// `server.api_token`, kept as its digest.
package struct APIToken: Sendable {
    private let expected: SHA256.Digest

    package init(_ token: String) {
        expected = SHA256.hash(data: Data(token.utf8))
    }

    /// Whether `headers` carry `Authorization: Bearer <token>`. Digest
    /// equality in swift-crypto is constant-time.
    package func admits(_ headers: HTTPFields) -> Bool {
        guard let given = headers.bearerToken else { return false }
        return SHA256.hash(data: Data(given.utf8)) == expected
    }
}
