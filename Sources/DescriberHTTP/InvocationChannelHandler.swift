import DescriberHost
import Glibc
import HTTPTypes
import Hummingbird
import HummingbirdCore
import NIOCore
import NIOHTTP1
import NIOHTTPTypes

/// `POST /v1/functions/{name}/invoke` answered on the connection's event
/// loop, without a Swift task: the invoke route's fast path.
///
/// Through the router, a request crosses threads four times: the event
/// loop hands it to a task on Swift's cooperative pool, the task hands it to
/// the function's thread, the answer comes back to the cooperative pool, and
/// the response goes back to the event loop. A route that answers by itself
/// crosses twice. Here the event loop hands the request to the function's
/// thread and that thread hands the answer back: twice, like the bare route.
/// It answers faster than a bare Hummingbird route; through the router the
/// invocation is slower than that route (BENCHMARKS.md, "The invoke route's
/// fast path").
///
/// It takes only requests it answers exactly as the router's route would:
/// a POST to a function that is loaded, with a Content-Length within the
/// function's input limit, and with the API token when one is set. Every
/// other request, including the ones that route refuses (an unknown
/// function, a chunked or oversized body, a missing token), passes on to the
/// router unchanged, which answers it.
///
/// It sits between HTTP decoding and the router's connection loop, so it
/// keeps the connection in order itself, as NIO's pipelining handler would:
///
/// - A request's head goes nowhere until the response to the one before it
///   has ended (the router's, seen as it is written, or this handler's).
///   What arrives meanwhile is held, in order, with reading paused.
/// - A half-close or a parse error waits behind this handler's answer; one
///   that cuts off a body this handler is reading ends that request, with
///   a 400 and a close.
/// - After a request with `Connection: close`, nothing more is read or answered.
/// - Shutdown's quiesce event waits until this handler's answer is out and
///   what was held has been answered; the router's connection handling then
///   closes the connection when it is idle. Nothing new is read meanwhile.
/// - A caller that resets its connection gives up its invocation: a queued
///   one leaves the queue.
final class InvocationChannelHandler: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPRequestPart
    typealias InboundOut = HTTPRequestPart
    typealias OutboundIn = HTTPResponsePart
    typealias OutboundOut = HTTPResponsePart

    private let host: FunctionHost
    private let token: APIToken?
    private let serverName: String?
    private var date = HTTPDate()

    /// The connection's current request.
    private enum Current {
        /// None: the last one was answered in full.
        case none
        /// One the router answers. `reading`: its parts are still arriving;
        /// `answering`: its response has not ended yet; `closes`: it asked
        /// for the connection to close after it.
        case router(reading: Bool, answering: Bool, closes: Bool)
        /// One this handler answers, while its body arrives.
        case reading(Reading)
        /// One this handler answers, waiting for the function. Its answer is
        /// the only one that can arrive: the next request starts after it.
        case invoking(PendingInvocation)
    }

    private struct Reading {
        let entry: FunctionHost.Entry
        let head: HTTPRequest
        var body: ByteBuffer?
        /// The request asked for the connection to close after it.
        let closes: Bool
    }

    /// Where the connection is in its life. It only moves forward: open,
    /// then quiescing and quiesced on shutdown, or closing once a request
    /// that asked to close has been read.
    private enum Lifecycle {
        /// Taking requests.
        case open
        /// Shutdown asked to quiesce. The event waits until this handler
        /// answers nothing and nothing is held; nothing new is read.
        case quiescing
        /// The quiesce event was passed on: the router takes every request
        /// now, and closes the connection when it is idle.
        case quiesced
        /// A request that asked to close has been read: nothing after it is
        /// taken, and the connection closes after its answer.
        case closing
    }

    /// What arrived while a request was still being answered, in order.
    private enum Held {
        case part(HTTPRequestPart)
        case inputClosed
        case error(any Error)

        var isPart: Bool {
            if case .part = self { true } else { false }
        }
    }

    private var current = Current.none
    private var lifecycle = Lifecycle.open
    private var held = CircularBuffer<Held>()
    /// A read the channel asked for while reading was paused.
    private var readPaused = false
    /// Guards ``releaseHeld(context:)`` against itself: a held request
    /// refused at once writes its answer, which releases what is held.
    private var releasing = false

    init(host: FunctionHost, token: APIToken?, serverName: String?) {
        self.host = host
        self.token = token
        self.serverName = serverName
    }

    // MARK: Inbound

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard !isClosing else { return }
        let part = unwrapInboundIn(data)
        if !held.isEmpty || (part.isHead && isBusy) {
            held.append(.part(part))
        } else {
            receive(part, context: context)
        }
    }

    /// Whether a request is still being read or answered.
    private var isBusy: Bool {
        if case .none = current { false } else { true }
    }

    private var isClosing: Bool {
        if case .closing = lifecycle { true } else { false }
    }

    /// Whether this handler is answering the current request.
    private var isInvoking: Bool {
        if case .invoking = current { true } else { false }
    }

    /// Whether the current request's body is still arriving.
    private var isReadingBody: Bool {
        switch current {
        case .reading, .router(reading: true, _, _): true
        case .none, .router, .invoking: false
        }
    }

    private func receive(_ part: HTTPRequestPart, context: ChannelHandlerContext) {
        switch (part, current) {
        case (.head(let head), .none):
            // As the router's connection loop decides.
            let closes = head.headerFields[.connection] == "close"
            if case .quiesced = lifecycle {
                current = .router(reading: true, answering: true, closes: closes)
                context.fireChannelRead(wrapInboundOut(part))
            } else if let reading = takes(head, closes: closes) {
                current = .reading(reading)
            } else {
                current = .router(reading: true, answering: true, closes: closes)
                context.fireChannelRead(wrapInboundOut(part))
            }
        case (.body(let bytes), .reading(var reading)):
            // Content-Length frames the body, so it cannot outgrow the limit checked in `takes`.
            if reading.body == nil {
                reading.body = bytes
            } else {
                reading.body!.writeImmutableBuffer(bytes)
            }
            current = .reading(reading)
        case (.end, .reading(let reading)):
            if reading.closes { lifecycle = .closing }
            invoke(reading, context: context)
        case (.end, .router(_, let answering, let closes)):
            if closes { lifecycle = .closing }
            current = answering ? .router(reading: false, answering: true, closes: closes) : .none
            context.fireChannelRead(wrapInboundOut(part))
            if !answering { releaseHeld(context: context) }
        default:
            // A router request's body; anything else out of order is the
            // router's request parser's to refuse.
            context.fireChannelRead(wrapInboundOut(part))
        }
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        switch event {
        case is ChannelShouldQuiesceEvent:
            switch lifecycle {
            case .open:
                lifecycle = .quiescing
                passQuiesceOnWhenDone(context: context)
            case .closing:
                // The connection closes after the current answer anyway;
                // the router's loop, if it answers, may close it at once.
                if !isInvoking { context.fireUserInboundEventTriggered(event) }
            case .quiescing, .quiesced:
                break
            }
        case ChannelEvent.inputClosed:
            arrived(.inputClosed, context: context)
        default:
            context.fireUserInboundEventTriggered(event)
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        arrived(.error(error), context: context)
    }

    /// A half-close or an error, as it arrives.
    private func arrived(_ event: Held, context: ChannelHandlerContext) {
        // Passed on before this handler's answer, it would end the router's
        // connection loop (which closes the connection), or make it write
        // its answer to the error first.
        if !held.isEmpty || isInvoking {
            held.append(event)
        } else {
            pass(event, context: context)
        }
    }

    /// Passes on what was held. A half-close or an error that cuts off a
    /// body this handler is reading ends that request: it is answered 400
    /// `invalid_input`, as the router answers it, and the connection closes.
    private func pass(_ event: Held, context: ChannelHandlerContext) {
        if case .part(let part) = event {
            receive(part, context: context)
            return
        }
        if case .reading = current {
            // The router's loop would answer an empty 400, or none at all.
            current = .none
            lifecycle = .closing
            if case .error(let error as HTTPParserError) = event {
                write(APIError(unreadableBody: error), context: context)
            } else {
                write(APIError(unreadableBody: .invalidEOFState), context: context)
            }
            return
        }
        switch event {
        case .inputClosed: context.fireUserInboundEventTriggered(ChannelEvent.inputClosed)
        case .error(let error): context.fireErrorCaught(error)
        case .part: break
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        if case .invoking(let pending) = current { pending.cancel() }
        current = .none
        held.removeAll()
        context.fireChannelInactive()
    }

    // MARK: Outbound

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        context.write(data, promise: promise)
        // The router's response to its request has ended.
        guard case .end = unwrapOutboundIn(data), case .router(let reading, _, let closes) = current else { return }
        current = reading ? .router(reading: true, answering: false, closes: closes) : .none
        if !reading { releaseHeld(context: context) }
    }

    func read(context: ChannelHandlerContext) {
        if mayRead {
            context.read()
        } else {
            readPaused = true
        }
    }

    /// Whether to read more: not while requests wait, nor after the
    /// connection is to close or quiesce, unless a body is still due.
    private var mayRead: Bool {
        switch lifecycle {
        case .closing: false
        case .quiescing, .quiesced: isReadingBody
        case .open: held.isEmpty
        }
    }

    /// Passes on what was held, up to the next request that has to wait;
    /// then the quiesce event, if it is due, and a paused read.
    private func releaseHeld(context: ChannelHandlerContext) {
        guard !releasing else { return }
        releasing = true
        defer { releasing = false }
        var released = false
        while !isClosing, let next = held.first {
            if case .part(let part) = next, part.isHead, isBusy { break }
            if !next.isPart, isInvoking { break }
            held.removeFirst()
            released = true
            pass(next, context: context)
        }
        if isClosing { held.removeAll() }
        // The router's connection loop takes what it was given when a read completes.
        if released { context.fireChannelReadComplete() }
        passQuiesceOnWhenDone(context: context)
        if readPaused && mayRead {
            readPaused = false
            context.read()
        }
    }

    /// Passes shutdown's quiesce event on once this handler answers nothing
    /// and nothing is held.
    private func passQuiesceOnWhenDone(context: ChannelHandlerContext) {
        guard case .quiescing = lifecycle, held.isEmpty, !isInvoking else { return }
        if case .reading = current { return }
        lifecycle = .quiesced
        context.fireUserInboundEventTriggered(ChannelShouldQuiesceEvent())
    }

    // MARK: Invoking

    /// What this handler needs to answer `head` itself; nil for the router.
    private func takes(_ head: HTTPRequest, closes: Bool) -> Reading? {
        guard head.method == .post, let path = head.path, let name = Self.functionName(invokedBy: path),
            let entry = host.entry(named: String(name)), let pool = entry.pool,
            let length = head.headerFields.firstValue(.contentLength).flatMap(Int.init), length <= pool.limits.maxInputBytes
        else { return nil }
        if let token, !token.admits(head.headerFields) { return nil }
        return Reading(entry: entry, head: head, closes: closes)
    }

    /// The function named in `/v1/functions/{name}/invoke[?query]`, as the
    /// router matches it; nil for any other path.
    static func functionName(invokedBy path: String) -> Substring? {
        let route = path.utf8.firstIndex(of: UInt8(ascii: "?")).map { path[..<$0] } ?? path[...]
        let prefix = "/v1/functions/", suffix = "/invoke"
        guard route.hasPrefix(prefix), route.hasSuffix(suffix), route.utf8.count > prefix.utf8.count + suffix.utf8.count else { return nil }
        let name = route.dropFirst(prefix.count).dropLast(suffix.count)
        return name.contains("/") ? nil : name
    }

    private func invoke(_ reading: Reading, context: ChannelHandlerContext) {
        let head = reading.head
        let handler = NIOLoopBound((self, context), eventLoop: context.eventLoop)
        do {
            let request = InvocationRequest(
                body: reading.body ?? ByteBuffer(),
                contentType: head.headerFields.firstValue(.contentType) ?? "application/octet-stream",
                options: URI(head.path ?? "/").invocationOptions,
                timeout: try head.headerFields.requestedTimeout()
            )
            // The result comes on the thread that completed the invocation;
            // it is written on this connection's event loop.
            let pending = try host.submit(reading.entry, request) { result in
                handler.eventLoop.execute {
                    let (handler, context) = handler.value
                    handler.answer(with: result, context: context)
                }
            }
            // Set before any answer can be written: answers wait for this event loop.
            current = .invoking(pending)
        } catch {
            let refusal =
                switch error {
                case let error as APIError: error
                case let error as InvocationError: APIError(error)
                default: APIError(status: .internalServerError, code: "internal_error", message: "the server failed to handle the request")
                }
            write(refusal, context: context)
        }
    }

    private func answer(with result: Result<InvocationOutput, InvocationError>, context: ChannelHandlerContext) {
        guard isInvoking else { return }  // the connection went away
        switch result {
        case .success(let output):
            var fields = HTTPFields(answering: output, reserving: 3)
            fields.addFrameworkFields(length: output.body.readableBytes, date: &date, server: serverName)
            write(HTTPResponse(status: .ok, headerFields: fields), body: output.body, context: context)
        case .failure(let error):
            write(APIError(error), context: context)
        }
    }

    private func write(_ error: APIError, context: ChannelHandlerContext) {
        let body = error.body
        var fields = error.headers
        fields.addFrameworkFields(length: body.readableBytes, date: &date, server: serverName)
        write(HTTPResponse(status: error.status, headerFields: fields), body: body, context: context)
    }

    /// Writes this handler's answer; the connection then moves on to what
    /// was held, or closes as the router's loop would.
    private func write(_ response: HTTPResponse, body: ByteBuffer, context: ChannelHandlerContext) {
        current = .none
        context.write(wrapOutboundOut(.head(response)), promise: nil)
        if body.readableBytes > 0 { context.write(wrapOutboundOut(.body(body)), promise: nil) }
        let end = wrapOutboundOut(.end(nil))
        switch lifecycle {
        case .closing:
            let context = context.loopBound
            context.value.writeAndFlush(end).whenComplete { _ in context.value.close(promise: nil) }
        case .quiescing:
            // Only once the answer is out: the router's side closes an idle
            // connection at once when quiesced, which would cut it short.
            let handler = NIOLoopBound((self, context), eventLoop: context.eventLoop)
            context.writeAndFlush(end).whenComplete { _ in
                let (handler, context) = handler.value
                handler.releaseHeld(context: context)
            }
        case .open, .quiesced:
            context.writeAndFlush(end, promise: nil)
            releaseHeld(context: context)
        }
    }
}

