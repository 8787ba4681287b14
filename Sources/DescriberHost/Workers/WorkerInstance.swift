import CCrashGuard
import CDescriberFunction
import CDescriberWorkerProtocol
import CLibUV
import DescriberConfiguration
import DescriberImaging
import Foundation
import Logging
import NIOCore
import Synchronization

/// One instance of a function inside its own `describer-worker` process.
///
/// A dedicated thread supervises the worker for its whole life: it starts
/// the process, runs the create handshake, then alternately waits for work
/// (lingering briefly, then parking in `poll` on the worker's socket and a
/// wake-up pipe) and runs one batch at a time over the socket. Blocking
/// reads and writes therefore never touch Swift's cooperative pool, and the
/// worker's death is noticed at once even while it is idle.
///
/// The thread enforces deadlines: a worker still running a batch past the
/// latest deadline in it (plus ``WorkerLauncher/deadlineGrace``) is killed.
/// When a worker dies, every request it held fails (`function_crashed` when
/// it died on its own, naming the signal), the pool forgets the instance,
/// and the next request starts a replacement.
final class WorkerInstance: PoolInstance {
    let id: Int
    /// From spawning the process to its CREATED frame.
    let initDuration: Duration
    private let process: WorkerProcess
    private let launcher: WorkerLauncher
    private let logger: Logger
    private let mailbox: WorkerMailbox
    private let channel: FrameChannel
    private let lifecycle = Mutex(Lifecycle())
    private let finished: BatchFinished

    private struct Lifecycle {
        var finished = false
        /// `abandon` callers waiting for the worker to be gone.
        var waiters: [@Sendable () -> Void] = []
    }

    var pid: pid_t { process.pid }

    private init(
        id: Int, initDuration: Duration, process: WorkerProcess, channel: FrameChannel, launcher: WorkerLauncher, logger: Logger,
        finished: @escaping BatchFinished
    ) {
        self.id = id
        self.finished = finished
        self.initDuration = initDuration
        self.process = process
        self.channel = channel
        self.launcher = launcher
        self.logger = logger
        self.mailbox = WorkerMailbox()
    }

    // MARK: PoolInstance

    func run(_ batch: Batch, maxOutputBytes: Int) {
        if !mailbox.submit(.run(batch, maxOutputBytes: maxOutputBytes)) {
            // The worker died before the pool learnt of it: the batch goes back to the queue.
            finished(self, batch, BatchOutcome(execution: .zero, instanceLost: true, unsent: Array(batch)))
        }
    }

    func destroy(_ done: @escaping @Sendable () -> Void) {
        if !mailbox.submit(.destroy(done)) { done() }
    }

    func abandon(_ done: @escaping @Sendable () -> Void) {
        let alreadyGone = lifecycle.withLock { lifecycle in
            if lifecycle.finished { return true }
            lifecycle.waiters.append(done)
            return false
        }
        if alreadyGone { return done() }
        process.kill(.shutdown)
    }

    // MARK: Starting

    /// Starts the supervising thread, which spawns the worker, creates the
    /// instance in it and then serves batches. `completion` runs on that thread.
    static func start(
        id: Int,
        launcher: WorkerLauncher,
        logger: Logger,
        isShuttingDown: @escaping @Sendable () -> Bool,
        finished: @escaping BatchFinished,
        onLost: @escaping @Sendable (any PoolInstance) -> Void,
        completion: @escaping @Sendable (Result<any PoolInstance, InvocationError>) -> Void
    ) {
        let thread = Thread {
            // As the kernel shows it (top, perf, gdb); 15 bytes at most.
            describer_crash_guard_name_thread("describer-wk-\(id)")
            guard let instance = boot(id: id, launcher: launcher, logger: logger, isShuttingDown: isShuttingDown, finished: finished, completion: completion)
            else { return }
            completion(.success(instance))
            instance.serve(onLost: onLost)
        }
        thread.start()
    }

