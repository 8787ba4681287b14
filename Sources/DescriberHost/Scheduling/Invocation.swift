import DescriberImaging
import NIOCore
import Synchronization

/// What a caller hands the host for one invocation.
public struct InvocationRequest: Sendable {
    public var body: ByteBuffer
    public var contentType: String
    /// Per-request options, as query parameters: checked against the
    /// manifest's `request_options`.
    public var options: [(String, String)]
    /// A requested timeout; it may not exceed the manifest's `timeout.maximum`.
    public var timeout: Duration?
    /// `body` already decoded, for callers that hand one photo to several
    /// functions: an RGB8 function whose box is the one it was decoded for
    /// takes these pixels instead of decoding the body again.
    public var decodedImage: DecodedImage?

    public init(
        body: ByteBuffer, contentType: String = "application/octet-stream", options: [(String, String)] = [], timeout: Duration? = nil,
        decodedImage: DecodedImage? = nil
    ) {
        self.body = body
        self.contentType = contentType
        self.options = options
        self.timeout = timeout
        self.decodedImage = decodedImage
    }
}

/// Pixels decoded from a request's body for one box, as the host would
/// have decoded them for a function declaring that box.
public struct DecodedImage: Sendable {
    public var image: RGBImage
    public var maxWidth: Int
    public var maxHeight: Int

    public init(image: RGBImage, maxWidth: Int, maxHeight: Int) {
        self.image = image
        self.maxWidth = maxWidth
        self.maxHeight = maxHeight
    }
}

/// A function's answer to one invocation.
public struct InvocationOutput: Sendable {
    public var body: ByteBuffer
    public var contentType: String
    /// True when this invocation waited for a new instance to start.
    public var coldStart: Bool
    public var timings: InvocationTimings
}

/// Where an invocation's time went, for `Server-Timing`.
public struct InvocationTimings: Sendable, Equatable {
    /// From admission to the start of the batch (waiting for an instance or for the batch to fill).
    public var queue: Duration = .zero
    /// Instance creation this invocation waited for (cold starts only).
    public var initialization: Duration = .zero
    /// The function call that processed the batch.
    public var execution: Duration = .zero
    /// How many requests shared the call.
    public var batchSize: Int = 1

    /// `duration` in milliseconds with three decimals (microsecond resolution).
    static func milliseconds(_ duration: Duration) -> String {
        String(unsafeUninitializedCapacity: TimingWriter.longestMilliseconds) { buffer in
            var writer = TimingWriter(buffer: buffer)
            writer.write(milliseconds: duration)
            return writer.end
        }
    }

    /// The `Server-Timing` header value, durations in milliseconds.
    ///
    /// Written straight into the string's storage, one allocation and no
    /// intermediate strings: this runs for every response.
    public var serverTimingHeader: String {
        String(unsafeUninitializedCapacity: 32 + 3 * TimingWriter.longestMilliseconds) { buffer in
            var writer = TimingWriter(buffer: buffer)
            writer.write("queue;dur=")
            writer.write(milliseconds: queue)
            writer.write(", init;dur=")
            writer.write(milliseconds: initialization)
            writer.write(", exec;dur=")
            writer.write(milliseconds: execution)
            return writer.end
        }
    }

    /// Writes ASCII into a buffer known to be large enough.
    private struct TimingWriter {
        /// Whole milliseconds (at most 14 digits: a UInt64 of nanoseconds
        /// is 18,446,744,073,709 ms), a point, three decimals; with room to spare.
        static let longestMilliseconds = 24

        let buffer: UnsafeMutableBufferPointer<UInt8>
        var end = 0

        mutating func write(_ text: StaticString) {
            text.withUTF8Buffer { bytes in
                for byte in bytes {
                    buffer[end] = byte
                    end += 1
                }
            }
        }

        mutating func write(milliseconds duration: Duration) {
            let microseconds = duration.nanosecondsClamped / 1000
            var whole = microseconds / 1000
            var digits = 1
            var rest = whole / 10
            while rest > 0 {
                digits += 1
                rest /= 10
            }
            var position = end + digits
            repeat {
                position -= 1
                buffer[position] = UInt8(ascii: "0") + UInt8(whole % 10)
                whole /= 10
            } while whole > 0
            end += digits
            let fraction = microseconds % 1000
            buffer[end] = UInt8(ascii: ".")
            buffer[end + 1] = UInt8(ascii: "0") + UInt8(fraction / 100)
            buffer[end + 2] = UInt8(ascii: "0") + UInt8(fraction / 10 % 10)
            buffer[end + 3] = UInt8(ascii: "0") + UInt8(fraction % 10)
            end += 4
        }
    }
}

/// What a caller that does not suspend is handed its result through: called
/// once, on whichever thread completed the invocation (an instance's thread,
/// the timer loop, a canceller), so it must only hand the result on.
package typealias InvocationCallback = @Sendable (Result<InvocationOutput, InvocationError>) -> Void

/// One admitted invocation while the host works on it: its input, its single
/// absolute deadline and the caller waiting for it. It completes exactly once,
/// whichever comes first of the function's answer, the deadline or a cancel;
/// that guarantee, kept under `state`'s lock, is what makes an unchecked
/// continuation safe here.
final class Invocation: Sendable {
    let body: ByteBuffer
    let contentType: String
    /// Canonical JSON of the validated per-request options.
    let optionsJSON: String
    /// CLOCK_MONOTONIC nanoseconds.
    let admittedAt: UInt64
    let deadline: UInt64

