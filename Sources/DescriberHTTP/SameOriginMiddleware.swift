import HTTPTypes
import Hummingbird

/// Refuses a request that changes state when a browser says another site
/// sent it: cross-site request forgery.
///
/// Without an API token, any page a user visits could otherwise post to
/// their home server through their browser (a form needs no permission to
/// post across sites). Browsers say where a request comes from:
/// `Sec-Fetch-Site` (every current browser), else `Origin`, which must name
/// the host the request went to. A client that is not a browser sends
/// neither and passes, as it should: it acts for its user by design.
package struct SameOriginMiddleware<Context: RequestContext>: RouterMiddleware {
    package init() {}

    package func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        if !Self.safeMethods.contains(request.method), !Self.isSameOrigin(request.headers, authority: request.head.authority) {
            throw APIError(
                status: .forbidden, code: "cross_site",
                message:
                    "another site's page may not change anything here: send the request from this server's own pages or from a client that is not a browser")
        }
        return try await next(request, context)
    }

    static var safeMethods: Set<HTTPRequest.Method> { [.get, .head, .options] }

    static func isSameOrigin(_ headers: HTTPFields, authority: String?) -> Bool {
        if let site = headers[.secFetchSite] {
            // "none": typed into the address bar or a bookmark.
            return site == "same-origin" || site == "none"
        }
        guard let origin = headers[.origin] else { return true }
        guard let authority, let separator = origin.firstRange(of: "://") else { return false }
        return origin[separator.upperBound...].lowercased() == authority.lowercased()
    }
}

extension HTTPField.Name {
    static let secFetchSite = Self("Sec-Fetch-Site")!
}
