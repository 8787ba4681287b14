import DescriberConfiguration
import NIOCore
import Testing

@testable import DescriberHost

/// The pool's state machine driven directly, on instants chosen by the
/// test: admission, batching, deadlines, scaling down and the back-off after
/// a failed start, each decided without a thread, a timer or a sleep.
@Suite struct PoolStateTests {
    typealias State = FunctionPool.State

    /// One millisecond, in the state machine's nanoseconds.
    static let ms: UInt64 = 1_000_000

    static func state(_ manifest: String = "", batchLimit: Int = 1) throws -> State {
        let node = try ConfigNode.parseYAML("library: libfn.so\n\(manifest)", source: "fn/function.yaml")
        let config = try FunctionConfig(node: node, name: "fn", directory: "/fn", manifestPath: "fn/function.yaml", serverBodyLimit: 1 << 20)
        return State(config: config, batchLimit: batchLimit)
    }

    static func invocation(at admitted: UInt64, deadline: UInt64) -> Invocation {
        Invocation(body: ByteBuffer(string: "x"), contentType: "text/plain", optionsJSON: "{}", admittedAt: admitted, deadline: deadline)
    }

    final class Instance: PoolInstance {
        let id: Int
        let initDuration = Duration.milliseconds(3)
        init(_ id: Int) { self.id = id }
        func run(_ batch: Batch, maxOutputBytes: Int) {}
        func destroy(_ done: @escaping @Sendable () -> Void) { done() }
        func abandon(_ done: @escaping @Sendable () -> Void) { done() }
    }

    /// Starts `instance` as pre-warming does: reserved, then started.
    @discardableResult
    static func warm(_ state: inout State, _ instance: Instance, now: UInt64) -> FunctionPool.Actions {
        _ = state.reserveStarts(upTo: state.slots.count + state.starting + 1)
        return state.instanceStarted(.success(instance), prewarmed: true, now: now)
    }

    /// What the actions ask for, in words a test can compare.
    static func describe(_ actions: FunctionPool.Actions) -> [String] {
        actions.map { action in
            switch action {
            case .run(let instance, let batch): "run \(batch.count) on \(instance.id)"
            case .start(let count): "start \(count)"
            case .fail(let invocations, let error): "fail \(invocations.count) \(error.code.rawValue)"
            case .expire(let invocations, _): "expire \(invocations.count)"
            case .destroy(let instances): "destroy \(instances.map(\.id))"
            case .stuck(let count, _): "stuck \(count)"
            }
        }
    }

    /// Completes the invocations `actions` expire, as the pool does.
    static func expiring(_ actions: FunctionPool.Actions) -> FunctionPool.Actions {
        for case .expire(let invocations, _) in actions {
            for invocation in invocations { invocation.complete(.failure(InvocationError(.deadlineExceeded, "expired"))) }
        }
        return actions
    }

    static func batches(_ actions: FunctionPool.Actions) -> [Batch] {
        actions.compactMap { if case .run(_, let batch) = $0 { batch } else { nil } }
    }

    // MARK: Admission

    @Test func aColdPoolStartsAnInstanceAndRunsTheRequestOnIt() throws {
        var state = try Self.state()
        let request = Self.invocation(at: 0, deadline: 1000 * Self.ms)
        #expect(Self.describe(state.admit(request, now: 0)) == ["start 1"])
        #expect(state.takeTimerChanges() == .init(deadline: .arm(at: 1000 * Self.ms)))
        let instance = Instance(1)
        let started = state.instanceStarted(.success(instance), prewarmed: false, now: 5 * Self.ms)
        #expect(Self.describe(started) == ["run 1 on 1"])
        #expect(request.coldStart && request.dispatchedAt == 5 * Self.ms)
        // A warm instance takes the next request at once: no cold start.
        let second = Self.invocation(at: 10 * Self.ms, deadline: 1000 * Self.ms)
        _ = state.batchFinished(instance, batch: Self.batches(started)[0], outcome: BatchOutcome(execution: .milliseconds(2)), now: 8 * Self.ms)
        #expect(Self.describe(state.admit(second, now: 10 * Self.ms)) == ["run 1 on 1"])
        #expect(!second.coldStart)
    }

    @Test func scalesUpToMaxInstancesAndQueuesThenRefusesPastTheQueueBound() throws {
        var state = try Self.state("scaling: { max_instances: 2 }\nqueue: { max_depth: 1 }")
        let requests = (0..<5).map { _ in Self.invocation(at: 0, deadline: 1000 * Self.ms) }
        #expect(Self.describe(state.admit(requests[0], now: 0)) == ["start 1"])
        #expect(Self.describe(state.admit(requests[1], now: 0)) == ["start 1"])
        #expect(Self.describe(state.admit(requests[2], now: 0)) == [], "waits: within the queue bound")
        #expect(Self.describe(state.admit(requests[3], now: 0)) == ["fail 1 queue_full"])
        #expect(state.snapshot.starting == 2 && state.snapshot.queueDepth == 3)
    }

