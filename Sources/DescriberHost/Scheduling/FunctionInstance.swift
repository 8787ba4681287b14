import CDescriberFunction
import DescriberImaging
import Logging
import NIOCore

/// One instance of a function: the pointer its `describer_instance_create`
/// returned and the threads that call into it.
///
/// Every call into the function runs on the instance's own threads (one per
/// unit of `scaling.concurrency`), never on Swift's cooperative pool, so
/// blocking native code cannot starve the server; and a non-reentrant
/// function always sees the same single thread, which suits libraries with
/// thread-local state.
final class FunctionInstance: PoolInstance {
    let id: Int
    /// How long `describer_instance_create` took.
    let initDuration: Duration
    private let library: FunctionLibrary
    /// Names this function to the crash handler while its code runs.
    private let crashMarker: CrashMarker?
    private let threads: HandlerThreads<Work>
    private let handle: InstanceHandle
    private let logger: Logger
    private let finished: BatchFinished

    /// What the instance's threads run.
    enum Work: HandlerWork {
        /// Creating or destroying the instance.
        case call(@Sendable () -> Void)
        case batch(FunctionInstance, Batch, maxOutputBytes: Int)

        func run() {
            switch self {
            case .call(let body): body()
            case .batch(let instance, let batch, let maxOutputBytes): instance.runBatch(batch, maxOutputBytes: maxOutputBytes)
            }
        }
    }

    /// The function's opaque instance pointer. The host never dereferences
    /// it; it only hands it back to the function's own hooks, on the
    /// instance's threads, which is what makes sharing it sound.
    private struct InstanceHandle: @unchecked Sendable {
        let pointer: UnsafeMutableRawPointer?
    }

    private init(
        id: Int, initDuration: Duration, library: FunctionLibrary, crashMarker: CrashMarker?, threads: HandlerThreads<Work>, handle: InstanceHandle,
        logger: Logger, finished: @escaping BatchFinished
    ) {
        self.finished = finished
        self.id = id
        self.initDuration = initDuration
        self.library = library
        self.crashMarker = crashMarker
        self.threads = threads
        self.handle = handle
        self.logger = logger
    }

    /// Starts the instance's threads and calls `describer_instance_create` on
    /// one of them; `completion` runs on that thread.
    static func start(
        id: Int,
        library: FunctionLibrary,
        crashMarker: CrashMarker?,
        optionsJSON: String,
        threadCount: Int,
        logger: Logger,
        isShuttingDown: @escaping @Sendable () -> Bool,
        finished: @escaping BatchFinished,
        completion: @escaping @Sendable (Result<FunctionInstance, InvocationError>) -> Void
    ) {
        var logger = logger
        logger[metadataKey: "instance"] = "\(id)"
        let threads = HandlerThreads<Work>(name: "describer-fn-\(id)", count: threadCount)
        threads.submit(
            .call { [logger] in
                let started = MonotonicClock.now()
                let context = CallContext(logger: logger, isShuttingDown: isShuttingDown)
                var pointer: UnsafeMutableRawPointer?
                let status = optionsJSON.withCString { options in
                    context.withOpaquePointer { call in
                        crashMarker.running { library.create(HostCallbacks.table, call, options, optionsJSON.utf8.count, &pointer) }
                    }
                }
                let initDuration = Duration.between(started, MonotonicClock.now())
                guard status == 0 else {
                    var reason = "describer_instance_create returned \(status)"
                    if case .failure(_, let message)? = context.takeResults()[0], !message.isEmpty {
                        reason = message
                    }
                    logger.error("Instance could not be created", metadata: ["reason": "\(reason)"])
                    threads.stop()
                    completion(.failure(InvocationError(.initFailed, "the function could not start an instance: \(reason)")))
                    return
                }
                let instance = FunctionInstance(
                    id: id, initDuration: initDuration, library: library, crashMarker: crashMarker, threads: threads,
                    handle: InstanceHandle(pointer: pointer), logger: logger, finished: finished
                )
                completion(.success(instance))
            })
    }

    /// Processes `batch` on one of the instance's threads, completes each
    /// invocation, then reports the call's duration.
    func run(_ batch: Batch, maxOutputBytes: Int) {
        threads.submit(.batch(self, batch, maxOutputBytes: maxOutputBytes))
    }

