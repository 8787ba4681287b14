import DescriberImaging
import Logging
import NIOCore
import Prometheus
import Synchronization

/// The instance pool, queue and batcher of one function.
///
/// An invocation takes a free instance at once, or starts a new one (a cold
/// start) while the pool is below `max_instances`, or waits in a bounded FIFO;
/// when the FIFO is full it is refused at once. For batch-capable functions
/// the queue is drained in batches of up to the batch limit, waiting at most
/// `max_batch_delay` for a batch to fill and never past the point where the
/// earliest deadline in it would be missed. Instances idle for `idle_timeout`
/// are destroyed down to `min_instances`.
///
/// Every decision is made under one lock by ``State``'s methods, which
/// return ``Action``s; the actions (calling into instances, completing
/// callers) run after the lock is released.
///
/// The pool does not care where an instance runs: its ``InstanceLauncher``
/// starts ``PoolInstance``s in the host or in worker processes. An instance
/// that dies (a worker crash) is forgotten and replaced on demand.
package final class FunctionPool: Sendable {
    let config: FunctionConfig
    let launcher: any InstanceLauncher
    /// The largest batch handed to the function in one call.
    let batchLimit: Int
    /// The wait before another start after one failed while other instances serve.
    static let startBackoff = Backoff(first: .seconds(1), maximum: .seconds(30))
    /// The settings checked on every request, copied out of the configuration once.
    package let limits: Limits

    package struct Limits: Sendable {
        package var maxInputBytes: Int
        package var acceptsAnyContentType: Bool
        package var contentTypes: [String]
        package var requestOptions: [String: RequestOptionSpec]
        package var defaultTimeout: Duration
        package var maximumTimeout: Duration
    }
    private let metrics: FunctionMetrics
    private let logger: Logger
    private let timers: any EventLoop
    private let state: Mutex<State>
    /// The timers the state machine armed, as scheduled on `timers`.
    private let timerTasks = Mutex(TimerTasks())
    /// Callers inside ``invoke(body:contentType:optionsJSON:admittedAt:deadline:decodedImage:)`` now.
    private let callers = Atomic<Int>(0)

    init(config: FunctionConfig, launcher: any InstanceLauncher, metrics: FunctionMetrics, logger: Logger, timers: any EventLoop) {
        self.config = config
        self.launcher = launcher
        self.metrics = metrics
        self.logger = logger
        self.timers = timers
        let capabilities = launcher.capabilities
        var limit = capabilities.batch ? config.maxBatchSize : 1
        if let own = capabilities.maxBatchSize { limit = min(limit, own) }
        self.batchLimit = max(1, limit)
        // An RGB8 function receives pixels the host decoded, so what it can
        // take is what the manifest admits and the host decodes.
        let isImage = if case .rgb8 = capabilities.input { true } else { false }
        self.limits = Limits(
            maxInputBytes: config.maxInputBytes,
            acceptsAnyContentType: !isImage && config.acceptedContentTypes.contains("*/*"),
            contentTypes: isImage ? Self.imageContentTypes(accepting: config.acceptedContentTypes) : config.acceptedContentTypes,
            requestOptions: config.requestOptions,
            defaultTimeout: config.defaultTimeout,
            maximumTimeout: config.maximumTimeout
        )
        self.state = Mutex(State(config: config, batchLimit: batchLimit))
    }

    /// The decodable image media types that `patterns` (a manifest's
    /// `input.content_types`) admit.
    static func imageContentTypes(accepting patterns: [String]) -> [String] {
        ImageFormat.decodableMediaTypes.filter { MediaType.matches($0, patterns: patterns) }
    }

    // MARK: Invoking

    /// Runs one invocation and waits for its answer, its deadline or its cancellation.
    /// `admittedAt` is when the caller read the clock to set `deadline`.
    func invoke(
        body: ByteBuffer, contentType: String, optionsJSON: String, admittedAt: UInt64, deadline: UInt64, decodedImage: DecodedImage? = nil
    ) async throws(InvocationError) -> InvocationOutput {
        // Only a caller alone in the pool polls (see spinBudgetNanoseconds).
        let alone = callers.wrappingAdd(1, ordering: .relaxed).oldValue == 0
        defer { callers.wrappingSubtract(1, ordering: .relaxed) }
        let invocation = Invocation(
            body: body, contentType: contentType, optionsJSON: optionsJSON, admittedAt: admittedAt, deadline: deadline, decodedImage: decodedImage
        )
        do {
            // A caller already gone is not admitted; one that leaves while
            // it waits is noticed by the cancellation handler below.
            if Task.isCancelled { invocation.complete(.failure(Self.callerLeft)) }
            if let expected = admit(invocation, mayPoll: alone) {
                awaitBriefly(invocation, expected: expected)
            }
            // Answered already (while polling, or refused at admission):
            // no continuation, and no cancellation handler to install.
            if invocation.isCompleted, let result = invocation.takeEarlyResult() { return try result.get() }
            // Resumes at once, without suspending, when the answer came in meanwhile.
            return try await withTaskCancellationHandler {
                try await withUnsafeThrowingContinuation { continuation in
                    invocation.attach(continuation)
                }
            } onCancel: {
                cancel(invocation)
            }
            // Answers are counted by the instance's thread, after the callers
            // have them (see recordAnswers), off every caller's path.
        } catch let error as InvocationError {
            // A superseded request is not an outcome: the new version runs it.
            if error.code != .superseded { metrics.recordOutcome(error.outcome) }
            throw error
        } catch {
            throw InvocationError(.functionFailed, "\(error)")
        }
    }

    /// Admits one invocation for a caller that does not suspend (the HTTP
    /// fast path, which answers from an event loop). `onResult` is called
    /// once, on whichever thread completes the invocation. Throws only
    /// `superseded`, before `onResult` could be called, so that the host can
    /// hand the request to the function's new version. The invocation is
    /// returned for ``cancel(_:)``.
    func submit(
        body: ByteBuffer, contentType: String, optionsJSON: String, admittedAt: UInt64, deadline: UInt64,
        onResult: @escaping InvocationCallback
    ) throws(InvocationError) -> Invocation {
        // Counted as a caller in flight, so that a suspending caller meanwhile does not think it is alone.
        callers.wrappingAdd(1, ordering: .relaxed)
        let invocation = Invocation(body: body, contentType: contentType, optionsJSON: optionsJSON, admittedAt: admittedAt, deadline: deadline)
        _ = admit(invocation, mayPoll: false)
        if invocation.isCompleted, case .failure(let error)? = invocation.peekEarlyResult(), error.code == .superseded {
            callers.wrappingSubtract(1, ordering: .relaxed)
            throw error
        }
        // Failures are counted here, as the suspending path counts them;
        // answers are counted by the instance's thread.
        invocation.attach { [self] result in
            callers.wrappingSubtract(1, ordering: .relaxed)
            if case .failure(let error) = result { metrics.recordOutcome(error.outcome) }
            onResult(result)
        }
        return invocation
    }

    /// How long a caller may wait for its answer without suspending.
    ///
    /// A suspended caller is resumed on Swift's cooperative pool, and when
    /// that pool has gone idle, waking one of its threads costs several
    /// times a fast function's whole call (BENCHMARKS.md, "Warm invocation
    /// overhead"). So a caller
    /// whose function usually answers within this budget, with little work
    /// ahead of it, polls for the answer first. Spinning at most as long as
    /// a wake-up costs bounds the waste at that wake-up's price.
    ///
    /// Under load that bound is still too dear: the instance's thread may be
    /// waiting for a CPU that the spinning caller holds. So the caller first
    /// waits only ``pickUpNanoseconds`` for a thread to take its batch, which
    /// a thread already running does at once, and suspends if none has.
    ///
    /// And only a caller alone in the pool polls. With other callers in
    /// flight (concurrent HTTP requests, a task group) the CPU it would hold
    /// is wanted by them, and their answers keep the cooperative pool awake,
    /// so suspending is cheap: 64 callers polling cost more per call than 64
    /// suspending (BENCHMARKS.md, "The host's hot path, reworked").
    static let spinBudgetNanoseconds: UInt64 = 20_000

    /// Admits `invocation`. When its caller should poll briefly before
    /// suspending (see ``spinBudgetNanoseconds``), returns how long a batch
    /// usually takes, in nanoseconds.
    private func admit(_ invocation: Invocation, mayPoll: Bool) -> UInt64? {
        let (actions, expected) = withState { state in
            let actions = state.admit(invocation, now: invocation.admittedAt)
            let quick = mayPoll && state.expectsQuickAnswer(invocation, within: Self.spinBudgetNanoseconds)
            return (actions, quick ? state.executionEstimate : nil)
        }
        perform(actions)
        return expected
    }

    /// Polls for the answer until it is in, or a thread has not taken the
    /// batch within ``pickUpNanoseconds``, or the batch has run for twice
    /// the `expected` time and a little more (its thread was likely
    /// preempted), or the spin budget is spent.
    private func awaitBriefly(_ invocation: Invocation, expected: UInt64) {
        let start = MonotonicClock.now()
        guard Spin.wait(until: start + Self.pickUpNanoseconds, for: { invocation.isStarted }) else { return }
        let late = MonotonicClock.now() + 2 * expected + Self.pickUpNanoseconds
        _ = Spin.wait(until: min(late, start + Self.spinBudgetNanoseconds)) { invocation.isCompleted }
    }

    /// How long a polling caller waits for a thread to take its batch.
    static let pickUpNanoseconds: UInt64 = 2_000

    private static let callerLeft = InvocationError(.cancelled, "the caller went away")

    /// The caller of `invocation` went away: it is answered as cancelled and
    /// leaves the queue, if it is still there.
    func cancel(_ invocation: Invocation) {
        // Complete first: an admission racing with this sees a completed
        // invocation and drops it.
        invocation.complete(.failure(Self.callerLeft))
        let actions = withState { state in state.remove(invocation) }
        perform(actions)
    }

    // MARK: Lifecycle

    /// Creates instances up to `min_instances` and waits until they are ready.
    func prewarm() async {
        let count = withState { state in state.reserveStarts(upTo: config.minInstances) }
        guard count > 0 else { return }
        await withTaskGroup(of: Void.self) { group in
            for _ in 0..<count {
                group.addTask {
                    await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                        self.startInstance(prewarm: true) { continuation.resume() }
                    }
                }
            }
        }
    }

    /// Stops accepting, lets queued and running work finish until `grace` has
    /// passed, fails what is left, and destroys every instance.
    func drain(grace: Duration) async {
        withState { $0.accepting = false }
        let giveUp = MonotonicClock.now() + grace.nanosecondsClamped
        while MonotonicClock.now() < giveUp {
            if withState({ $0.isQuiet }) { break }
            do { try await Task.sleep(for: .milliseconds(5)) } catch { break }
        }
        let (actions, busy) = withState { state in (state.shutDown(), state.slots.map(\.instance)) }
        // Wait for the idle instances' destroy hooks, so functions can flush
        // and release what they hold before the process exits.
        var idle: [any PoolInstance] = []
        for action in actions {
            if case .destroy(let instances) = action { idle += instances } else { perform(action) }
        }
        await withTaskGroup(of: Void.self) { group in
            for instance in idle {
                group.addTask {
                    await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                        instance.destroy { continuation.resume() }
                    }
                }
            }
            // Work still running after the grace period: workers are
            // killed (their callers learn why); in-process code runs on.
            for instance in busy {
                group.addTask {
                    await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                        instance.abandon { continuation.resume() }
                    }
                }
            }
        }
    }

    /// Hands the function over to a newer version: new work is refused as
    /// superseded (the host passes it to the new version), and the work
    /// already admitted finishes here before the instances stop. Every
    /// admitted deadline falls within the maximum timeout, so nothing is cut
    /// short.
    func retire() async {
        withState { $0.retired = true }
        await drain(grace: config.maximumTimeout + .seconds(1))
    }

    /// What `GET /v1/functions/{name}` and `/readyz` report.
    var snapshot: PoolSnapshot { withState { $0.snapshot } }

    // MARK: Performing decisions

    private func perform(_ actions: Actions) {
        for action in actions { perform(action) }
    }

    private func perform(_ action: Action) {
        switch action {
        case .run(let instance, let batch):
            instance.run(batch, maxOutputBytes: config.maxOutputBytes)
        case .start(let count):
            for _ in 0..<count { startInstance(prewarm: false) {} }
        case .fail(let invocations, let error):
            for invocation in invocations { invocation.complete(.failure(error)) }
        case .expire(let invocations, let now):
            for invocation in invocations {
                let waited = Duration.between(invocation.admittedAt, now)
                let message =
                    invocation.dispatchedAt == 0
                    ? "deadline exceeded after \(InvocationTimings.milliseconds(waited)) ms waiting in the queue"
                    : "deadline exceeded after \(InvocationTimings.milliseconds(waited)) ms; the function was still running"
                invocation.complete(.failure(InvocationError(.deadlineExceeded, message)))
            }
        case .stuck(let count, let overdue):
            metrics.stuckCalls.increment(by: Int64(count))
            logger.warning(
                "A call is stuck: still running long past its deadline. Its instance takes no more work; new work goes to other instances or is refused.",
                metadata: ["function": "\(config.name)", "calls": "\(count)", "past_deadline_ms": "\(overdue / 1_000_000)"])
        case .destroy(let instances):
            for instance in instances { instance.destroy {} }
        }
    }

    /// Starts one instance. Only instances started on demand make their first
    /// batch a cold start: requests served by a pre-warmed instance never
    /// waited for it.
    private func startInstance(prewarm: Bool, _ whenSettled: @escaping @Sendable () -> Void) {
        let id = withState { state in state.allocateInstanceID() }
        launcher.start(
            id: id,
            logger: logger,
            isShuttingDown: { [weak self] in self?.withState { $0.stopped } ?? true },
            finished: { [weak self] instance, batch, outcome in self?.batchFinished(instance, batch: batch, outcome: outcome) },
            onLost: { [weak self] instance in self?.instanceLost(instance) }
        ) { result in
            if case .success(let instance) = result {
                self.metrics.coldStarts.increment()
                self.metrics.coldStartDuration.record(instance.initDuration)
            }
            let actions = self.withState { state in
                state.instanceStarted(result, prewarmed: prewarm, now: MonotonicClock.now())
            }
            self.perform(actions)
            whenSettled()
        }
    }

    /// Counts the answers the instance gave `batch` and their latency, and
    /// the batch's size. Done here, on the instance's thread after the
    /// callers have their answers, rather than on any caller's path.
    /// (Failures are counted by their callers, wherever they arose.)
    private func recordAnswers(_ batch: Batch) {
        var answered = 0
        for invocation in batch {
            guard let answeredAt = invocation.answeredAt else { continue }
            answered += 1
            metrics.duration.record(Duration.between(invocation.admittedAt, answeredAt))
        }
        metrics.recordAnswers(answered)
        metrics.batchSize.record(Double(batch.count))
    }

    /// An instance finished `batch`, on the instance's thread, its callers
    /// answered. The pool's state first: its lock is then free again by the
    /// time a caller that was just answered invokes anew.
    private func batchFinished(_ instance: any PoolInstance, batch: Batch, outcome: BatchOutcome) {
        // The clock is read before the lock is taken: callers wait for the lock.
        let now = MonotonicClock.now()
        let actions = withState { state in
            state.batchFinished(instance, batch: batch, outcome: outcome, now: now)
        }
        perform(actions)
        recordAnswers(batch)
    }

    /// An idle instance died (its worker process exited): forget it.
    private func instanceLost(_ instance: any PoolInstance) {
        let actions = withState { state in state.instanceLost(instance, now: MonotonicClock.now()) }
        perform(actions)
    }

    // MARK: Timers

    /// Runs `body` on the state under its lock, then, still under the lock
    /// (so that a later decision cannot be overtaken), carries out the timer
    /// changes it decided.
    private func withState<R>(_ body: (inout State) -> R) -> R {
        state.withLock { state in
            let result = body(&state)
            if !state.timerChanges.isEmpty { apply(state.takeTimerChanges()) }
            return result
        }
    }

    private struct TimerTasks {
        var deadline: Scheduled<Void>?
        var batch: Scheduled<Void>?
        var reaper: Scheduled<Void>?
    }

    /// Arms and cancels timers as the state machine decided. A timer that
    /// has already fired when it is replaced runs its handler once more,
    /// which finds nothing to do.
    private func apply(_ changes: TimerChanges) {
        func replace(_ task: inout Scheduled<Void>?, with change: TimerChanges.Change?, _ fired: @escaping @Sendable (FunctionPool) -> Void) {
            guard let change else { return }
            task?.cancel()
            switch change {
            case .arm(let at): task = schedule(at: at, fired)
            case .cancel: task = nil
            }
        }
        timerTasks.withLock { tasks in
            replace(&tasks.deadline, with: changes.deadline) { $0.deadlineTimerFired() }
            replace(&tasks.batch, with: changes.batch) { $0.batchTimerFired() }
            replace(&tasks.reaper, with: changes.reaper) { $0.reaperFired() }
        }
    }

    /// Schedules `body` on the timer loop at the monotonic instant `at`.
    private func schedule(at: UInt64, _ body: @escaping @Sendable (FunctionPool) -> Void) -> Scheduled<Void> {
        let now = MonotonicClock.now()
        let delay = at > now ? TimeAmount.nanoseconds(Int64(at - now)) : .zero
        return timers.scheduleTask(in: delay) { [weak self] in
            if let self { body(self) }
        }
    }

    fileprivate func deadlineTimerFired() {
        let actions = withState { state in state.sweepDeadlines(now: MonotonicClock.now()) }
        perform(actions)
    }

    fileprivate func batchTimerFired() {
        let actions = withState { state in state.batchTimerFired(now: MonotonicClock.now()) }
        perform(actions)
    }

    fileprivate func reaperFired() {
        let actions = withState { state in state.reap(now: MonotonicClock.now()) }
        perform(actions)
    }

    /// Sets the queue and instance gauges from the pool's state. Called
    /// when metrics are read rather than on every change: the gauges then
    /// cost the invocation path nothing, and a scrape sees the state as it is.
    func publishGauges() {
        let snapshot = self.snapshot
        metrics.queueDepth.set(Double(snapshot.queueDepth))
        metrics.instancesBusy.set(Double(snapshot.busy))
        metrics.instancesIdle.set(Double(snapshot.idle))
        metrics.instancesStarting.set(Double(snapshot.starting))
        metrics.instancesStuck.set(Double(snapshot.stuck))
    }
}