    @Test func aRetiredVersionHandsNewWorkOnAndAStoppedHostRefusesIt() throws {
        var state = try Self.state()
        state.accepting = false
        state.retired = true
        #expect(Self.describe(state.admit(Self.invocation(at: 0, deadline: Self.ms), now: 0)) == ["fail 1 function_superseded"])
        state.retired = false
        #expect(Self.describe(state.admit(Self.invocation(at: 0, deadline: Self.ms), now: 0)) == ["fail 1 function_unavailable"])
    }

    @Test func aCancelledRequestLeavesTheQueue() throws {
        var state = try Self.state()
        let request = Self.invocation(at: 0, deadline: 1000 * Self.ms)
        _ = state.admit(request, now: 0)
        _ = state.remove(request)
        #expect(state.snapshot.queueDepth == 0)
    }

    // MARK: Batching

    @Test func aPartialBatchWaitsForItsDelayThenGoesWhole() throws {
        var state = try Self.state("batching: { max_batch_size: 4, max_batch_delay: 10ms }", batchLimit: 4)
        Self.warm(&state, Instance(1), now: 0)
        _ = state.takeTimerChanges()
        let first = Self.invocation(at: 100 * Self.ms, deadline: 10_000 * Self.ms)
        #expect(Self.describe(state.admit(first, now: 100 * Self.ms)) == [])
        #expect(state.takeTimerChanges().batch == .arm(at: 110 * Self.ms), "the oldest request's delay")
        #expect(Self.describe(state.admit(Self.invocation(at: 104 * Self.ms, deadline: 10_000 * Self.ms), now: 104 * Self.ms)) == [])
        #expect(Self.describe(state.batchTimerFired(now: 110 * Self.ms)) == ["run 2 on 1"])
        #expect(state.batchTimerAt == nil)
    }

    @Test func aFullBatchGoesAtOnce() throws {
        var state = try Self.state("batching: { max_batch_size: 2, max_batch_delay: 1s }", batchLimit: 2)
        Self.warm(&state, Instance(1), now: 0)
        _ = state.admit(Self.invocation(at: 0, deadline: 10_000 * Self.ms), now: 0)
        #expect(Self.describe(state.admit(Self.invocation(at: 1, deadline: 10_000 * Self.ms), now: 1)) == ["run 2 on 1"])
    }

    @Test func aPartialBatchIsNotHeldPastItsEarliestDeadline() throws {
        var state = try Self.state("batching: { max_batch_size: 4, max_batch_delay: 1s }", batchLimit: 4)
        Self.warm(&state, Instance(1), now: 0)
        _ = state.takeTimerChanges()
        // 100 ms of budget: it must start a tenth of that before its deadline.
        _ = state.admit(Self.invocation(at: 0, deadline: 100 * Self.ms), now: 0)
        #expect(state.takeTimerChanges().batch == .arm(at: 90 * Self.ms))
    }

    // MARK: Deadlines

    @Test func aDeadlinePassedWhileQueuedExpiresAndTheNextOneIsArmed() throws {
        var state = try Self.state("scaling: { max_instances: 1 }")
        _ = state.admit(Self.invocation(at: 0, deadline: 50 * Self.ms), now: 0)
        _ = state.admit(Self.invocation(at: 0, deadline: 80 * Self.ms), now: 0)
        #expect(state.takeTimerChanges().deadline == .arm(at: 50 * Self.ms), "the earliest deadline")
        #expect(Self.describe(state.sweepDeadlines(now: 50 * Self.ms)) == ["expire 1"])
        #expect(state.takeTimerChanges().deadline == .arm(at: 80 * Self.ms))
        #expect(state.snapshot.queueDepth == 1)
    }

    @Test func aRequestAdmittedPastItsDeadlineExpiresAtOnce() throws {
        var state = try Self.state()
        #expect(Self.describe(state.admit(Self.invocation(at: 0, deadline: 5), now: 5)) == ["expire 1"])
    }

    @Test func aRunningRequestPastItsDeadlineIsExpiredToo() throws {
        var state = try Self.state()
        Self.warm(&state, Instance(1), now: 0)
        #expect(Self.describe(state.admit(Self.invocation(at: 0, deadline: 20 * Self.ms), now: 0)) == ["run 1 on 1"])
        #expect(Self.describe(state.sweepDeadlines(now: 20 * Self.ms)) == ["expire 1"])
    }

