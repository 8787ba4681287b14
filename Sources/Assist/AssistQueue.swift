import DescriberHTTP
import DescriberHost
import DescriberImaging
import Describing
import Foundation
import HTTPTypes
import Logging
import NIOCore
import Prometheus
import Synchronization

/// The questions waiting for a person, and everything that happens to them:
/// asked, answered by a helper, cancelled by the asker, expired, deleted
/// after the retention period.
///
/// The store is the queue, so a question outlives a restart. Every change
/// is announced on ``changes`` for the pages that follow a question or the
/// waiting list live.
public final class AssistQueue: Sendable {
    public let config: AssistConfig
    let store: AssistStore
    /// Makes the machine's draft that a helper sees beside the photo.
    let describer: ImageDescriber?
    package let changes = ChangeFeed()
    let logger: Logger
    let metrics: AssistMetrics
    private let askLimit: Mutex<TokenBucket>
    private let answerLimits: Mutex<[String: TokenBucket]>

    /// - Parameter registry: where the `describer_assist_*` series go (the host's, for `/metrics`).
    public init(
        config: AssistConfig, describer: ImageDescriber?, registry: PrometheusCollectorRegistry = PrometheusCollectorRegistry(), logger: Logger
    ) throws {
        self.config = config
        self.metrics = AssistMetrics(registry: registry)
        self.store = try AssistStore(path: config.databasePath)
        self.describer = describer
        self.logger = logger
        askLimit = Mutex(TokenBucket(perSecond: config.questionsPerMinute / 60, burst: Self.burst(config.questionsPerMinute)))
        answerLimits = Mutex([:])
    }

    /// A minute's worth at once, at least one and at most twenty.
    static func burst(_ perMinute: Double) -> Int { min(20, max(1, Int(perMinute.rounded(.down)))) }

    /// Whom `headers` authenticate: the helper whose token they carry.
    func helper(for bearer: String?) -> AssistConfig.Helper? {
        guard let bearer else { return nil }
        let digest = AssistConfig.Helper.digest(of: bearer)
        // Every helper is compared, each in constant time, so how long a
        // refusal takes says nothing about which token came close.
        var found: AssistConfig.Helper?
        for helper in config.helpers where Self.constantTimeEqual(helper.tokenDigest, digest) { found = helper }
        return found
    }

    static func constantTimeEqual(_ a: [UInt8], _ b: [UInt8]) -> Bool {
        guard a.count == b.count else { return false }
        var difference: UInt8 = 0
        for index in a.indices { difference |= a[index] ^ b[index] }
        return difference == 0
    }

    // MARK: Asking

    /// Stores a question about `photo` with the machine's draft, and
    /// announces it to the helpers.
    public func ask(photo: ByteBuffer, question: String?, kind: AssistQuestion.Kind = .open, now: Date = Date()) async throws -> AssistQuestion {
        guard config.isEnabled else { throw Self.unavailable }
        let question = question?.trimmingCharacters(in: .whitespacesAndNewlines)
        if let question, question.count > AssistConfig.maxQuestionLength {
            throw APIError(InvocationError(.badOption, "the question is \(question.count) characters; at most \(AssistConfig.maxQuestionLength)"))
        }
        let format = photo.withUnsafeReadableBytes(ImageFormat.sniff)
        guard let format, format.isDecodable else {
            let what = format.map { "a \($0.name) image, which is not supported" } ?? "not an image"
            throw APIError(InvocationError(format == nil ? .notAnImage : .unsupportedFormat, "the photo is \(what): send a JPEG or PNG"))
        }
        // A camera's yes-or-no questions are bounded by the camera's own rate
        // limit and cooldowns; they must not lock people out of asking.
        if kind == .open, case .failure(let wait) = askLimit.withLock({ $0.take() }) {
            throw APIError(
                status: .tooManyRequests, code: "rate_limited",
                message: "too many questions in a short time; ask again in \(wait.seconds) s", retryAfterSeconds: wait.seconds)
        }
        guard try await store.waitingCount() < config.maxWaiting else {
            throw APIError(
                status: .serviceUnavailable, code: "queue_full",
                message: "\(config.maxWaiting) questions are already waiting for a person; try again later", retryAfterSeconds: 60)
        }
        let draft = try await self.draft(of: photo)
        let asked = AssistQuestion(
            id: Self.newID(), status: .waiting, kind: kind, question: question?.isEmpty == false ? question : nil, askedAt: now,
            expiresAt: now.addingTimeInterval(config.answerTimeout.timeInterval), draft: draft, answer: nil, labels: nil, hasPhoto: true
        )
        try await store.insert(asked, photo: Data(photo.readableBytesView), photoType: format == .png ? "image/png" : "image/jpeg")
        changes.publish(.waitingList)
        metrics.record("asked")
        await countWaiting()
        logger.info("A question is waiting for a person", metadata: ["question": "\(asked.id)"])
        return asked
    }

    /// The machine's description, which the helper sees and can correct. A
    /// file that is not a usable picture is refused, as describing refuses
    /// it; when describing fails otherwise, the question goes without a
    /// draft: that is when a person matters most.
    private func draft(of photo: ByteBuffer) async throws -> AssistQuestion.Draft? {
        guard let describer else { return nil }
        do throws(DescribeError) {
            return AssistQuestion.Draft(try await describer.describe(photo))
        } catch {
            if error.code == .notAnImage { throw APIError(InvocationError(error.underlying?.code ?? .notAnImage, error.message)) }
            logger.warning("The question goes without the machine's draft", metadata: ["reason": "\(error.message)"])
            return nil
        }
    }

