import DescriberHost
import HTTPTypes
import Hummingbird
import HummingbirdCore
import Logging
import NIOCore
import NIOHTTP1
import NIOHTTPTypes
import NIOHTTPTypesHTTP1

/// Keeps a connection from costing the server more than a request is worth,
/// and closes it without losing what was written.
///
/// It sits first in the pipeline, where bytes arrive and leave, and learns
/// where each request is from its ``Progress`` handler, which sits after
/// HTTP decoding (see ``ConnectionLimits``):
///
/// - A connection waiting for its next request closes after `idle_timeout`.
/// - Once a request's first byte arrives, its head must be complete within
///   `header_timeout`; once the head is read, its body within `body_timeout`,
///   extended a second for every `body_min_rate` bytes. A request out of time
///   is answered 408 `request_timeout`, unless its answer has begun, and the
///   connection closes.
/// - While an answer is being made or sent, nothing is timed: the function's
///   deadline bounds the one, the close below the other.
///
/// Every full close goes through it. NIO's full close drops writes still
/// queued, which cut large answers short when shutdown closed a connection
/// right after its last write. Here a close first lets every byte written
/// before it out (for at most `idle_timeout`), then half-closes and reads
/// until the client closes its side (for at most a second or two), so that a
/// request the client sent meanwhile is not met with a reset.
final class ConnectionGuard: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer
    typealias OutboundIn = IOData
    typealias OutboundOut = IOData

    /// How long a closing connection waits for the client to close its side.
    static let linger = TimeAmount.seconds(2)

    private let limits: ConnectionLimits
    private let logger: Logger
    private var context: ChannelHandlerContext?

    /// Requests whose head was read and whose answer has not ended.
    private var open = 0
    /// The newest request's body, while it arrives: since when (restarted when
    /// the answers before it end, as reading waits for them), and how much.
    private var body: (since: NIODeadline, received: Int)?
    /// Whether the oldest open request's answer has begun.
    private var answering = false
    /// When the first byte after the last whole request arrived; nil until one does.
    private var headSince: NIODeadline?
    /// When the connection last had nothing to do.
    private var idleSince = NIODeadline.now()

    private var timer: Scheduled<Void>?
    private var timerDeadline: NIODeadline?

    private enum Closing {
        case no
        /// Waiting for what was written to reach the socket.
        case flushing
        /// Half-closed; reading until the client closes.
        case lingering
    }
    private var closing = Closing.no

    init(limits: ConnectionLimits, logger: Logger) {
        self.limits = limits
        self.logger = logger
    }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        idleSince = .now()
        rearm()
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        cancelTimer()
        self.context = nil
    }

    func channelInactive(context: ChannelHandlerContext) {
        cancelTimer()
        context.fireChannelInactive()
    }

    // MARK: Bytes

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        // A closing connection reads only to see the client close its side.
        guard case .no = closing else { return }
        // Decoding a whole head, which the line below passes on, clears it at once.
        if body == nil, headSince == nil {
            headSince = .now()
            rearm()
        }
        context.fireChannelRead(data)
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        guard case .no = closing else {
            context.read()
            return
        }
        context.fireChannelReadComplete()
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if case ChannelEvent.inputClosed = event {
            switch closing {
            case .no: break
            // Passed on, it would make the decoder report a body cut short,
            // and a route answer it after the close's last answer.
            case .flushing: return
            case .lingering:
                context.close(mode: .all, promise: nil)
                return
            }
        }
        context.fireUserInboundEventTriggered(event)
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        // Once closing, the last answer is out or on its way: nothing may follow it.
        guard case .no = closing else {
            promise?.fail(ChannelError.outputClosed)
            return
        }
        context.write(data, promise: promise)
    }

    func close(context: ChannelHandlerContext, mode: CloseMode, promise: EventLoopPromise<Void>?) {
        guard mode == .all else {
            context.close(mode: mode, promise: promise)
            return
        }
        closeGracefully(context: context, promise: promise)
    }

    private func closeGracefully(context: ChannelHandlerContext, promise: EventLoopPromise<Void>? = nil) {
        if let promise { context.channel.closeFuture.cascade(to: promise) }
        guard case .no = closing else { return }
        closing = .flushing
        cancelTimer()
        let loop = context.eventLoop.assumeIsolated()
        // A client that stops reading may not hold the connection open for ever.
        let giveUp = loop.scheduleTask(in: TimeAmount(limits.idleTimeout)) { context.close(mode: .all, promise: nil) }
        context.channel.closeFuture.assumeIsolated().whenComplete { _ in giveUp.cancel() }
        // Writes complete in order: this one, once every byte before it is out.
        context.writeAndFlush(wrapOutboundOut(.byteBuffer(ByteBuffer()))).assumeIsolated().whenComplete { result in
            guard case .success = result, context.channel.isActive else {
                context.close(mode: .all, promise: nil)
                return
            }
            self.closing = .lingering
            context.close(mode: .output).assumeIsolated().whenComplete { result in
                guard case .success = result else {
                    context.close(mode: .all, promise: nil)
                    return
                }
                loop.scheduleTask(in: Self.linger) { context.close(mode: .all, promise: nil) }
                context.read()
            }
        }
    }

    // MARK: Requests, as decoded

    fileprivate func headRead() {
        open += 1
        headSince = nil
        body = (.now(), 0)
        rearm()
    }

    fileprivate func bodyRead(_ count: Int) {
        body?.received += count
    }

    fileprivate func endRead() {
        body = nil
        headSince = nil
        rearm()
    }

    /// No request has been read that is not answered, and no body is arriving.
    fileprivate var isBetweenRequests: Bool { open == 0 && body == nil }

    fileprivate func answerStarted() {
        answering = true
    }

    fileprivate func answerEnded() {
        guard open > 0 else { return }
        open -= 1
        answering = false
        let now = NIODeadline.now()
        if open == 0 { idleSince = now }
        if open <= 1, body != nil { body?.since = now }
        if open == 0, headSince != nil { headSince = now }
        rearm()
    }

    // MARK: Deadlines

    private enum Wait {
        case body, head, idle
    }

    /// What the connection waits for from the client, and until when; nil
    /// while it is the server's turn.
    private var deadline: (wait: Wait, at: NIODeadline)? {
        if let body, open <= 1 {
            let allowance = limits.bodyTimeout + .seconds(Double(body.received) / Double(limits.bodyMinimumRate))
            return (.body, body.since + TimeAmount(allowance))
        }
        if open > 0 { return nil }
        if let headSince { return (.head, headSince + TimeAmount(limits.headerTimeout)) }
        return (.idle, idleSince + TimeAmount(limits.idleTimeout))
    }

    /// Arms the timer for the current deadline unless it is armed earlier:
    /// deadlines mostly move later, and a timer that fires early re-arms.
    private func rearm() {
        guard case .no = closing, let context, let deadline else { return }
        if let timerDeadline, timerDeadline <= deadline.at { return }
        timer?.cancel()
        timerDeadline = deadline.at
        timer = context.eventLoop.assumeIsolated().scheduleTask(deadline: deadline.at) { [self] in
            timer = nil
            timerDeadline = nil
            expire()
        }
    }

    private func cancelTimer() {
        timer?.cancel()
        timer = nil
        timerDeadline = nil
    }

    private func expire() {
        guard case .no = closing, let context, let deadline else { return }
        guard deadline.at <= .now() else {
            rearm()
            return
        }
        switch deadline.wait {
        case .idle:
            logger.trace("Closing an idle connection")
        case .head, .body:
            let what = deadline.wait == .head ? "head" : "body"
            let limit = deadline.wait == .head ? limits.headerTimeout : limits.bodyTimeout
            logger.debug("Closing a connection: a request's \(what) did not arrive in time")
            // Only where no answer to it has begun; one already answered (its body
            // still being drained) needs none.
            if !answering, open > 0 || deadline.wait == .head {
                let message =
                    deadline.wait == .head
                    ? "the request's head did not arrive within \(limit)"
                    : "the request's body did not arrive within \(limit), plus a second for every \(limits.bodyMinimumRate) bytes"
                context.write(wrapOutboundOut(.byteBuffer(Self.timeoutResponse(message))), promise: nil)
            }
        }
        closeGracefully(context: context)
    }

    /// `408 request_timeout` as bytes: the encoder may be in the middle of
    /// nothing else, as no answer to the request has begun.
    static func timeoutResponse(_ message: String) -> ByteBuffer {
        let body = APIError(status: .requestTimeout, code: "request_timeout", message: message).body
        var response = ByteBuffer(
            string: "HTTP/1.1 408 Request Timeout\r\nContent-Type: application/json\r\nContent-Length: \(body.readableBytes)\r\nConnection: close\r\n\r\n"
        )
        response.writeImmutableBuffer(body)
        return response
    }
}