/// What the pool reports about itself.
struct PoolSnapshot: Sendable {
    var idle: Int
    var busy: Int
    var starting: Int
    /// Instances whose every place is held by a call long past its deadline.
    var stuck: Int
    var queueDepth: Int
    var accepting: Bool
    /// Every instance is stuck and no other may start: work is refused at once.
    var refusing: Bool
}

extension FunctionPool {
    /// Something to do once the lock is released.
    enum Action {
        case run(any PoolInstance, Batch)
        case start(Int)
        case fail([Invocation], InvocationError)
        case expire([Invocation], now: UInt64)
        case destroy([any PoolInstance])
        /// Batches that became stuck: how many, and how far past its last
        /// deadline the oldest of them is.
        case stuck(Int, overdue: UInt64)
    }

    /// The actions of one decision: most often none or one, so the first is
    /// kept inline and only a second one allocates.
    struct Actions: Sequence, ExpressibleByArrayLiteral {
        private var first: Action?
        private var rest: [Action] = []

        init() {}

        init(arrayLiteral actions: Action...) {
            for action in actions { append(action) }
        }

        mutating func append(_ action: Action) {
            if first == nil { first = action } else { rest.append(action) }
        }

        static func += (actions: inout Actions, more: Actions) {
            for action in more { actions.append(action) }
        }