    /// Waits out a crash-loop backoff, spawns the worker and runs the
    /// INFO / CREATE / CREATED handshake. Nil after calling `completion` with the failure.
    private static func boot(
        id: Int,
        launcher: WorkerLauncher,
        logger: Logger,
        isShuttingDown: @escaping @Sendable () -> Bool,
        finished: @escaping BatchFinished,
        completion: @escaping @Sendable (Result<any PoolInstance, InvocationError>) -> Void
    ) -> WorkerInstance? {
        while true {
            let delay = launcher.startDelay(now: MonotonicClock.now())
            if delay == 0 { break }
            if isShuttingDown() {
                completion(.failure(InvocationError(.unavailable, "the host is shutting down")))
                return nil
            }
            usleep(UInt32(min(delay / 1000, 20_000)))
        }
        let started = MonotonicClock.now()
        let process: WorkerProcess
        do {
            process = try WorkerProcess.spawn(executable: launcher.executable, arguments: launcher.arguments, environment: launcher.environment)
        } catch {
            logger.error("Worker process could not be started", metadata: ["reason": "\(error)"])
            completion(.failure(InvocationError(.initFailed, "the function's worker process could not be started: \(error)")))
            return nil
        }
        launcher.register(process.pid)
        let channel = FrameChannel(fd: process.socket)
        var failure: InvocationError?
        // When the host gave up waiting for the instance: the worker is told
        // (its create's `expired` turns 1, as in-process) and killed if it
        // does not answer within the exit grace.
        var givenUpAt: UInt64?
        while true {
            // Creation may take long; it is only given up when the host stops.
            // Checked on every turn: a worker that logs often never times out.
            if isShuttingDown() {
                let now = MonotonicClock.now()
                if let givenUpAt {
                    if now >= givenUpAt + WorkerLauncher.exitGrace.nanosecondsClamped { process.kill(.shutdown) }
                } else {
                    givenUpAt = now
                    process.terminate(.shutdown)
                }
            }
            let event = channel.next(limit: WorkerFrame.controlLimit, until: MonotonicClock.now() + 50_000_000)
            switch event {
            case .timedOut, .woken:
                break
            case .message(.log(let level, let message)):
                Self.log(level: level, message, to: logger)
            case .message(.info(let info)):
                do throws(LibraryLoadError) {
                    let capabilities = try WorkerLauncher.capabilities(from: info, path: launcher.config.libraryPath)
                    guard capabilities == launcher.capabilities else {
                        throw LibraryLoadError(
                            .badInfo, path: launcher.config.libraryPath, "changed since the function was loaded; restart the host to load it again")
                    }
                } catch {
                    failure = failure ?? InvocationError(.initFailed, "the function could not start an instance: \(error)")
                    process.kill(.protocolViolation("an INFO frame that no longer matches"))
                    continue
                }
                // A worker that has gone shows up as end of file.
                _ = channel.send(WorkerFrame.encodeCreate(options: launcher.config.options.serialized))
            case .message(.loadFailed(_, let message)):
                failure = failure ?? InvocationError(.initFailed, "the function's worker process could not load \(launcher.config.libraryPath): \(message)")
            case .message(.created):
                let initDuration = Duration.between(started, MonotonicClock.now())
                return WorkerInstance(
                    id: id, initDuration: initDuration, process: process, channel: channel, launcher: launcher, logger: logger, finished: finished
                )
            case .message(.createFailed(let code, _, let message)):
                let reason = message.isEmpty ? "describer_instance_create returned \(code)" : message
                logger.error("Instance could not be created", metadata: ["reason": "\(reason)"])
                failure = failure ?? InvocationError(.initFailed, "the function could not start an instance: \(reason)")
            case .message(let message):
                process.kill(.protocolViolation("an unexpected \(WorkerFrame.name(of: message.frameType)) frame while starting"))
            case .malformed(let reason):
                process.kill(.protocolViolation(reason))
            case .endOfFile:
                let termination = process.reap(grace: WorkerLauncher.exitGrace)
                launcher.unregister(process.pid)
                if let failure {
                    completion(.failure(failure))
                    return nil
                }
                switch process.killReason {
                case .shutdown?:
                    completion(.failure(InvocationError(.unavailable, "the host shut down while the function's instance was starting")))
                case .protocolViolation(let reason)?:
                    launcher.recordKill(.protocolViolation(reason))
                    completion(.failure(InvocationError(.initFailed, "the function's worker process sent \(reason) and was stopped")))
                default:
                    let message = launcher.crashMessage(termination, while: "starting an instance")
                    launcher.recordCrash(termination, message: message, logger: logger)
                    completion(.failure(InvocationError(.functionCrashed, message)))
                }
                return nil
            }
        }
    }

    // MARK: Serving