    /// The caller waiting for the result: a suspended task, or a callback.
    private enum Waiter {
        case task(UnsafeContinuation<InvocationOutput, any Error>)
        case callback(InvocationCallback)

        func resume(with result: Result<InvocationOutput, InvocationError>) {
            switch self {
            case .task(let continuation): continuation.resume(with: result.mapError { $0 as any Error })
            case .callback(let callback): callback(result)
            }
        }
    }

    private struct State {
        var waiter: Waiter?
        var completed = false
        var result: Result<InvocationOutput, InvocationError>?
    }

    private let state = Mutex(State())
    /// Follows `state.completed`, set just after the lock is released, so
    /// that a caller polling for its answer never contends for the lock the
    /// completing thread holds. A hint: the state under the lock decides.
    private let completedFlag = Atomic<Bool>(false)

    // The fields below are written and read without a lock of their own, as
    // each says, so Swift's run-time exclusivity check is off for them: it
    // would cost a call per access on every invocation (seen in a profile).

    /// Written by the pool while it holds its own lock, read when the batch is
    /// built; the pool's lock orders those accesses.
    @exclusivity(unchecked) nonisolated(unsafe) var dispatchedAt: UInt64 = 0
    @exclusivity(unchecked) nonisolated(unsafe) var coldStart = false
    @exclusivity(unchecked) nonisolated(unsafe) var initialization: Duration = .zero
    /// When the function's answer reached the caller; nil until then, and
    /// for an invocation that failed. Written and read only by the thread
    /// that runs the invocation's batch, which counts the answers after
    /// giving them.
    @exclusivity(unchecked) nonisolated(unsafe) private(set) var answeredAt: UInt64?

    /// Pixels decoded by the caller, if any (see ``InvocationRequest/decodedImage``).
    let decodedImage: DecodedImage?

    init(body: ByteBuffer, contentType: String, optionsJSON: String, admittedAt: UInt64, deadline: UInt64, decodedImage: DecodedImage? = nil) {
        self.decodedImage = decodedImage
        self.body = body
        self.contentType = contentType
        self.optionsJSON = optionsJSON
        self.admittedAt = admittedAt
        self.deadline = deadline
    }

    var isCompleted: Bool { completedFlag.load(ordering: .acquiring) }

    /// Set by the thread that runs the invocation's batch as it begins.
    private let startedFlag = Atomic<Bool>(false)

    /// True once a thread has begun running the invocation (or it completed).
    var isStarted: Bool { startedFlag.load(ordering: .relaxed) || isCompleted }

    func markStarted() { startedFlag.store(true, ordering: .relaxed) }

    /// Attaches the waiting caller. If the invocation already completed (a
    /// race with a very fast answer), resumes at once.
    func attach(_ continuation: UnsafeContinuation<InvocationOutput, any Error>) {
        attach(.task(continuation))
    }

    /// Attaches a caller that does not suspend: `callback` gets the result,
    /// at once if the invocation already completed.
    func attach(_ callback: @escaping InvocationCallback) {
        attach(.callback(callback))
    }

    private func attach(_ waiter: Waiter) {
        let early: Result<InvocationOutput, InvocationError>? = state.withLock { state in
            if state.completed { return state.result.take() }
            state.waiter = waiter
            return nil
        }
        if let early { waiter.resume(with: early) }
    }

    /// Completes with the function's answer, unless the deadline has passed
    /// by now. The deadline timer and a late answer race; without this check
    /// a caller could be told "ok" after its deadline when the timer ran late
    /// on a loaded machine.
    /// `now` is the completing thread's reading of the monotonic clock,
    /// taken after the function returned.
    func complete(answer: InvocationOutput, now: UInt64 = MonotonicClock.now()) {
        guard now < deadline else {
            let waited = Duration.between(admittedAt, now)
            complete(
                .failure(
                    InvocationError(
                        .deadlineExceeded,
                        "deadline exceeded after \(InvocationTimings.milliseconds(waited)) ms; the function was still running"
                    )))
            return
        }
        if complete(.success(answer)) { answeredAt = now }
    }

    /// The result, if the invocation completed before a caller attached:
    /// a caller that polled for its answer takes it here without suspending.
    /// Taken, not copied: there is one caller.
    func takeEarlyResult() -> Result<InvocationOutput, InvocationError>? {
        state.withLock { $0.result.take() }
    }

    /// The result, if the invocation completed before a caller attached,
    /// left in place for the caller that attaches.
    func peekEarlyResult() -> Result<InvocationOutput, InvocationError>? {
        state.withLock { $0.result }
    }

    /// Completes the invocation; returns false if it had already completed.
    @discardableResult
    func complete(_ result: Result<InvocationOutput, InvocationError>) -> Bool {
        let (won, waiter) = state.withLock { state -> (Bool, Waiter?) in
            if state.completed { return (false, nil) }
            state.completed = true
            let waiter = state.waiter.take()
            if waiter == nil { state.result = result }
            return (true, waiter)
        }
        // Published after the lock is released, so that a polling caller
        // that sees it takes the lock uncontended. It is a hint; the state
        // under the lock is what decides.
        if won { completedFlag.store(true, ordering: .releasing) }
        waiter?.resume(with: result)
        return won
    }
}

/// An invocation submitted by a caller that does not suspend, for cancelling it.
package struct PendingInvocation: Sendable {
    let pool: FunctionPool
    let invocation: Invocation

    /// The caller went away: the invocation is answered as cancelled and
    /// leaves the queue, if it is still there.
    package func cancel() { pool.cancel(invocation) }
}