        func makeIterator() -> Iterator { Iterator(actions: self) }

        struct Iterator: IteratorProtocol {
            let actions: Actions
            var index = -1

            mutating func next() -> Action? {
                defer { index += 1 }
                if index < 0 { return actions.first }
                return index < actions.rest.count ? actions.rest[index] : nil
            }
        }
    }

    /// What the state machine wants done with its timers: each one armed
    /// for an instant (replacing the one armed before), cancelled, or left.
    struct TimerChanges: Equatable {
        enum Change: Equatable {
            case arm(at: UInt64)
            case cancel
        }

        var deadline: Change?
        var batch: Change?
        var reaper: Change?

        var isEmpty: Bool { deadline == nil && batch == nil && reaper == nil }
    }

    struct Slot {
        let instance: any PoolInstance
        /// The batches running on it now.
        var batches: [Batch] = []
        var running: Int { batches.count }
        /// When it last became idle.
        var idleSince: UInt64
        /// Started on demand and no batch has run on it yet: its first batch
        /// waited for it, a cold start.
        var fresh: Bool
        /// Its worker died while batches were out; it takes no new work and
        /// leaves the pool when they have reported back.
        var lost = false
        /// Batches still running ``State/stuckAfter`` past their last
        /// deadline: nobody waits for them, and code loaded into the host
        /// cannot be stopped, so they hold their places until they return.
        var stuckBatches: [Batch] = []
        /// Every place on it is held by a stuck batch.
        func isStuck(concurrency: Int) -> Bool { stuckBatches.count >= concurrency }
    }