    /// Callers hear first: the pool's bookkeeping that follows would
    /// otherwise stand between every caller and its answer.
    private func runBatch(_ batch: Batch, maxOutputBytes: Int) {
        let duration = process(batch, maxOutputBytes: maxOutputBytes)
        finished(self, batch, BatchOutcome(execution: duration))
    }

    /// Code loaded into the host cannot be stopped: the batch runs on, and
    /// its callers are answered at their deadlines.
    func abandon(_ done: @escaping @Sendable () -> Void) { done() }

    /// Calls `describer_instance_destroy` on one of the instance's threads,
    /// stops the threads, then calls `done`.
    func destroy(_ done: @escaping @Sendable () -> Void) {
        threads.submit(
            .call { [self] in
                crashMarker.running { library.destroy(handle.pointer) }
                logger.debug("Instance destroyed")
                threads.stop()
                done()
            })
    }

    /// The limits applied to every image an RGB8 function receives.
    static let imageLimits = ImageLimits()

    private func process(_ batch: Batch, maxOutputBytes: Int) -> Duration {
        // A caller polling for its answer learns that its batch is under way.
        for invocation in batch { invocation.markStarted() }
        // Decoding counts as execution: it is this call's work, on this
        // instance's thread, and the caller waits for it like for the function.
        let started = MonotonicClock.now()
        var batch = batch
        var images: [RGBImage]?
        if case .rgb8(let maxWidth, let maxHeight) = library.capabilities.input {
            let decoded: [Invocation]
            (decoded, images) = Self.decodeImages(batch, maxWidth: maxWidth, maxHeight: maxHeight)
            guard !decoded.isEmpty else { return Duration.between(started, MonotonicClock.now()) }
            batch = Batch(decoded)
        }
        let context = CallContext(logger: logger, invocations: batch, maxOutputBytes: maxOutputBytes)
        let status = Self.withRequests(batch, images: images) { requests in
            context.withOpaquePointer { call in
                crashMarker.running { library.process(handle.pointer, call, requests.baseAddress, requests.count) }
            }
        }
        let finished = MonotonicClock.now()
        let execution = Duration.between(started, finished)
        let results = context.takeResults()
        for (index, invocation) in batch.enumerated() {
            let timings = InvocationTimings(
                queue: Duration.between(invocation.admittedAt, invocation.dispatchedAt),
                initialization: invocation.initialization,
                execution: execution,
                batchSize: batch.count
            )
            switch results[index] {
            case .output(let body, let contentType)?:
                invocation.complete(
                    answer: InvocationOutput(body: body, contentType: contentType, coldStart: invocation.coldStart, timings: timings), now: finished
                )
            case .failure(let itemStatus, let message)?:
                invocation.complete(.failure(Self.error(for: itemStatus, message)))
            case nil:
                let reason =
                    status == 0
                    ? "the function returned no result for this request"
                    : "describer_instance_process returned \(status) without a result for this request"
                invocation.complete(.failure(InvocationError(.functionFailed, reason)))
            }
        }
        return execution
    }

    static func error(for status: describer_status, _ message: String) -> InvocationError {
        let text = message.isEmpty ? "the function failed without a reason" : message
        switch status {
        case DESCRIBER_STATUS_INVALID_INPUT: return InvocationError(.invalidInput, text)
        case DESCRIBER_STATUS_UNSUPPORTED: return InvocationError(.unsupportedMediaType, text)
        case DESCRIBER_STATUS_TOO_LARGE: return InvocationError(.payloadTooLarge, text)
        case DESCRIBER_STATUS_DEADLINE: return InvocationError(.deadlineExceeded, text)
        default: return InvocationError(.functionFailed, text)
        }
    }