extension ConnectionGuard {
    /// Tells its ``ConnectionGuard`` where each request is, as decoded and as
    /// answered. It sits right after HTTP decoding, before the fast path, so
    /// it sees every request and every answer.
    final class Progress: ChannelDuplexHandler, RemovableChannelHandler {
        typealias InboundIn = HTTPRequestPart
        typealias InboundOut = HTTPRequestPart
        typealias OutboundIn = HTTPResponsePart
        typealias OutboundOut = HTTPResponsePart

        private let connection: ConnectionGuard

        init(_ connection: ConnectionGuard) {
            self.connection = connection
        }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            switch unwrapInboundIn(data) {
            case .head: connection.headRead()
            case .body(let bytes): connection.bodyRead(bytes.readableBytes)
            case .end: connection.endRead()
            }
            context.fireChannelRead(data)
        }

        /// A request that is not HTTP/1.1 gets a JSON error like every other
        /// refusal (Hummingbird answers it with an empty 400), then the close.
        /// One that cuts off a request already read goes on to whoever reads it.
        func errorCaught(context: ChannelHandlerContext, error: any Error) {
            guard let error = error as? HTTPParserError, connection.isBetweenRequests else {
                context.fireErrorCaught(error)
                return
            }
            let refusal =
                error == .headerOverflow
                ? APIError(status: .requestHeaderFieldsTooLarge, code: "headers_too_large", message: "the request's header fields are too large")
                : APIError(status: .badRequest, code: "bad_request", message: "the request is not valid HTTP/1.1 (\(error))")
            var fields = refusal.headers
            fields[.contentLength] = String(refusal.body.readableBytes)
            fields[.connection] = "close"
            context.write(wrapOutboundOut(.head(HTTPResponse(status: refusal.status, headerFields: fields))), promise: nil)
            context.write(wrapOutboundOut(.body(refusal.body)), promise: nil)
            let context = context.loopBound
            context.value.writeAndFlush(wrapOutboundOut(.end(nil))).whenComplete { _ in context.value.close(promise: nil) }
        }

