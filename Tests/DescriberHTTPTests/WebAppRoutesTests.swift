import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import NIOCore
import ServerTestSupport
import TestSupport
import Testing

@testable import DescriberServer

/// The web app's page and files as HTTP: what a browser is told about them.
/// The page itself is tested in a browser (EndToEndTests/WebAppBrowserTests).
@Suite struct WebAppRoutesTests {
    static let token = "web-app-token-0123456789abcdef"

    static func application(config: String? = nil) throws -> some ApplicationProtocol {
        let host = try TestSupport.host(["echo": "library: \(try TestSupport.library("echo", source: TestSupport.echoSource))"], config: config)
        return buildApplication(host: host, logger: TestSupport.logger)
    }

    @Test func thePageAndItsFilesAreServedWithTheirTypes() async throws {
        try await Self.application().test(.router) { client in
            try await client.execute(uri: "/", method: .get) { response in
                #expect(response.status == .ok)
                #expect(response.headers[.contentType] == "text/html; charset=utf-8")
                let html = String(buffer: response.body)
                #expect(html.contains(#"<html lang="en">"#))
                #expect(html.contains(#"<script type="module" src="/app/app.js"></script>"#))
                // The server's own limit, for the page's check before it sends a photo.
                #expect(html.contains(#"<meta name="describer-max-upload-bytes" content="20971520">"#))
            }
            // The helper's page, answering the questions asked from the first.
            try await client.execute(uri: "/review", method: .get) { response in
                #expect(response.status == .ok)
                #expect(response.headers[.contentType] == "text/html; charset=utf-8")
                let html = String(buffer: response.body)
                #expect(html.contains(#"<script type="module" src="/app/review.js"></script>"#))
                #expect(html.contains(#"<link rel="stylesheet" href="/app/app.css">"#))
            }
            for (file, type) in [
                ("app.js", "text/javascript; charset=utf-8"), ("app.css", "text/css; charset=utf-8"), ("icon.svg", "image/svg+xml"),
                ("manifest.webmanifest", "application/manifest+json"), ("common.js", "text/javascript; charset=utf-8"),
                ("review.js", "text/javascript; charset=utf-8"),
            ] {
                try await client.execute(uri: "/app/\(file)", method: .get) { response in
                    #expect(response.status == .ok, "\(file)")
                    #expect(response.headers[.contentType] == type, "\(file)")
                    #expect(response.body.readableBytes > 100, "\(file)")
                }
            }
            try await client.execute(uri: "/app/../Package.swift", method: .get) { response in
                #expect(response.status == .notFound)
            }
            try await client.execute(uri: "/app/secret.txt", method: .get) { response in
                #expect(response.status == .notFound)
                #expect(String(buffer: response.body).contains(#""code":"not_found""#))
            }
        }
    }

    @Test func everyAnswerForbidsInlineScriptsAndSniffing() async throws {
        try await Self.application().test(.router) { client in
            for uri in ["/", "/review", "/app/app.js", "/app/app.css", "/app/common.js", "/app/review.js"] {
                try await client.execute(uri: uri, method: .get) { response in
                    let policy = try #require(response.headers[.contentSecurityPolicy], "\(uri)")
                    #expect(!policy.contains("unsafe-inline") && !policy.contains("unsafe-eval"), "\(policy)")
                    for directive in ["default-src 'self'", "script-src 'self'", "style-src 'self'", "object-src 'none'", "frame-ancestors 'none'"] {
                        #expect(policy.contains(directive), "\(uri): \(policy)")
                    }
                    #expect(response.headers[.xContentTypeOptions] == "nosniff", "\(uri)")
                    #expect(response.headers[HTTPField.Name("Referrer-Policy")!] == "no-referrer", "\(uri)")
                    #expect(response.headers[.cacheControl] == "no-cache", "\(uri)")
                }
            }
        }
    }

    /// No inline script or style in the page, and nothing from another
    /// site: the policy would block it, and the app must work offline.
    @Test func thePageUsesOnlyItsOwnFiles() throws {
        let folder = TestSupport.packageRoot + "/Sources/DescriberServer/WebApp/Static"
        for page in ["index.html", "review.html"] {
            let html = try String(contentsOfFile: folder + "/" + page, encoding: .utf8)
            #expect(html.components(separatedBy: "<script").count == 2, "\(page): one script element, the module")
            #expect(!html.contains("<style") && !html.contains("style="), "\(page): inline style")
            #expect(html.range(of: #" on[a-z]+="#, options: .regularExpression) == nil, "\(page): an inline event handler")
        }
        for file in ["index.html", "review.html", "app.js", "common.js", "review.js", "app.css", "manifest.webmanifest"] {
            let text = try String(contentsOfFile: folder + "/" + file, encoding: .utf8)
            #expect(!text.contains("http://") && !text.contains("https://"), "\(file) names another site")
            #expect(!text.contains("innerHTML"), "\(file) writes markup")
        }
    }

    @Test func aCurrentCopyIsAnsweredNotModified() async throws {
        try await Self.application().test(.router) { client in
            let etag = try await client.execute(uri: "/app/app.js", method: .get) { response in
                try #require(response.headers[.eTag])
            }
            try await client.execute(uri: "/app/app.js", method: .get, headers: [.ifNoneMatch: etag]) { response in
                #expect(response.status == .notModified)
                #expect(response.body.readableBytes == 0)
                #expect(response.headers[.eTag] == etag)
            }
            try await client.execute(uri: "/app/app.js", method: .get, headers: [.ifNoneMatch: #""stale""#]) { response in
                #expect(response.status == .ok)
            }
        }
    }

    /// The page and its files hold no secret, so they need no token; the
    /// API the page calls still does.
    @Test func thePageNeedsNoTokenButTheAPIStillDoes() async throws {
        try await Self.application(config: "server: { api_token: \(Self.token), max_body_size: 5MiB }").test(.router) { client in
            try await client.execute(uri: "/", method: .get) { response in
                #expect(response.status == .ok)
                #expect(String(buffer: response.body).contains(#"content="5242880""#))
                #expect(!String(buffer: response.body).contains(Self.token))
            }
            for uri in ["/app/app.js", "/review", "/app/review.js"] {
                try await client.execute(uri: uri, method: .get) { response in
                    #expect(response.status == .ok, "\(uri)")
                }
            }
            try await client.execute(uri: "/v1/voices", method: .get) { response in
                #expect(response.status == .unauthorized)
            }
        }
    }
}