    /// Decodes each invocation's body for an RGB8 function, here on the
    /// instance's thread because decoding blocks. An invocation whose image
    /// fails completes with that error at once and leaves the batch; one
    /// that already completed (its deadline passed or its caller left while
    /// it waited) is dropped without decoding.
    static func decodeImages(_ batch: some Collection<Invocation>, maxWidth: Int, maxHeight: Int) -> ([Invocation], [RGBImage]) {
        var decoded: [Invocation] = []
        var images: [RGBImage] = []
        decoded.reserveCapacity(batch.count)
        images.reserveCapacity(batch.count)
        for invocation in batch where !invocation.isCompleted {
            // The caller decoded this photo once for several functions with this box.
            if let shared = invocation.decodedImage, shared.maxWidth == maxWidth, shared.maxHeight == maxHeight {
                decoded.append(invocation)
                images.append(shared.image)
                continue
            }
            do throws(ImageError) {
                let image = try ImageDecoder.decode(invocation.body, limits: imageLimits, maxWidth: maxWidth, maxHeight: maxHeight)
                decoded.append(invocation)
                images.append(image)
            } catch {
                invocation.complete(.failure(InvocationError(error)))
            }
        }
        return (decoded, images)
    }

    /// The content type of every RGB8 request.
    static let rgb8ContentType = "application/x-describer-rgb8"

    /// Copies `text` and a NUL into `arena` at `offset`, moves `offset`
    /// past them, and returns where the copy starts.
    private static func store(_ text: String, in arena: UnsafeMutableBufferPointer<CChar>, at offset: inout Int) -> UnsafePointer<CChar> {
        let start = arena.baseAddress! + offset
        for byte in text.utf8 {
            arena[offset] = CChar(bitPattern: byte)
            offset += 1
        }
        arena[offset] = 0
        offset += 1
        return UnsafePointer(start)
    }

    /// Lays the batch out as `describer_request`s whose pointers stay valid
    /// for the duration of `body`: bodies (or, for an RGB8 function, the
    /// decoded `images`) are borrowed from their buffers, strings are copied
    /// into one NUL-separated arena. Everything lives in temporary
    /// allocations (on the stack when small): this runs for every batch.
    private static func withRequests<R>(
        _ batch: Batch, images: [RGBImage]?, _ body: (UnsafeBufferPointer<describer_request>) -> R
    ) -> R {
        var arenaSize = 0
        for invocation in batch {
            arenaSize += (images == nil ? invocation.contentType.utf8.count : rgb8ContentType.utf8.count) + 1
            arenaSize += invocation.optionsJSON.utf8.count + 1
        }
        return withUnsafeTemporaryAllocation(of: CChar.self, capacity: arenaSize) { arena in
            // Where the next string goes. A plain local, not one captured by
            // a nested function: that would cost a run-time exclusivity
            // check per byte.
            var used = 0
            return withUnsafeTemporaryAllocation(of: describer_request.self, capacity: batch.count) { requests in
                // Each body's storage is retained for the call, so its bytes
                // stay put without nesting one closure per request.
                withUnsafeTemporaryAllocation(of: Unmanaged<AnyObject>.self, capacity: batch.count) { storages in
                    for index in batch.indices {
                        let invocation = batch[index]
                        var request = describer_request()
                        request.struct_size = UInt32(MemoryLayout<describer_request>.stride)
                        let input = images?[index].pixels ?? invocation.body
                        input.withUnsafeReadableBytesWithStorageManagement { bytes, storage in
                            storages.initializeElement(at: index, to: storage.retain())
                            request.data = bytes.baseAddress?.assumingMemoryBound(to: UInt8.self)
                            request.size = bytes.count
                        }
                        if let image = images?[index] {
                            request.width = UInt32(image.width)
                            request.height = UInt32(image.height)
                            request.stride = UInt32(image.stride)
                            request.source_width = UInt32(clamping: image.sourceWidth)
                            request.source_height = UInt32(clamping: image.sourceHeight)
                        }
                        request.content_type = Self.store(images == nil ? invocation.contentType : rgb8ContentType, in: arena, at: &used)
                        request.options_json = Self.store(invocation.optionsJSON, in: arena, at: &used)
                        request.options_size = invocation.optionsJSON.utf8.count
                        request.deadline_ns = invocation.deadline
                        requests.initializeElement(at: index, to: request)
                    }
                    defer {
                        requests.deinitialize()
                        for storage in storages { storage.release() }
                        storages.deinitialize()
                    }
                    return body(UnsafeBufferPointer(requests))
                }
            }
        }
    }
}