extension HTTPRequestPart {
    fileprivate var isHead: Bool {
        if case .head = self { true } else { false }
    }
}

extension HTTPFields {
    /// Adds the fields Hummingbird adds to the router's responses.
    fileprivate mutating func addFrameworkFields(length: Int, date: inout HTTPDate, server: String?) {
        append(HTTPField(name: .contentLength, value: String(length)))
        append(HTTPField(name: .date, value: date.now))
        if let server { append(HTTPField(name: .server, value: server)) }
    }
}

/// The `Date` field's value, IMF-fixdate, formatted once a second.
struct HTTPDate {
    private var second = 0
    private var text = ""

    /// The current time, in a form like `Sat, 05 Dec 2026 06:30:00 GMT`.
    var now: String {
        mutating get {
            let now = time(nil)
            if now != second || text.isEmpty {
                second = now
                text = Self.format(seconds: now)
            }
            return text
        }
    }

    static func format(seconds: Int) -> String {
        var time = seconds
        var parts = tm()
        gmtime_r(&time, &parts)
        let days = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"]
        let months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
        func two(_ value: Int32) -> String { value < 10 ? "0\(value)" : "\(value)" }
        return "\(days[Int(parts.tm_wday)]), \(two(parts.tm_mday)) \(months[Int(parts.tm_mon)]) \(parts.tm_year + 1900) "
            + "\(two(parts.tm_hour)):\(two(parts.tm_min)):\(two(parts.tm_sec)) GMT"
    }
}