    private func serve(onLost: @escaping @Sendable (any PoolInstance) -> Void) {
        while true {
            guard let work = waitForWork() else {
                // It died, or misbehaved and was killed, while idle. Close the
                // mailbox first: a batch the pool hands over meanwhile goes
                // back to its queue instead of waiting for a dead worker.
                let leftovers = mailbox.close()
                let termination = reap()
                account(termination, activity: "idle")
                finish()
                onLost(self)
                settle(leftovers)
                return
            }
            switch work {
            case .run(let batch, let maxOutputBytes):
                let outcome = runBatch(Array(batch), maxOutputBytes: maxOutputBytes)
                if outcome.instanceLost {
                    let leftovers = mailbox.close()
                    finished(self, batch, outcome)
                    settle(leftovers)
                    finish()
                    return
                }
                finished(self, batch, outcome)
            case .destroy(let done):
                stopWorker()
                settle(mailbox.close())
                finish()
                done()
                return
            }
        }
    }

    /// Work submitted after the worker was gone: batches go back to the
    /// pool's queue, destroy requests are done at once.
    private func settle(_ leftovers: [WorkerMailbox.Work]) {
        for work in leftovers {
            switch work {
            case .run(let batch, _): finished(self, batch, BatchOutcome(execution: .zero, instanceLost: true, unsent: Array(batch)))
            case .destroy(let done): done()
            }
        }
    }

    /// Waits for the worker to exit (killing it after the grace period) and
    /// forgets its pid at once.
    private func reap() -> WorkerTermination {
        let termination = process.reap(grace: WorkerLauncher.exitGrace)
        launcher.unregister(process.pid)
        return termination
    }

    /// The thread is done with the worker: wake whoever waits in `abandon`.
    private func finish() {
        launcher.unregister(process.pid)
        let waiters = lifecycle.withLock { lifecycle in
            lifecycle.finished = true
            defer { lifecycle.waiters = [] }
            return lifecycle.waiters
        }
        for waiter in waiters { waiter() }
    }

    /// Lingers for work, then parks until work arrives or the worker speaks.
    /// Nil when the worker ended (or broke the protocol and was killed).
    private func waitForWork() -> WorkerMailbox.Work? {
        while true {
            if let work = mailbox.take() { return work }
            if Spin.wait(until: MonotonicClock.now() + Spin.lingerNanoseconds, for: { mailbox.hasWork }) { continue }
            mailbox.park()
            if mailbox.hasWork {
                mailbox.unpark()
                continue
            }
            let event = channel.next(limit: WorkerFrame.controlLimit, wake: mailbox.wakeDescriptor)
            mailbox.unpark()
            switch event {
            case .woken, .timedOut:
                continue
            case .message(.log(let level, let message)):
                Self.log(level: level, message, to: logger)
            case .message(let message):
                process.kill(.protocolViolation("an unexpected \(WorkerFrame.name(of: message.frameType)) frame while idle"))
                return nil
            case .malformed(let reason):
                process.kill(.protocolViolation(reason))
                return nil
            case .endOfFile:
                return nil
            }
        }
    }

    /// Records how a worker ended when the host did not ask it to: a kill
    /// by the host is counted as such, anything else as a crash.
    @discardableResult
    private func account(_ termination: WorkerTermination, activity: String) -> String {
        if let reason = process.killReason {
            launcher.recordKill(reason)
            return ""
        }
        let message = launcher.crashMessage(termination, while: activity)
        launcher.recordCrash(termination, message: message, logger: logger)
        return message
    }

    /// Sends DESTROY, waits for the worker to confirm and exit, kills it if
    /// it takes longer than ``WorkerLauncher/exitGrace``.
    private func stopWorker() {
        if channel.send(WorkerFrame.encodeDestroy()) {
            let giveUp = MonotonicClock.now() + WorkerLauncher.exitGrace.nanosecondsClamped
            waiting: while true {
                switch channel.next(limit: WorkerFrame.controlLimit, until: giveUp) {
                case .message(.log(let level, let message)): Self.log(level: level, message, to: logger)
                case .message(.destroyed), .endOfFile: break waiting
                case .timedOut:
                    process.kill(.destroyTimeout)
                    break waiting
                case .woken, .message, .malformed: continue
                }
            }
        }
        let termination = reap()
        if case .destroyTimeout? = process.killReason { launcher.recordKill(.destroyTimeout) }
        logger.debug("Worker process stopped", metadata: ["pid": "\(process.pid)", "how": "\(termination.phrase)"])
    }

    // MARK: Running a batch

