import Foundation
import HTTPTypes
import Hummingbird
import NIOCore

/// The web app: `GET /`, the helper's page `GET /review`, and their files
/// under `/app/`.
///
/// The page is for a blind or low-vision person with a phone: take or
/// choose a photo, hear its description, and ask a person when the
/// description is not enough. The helper's page is for that person: the
/// questions waiting, each with its photo and the machine's draft, answered
/// in words. Both call the same API as any other client (`/v1/describe`,
/// `/v1/speak`, `/v1/voices`, `/v1/assist`), with the API token or the
/// helper's token in a header, so the pages and their files need no token
/// themselves: they hold no secret.
///
/// The files are compiled into the binary (`Static/`, SwiftPM's
/// `embedInCode`), so the page works from any installation and offline,
/// with no build step and nothing fetched from elsewhere.
struct WebAppRoutes: Sendable {
    /// One file as answered: its bytes, type and validator.
    struct File: Sendable {
        let body: ByteBuffer
        let contentType: String
        let etag: String

        init(_ bytes: [UInt8], contentType: String) {
            body = ByteBuffer(bytes: bytes)
            self.contentType = contentType
            etag = #""\#(Self.fingerprint(bytes))""#
        }

        /// FNV-1a over the bytes, so the validator is the same across
        /// restarts and changes only when the file does.
        static func fingerprint(_ bytes: [UInt8]) -> String {
            var hash: UInt64 = 0xcbf2_9ce4_8422_2325
            for byte in bytes {
                hash ^= UInt64(byte)
                hash &*= 0x0000_0100_0000_01b3
            }
            return String(hash, radix: 16)
        }
    }

    let page: File
    let review: File
    let files: [String: File]

    /// - Parameter maxUploadBytes: the largest body `/v1/describe` takes, so
    ///   the page can refuse a larger photo before sending it.
    init(maxUploadBytes: Int) {
        let html = String(decoding: PackageResources.index_html, as: UTF8.self)
            .replacingOccurrences(of: "{{max_upload_bytes}}", with: String(maxUploadBytes))
        page = File(Array(html.utf8), contentType: "text/html; charset=utf-8")
        review = File(PackageResources.review_html, contentType: "text/html; charset=utf-8")
        files = [
            "app.css": File(PackageResources.app_css, contentType: "text/css; charset=utf-8"),
            "app.js": File(PackageResources.app_js, contentType: "text/javascript; charset=utf-8"),
            "common.js": File(PackageResources.common_js, contentType: "text/javascript; charset=utf-8"),
            "review.js": File(PackageResources.review_js, contentType: "text/javascript; charset=utf-8"),
            "icon.svg": File(PackageResources.icon_svg, contentType: "image/svg+xml"),
            "manifest.webmanifest": File(PackageResources.manifest_webmanifest, contentType: "application/manifest+json"),
        ]
    }

    func register(on router: Router<BasicRequestContext>) {
        router.get("/") { request, _ in answer(page, to: request) }
        router.get("/review") { request, _ in answer(review, to: request) }
        router.get("/app/:file") { request, context in
            guard let name = context.parameters.get("file"), let file = files[name] else {
                throw HTTPError(.notFound, message: "no web app file \(request.uri.path)")
            }
            return answer(file, to: request)
        }
    }

    /// The file, or 304 when the browser's copy is current: the files are
    /// revalidated on every load (`no-cache`) because their names carry no
    /// version, and an upgraded server must not leave an old page running.
    func answer(_ file: File, to request: Request) -> Response {
        var headers = Self.securityHeaders
        headers[.eTag] = file.etag
        headers[.cacheControl] = "no-cache"
        let current = request.headers[.ifNoneMatch].map { value in
            value.split(separator: ",").contains { $0.trimmingCharacters(in: .whitespaces) == file.etag }
        }
        if current == true { return Response(status: .notModified, headers: headers) }
        headers[.contentType] = file.contentType
        return Response(status: .ok, headers: headers, body: .init(byteBuffer: file.body))
    }

    /// Scripts and styles only from this server's own files, never inline,
    /// so injected markup cannot run; photos and speech are shown and played
    /// from `blob:` URLs the page makes itself; no other site may frame the
    /// page (a frame could trick a user who cannot see it).
    static let contentSecurityPolicy = [
        "default-src 'self'", "script-src 'self'", "style-src 'self'", "img-src 'self' blob:", "media-src 'self' blob:",
        "connect-src 'self'", "object-src 'none'", "base-uri 'none'", "form-action 'self'", "frame-ancestors 'none'",
    ].joined(separator: "; ")

    static let securityHeaders: HTTPFields = [
        .contentSecurityPolicy: contentSecurityPolicy,
        .xContentTypeOptions: "nosniff",
        // The page's address tells nothing, but no other site needs it either.
        .referrerPolicy: "no-referrer",
    ]
}

extension HTTPField.Name {
    fileprivate static let referrerPolicy = Self("Referrer-Policy")!
}