        /// Shutdown has begun: the connection closes after its current answer.
        private var quiescing = false

        func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
            if event is ChannelShouldQuiesceEvent { quiescing = true }
            context.fireUserInboundEventTriggered(event)
        }

        func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
            switch unwrapOutboundIn(data) {
            case .head(var head) where head.status.kind != .informational:
                connection.answerStarted()
                if quiescing {
                    // So that the client sends its next request elsewhere
                    // rather than into a connection about to close.
                    head.headerFields[.connection] = "close"
                    context.write(wrapOutboundOut(.head(head)), promise: promise)
                    return
                }
            case .end: connection.answerEnded()
            case .head, .body: break
            }
            context.write(data, promise: promise)
        }
    }
}

/// HTTP/1.1 with a ``ConnectionGuard`` on each connection.
struct GuardedHTTP1Channel: ServerChildChannel {
    typealias Value = HTTP1Channel.Value

    let http1: HTTP1Channel
    let limits: ConnectionLimits

    func setup(channel: any Channel, logger: Logger) -> EventLoopFuture<Value> {
        let limits = limits
        return http1.setup(channel: channel, logger: logger).flatMapThrowing { value in
            let pipeline = channel.pipeline.syncOperations
            let connection = ConnectionGuard(limits: limits, logger: logger)
            try pipeline.addHandler(connection, position: .first)
            try pipeline.addHandler(ConnectionGuard.Progress(connection), position: .after(pipeline.handler(type: HTTP1ToHTTPServerCodec.self)))
            return value
        }
    }

    func handle(value: Value, logger: Logger) async {
        await http1.handle(value: value, logger: logger)
    }
}

extension TimeAmount {
    init(_ duration: Duration) {
        let (seconds, attoseconds) = duration.components
        self = .nanoseconds(seconds * 1_000_000_000 + attoseconds / 1_000_000_000)
    }
}