extension HTTPServerBuilder {
    /// HTTP/1.1 with the host's ``ConnectionLimits`` on every connection
    /// (see ``ConnectionGuard``) and the invoke route's fast path in each
    /// connection's pipeline (see ``InvocationChannelHandler``).
    /// `serverName` is the application's, for the `Server` field of the
    /// answers it writes. Without `invokeFastPath`, the router answers every
    /// request (for the DeepStack ports, and for comparison in the benchmarks).
    public static func describer(host: FunctionHost, serverName: String?, invokeFastPath: Bool = true) -> HTTPServerBuilder {
        let limits = host.config.connections
        let configuration: HTTP1Channel.Configuration
        if invokeFastPath {
            let token = host.config.apiToken.map(APIToken.init)
            configuration = .init(additionalChannelHandlers: [InvocationChannelHandler(host: host, token: token, serverName: serverName)])
        } else {
            configuration = .init()
        }
        return .init { responder in GuardedHTTP1Channel(http1: HTTP1Channel(responder: responder, configuration: configuration), limits: limits) }
    }
}

extension ApplicationConfiguration {
    /// Listening on `port` of the host's address, accepting no more than its
    /// `max_connections` at once.
    public static func describer(host: FunctionHost, port: Int, serverName: String?) -> Self {
        .init(
            address: .hostname(host.config.host, port: port), serverName: serverName,
            availableConnectionsDelegate: MaximumAvailableConnections(host.config.connections.maxConnections)
        )
    }
}