    /// The pool's decisions. Every method runs under the pool's lock.
    struct State: ~Copyable {
        /// The function's name, for the messages of refusals.
        let name: String
        let concurrency: Int
        let minInstances: Int
        let maxInstances: Int
        let maxQueueDepth: Int
        let batchLimit: Int
        let batchDelay: UInt64
        let idleTimeout: UInt64

        var slots: [Slot] = []
        var starting = 0
        var queue = CircularBuffer<Invocation>()
        /// Invocations handed to instances (in their slots' batches) and not
        /// yet reported back.
        var runningCount = 0
        var accepting = true
        /// A newer version of the function took over (hot reload): work
        /// that arrives now belongs to it.
        var retired = false
        /// Set once draining is over: instance creation may give up.
        var stopped = false
        /// After an instance failed to start while others serve, no new
        /// start is attempted before this instant.
        var startBackoffUntil: UInt64 = 0
        /// Starts that failed in a row while others served; a start that
        /// succeeds clears it.
        var failedStarts = 0
        var nextInstanceID = 1
        /// An exponentially weighted average of a batch's execution time, to
        /// close a batch early enough for its earliest deadline.
        var executionEstimate: UInt64 = 0

        /// When each timer is due, while it is armed. The state machine
        /// schedules nothing itself: it records what it wants in
        /// ``timerChanges``, which the pool carries out under the same lock.
        var deadlineTimerAt: UInt64?
        var batchTimerAt: UInt64?
        var reaperTimerAt: UInt64?
        /// Timers to arm or cancel, since the pool last took them.
        var timerChanges = TimerChanges()

