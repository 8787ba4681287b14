import DescriberConfiguration
import DescriberHTTP
import DescriberHost
import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import ServiceLifecycle

/// The HTTP side of asking a person.
///
/// For the asker (behind `server.api_token` when the server has one, like
/// the rest of the API):
/// - `GET /v1/assist` — whether anyone can answer, and the time limits;
/// - `POST /v1/assist` — a photo in (`?question=` optional) → 202 and the question;
/// - `GET /v1/assist/{id}`, and `GET /v1/assist/{id}/events` as Server-Sent Events;
/// - `DELETE /v1/assist/{id}` — cancels it if it waits, and deletes the photo.
///
/// For helpers, each with `Authorization: Bearer <their token>` (401 otherwise):
/// - `GET /v1/assist/pending`, and `GET /v1/assist/pending/events` as Server-Sent Events;
/// - `GET /v1/assist/{id}/photo`;
/// - `POST /v1/assist/{id}/answer` with `{"text": …, "labels": {…}}`.
///
/// Everything that changes state refuses cross-site requests from browsers
/// (``SameOriginMiddleware``).
public struct AssistRoutes: Sendable {
    let queue: AssistQueue
    /// The largest photo taken, as for `/v1/describe`.
    let maxPhotoBytes: Int
    /// How often a quiet event stream sends a comment, so that proxies and
    /// phones keep it open and a client that went away is noticed.
    static let keepAlive: Duration = .seconds(15)
    static let maxAnswerBodyBytes = 64 * 1024

    public init(queue: AssistQueue, maxPhotoBytes: Int) {
        self.queue = queue
        self.maxPhotoBytes = maxPhotoBytes
    }

    public func register(askingOn api: RouterGroup<BasicRequestContext>, helpingOn router: Router<BasicRequestContext>) {
        let asking = api.group().add(middleware: SameOriginMiddleware())
        asking.get("/v1/assist", use: status)
        asking.post("/v1/assist", use: ask)
        asking.get("/v1/assist/:id", use: show)
        asking.get("/v1/assist/:id/events", use: questionEvents)
        asking.delete("/v1/assist/:id", use: withdraw)
        let helping = router.group().add(middleware: SameOriginMiddleware())
        helping.get("/v1/assist/pending", use: pending)
        helping.get("/v1/assist/pending/events", use: pendingEvents)
        helping.get("/v1/assist/:id/photo", use: photo)
        helping.post("/v1/assist/:id/answer", use: answer)
    }

    // MARK: Asking

    @Sendable func status(_ request: Request, context: BasicRequestContext) async throws -> Response {
        try json([
            "enabled": .bool(queue.config.isEnabled), "helpers": .int(queue.config.helpers.count),
            "answer_timeout_seconds": .int(Int(queue.config.answerTimeout.components.seconds)),
            "retention_seconds": .int(Int(queue.config.retention.components.seconds)),
        ])
    }

    @Sendable func ask(_ request: Request, context: BasicRequestContext) async throws -> Response {
        try request.uri.refuseUnknownOptions(allowed: ["question"], route: "/v1/assist")
        let photo = try await request.collectInput(upTo: maxPhotoBytes, for: "assist")
        let question = try await queue.ask(photo: photo, question: request.uri.queryParameters["question"].map(String.init))
        var response = try json(question, status: .accepted)
        response.headers[.location] = "/v1/assist/\(question.id)"
        return response
    }

    @Sendable func show(_ request: Request, context: BasicRequestContext) async throws -> Response {
        try json(try await queue.question(try context.parameters.require("id")))
    }

    @Sendable func withdraw(_ request: Request, context: BasicRequestContext) async throws -> Response {
        try json(try await queue.withdraw(try context.parameters.require("id")))
    }

    /// The question at once, then whenever it changes, until it ends.
    @Sendable func questionEvents(_ request: Request, context: BasicRequestContext) async throws -> Response {
        let id = try context.parameters.require("id")
        _ = try await queue.question(id)  // 404 before the stream starts
        return eventStream(following: .question(id), event: "status") { [queue] in
            let question = try await queue.question(id)
            return (try AssistQuestion.encoder.encode(question), question.status.isFinal)
        }
    }

    // MARK: Helping

