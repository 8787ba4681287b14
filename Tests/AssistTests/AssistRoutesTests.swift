import AsyncHTTPClient
import DescriberConfiguration
import DescriberHost
import DescriberTesting
import Describing
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import NIOCore
import NIOHTTP1
import ServerTestSupport
import TestSupport
import Testing

@testable import Assist
@testable import DescriberServer

/// Asking a person over HTTP: every `/v1/assist` route, its errors and
/// limits, on a host without describing functions (so no draft: that is
/// tested with the real models in EndToEndTests/AssistServeTests).
@Suite struct AssistRoutesTests {
    static let mumToken = "mum-helper-token-0123456789"
    static let samToken = "sam-helper-token-9876543210"
    static let apiToken = "api-token-0123456789abcdef"
    static let photo = ByteBuffer(bytes: try! TestImages.bytes("gray.jpg"))

    /// Read only once built, by the test it serves.
    struct Server: @unchecked Sendable {
        let host: FunctionHost
        let queue: AssistQueue
        let router: Router<BasicRequestContext>
    }

    /// A deployment with two helpers and `extra` YAML under `assist:`, its
    /// questions in a database of its own.
    static func server(_ extra: String = "", config: String = "") throws -> Server {
        let data = try TestScratch.folder("assist")
        let yaml = """
            data_directory: \(data)
            \(config)
            assist:
              helpers:
                mum: { name: Mum, token: \(mumToken) }
                sam: { token_sha256: "\(AssistConfig.Helper.digest(of: samToken).map { String(format: "%02x", $0) }.joined())" }
            \(extra.split(separator: "\n").map { "  " + $0 }.joined(separator: "\n"))
            """
        let (host, deployment) = try TestSupport.deployment(
            ["echo": "library: \(try TestSupport.library("echo", source: TestSupport.echoSource))"], config: yaml)
        let queue = try AssistQueue(config: deployment.assist, describer: nil, registry: host.metrics, logger: TestSupport.logger)
        return Server(host: host, queue: queue, router: buildRouter(host: host, assist: queue))
    }

    static func test(_ server: Server, _ body: @Sendable (any TestClientProtocol) async throws -> Void) async throws {
        try await Application(router: server.router, logger: TestSupport.logger).test(.router, body)
    }

    static func bearer(_ token: String) -> HTTPFields { [.authorization: "Bearer \(token)"] }

    static func json(_ buffer: ByteBuffer) throws -> [String: Any] {
        try #require(try JSONSerialization.jsonObject(with: Data(buffer.readableBytesView)) as? [String: Any], "\(String(buffer: buffer))")
    }

    static func errorCode(_ buffer: ByteBuffer) -> String? {
        ((try? json(buffer))?["error"] as? [String: Any])?["code"] as? String
    }

    /// Asks about the test photo; answers the question's id.
    static func ask(_ client: some TestClientProtocol, question: String? = nil, headers: HTTPFields = [:]) async throws -> String {
        let query = question.map { "?question=" + ($0.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? "") } ?? ""
        var headers = headers
        headers[.contentType] = "image/jpeg"
        return try await client.execute(uri: "/v1/assist" + query, method: .post, headers: headers, body: photo) { response in
            #expect(response.status == .accepted, "\(String(buffer: response.body))")
            let body = try json(response.body)
            let id = try #require(body["id"] as? String)
            #expect(response.headers[.location] == "/v1/assist/\(id)")
            #expect(body["status"] as? String == "waiting")
            return id
        }
    }

    static func answer(_ client: some TestClientProtocol, _ id: String, token: String = mumToken, _ body: String) async throws -> TestResponse {
        try await client.execute(
            uri: "/v1/assist/\(id)/answer", method: .post, headers: bearer(token).merging([.contentType: "application/json"]),
            body: ByteBuffer(string: body))
    }