    private func runBatch(_ batch: [Invocation], maxOutputBytes: Int) -> BatchOutcome {
        for invocation in batch { invocation.markStarted() }
        // Decoding counts as execution, as in process.
        let started = MonotonicClock.now()
        var batch = batch.filter { !$0.isCompleted }
        var images: [RGBImage]?
        if case .rgb8(let maxWidth, let maxHeight) = launcher.capabilities.input {
            (batch, images) = FunctionInstance.decodeImages(batch, maxWidth: maxWidth, maxHeight: maxHeight)
        }
        guard !batch.isEmpty else { return BatchOutcome(execution: Duration.between(started, MonotonicClock.now())) }
        let payloadSize = WorkerFrame.processPayloadSize(batch, images: images)
        guard payloadSize <= launcher.maxFrame else {
            let error = InvocationError(
                .payloadTooLarge,
                "this batch is \(WorkerFrame.headerSize + payloadSize) bytes; the function's worker process accepts at most \(launcher.maxFrame) bytes per batch"
            )
            for invocation in batch { invocation.complete(.failure(error)) }
            return BatchOutcome(execution: Duration.between(started, MonotonicClock.now()))
        }
        guard channel.send(WorkerFrame.encodeProcess(batch, images: images, payloadSize: payloadSize)) else {
            // Gone before it could read the batch: not these requests' fault.
            let termination = reap()
            account(termination, activity: "idle")
            return BatchOutcome(execution: .zero, instanceLost: true, unsent: batch)
        }
        var latest: UInt64 = 0
        for invocation in batch { latest = max(latest, invocation.deadline) }
        let (killAt, overflow) = latest.addingReportingOverflow(WorkerLauncher.deadlineGrace.nanosecondsClamped)
        var deadline = overflow ? UInt64.max - 1 : killAt
        let resultLimit = Self.resultLimit(count: batch.count, maxOutputBytes: maxOutputBytes)
        let spinUntil = MonotonicClock.now() + Self.answerSpinNanoseconds
        while true {
            switch channel.next(limit: resultLimit, until: deadline, spinUntil: spinUntil) {
            case .message(.log(let level, let message)):
                Self.log(level: level, message, to: logger)
            case .message(.results(let returnCode, let items)):
                let execution = Duration.between(started, MonotonicClock.now())
                if let problem = Self.complete(batch, returnCode: returnCode, items: items, execution: execution) {
                    process.kill(.protocolViolation(problem))
                    deadline = .max
                    continue
                }
                if process.killReason != nil {
                    // Answered just as it was killed: the answers stand, the worker does not.
                    let termination = reap()
                    account(termination, activity: "idle")
                    return BatchOutcome(execution: execution, instanceLost: true)
                }
                launcher.recordSuccess()
                return BatchOutcome(execution: execution)
            case .message(let message):
                process.kill(.protocolViolation("an unexpected \(WorkerFrame.name(of: message.frameType)) frame during a batch"))
                deadline = .max
            case .malformed(let reason):
                process.kill(.protocolViolation(reason))
                deadline = .max
            case .timedOut:
                logger.warning("Worker process killed: still running past its batch's deadline", metadata: ["pid": "\(process.pid)"])
                process.kill(.deadline)
                deadline = .max
            case .woken:
                continue
            case .endOfFile:
                let termination = reap()
                let execution = Duration.between(started, MonotonicClock.now())
                let error: InvocationError
                switch process.killReason {
                case .deadline?:
                    launcher.recordKill(.deadline)
                    error = InvocationError(.deadlineExceeded, "deadline exceeded; the function was still running, so its worker process was killed")
                case .shutdown?:
                    launcher.recordKill(.shutdown)
                    error = InvocationError(.unavailable, "the host shut down while this request ran; its worker process was stopped")
                case .protocolViolation(let reason)?:
                    launcher.recordKill(.protocolViolation(reason))
                    error = InvocationError(.functionFailed, "the function's worker process sent \(reason) and was stopped")
                case .destroyTimeout?, nil:
                    let activity = batch.count == 1 ? "running this request" : "running a batch of \(batch.count) requests including this one"
                    let message = launcher.crashMessage(termination, while: activity)
                    launcher.recordCrash(termination, message: message, logger: logger)
                    error = InvocationError(.functionCrashed, message)
                }
                for invocation in batch { invocation.complete(.failure(error)) }
                return BatchOutcome(execution: execution, instanceLost: true)
            }
        }
    }

    /// How long the supervising thread polls for an answer before it
    /// blocks: a small function answers within it, and the thread's wake-up
    /// is saved.
    static let answerSpinNanoseconds: UInt64 = 50_000

    /// The longest RESULTS frame a batch of `count` can legitimately produce.
    static func resultLimit(count: Int, maxOutputBytes: Int) -> Int {
        let perItem = min(maxOutputBytes, WorkerFrame.maxFrame) + WorkerFrame.maxLog + 64 * 1024
        let (total, overflow) = perItem.multipliedReportingOverflow(by: count)
        return overflow ? WorkerFrame.maxFrame : min(WorkerFrame.maxFrame, total + 64)
    }