        /// The timer changes decided so far, leaving none.
        mutating func takeTimerChanges() -> TimerChanges {
            defer { timerChanges = TimerChanges() }
            return timerChanges
        }

        init(config: FunctionConfig, batchLimit: Int) {
            self.name = config.name
            self.concurrency = config.concurrency
            self.minInstances = config.minInstances
            self.maxInstances = config.maxInstances
            self.maxQueueDepth = config.maxQueueDepth
            self.batchLimit = batchLimit
            self.batchDelay = config.maxBatchDelay.nanosecondsClamped
            self.idleTimeout = config.idleTimeout.nanosecondsClamped
        }

        var isQuiet: Bool { queue.isEmpty && runningCount == 0 }

        /// True when a warm instance should answer `invocation` within
        /// `budget`: batches usually take less, no instance is starting, and
        /// at most one other invocation is ahead of it or beside it (a
        /// caller that invokes again as soon as it has its answer finds
        /// its previous batch still being put away).
        func expectsQuickAnswer(_ invocation: Invocation, within budget: UInt64) -> Bool {
            !invocation.coldStart && starting == 0 && !slots.isEmpty && executionEstimate < budget
                && runningCount + queue.count <= 2
        }

        var snapshot: PoolSnapshot {
            let stuck = slots.filter { $0.isStuck(concurrency: concurrency) }.count
            let busy = slots.filter { $0.running > 0 }.count - stuck
            return PoolSnapshot(
                idle: slots.count - busy - stuck, busy: busy, starting: starting, stuck: stuck, queueDepth: queue.count, accepting: accepting,
                refusing: refusesForStuckInstances)
        }

        /// How long a batch may run past its last deadline before its
        /// instance counts it as stuck.
        static let stuckAfter: UInt64 = 1_000_000_000

        /// Instances that are not stuck (a dying one included, until it leaves).
        private var unstuckInstances: Int {
            var count = 0
            for slot in slots where !slot.isStuck(concurrency: concurrency) { count += 1 }
            return count
        }

        /// Every instance is stuck and no other may start: waiting work would
        /// only meet its deadline, so it is refused at once.
        var refusesForStuckInstances: Bool {
            starting == 0 && slots.contains { $0.isStuck(concurrency: concurrency) }
                && !slots.contains { !$0.lost && !$0.isStuck(concurrency: concurrency) } && !mayStartBesideStuckInstances
        }