    /// The helper `request` authenticates, or 401.
    func helper(_ request: Request) throws -> AssistConfig.Helper {
        guard let helper = queue.helper(for: request.headers.bearerToken) else {
            throw APIError(
                status: .unauthorized, code: "unauthorized",
                message: "this route is for helpers: send 'Authorization: Bearer' with your helper token", challenge: #"Bearer realm="describer-helpers""#)
        }
        return helper
    }

    struct PendingList: Encodable {
        var helper: [String: String]
        var questions: [AssistQuestion.HelperView]
    }

    func pendingList(for helper: AssistConfig.Helper) async throws -> Data {
        let list = PendingList(
            helper: ["id": helper.id, "name": helper.name], questions: try await queue.waiting().map(AssistQuestion.HelperView.init))
        return try AssistQuestion.encoder.encode(list)
    }

    @Sendable func pending(_ request: Request, context: BasicRequestContext) async throws -> Response {
        let helper = try helper(request)
        return json(bytes: try await pendingList(for: helper))
    }

    /// The waiting list at once, then whenever it changes.
    @Sendable func pendingEvents(_ request: Request, context: BasicRequestContext) async throws -> Response {
        let helper = try helper(request)
        return eventStream(following: .waitingList, event: "pending") { (try await pendingList(for: helper), false) }
    }

    @Sendable func photo(_ request: Request, context: BasicRequestContext) async throws -> Response {
        _ = try helper(request)
        let photo = try await queue.photo(try context.parameters.require("id"))
        return Response(
            status: .ok, headers: [.contentType: photo.contentType, .cacheControl: "private, no-store"],
            body: .init(byteBuffer: ByteBuffer(bytes: photo.data)))
    }

    struct AnswerBody: Decodable {
        var text: String
        var labels: AssistQuestion.Labels?
    }

    @Sendable func answer(_ request: Request, context: BasicRequestContext) async throws -> Response {
        let helper = try helper(request)
        let id = try context.parameters.require("id")
        let body = try await request.collectInput(upTo: Self.maxAnswerBodyBytes, for: "answer")
        let decoded: AnswerBody
        do {
            decoded = try JSONDecoder().decode(AnswerBody.self, from: Data(body.readableBytesView))
        } catch {
            throw APIError(
                InvocationError(
                    .invalidInput, #"an answer is JSON: {"text": "…", "labels": {"present": […], "absent": […], "text": "…", "quality": "usable"}}"#))
        }
        return try json(try await queue.answer(id, by: helper, text: decoded.text, labels: decoded.labels))
    }

    // MARK: Answers

    func json(_ value: some Encodable, status: HTTPResponse.Status = .ok) throws -> Response {
        json(bytes: try AssistQuestion.encoder.encode(value), status: status)
    }

    func json(_ value: [String: JSONValue]) throws -> Response {
        json(bytes: Data(JSONValue.object(value).serialized.utf8))
    }

    func json(bytes: Data, status: HTTPResponse.Status = .ok) -> Response {
        Response(
            status: status, headers: [.contentType: "application/json", .cacheControl: "no-store"],
            body: .init(byteBuffer: ByteBuffer(bytes: bytes)))
    }

    enum Tick: Sendable { case changed, keepAlive }

    /// A Server-Sent Events answer: `snapshot()` as an `event` whenever
    /// `topic` changes (and at once), a comment every ``keepAlive`` while
    /// nothing does; it ends after a final snapshot, when the client goes,
    /// or when the server begins to stop, so that an open page never holds
    /// a shutdown up.
    func eventStream(
        following topic: ChangeFeed.Topic, event: String, snapshot: @escaping @Sendable () async throws -> (data: Data, isFinal: Bool)
    ) -> Response {
        let changes = queue.changes
        let body = ResponseBody { writer in
            let (ticks, tick) = AsyncStream<Tick>.makeStream(bufferingPolicy: .bufferingNewest(2))
            try await withGracefulShutdownHandler {
                try await withThrowingTaskGroup(of: Void.self) { group in
                    group.addTask {
                        for await _ in changes.follow(topic) { tick.yield(.changed) }
                        tick.finish()
                    }
                    group.addTask {
                        while (try? await Task.sleep(for: Self.keepAlive)) != nil { tick.yield(.keepAlive) }
                    }
                    var last: Data?
                    for await kind in ticks {
                        let (data, isFinal) = try await snapshot()
                        if data != last {
                            last = data
                            try await writer.write(Self.event(event, data))
                        } else if kind == .keepAlive {
                            try await writer.write(ByteBuffer(string: ": keep-alive\n\n"))
                        }
                        if isFinal { break }
                    }
                    group.cancelAll()
                }
            } onGracefulShutdown: {
                tick.finish()
            }
            try await writer.finish(nil)
        }
        return Response(
            status: .ok,
            headers: [.contentType: "text/event-stream", .cacheControl: "no-store", .xAccelBuffering: "no"],
            body: body
        )
    }

    /// One event; JSON has no raw line breaks, so one `data:` line holds it.
    static func event(_ name: String, _ data: Data) -> ByteBuffer {
        var buffer = ByteBuffer(string: "event: \(name)\ndata: ")
        buffer.writeBytes(data)
        buffer.writeString("\n\n")
        return buffer
    }
}

extension HTTPField.Name {
    /// Tells a proxy in front (nginx) not to hold the stream back.
    fileprivate static let xAccelBuffering = Self("X-Accel-Buffering")!
}

extension AssistRoutes {
    /// For a server with no helpers: the page hears that asking is off,
    /// and a question is refused with the reason.
    public static func registerUnavailable(on api: RouterGroup<BasicRequestContext>) {
        api.get("/v1/assist") { _, _ -> Response in
            let body = #"{"answer_timeout_seconds":0,"enabled":false,"helpers":0,"retention_seconds":0}"#
            return Response(status: .ok, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(string: body)))
        }
        api.post("/v1/assist") { _, _ -> Response in throw AssistQueue.unavailable }
    }
}