    /// 128 random bits, URL-safe: knowing a question's id is what lets
    /// one follow or cancel it when the server has no API token.
    static func newID() -> String {
        var generator = SystemRandomNumberGenerator()
        let bytes = (0..<16).map { _ in UInt8.random(in: 0...255, using: &generator) }
        return Data(bytes).base64EncodedString().replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
            .replacingOccurrences(of: "=", with: "")
    }

    // MARK: Answering

    public func answer(
        _ id: String, by helper: AssistConfig.Helper, text: String, labels: AssistQuestion.Labels?, now: Date = Date()
    ) async throws -> AssistQuestion {
        let text = text.trimmingCharacters(in: .whitespacesAndNewlines)
        guard !text.isEmpty, text.count <= AssistConfig.maxAnswerLength else {
            throw APIError(InvocationError(.invalidInput, "an answer is 1 to \(AssistConfig.maxAnswerLength) characters of text"))
        }
        if let labels { try Self.check(labels) }
        let admitted = answerLimits.withLock { limits in
            var bucket =
                limits[helper.id] ?? TokenBucket(perSecond: config.answersPerMinute / 60, burst: Self.burst(config.answersPerMinute))
            defer { limits[helper.id] = bucket }
            return bucket.take()
        }
        if case .failure(let wait) = admitted {
            throw APIError(
                status: .tooManyRequests, code: "rate_limited", message: "too many answers in a short time; wait \(wait.seconds) s",
                retryAfterSeconds: wait.seconds)
        }
        let recorded = try await store.answer(
            id, text: text, helperID: helper.id, helperName: helper.name, labels: labels, at: now, keep: config.keepAnswers)
        guard let question = try await store.question(id) else { throw Self.noSuchQuestion(id) }
        guard recorded else {
            throw APIError(
                status: .conflict, code: "not_waiting",
                message: "this question is \(question.status.rawValue) and takes no answer" + (question.status == .answered ? ": someone answered first" : ""))
        }
        changes.publish(.question(id))
        changes.publish(.waitingList)
        metrics.record("answered")
        metrics.recordAnswer(after: .milliseconds(Int64(max(0, now.timeIntervalSince(question.askedAt)) * 1000)))
        await countWaiting()
        logger.info("A question was answered", metadata: ["question": "\(id)", "helper": "\(helper.id)"])
        return question
    }

    static func check(_ labels: AssistQuestion.Labels) throws {
        let all = labels.present + labels.absent
        guard all.count <= AssistQuestion.Labels.maxLabels,
            all.allSatisfy({ !$0.isEmpty && $0.count <= AssistQuestion.Labels.maxLabelLength })
        else {
            throw APIError(
                InvocationError(
                    .invalidInput,
                    "labels.present and labels.absent hold at most \(AssistQuestion.Labels.maxLabels) labels of 1 to \(AssistQuestion.Labels.maxLabelLength) characters"
                ))
        }
        if let text = labels.text, text.count > 10_000 {
            throw APIError(InvocationError(.invalidInput, "labels.text is at most 10000 characters"))
        }
    }

    static var unavailable: APIError {
        APIError(
            status: .serviceUnavailable, code: "assist_unavailable",
            message: "nobody is set up to answer: the server's owner adds helpers under assist.helpers")
    }

    static func noSuchQuestion(_ id: String) -> APIError {
        APIError(status: .notFound, code: "not_found", message: "there is no question \(id): it never existed, or it was deleted after its retention period")
    }

    // MARK: Reading, cancelling, time

    public func question(_ id: String) async throws -> AssistQuestion {
        guard let question = try await store.question(id) else { throw Self.noSuchQuestion(id) }
        return question
    }

    public func waiting() async throws -> [AssistQuestion] { try await store.waiting() }

    func photo(_ id: String) async throws -> (contentType: String, data: Data) {
        guard let photo = try await store.photo(id) else {
            throw APIError(
                status: .notFound, code: "not_found", message: "question \(id) has no photo: it was withdrawn, or deleted after its retention period")
        }
        return photo
    }

    /// Cancels a waiting question and deletes its photo.
    public func withdraw(_ id: String, now: Date = Date()) async throws -> AssistQuestion {
        guard let (question, cancelled) = try await store.withdraw(id, at: now) else { throw Self.noSuchQuestion(id) }
        changes.publish(.question(id))
        changes.publish(.waitingList)
        if cancelled {
            metrics.record("cancelled")
            await countWaiting()
        }
        return question
    }

    /// Expires what is due; answers when the next waiting question is due.
    func expireDue(now: Date = Date()) async throws -> Date? {
        let expired = try await store.expire(at: now)
        for id in expired { changes.publish(.question(id)) }
        if !expired.isEmpty {
            changes.publish(.waitingList)
            metrics.record("expired", count: expired.count)
            logger.info("Questions expired unanswered", metadata: ["count": "\(expired.count)"])
        }
        await countWaiting()
        return try await store.nextExpiry()
    }

    /// After the change is committed: a failure here must not fail the request.
    private func countWaiting() async {
        if let count = try? await store.waitingCount() { metrics.setWaiting(count) }
    }

    /// Deletes what ended longer ago than the retention period.
    func prune(now: Date = Date()) async throws {
        let deleted = try await store.prune(endedBefore: now.addingTimeInterval(-config.retention.timeInterval))
        if deleted > 0 { logger.info("Questions deleted after the retention period", metadata: ["count": "\(deleted)"]) }
    }
}

extension Duration {
    var timeInterval: TimeInterval { Double(components.seconds) + Double(components.attoseconds) / 1e18 }
}