        /// Stuck instances do not count against `max_instances`, so work can
        /// go to new ones, but the pool never holds more than twice as many:
        /// a function that hangs on every call must not take the machine.
        private var mayStartBesideStuckInstances: Bool {
            unstuckInstances + starting < maxInstances && slots.count + starting < 2 * maxInstances
        }

        mutating func allocateInstanceID() -> Int {
            defer { nextInstanceID += 1 }
            return nextInstanceID
        }

        /// Reserves starts so that live plus starting instances reach `target`.
        mutating func reserveStarts(upTo target: Int) -> Int {
            let count = max(0, min(target, maxInstances) - slots.count - starting)
            starting += count
            return count
        }

        mutating func admit(_ invocation: Invocation, now: UInt64) -> Actions {
            guard !invocation.isCompleted else { return [] }
            guard accepting else {
                if retired {
                    return [.fail([invocation], InvocationError(.superseded, "\(name) was replaced by a newer version"))]
                }
                return [.fail([invocation], InvocationError(.unavailable, "the host is shutting down"))]
            }
            if now >= invocation.deadline {
                return [.expire([invocation], now: now)]
            }
            queue.append(invocation)
            var actions = dispatch(now: now)
            if refusesForStuckInstances, let last = queue.last, last === invocation {
                queue.removeLast()
                actions.append(.fail([invocation], stuckRefusal))
                return actions
            }
            // Whatever could not be dispatched waits; past the bound it is refused.
            if queue.count > maxQueueDepth + provisionedCapacity, let last = queue.last, last === invocation {
                queue.removeLast()
                actions.append(
                    .fail(
                        [invocation],
                        InvocationError(
                            .queueFull,
                            "\(name) is at capacity: \(slots.count + starting) instance(s) busy and \(maxQueueDepth) request(s) queued",
                            retryAfterSeconds: 1
                        )))
            } else {
                armDeadlineTimer(for: invocation.deadline)
            }
            return actions
        }

        private var stuckRefusal: InvocationError {
            InvocationError(
                .unavailable, "every instance of \(name) is stuck in a call past its deadline; it answers again when one returns",
                retryAfterSeconds: 5)
        }

        /// Requests that instances already free or starting will take without
        /// waiting for anything else; they do not count against the queue bound.
        private var provisionedCapacity: Int {
            var free = starting * concurrency
            for slot in slots { free += concurrency - slot.running }
            return free * batchLimit
        }

        /// Takes `invocation` out of the queue if it is still waiting there.
        mutating func remove(_ invocation: Invocation) -> Actions {
            if let index = queue.firstIndex(where: { $0 === invocation }) {
                queue.remove(at: index)
            }
            return []
        }

        /// Hands queued work to free instances, starting instances if needed.
        mutating func dispatch(now: UInt64) -> Actions {
            var actions = Actions()
            while !queue.isEmpty {
                guard let slotIndex = freeSlot() else {
                    let wanted = reserveStarts(forQueued: queue.count, now: now)
                    if wanted > 0 { actions.append(.start(wanted)) }
                    break
                }
                if batchLimit > 1, batchDelay > 0, queue.count < batchLimit {
                    let closeAt = batchCloseTime()
                    if now < closeAt {
                        armBatchTimer(at: closeAt)
                        break
                    }
                }
                guard let batch = takeBatch() else { continue }
                // The slot is read field by field, not copied: a copy would
                // share its array of batches, so the append below would
                // reallocate that array on every dispatch.
                let instance = slots[slotIndex].instance
                if slots[slotIndex].fresh {
                    for invocation in batch {
                        invocation.coldStart = true
                        invocation.initialization = instance.initDuration
                    }
                    slots[slotIndex].fresh = false
                }
                for invocation in batch { invocation.dispatchedAt = now }
                slots[slotIndex].batches.append(batch)
                runningCount += batch.count
                actions.append(.run(instance, batch))
            }
            return actions
        }

        /// Takes up to `batchLimit` invocations still waiting from the head
        /// of the queue (skipping those already completed); nil if none is left.
        private mutating func takeBatch() -> Batch? {
            var first: Invocation?
            while first == nil, let next = queue.popFirst() {
                if !next.isCompleted { first = next }
            }
            guard let first else { return nil }
            guard batchLimit > 1, !queue.isEmpty else { return Batch(first) }
            var invocations: [Invocation] = []
            invocations.reserveCapacity(min(batchLimit, queue.count + 1))
            invocations.append(first)
            while invocations.count < batchLimit, let next = queue.popFirst() {
                if !next.isCompleted { invocations.append(next) }
            }
            return Batch(invocations)
        }

        /// A slot that can take another batch, preferring the most recently
        /// busy so that the others stay idle long enough to be reclaimed.
        private func freeSlot() -> Int? {
            var best: Int?
            for index in slots.indices where slots[index].running < concurrency && !slots[index].lost {
                if let current = best {
                    if slots[index].idleSince > slots[current].idleSince { best = index }
                } else {
                    best = index
                }
            }
            return best
        }