    /// Completes every invocation of `batch` from the items of a RESULTS
    /// frame. Returns what is wrong with the frame instead, completing
    /// nothing, if it does not answer this batch.
    static func complete(_ batch: [Invocation], returnCode: Int32, items: [WorkerMessage.ResultItem], execution: Duration) -> String? {
        guard items.count == batch.count else { return "a RESULTS frame for the wrong number of requests" }
        for (invocation, item) in zip(batch, items) {
            let timings = InvocationTimings(
                queue: Duration.between(invocation.admittedAt, invocation.dispatchedAt),
                initialization: invocation.initialization,
                execution: execution,
                batchSize: batch.count
            )
            switch item {
            case .output(let contentType, let body):
                invocation.complete(answer: InvocationOutput(body: body, contentType: contentType, coldStart: invocation.coldStart, timings: timings))
            case .failure(let itemStatus, let message):
                invocation.complete(.failure(FunctionInstance.error(for: describer_status(rawValue: itemStatus), message)))
            case .unanswered:
                let reason =
                    returnCode == 0
                    ? "the function returned no result for this request"
                    : "describer_instance_process returned \(returnCode) without a result for this request"
                invocation.complete(.failure(InvocationError(.functionFailed, reason)))
            }
        }
        return nil
    }

    /// Logs a LOG frame's line through the instance's logger.
    static func log(level: UInt32, _ text: String, to logger: Logger) {
        let swiftLevel: Logger.Level =
            switch describer_log_level(rawValue: level) {
            case DESCRIBER_LOG_DEBUG: .debug
            case DESCRIBER_LOG_INFO: .info
            case DESCRIBER_LOG_WARNING: .warning
            default: .error
            }
        logger.log(level: swiftLevel, "\(text)")
    }
}

/// Work handed to a worker instance's thread, with the wake-up it needs
/// when the thread is parked in `poll`.
final class WorkerMailbox: Sendable {
    enum Work: Sendable {
        case run(Batch, maxOutputBytes: Int)
        case destroy(@Sendable () -> Void)
    }

    private struct State {
        var items: [Work] = []
        var closed = false
    }

    private let state = Mutex(State())
    private let pending = Atomic<Int>(0)
    private let parked = Atomic<Bool>(false)
    /// A pipe: the thread polls the read end; `submit` writes a byte when the thread is parked.
    let wakeDescriptor: Int32
    private let wakeWriter: Int32

    init() {
        var fds: [Int32] = [-1, -1]
        let result = pipe(&fds)
        precondition(result == 0, "pipe failed: \(String(cString: strerror(errno)))")
        for fd in fds {
            _ = fcntl(fd, F_SETFD, FD_CLOEXEC)
            _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK)
        }
        wakeDescriptor = fds[0]
        wakeWriter = fds[1]
    }

    deinit {
        closeDescriptor(wakeDescriptor)
        closeDescriptor(wakeWriter)
    }

    var hasWork: Bool { pending.load(ordering: .sequentiallyConsistent) > 0 }

    /// Queues `work`; false once the mailbox is closed (the worker is gone).
    func submit(_ work: Work) -> Bool {
        let accepted = state.withLock { state in
            guard !state.closed else { return false }
            state.items.append(work)
            pending.add(1, ordering: .sequentiallyConsistent)
            return true
        }
        if accepted && parked.load(ordering: .sequentiallyConsistent) {
            var byte: UInt8 = 1
            _ = write(wakeWriter, &byte, 1)
        }
        return accepted
    }

    func take() -> Work? {
        guard hasWork else { return nil }
        return state.withLock { state in
            guard !state.items.isEmpty else { return nil }
            pending.subtract(1, ordering: .sequentiallyConsistent)
            return state.items.removeFirst()
        }
    }

    /// The thread is about to block in `poll`; it checks ``hasWork`` once more after this.
    func park() { parked.store(true, ordering: .sequentiallyConsistent) }
    func unpark() { parked.store(false, ordering: .sequentiallyConsistent) }

    /// Refuses further work and returns what was still queued.
    func close() -> [Work] {
        state.withLock { state in
            state.closed = true
            pending.store(0, ordering: .sequentiallyConsistent)
            defer { state.items = [] }
            return state.items
        }
    }
}

/// `close(2)`, named apart from ``WorkerMailbox/close()``.
private func closeDescriptor(_ fd: Int32) { _ = close(fd) }
