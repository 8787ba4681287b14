import AsyncHTTPClient
import DescriberTesting
import Foundation
import NIOCore
import NIOHTTP1
import ServerTestSupport
import TestSupport
import Testing

#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// Asking a person against `describer serve` with the bundled functions, as
/// a user runs it: the draft the helper sees is the real describer's, and a
/// question outlives a restart.
@Suite struct AssistServeTests {
    static let helperToken = "mum-helper-token-0123456789"

    static func start(data: String, arguments: [String] = []) async throws -> LiveServer {
        try await LiveServer.start(
            environment: [
                "DESCRIBER_DATA_DIRECTORY": data,
                "DESCRIBER_ASSIST__HELPERS__MUM__TOKEN": helperToken,
                "DESCRIBER_ASSIST__HELPERS__MUM__NAME": "Mum",
                "DESCRIBER_SERVER__SHUTDOWN_GRACE": "30s",
            ], arguments: arguments)
    }

    static func request(
        _ server: LiveServer, _ method: String, _ path: String, body: Data? = nil, helper: Bool = false
    ) async throws -> (
        status: Int, json: [String: Any]
    ) {
        var request = URLRequest(url: URL(string: server.baseURL + path)!)
        request.httpMethod = method
        request.httpBody = body
        if body != nil { request.setValue(helper ? "application/json" : "image/jpeg", forHTTPHeaderField: "Content-Type") }
        if helper { request.setValue("Bearer \(helperToken)", forHTTPHeaderField: "Authorization") }
        let (data, response) = try await URLSession.shared.data(for: request)
        let json = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any] ?? [:]
        return ((response as? HTTPURLResponse)?.statusCode ?? 0, json)
    }

    @Test func aWaitingQuestionSurvivesARestartWithTheMachinesDraft() async throws {
        let data = try TestScratch.folder("assist-restart")
        let photo = try Data(contentsOf: URL(fileURLWithPath: TestImages.directory + "/person.jpg"))
        var server = try await Self.start(data: data)
        let asked = try await Self.request(server, "POST", "/v1/assist?question=Who%20is%20this%3F", body: photo)
        #expect(asked.status == 202, "\(asked.json)")
        let id = try #require(asked.json["id"] as? String)
        let draft = try #require(asked.json["draft"] as? [String: Any], "the server describes the photo for the helper")
        let labels = (draft["objects"] as? [[String: Any]])?.compactMap { $0["label"] as? String } ?? []
        #expect(labels.contains("person"), "\(draft)")
        let stopped = server.stop()
        #expect(stopped.termination == .exit && stopped.status == 0, "\(server.logTail())")

        server = try await Self.start(data: data)
        defer { server.stop() }
        let waiting = try await Self.request(server, "GET", "/v1/assist/\(id)")
        #expect(waiting.json["status"] as? String == "waiting")
        #expect(waiting.json["question"] as? String == "Who is this?")
        let pending = try await Self.request(server, "GET", "/v1/assist/pending", helper: true)
        #expect((pending.json["questions"] as? [[String: Any]])?.map { $0["id"] as? String } == [id])
        let answer = try await Self.request(
            server, "POST", "/v1/assist/\(id)/answer", body: Data(#"{"text": "A man in a blue shirt, smiling."}"#.utf8), helper: true)
        #expect(answer.status == 200, "\(answer.json)")
        let answered = try await Self.request(server, "GET", "/v1/assist/\(id)")
        #expect((answered.json["answer"] as? [String: Any])?["text"] as? String == "A man in a blue shirt, smiling.")
    }

    @Test func stoppingTheServerEndsOpenEventStreamsCleanly() async throws {
        // At debug level the service group logs when a shutdown outlasts its grace.
        let server = try await Self.start(data: try TestScratch.folder("assist-stop"), arguments: ["--log-level", "debug"])
        let photo = try Data(contentsOf: URL(fileURLWithPath: TestImages.directory + "/gray.jpg"))
        let id = try #require(try await Self.request(server, "POST", "/v1/assist", body: photo).json["id"] as? String)
        let response = try await HTTPClient.shared.execute(HTTPClientRequest(url: server.baseURL + "/v1/assist/\(id)/events"), timeout: .seconds(60))
        #expect(response.status == .ok)
        var body = response.body.makeAsyncIterator()
        var received = ""
        while !received.contains("\n\n"), let chunk = try await body.next() { received += String(buffer: chunk) }
        // The stream is open and has said its first event: now stop the server.
        let stopped = await Task.detached { server.stop() }.value
        // A stream the server cut off would fail here; one it ended, as it
        // must when stopping, ends cleanly, with the question still waiting.
        while let chunk = try await body.next() { received += String(buffer: chunk) }
        #expect(received.hasPrefix("event: status\ndata: {") && received.contains(#""status":"waiting""#), "\(received)")
        #expect(stopped.termination == .exit && stopped.status == 0, "\(server.logTail())")
        let log = (try? String(contentsOfFile: server.log, encoding: .utf8)) ?? ""
        #expect(!log.contains("Graceful shutdown took longer than allowed"), "the open stream held the shutdown up:\n\(server.logTail())")
    }
}