        /// Starts as many instances as the waiting work needs, within
        /// max_instances; none while backing off after a failed start.
        private mutating func reserveStarts(forQueued queued: Int, now: UInt64) -> Int {
            if !slots.isEmpty && now < startBackoffUntil { return 0 }
            var count = 0
            while mayStartBesideStuckInstances, queued > starting * concurrency * batchLimit {
                starting += 1
                count += 1
            }
            return count
        }

        /// When a partial batch must go: the oldest request's delay is up, or
        /// the earliest deadline in it is near. "Near" leaves room for one
        /// execution (the running estimate) and never less than a tenth of
        /// the request's whole budget, so a batch is not held until its
        /// deadline when the function has not run yet.
        private func batchCloseTime() -> UInt64 {
            guard let oldest = queue.first else { return 0 }
            var closeAt = oldest.admittedAt + batchDelay
            for invocation in queue.prefix(batchLimit) {
                let budget = invocation.deadline - min(invocation.admittedAt, invocation.deadline)
                let reserve = max(executionEstimate, budget / 10)
                let latestStart = invocation.deadline > reserve ? invocation.deadline - reserve : 0
                closeAt = min(closeAt, latestStart)
            }
            return closeAt
        }

        mutating func instanceStarted(_ result: Result<any PoolInstance, InvocationError>, prewarmed: Bool, now: UInt64) -> Actions {
            starting -= 1
            var actions = Actions()
            switch result {
            case .success(let instance):
                // While draining, an instance still serves what waits for it;
                // batchFinished destroys it once the queue is empty.
                guard !stopped, accepting || !queue.isEmpty else {
                    return [.destroy([instance])]
                }
                slots.append(Slot(instance: instance, idleSince: now, fresh: !prewarmed))
                failedStarts = 0
                armReaper(now: now)
            case .failure(let error):
                if slots.isEmpty && starting == 0 {
                    // Nothing else can serve the oldest requests: they learn
                    // why; later ones trigger another attempt.
                    var failed: [Invocation] = []
                    while failed.count < batchLimit, let next = queue.popFirst() { failed.append(next) }
                    if !failed.isEmpty { actions.append(.fail(failed, error)) }
                } else {
                    // Live instances keep serving the queue; retry later
                    // rather than churn threads on a start that keeps failing.
                    failedStarts += 1
                    startBackoffUntil = now + FunctionPool.startBackoff.delay(retry: failedStarts).nanosecondsClamped
                }
            }
            actions += dispatch(now: now)
            return actions
        }

        mutating func batchFinished(_ instance: any PoolInstance, batch: Batch, outcome: BatchOutcome, now: UInt64) -> Actions {
            runningCount -= batch.count
            if !outcome.unsent.isEmpty {
                // Never handed to the function: back to the head of the queue, in order.
                var requeued = CircularBuffer<Invocation>(initialCapacity: queue.count + outcome.unsent.count)
                for invocation in outcome.unsent where !invocation.isCompleted {
                    invocation.dispatchedAt = 0
                    requeued.append(invocation)
                }
                requeued.append(contentsOf: queue)
                queue = requeued
            } else if !outcome.instanceLost {
                let nanoseconds = outcome.execution.nanosecondsClamped
                executionEstimate = executionEstimate == 0 ? nanoseconds : (executionEstimate * 7 + nanoseconds) / 8
            }
            var actions = Actions()
            if let index = slots.firstIndex(where: { $0.instance === instance }) {
                if let done = slots[index].batches.firstIndex(where: { $0.isSame(as: batch) }) {
                    slots[index].batches.remove(at: done)
                }
                if !slots[index].stuckBatches.isEmpty, let done = slots[index].stuckBatches.firstIndex(where: { $0.isSame(as: batch) }) {
                    slots[index].stuckBatches.remove(at: done)
                }
                if slots[index].running == 0 { slots[index].idleSince = now }
                if outcome.instanceLost || slots[index].lost {
                    // Its other batches (if any) report back on their own.
                    if slots[index].running == 0 { slots.remove(at: index) }
                } else if !accepting && slots[index].running == 0 && queue.isEmpty {
                    slots.remove(at: index)
                    actions.append(.destroy([instance]))
                }
            }
            if !accepting && !queue.isEmpty && slots.isEmpty && starting == 0 {
                // Draining and nothing left to run what was requeued.
                let waiting = Array(queue)
                queue.removeAll()
                actions.append(.fail(waiting, InvocationError(.unavailable, "the host shut down before this request ran")))
            }
            actions += dispatch(now: now)
            armReaper(now: now)
            return actions
        }

        /// An idle instance died: drop its slot; waiting work starts a replacement.
        mutating func instanceLost(_ instance: any PoolInstance, now: UInt64) -> Actions {
            guard let index = slots.firstIndex(where: { $0.instance === instance }) else { return [] }
            guard slots[index].running == 0 else {
                // Busy batches report back on their own; no new work goes to it.
                slots[index].lost = true
                return []
            }
            slots.remove(at: index)
            let actions = accepting ? dispatch(now: now) : []
            return actions
        }

        mutating func batchTimerFired(now: UInt64) -> Actions {
            batchTimerAt = nil
            let actions = dispatch(now: now)
            return actions
        }