    @Test func aQuestionIsListedForHelpersAnsweredAndTheAnswerReadBack() async throws {
        let server = try Self.server()
        try await Self.test(server) { client in
            try await client.execute(uri: "/v1/assist", method: .get) { response in
                let body = try Self.json(response.body)
                #expect(body["enabled"] as? Bool == true)
                #expect(body["helpers"] as? Int == 2)
                #expect(body["answer_timeout_seconds"] as? Int == 300)
            }
            let id = try await Self.ask(client, question: "Is the milk past its date?")
            try await client.execute(uri: "/v1/assist/\(id)", method: .get) { response in
                let body = try Self.json(response.body)
                #expect(body["status"] as? String == "waiting")
                #expect(body["kind"] as? String == "open")
                #expect(body["question"] as? String == "Is the milk past its date?")
                #expect(body["answer"] is NSNull)
                #expect(body["photo"] == nil && body["labels"] == nil, "the asker's view holds neither")
            }
            try await client.execute(uri: "/v1/assist/pending", method: .get, headers: Self.bearer(Self.samToken)) { response in
                #expect(response.status == .ok)
                let body = try Self.json(response.body)
                #expect((body["helper"] as? [String: String])?["id"] == "sam")
                let questions = try #require(body["questions"] as? [[String: Any]])
                #expect(questions.map { $0["id"] as? String } == [id])
                #expect(questions.first?["photo_url"] as? String == "/v1/assist/\(id)/photo")
            }
            try await client.execute(uri: "/v1/assist/\(id)/photo", method: .get, headers: Self.bearer(Self.mumToken)) { response in
                #expect(response.status == .ok)
                #expect(response.headers[.contentType] == "image/jpeg")
                #expect(response.body == Self.photo)
            }
            let answered = try await Self.answer(client, id, #"{"text": "Yes: the date says 3 December."}"#)
            #expect(answered.status == .ok, "\(String(buffer: answered.body))")
            try await client.execute(uri: "/v1/assist/\(id)", method: .get) { response in
                let body = try Self.json(response.body)
                #expect(body["status"] as? String == "answered")
                let answer = try #require(body["answer"] as? [String: Any])
                #expect(answer["text"] as? String == "Yes: the date says 3 December.")
                #expect(answer["helper"] as? String == "Mum")
                #expect(answer["answered_at"] is String)
            }
            // The second helper was too late; the list is empty again.
            let late = try await Self.answer(client, id, token: Self.samToken, #"{"text": "Yes."}"#)
            #expect(late.status == .conflict)
            #expect(Self.errorCode(late.body) == "not_waiting")
            #expect(String(buffer: late.body).contains("someone answered first"))
            try await client.execute(uri: "/v1/assist/pending", method: .get, headers: Self.bearer(Self.samToken)) { response in
                let body = try Self.json(response.body)
                #expect((body["questions"] as? [Any])?.isEmpty == true)
            }
            try await client.execute(uri: "/metrics", method: .get) { response in
                let text = String(buffer: response.body)
                for line in [
                    #"describer_assist_questions_total{outcome="asked"} 1"#, #"describer_assist_questions_total{outcome="answered"} 1"#,
                    "describer_assist_waiting 0.0", "describer_assist_answer_duration_seconds_count 1",
                ] {
                    #expect(text.contains(line), "\(line)")
                }
            }
        }
    }

    @Test func helperRoutesNeedAHelpersTokenAndAskerRoutesTheAPIToken() async throws {
        let server = try Self.server(config: "server: { api_token: \(Self.apiToken) }")
        try await Self.test(server) { client in
            // Asking is API: the API token, and only it.
            for headers in [HTTPFields(), Self.bearer(Self.mumToken)] {
                try await client.execute(uri: "/v1/assist", method: .post, headers: headers, body: Self.photo) { response in
                    #expect(response.status == .unauthorized)
                }
            }
            let id = try await Self.ask(client, headers: Self.bearer(Self.apiToken))
            // Helping takes a helper's token: not the API token, not a wrong or missing one.
            for headers in [HTTPFields(), Self.bearer(Self.apiToken), Self.bearer("mum-helper-token-0123456788"), [.authorization: "Basic bXVtOg=="]] {
                for (uri, method) in [
                    ("/v1/assist/pending", HTTPRequest.Method.get), ("/v1/assist/pending/events", .get), ("/v1/assist/\(id)/photo", .get),
                    ("/v1/assist/\(id)/answer", .post),
                ] {
                    try await client.execute(uri: uri, method: method, headers: headers, body: ByteBuffer(string: #"{"text":"x"}"#)) { response in
                        #expect(response.status == .unauthorized, "\(method) \(uri) with \(headers)")
                        #expect(Self.errorCode(response.body) == "unauthorized")
                        #expect(response.headers[.wwwAuthenticate]?.hasPrefix("Bearer") == true)
                    }
                }
            }
            try await client.execute(uri: "/v1/assist/\(id)", method: .get, headers: Self.bearer(Self.mumToken)) { response in
                #expect(response.status == .unauthorized, "a helper's token is not the API token")
            }
        }
    }

    @Test func cancellingEndsTheQuestionAndDeletesThePhoto() async throws {
        let server = try Self.server()
        try await Self.test(server) { client in
            let id = try await Self.ask(client)
            try await client.execute(uri: "/v1/assist/\(id)", method: .delete) { response in
                #expect(response.status == .ok)
                let body = try Self.json(response.body)
                #expect(body["status"] as? String == "cancelled")
            }
            try await client.execute(uri: "/v1/assist/\(id)/photo", method: .get, headers: Self.bearer(Self.mumToken)) { response in
                #expect(response.status == .notFound)
            }
            let answer = try await Self.answer(client, id, #"{"text": "A grey square."}"#)
            #expect(answer.status == .conflict)
            #expect(String(buffer: answer.body).contains("cancelled"))
            try await client.execute(uri: "/v1/assist/not-a-question", method: .delete) { response in
                #expect(response.status == .notFound)
            }
            // Withdrawing an answered question keeps the answer but deletes the photo.
            let second = try await Self.ask(client)
            _ = try await Self.answer(client, second, #"{"text": "A grey square."}"#)
            try await client.execute(uri: "/v1/assist/\(second)", method: .delete) { response in
                let body = try Self.json(response.body)
                #expect(body["status"] as? String == "answered")
            }
            #expect(try await server.queue.store.photo(second) == nil)
        }
    }

    @Test func anUnansweredQuestionExpiresAndEveryEndedOneIsDeletedAfterTheRetention() async throws {
        let server = try Self.server("answer_timeout: 1m\nretention: 1h")
        try await Self.test(server) { client in
            let expiring = try await Self.ask(client)
            let answered = try await Self.ask(client)
            _ = try await Self.answer(client, answered, #"{"text": "Grey."}"#)
            let asked = Date()
            #expect(try await server.queue.expireDue(now: asked.addingTimeInterval(30)) != nil, "still waiting at 30 s")
            #expect(try await server.queue.expireDue(now: asked.addingTimeInterval(61)) == nil, "nothing left waiting")
            try await client.execute(uri: "/v1/assist/\(expiring)", method: .get) { response in
                let body = try Self.json(response.body)
                #expect(body["status"] as? String == "expired")
            }
            let late = try await Self.answer(client, expiring, #"{"text": "Grey."}"#)
            #expect(late.status == .conflict)
            try await server.queue.prune(now: asked.addingTimeInterval(30 * 60))
            #expect(try await server.queue.store.question(expiring) != nil, "kept for the retention period")
            try await server.queue.prune(now: asked.addingTimeInterval(2 * 3600))
            for id in [expiring, answered] {
                try await client.execute(uri: "/v1/assist/\(id)", method: .get) { response in
                    #expect(response.status == .notFound)
                }
            }
        }
    }

    @Test func answersKeptAsDataOutliveTheRetentionAndExportAsAnEvaluationSet() async throws {
        let server = try Self.server("keep_answers: true\nretention: 1h")
        try await Self.test(server) { client in
            let id = try await Self.ask(client, question: "What is this?")
            let labelled = try await Self.answer(
                client, id, #"{"text": "A plain grey card.", "labels": {"present": [], "absent": ["dog"], "text": "", "quality": "usable"}}"#)
            #expect(labelled.status == .ok)
            let plain = try await Self.ask(client)
            _ = try await Self.answer(client, plain, #"{"text": "Grey."}"#)
            let cancelled = try await Self.ask(client)
            _ = try await server.queue.withdraw(cancelled)
            try await server.queue.prune(now: Date().addingTimeInterval(2 * 3600))
            #expect(try await server.queue.store.question(cancelled) == nil, "a cancelled question is never data")

            let folder = try TestScratch.folder("export") + "/set"
            let summary = try await AssistExport.export(databasePath: server.queue.config.databasePath, to: folder)
            #expect(summary == AssistExport.Summary(photos: 2, labelled: 1))
            let expectations = try Expectations.load(path: folder + "/expected.json")
            #expect(expectations.images["\(id).jpg"]?.mustNot == ["dog"])
            #expect(expectations.images["\(id).jpg"]?.quality == nil, "usable is the absence of a problem")
            #expect(expectations.images["\(plain).jpg"]?.must == [])
            #expect(try Data(contentsOf: URL(fileURLWithPath: "\(folder)/\(id).jpg")) == Data(Self.photo.readableBytesView))
            let lines = try String(contentsOfFile: folder + "/answers.jsonl", encoding: .utf8).split(separator: "\n")
            #expect(lines.count == 2)
            let first = try #require(try JSONSerialization.jsonObject(with: Data(lines[0].utf8)) as? [String: Any])
            #expect(first["question"] as? String == "What is this?")
            #expect((first["answer"] as? [String: Any])?["text"] as? String == "A plain grey card.")
            #expect(first["photo"] as? String == "\(id).jpg")
            await #expect(throws: AssistExport.ExportError.self) {
                try await AssistExport.export(databasePath: server.queue.config.databasePath, to: folder)
            }
            // Nothing ever asked: said, not an empty set.
            let missing = await #expect(throws: AssistExport.ExportError.self) {
                try await AssistExport.export(databasePath: folder + "/none.sqlite", to: folder + "/other")
            }
            #expect(missing?.description.contains("nothing was ever asked") == true)
        }
    }

    @Test func theEventStreamSaysWaitingThenTheAnswerAndEnds() async throws {
        let server = try Self.server()
        try await Application(router: server.router, configuration: .init(address: .hostname("127.0.0.1", port: 0)), logger: TestSupport.logger)
            .test(.live) { client in
                let id = try await Self.ask(client)
                let port = try #require(client.port)
                // Read as it arrives: the first event, then the answer, then the rest.
                let response = try await HTTPClient.shared.execute(
                    HTTPClientRequest(url: "http://127.0.0.1:\(port)/v1/assist/\(id)/events"), timeout: .seconds(30))
                #expect(response.headers["content-type"].first == "text/event-stream")
                var body = response.body.makeAsyncIterator()
                var received = ""
                while !received.contains("\n\n"), let chunk = try await body.next() { received += String(buffer: chunk) }
                #expect(received.hasPrefix("event: status\ndata: {") && received.contains(#""status":"waiting""#), "\(received)")
                let mum = try #require(server.queue.config.helpers.first)
                _ = try await server.queue.answer(id, by: mum, text: "Grey.", labels: nil)
                while let chunk = try await body.next() { received += String(buffer: chunk) }
                let events = received.components(separatedBy: "\n\n").filter { !$0.isEmpty }
                #expect(events.count == 2, "\(events)")
                #expect(events.last?.contains(#""status":"answered""#) == true)
                #expect(events.last?.contains(#""text":"Grey.""#) == true)
            }
        try await Self.test(server) { client in
            try await client.execute(uri: "/v1/assist/nothing-here/events", method: .get) { response in
                #expect(response.status == .notFound)
            }
        }
    }

    @Test func badQuestionsAndAnswersAreRefusedClearly() async throws {
        let server = try Self.server(config: "server: { max_body_size: 64KiB }")
        try await Self.test(server) { client in
            let cases: [(String, ByteBuffer, HTTPResponse.Status, String)] = [
                ("/v1/assist?question=" + String(repeating: "a", count: 501), Self.photo, .badRequest, "bad_option"),
                ("/v1/assist?colour=red", Self.photo, .badRequest, "bad_option"),
                ("/v1/assist", ByteBuffer(string: "hello"), .badRequest, "not_an_image"),
                ("/v1/assist", ByteBuffer(bytes: Array("GIF89a".utf8) + [UInt8](repeating: 0, count: 32)), .unsupportedMediaType, "unsupported_format"),
                ("/v1/assist", ByteBuffer(repeating: 0xFF, count: 65 * 1024), .contentTooLarge, "payload_too_large"),
            ]
            for (uri, body, status, code) in cases {
                try await client.execute(uri: uri, method: .post, headers: [.contentType: "image/jpeg"], body: body) { response in
                    #expect(response.status == status, "\(uri.prefix(40)): \(String(buffer: response.body))")
                    #expect(Self.errorCode(response.body) == code, "\(uri.prefix(40))")
                }
            }
            let id = try await Self.ask(client)
            for body in [
                "", "{}", #"{"text": ""}"#, #"{"text": "   "}"#, #"{"text": "\#(String(repeating: "a", count: 2001))"}"#,
                #"{"text": "x", "labels": {"quality": "lovely"}}"#, #"{"text": "x", "labels": {"present": [""]}}"#,
            ] {
                let response = try await Self.answer(client, id, body)
                #expect(response.status == .badRequest, "\(body.prefix(60))")
                #expect(Self.errorCode(response.body) == "invalid_input", "\(body.prefix(60))")
            }
            let unknown = try await Self.answer(client, "no-such-question", #"{"text": "x"}"#)
            #expect(unknown.status == .notFound)
        }
    }

    @Test func askingAndAnsweringAreRateLimitedAndTheQueueIsBounded() async throws {
        let limited = try Self.server("rate_limit: { questions_per_minute: 2, answers_per_minute: 1 }")
        try await Self.test(limited) { client in
            let first = try await Self.ask(client)
            let second = try await Self.ask(client)
            try await client.execute(uri: "/v1/assist", method: .post, body: Self.photo) { response in
                #expect(response.status == .tooManyRequests)
                #expect(Self.errorCode(response.body) == "rate_limited")
                #expect(Int(response.headers[.retryAfter] ?? "") ?? 0 >= 1)
            }
            // A camera's yes-or-no question is not people's asking: it is not held back.
            let camera = try await limited.queue.ask(photo: Self.photo, question: "Is there a person at Front Door?", kind: .yesNo)
            #expect(camera.kind == .yesNo)
            #expect(try await Self.answer(client, first, #"{"text": "Grey."}"#).status == .ok)
            let again = try await Self.answer(client, second, #"{"text": "Grey."}"#)
            #expect(again.status == .tooManyRequests, "one answer a minute for mum")
            #expect(try await Self.answer(client, second, token: Self.samToken, #"{"text": "Grey."}"#).status == .ok, "sam has his own")
        }
        let bounded = try Self.server("max_waiting: 1")
        try await Self.test(bounded) { client in
            _ = try await Self.ask(client)
            try await client.execute(uri: "/v1/assist", method: .post, body: Self.photo) { response in
                #expect(response.status == .serviceUnavailable)
                #expect(Self.errorCode(response.body) == "queue_full")
            }
        }
    }

    @Test func anotherSitesPageCannotAskCancelOrAnswer() async throws {
        let server = try Self.server()
        try await Self.test(server) { client in
            let id = try await Self.ask(client, headers: [.secFetchSite: "same-origin"])
            let forged: [HTTPFields] = [
                [.secFetchSite: "cross-site"], [.secFetchSite: "same-site"],
                [.origin: "https://evil.example"], [.origin: "null"],
            ]
            for headers in forged {
                try await client.execute(uri: "/v1/assist", method: .post, headers: headers, body: Self.photo) { response in
                    #expect(response.status == .forbidden, "\(headers)")
                    #expect(Self.errorCode(response.body) == "cross_site")
                }
                try await client.execute(uri: "/v1/assist/\(id)", method: .delete, headers: headers) { response in
                    #expect(response.status == .forbidden, "\(headers)")
                }
                let answer = try await client.execute(
                    uri: "/v1/assist/\(id)/answer", method: .post, headers: headers.merging(Self.bearer(Self.mumToken)),
                    body: ByteBuffer(string: #"{"text":"x"}"#))
                #expect(answer.status == .forbidden, "\(headers)")
            }
            // Reading is not an attack; the page on this server itself (its
            // Origin the host the request went to) may change things.
            try await client.execute(uri: "/v1/assist/\(id)", method: .get, headers: [.secFetchSite: "cross-site"]) { response in
                #expect(response.status == .ok)
            }
            try await client.execute(uri: "/v1/assist/\(id)", method: .delete, headers: [.origin: "http://localhost"]) { response in
                #expect(response.status == .ok, "\(String(buffer: response.body))")
            }
        }
    }

    @Test func withoutHelpersAskingIsOffAndSaysWhy() async throws {
        let host = try TestSupport.host(["echo": "library: \(try TestSupport.library("echo", source: TestSupport.echoSource))"])
        try await Application(router: buildRouter(host: host), logger: TestSupport.logger).test(.router) { client in
            try await client.execute(uri: "/v1/assist", method: .get) { response in
                let body = try Self.json(response.body)
                #expect(body["enabled"] as? Bool == false)
            }
            try await client.execute(uri: "/v1/assist", method: .post, body: Self.photo) { response in
                #expect(response.status == .serviceUnavailable)
                #expect(Self.errorCode(response.body) == "assist_unavailable")
            }
        }
    }
}

extension HTTPField.Name {
    static let secFetchSite = Self("Sec-Fetch-Site")!
}

extension HTTPFields {
    func merging(_ other: HTTPFields) -> HTTPFields {
        var merged = self
        for field in other { merged[field.name] = field.value }
        return merged
    }
}