    /// A call still running a second past its deadline holds its instance:
    /// the instance counts as stuck, work goes to a new one (up to twice
    /// max_instances in all), and once every instance is stuck and no other
    /// may start, work is refused at once instead of waiting for its deadline.
    @Test func aStuckInstanceIsReportedAndWorkGoesElseOrIsRefusedAtOnce() throws {
        var state = try Self.state("scaling: { max_instances: 1 }")
        let first = Instance(1)
        Self.warm(&state, first, now: 0)
        let hung = Self.invocation(at: 0, deadline: 100 * Self.ms)
        let running = state.admit(hung, now: 0)
        #expect(Self.describe(running) == ["run 1 on 1"])
        #expect(Self.describe(Self.expiring(state.sweepDeadlines(now: 100 * Self.ms))) == ["expire 1"])
        #expect(state.takeTimerChanges().deadline == .arm(at: 1100 * Self.ms), "checked again a second past the deadline")
        #expect(state.snapshot.stuck == 0 && state.snapshot.busy == 1)
        #expect(Self.describe(state.sweepDeadlines(now: 1100 * Self.ms)) == ["stuck 1"])
        #expect(state.snapshot.stuck == 1 && state.snapshot.busy == 0 && !state.snapshot.refusing)
        // The next request starts a second instance despite max_instances: 1.
        let next = Self.invocation(at: 1200 * Self.ms, deadline: 1300 * Self.ms)
        #expect(Self.describe(state.admit(next, now: 1200 * Self.ms)) == ["start 1"])
        let second = Instance(2)
        #expect(Self.describe(state.instanceStarted(.success(second), prewarmed: false, now: 1210 * Self.ms)) == ["run 1 on 2"])
        // It hangs too: both are stuck, no third may start, and work is refused at once.
        _ = Self.expiring(state.sweepDeadlines(now: 1300 * Self.ms))
        #expect(Self.describe(state.sweepDeadlines(now: 2300 * Self.ms)) == ["stuck 1"])
        #expect(state.snapshot.stuck == 2 && state.snapshot.refusing)
        #expect(
            Self.describe(state.admit(Self.invocation(at: 2400 * Self.ms, deadline: 9000 * Self.ms), now: 2400 * Self.ms)) == ["fail 1 function_unavailable"])
        // The first call returns at last: its instance takes work again.
        _ = state.batchFinished(first, batch: Self.batches(running)[0], outcome: BatchOutcome(execution: .seconds(3)), now: 3000 * Self.ms)
        #expect(state.snapshot.stuck == 1 && state.snapshot.idle == 1 && !state.snapshot.refusing)
        #expect(Self.describe(state.admit(Self.invocation(at: 3100 * Self.ms, deadline: 9000 * Self.ms), now: 3100 * Self.ms)) == ["run 1 on 1"])
    }

    // MARK: Scaling down

    @Test func idleInstancesAreReapedAfterTheIdleTimeoutDownToMinInstances() throws {
        var state = try Self.state("scaling: { min_instances: 1, max_instances: 3, idle_timeout: 1s }")
        for id in 1...3 { Self.warm(&state, Instance(id), now: UInt64(id) * Self.ms) }
        #expect(state.takeTimerChanges().reaper == .arm(at: 1001 * Self.ms), "the longest idle one's timeout")
        #expect(Self.describe(state.reap(now: 1001 * Self.ms)) == ["destroy [1]"])
        #expect(state.takeTimerChanges().reaper == .arm(at: 1002 * Self.ms))
        #expect(Self.describe(state.reap(now: 5000 * Self.ms)) == ["destroy [2]"], "never below min_instances")
        #expect(state.snapshot.idle == 1 && state.reaperTimerAt == nil)
    }

    @Test func queuedWorkPostponesTheReaper() throws {
        var state = try Self.state("scaling: { max_instances: 1, idle_timeout: 1s }\nbatching: { max_batch_size: 4, max_batch_delay: 10ms }", batchLimit: 4)
        Self.warm(&state, Instance(1), now: 0)
        _ = state.admit(Self.invocation(at: 995 * Self.ms, deadline: 10_000 * Self.ms), now: 995 * Self.ms)
        _ = state.takeTimerChanges()
        #expect(Self.describe(state.reap(now: 1000 * Self.ms)) == [])
        #expect(state.takeTimerChanges().reaper == .arm(at: 1010 * Self.ms))
    }

    // MARK: Failed starts

    @Test func aFailedStartBacksOffWhileOthersServeAndDoublesUntilOneSucceeds() throws {
        var state = try Self.state("scaling: { max_instances: 2 }")
        Self.warm(&state, Instance(1), now: 0)
        let long = Self.invocation(at: 0, deadline: 100_000 * Self.ms)
        #expect(Self.describe(state.admit(long, now: 0)) == ["run 1 on 1"])
        #expect(Self.describe(state.admit(Self.invocation(at: 0, deadline: 100_000 * Self.ms), now: 0)) == ["start 1"])
        let failure = InvocationError(.initFailed, "no model")
        #expect(Self.describe(state.instanceStarted(.failure(failure), prewarmed: false, now: 10 * Self.ms)) == [])
        #expect(state.startBackoffUntil == 1010 * Self.ms, "a second after the first failure")
        #expect(Self.describe(state.dispatch(now: 500 * Self.ms)) == [], "no start while backing off")
        #expect(Self.describe(state.dispatch(now: 1010 * Self.ms)) == ["start 1"])
        _ = state.instanceStarted(.failure(failure), prewarmed: false, now: 1100 * Self.ms)
        #expect(state.startBackoffUntil == 3100 * Self.ms, "doubled")
        #expect(Self.describe(state.dispatch(now: 3100 * Self.ms)) == ["start 1"])
        #expect(Self.describe(state.instanceStarted(.success(Instance(2)), prewarmed: false, now: 3200 * Self.ms)) == ["run 1 on 2"])
        #expect(state.failedStarts == 0)
    }

    @Test func aFailedStartWithNothingElseToServeFailsTheOldestRequests() throws {
        var state = try Self.state()
        _ = state.admit(Self.invocation(at: 0, deadline: 1000 * Self.ms), now: 0)
        let failed = state.instanceStarted(.failure(InvocationError(.initFailed, "no model")), prewarmed: false, now: Self.ms)
        #expect(Self.describe(failed) == ["fail 1 function_init_failed"])
    }

    // MARK: Shutdown

    @Test func shutdownFailsWhatWaitsDestroysIdleInstancesAndKeepsTheDeadlineTimer() throws {
        var state = try Self.state("scaling: { max_instances: 2, idle_timeout: 1s }")
        Self.warm(&state, Instance(1), now: 0)
        Self.warm(&state, Instance(2), now: 0)
        let running = Self.invocation(at: 0, deadline: 1000 * Self.ms)
        let run = state.admit(running, now: 0)
        #expect(Self.describe(run) == ["run 1 on 2"] || Self.describe(run) == ["run 1 on 1"])
        _ = state.takeTimerChanges()
        let busy = Self.batches(run)[0]
        let actions = state.shutDown()
        #expect(Self.describe(actions).count == 1 && Self.describe(actions)[0].hasPrefix("destroy"), "the idle one")
        #expect(state.takeTimerChanges() == .init(reaper: .cancel), "the reaper goes; the deadline timer stays")
        #expect(state.deadlineTimerAt == 1000 * Self.ms)
        let ran = try #require(run.compactMap { action -> (any PoolInstance)? in if case .run(let instance, _) = action { instance } else { nil } }.first)
        #expect(Self.describe(state.batchFinished(ran, batch: busy, outcome: BatchOutcome(execution: .zero), now: Self.ms)) == ["destroy [\(ran.id)]"])
        #expect(Self.describe(state.admit(Self.invocation(at: 0, deadline: Self.ms), now: 0)) == ["fail 1 function_unavailable"])
    }

    @Test func aReentrantInstanceRunsABatchBesideOneStillRunning() throws {
        var state = try Self.state("scaling: { max_instances: 1, concurrency: 2 }")
        Self.warm(&state, Instance(1), now: 0)
        #expect(Self.describe(state.admit(Self.invocation(at: 0, deadline: 1000 * Self.ms), now: 0)) == ["run 1 on 1"])
        #expect(Self.describe(state.admit(Self.invocation(at: 1, deadline: 1000 * Self.ms), now: 1)) == ["run 1 on 1"])
        #expect(Self.describe(state.admit(Self.invocation(at: 2, deadline: 1000 * Self.ms), now: 2)) == [], "both of its places are taken")
    }

    @Test func drainingLetsARequestWaitingForAColdStartRunOnIt() throws {
        var state = try Self.state()
        #expect(Self.describe(state.admit(Self.invocation(at: 0, deadline: 1000 * Self.ms), now: 0)) == ["start 1"])
        state.accepting = false  // the drain has begun; its grace is not over
        let instance = Instance(1)
        let started = state.instanceStarted(.success(instance), prewarmed: false, now: 5 * Self.ms)
        #expect(Self.describe(started) == ["run 1 on 1"])
        let finished = state.batchFinished(instance, batch: Self.batches(started)[0], outcome: BatchOutcome(execution: .zero), now: 6 * Self.ms)
        #expect(Self.describe(finished) == ["destroy [1]"], "then it goes, with nothing left to do")
        let quiet = state.isQuiet
        #expect(quiet)
    }
}