        // MARK: Deadlines

        private mutating func armDeadlineTimer(for deadline: UInt64) {
            if let current = deadlineTimerAt, current <= deadline { return }
            deadlineTimerAt = deadline
            timerChanges.deadline = .arm(at: deadline)
        }

        /// Fails every waiting or running invocation whose deadline has
        /// passed, and re-arms for the next one.
        mutating func sweepDeadlines(now: UInt64) -> Actions {
            deadlineTimerAt = nil
            var expired: [Invocation] = []
            var next = UInt64.max
            var kept = CircularBuffer<Invocation>(initialCapacity: queue.count)
            for invocation in queue {
                if invocation.deadline <= now {
                    expired.append(invocation)
                } else if !invocation.isCompleted {
                    kept.append(invocation)
                    next = min(next, invocation.deadline)
                }
            }
            queue = kept
            var newlyStuck = 0
            var overdue: UInt64 = 0
            for index in slots.indices {
                for batch in slots[index].batches {
                    var lastDeadline: UInt64 = 0
                    for invocation in batch {
                        lastDeadline = max(lastDeadline, invocation.deadline)
                        guard !invocation.isCompleted else { continue }
                        if invocation.deadline <= now { expired.append(invocation) } else { next = min(next, invocation.deadline) }
                    }
                    guard !slots[index].stuckBatches.contains(where: { $0.isSame(as: batch) }) else { continue }
                    if lastDeadline + Self.stuckAfter <= now {
                        slots[index].stuckBatches.append(batch)
                        newlyStuck += 1
                        overdue = max(overdue, now - lastDeadline)
                    } else {
                        next = min(next, lastDeadline + Self.stuckAfter)
                    }
                }
            }
            if next != .max { armDeadlineTimer(for: next) }
            var actions = Actions()
            if !expired.isEmpty { actions.append(.expire(expired, now: now)) }
            guard newlyStuck > 0 else { return actions }
            actions.append(.stuck(newlyStuck, overdue: overdue))
            if refusesForStuckInstances, !queue.isEmpty {
                let waiting = Array(queue)
                queue.removeAll()
                actions.append(.fail(waiting, stuckRefusal))
            } else {
                // Stuck places no longer count against max_instances.
                actions += dispatch(now: now)
            }
            return actions
        }

        // MARK: Scaling down

        private mutating func armReaper(now: UInt64) {
            guard slots.count > minInstances else { return }
            // After every batch, under the lock: a plain loop, no arrays.
            var oldestIdle = UInt64.max
            for slot in slots where slot.running == 0 { oldestIdle = min(oldestIdle, slot.idleSince) }
            guard oldestIdle != .max else { return }
            let due = oldestIdle + idleTimeout
            if let current = reaperTimerAt, current <= due { return }
            reaperTimerAt = due
            timerChanges.reaper = .arm(at: due)
        }

        /// Destroys instances idle for `idle_timeout`, longest-idle first,
        /// keeping `min_instances`.
        mutating func reap(now: UInt64) -> Actions {
            reaperTimerAt = nil
            var victims: [any PoolInstance] = []
            // Queued work (a partial batch waiting to fill) is about to use
            // the idle instances; look again later.
            guard queue.isEmpty else {
                let later = now + max(batchDelay, 1_000_000)
                reaperTimerAt = later
                timerChanges.reaper = .arm(at: later)
                return []
            }
            let candidates = slots.indices
                .filter { slots[$0].running == 0 && now >= slots[$0].idleSince + idleTimeout }
                .sorted { slots[$0].idleSince < slots[$1].idleSince }
            var removable = Set(candidates.prefix(max(0, slots.count - minInstances)))
            if !removable.isEmpty {
                var remaining: [Slot] = []
                for index in slots.indices {
                    if removable.remove(index) != nil { victims.append(slots[index].instance) } else { remaining.append(slots[index]) }
                }
                slots = remaining
            }
            armReaper(now: now)
            return victims.isEmpty ? [] : [.destroy(victims)]
        }

        /// Fails whatever still waits and destroys every idle instance; busy
        /// ones are destroyed when their batch returns.
        mutating func shutDown() -> Actions {
            accepting = false
            stopped = true
            var actions = Actions()
            let waiting = Array(queue)
            queue.removeAll()
            if !waiting.isEmpty {
                actions.append(.fail(waiting, InvocationError(.unavailable, "the host shut down before this request ran")))
            }
            let idle = slots.filter { $0.running == 0 }.map(\.instance)
            slots.removeAll { $0.running == 0 }
            if !idle.isEmpty { actions.append(.destroy(idle)) }
            // The deadline timer stays armed: work still running after the
            // grace period must still be answered at its deadline.
            if batchTimerAt != nil { timerChanges.batch = .cancel }
            if reaperTimerAt != nil { timerChanges.reaper = .cancel }
            batchTimerAt = nil
            reaperTimerAt = nil
            return actions
        }

        private mutating func armBatchTimer(at closeAt: UInt64) {
            if let current = batchTimerAt, current <= closeAt { return }
            batchTimerAt = closeAt
            timerChanges.batch = .arm(at: closeAt)
        }
    }
}
