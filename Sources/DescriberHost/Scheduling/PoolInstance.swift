import Logging

/// One instance as ``FunctionPool`` drives it, wherever it runs: loaded into
/// the host (``FunctionInstance``) or inside a worker process
/// (``WorkerInstance``). The pool never asks which.
protocol PoolInstance: AnyObject, Sendable {
    var id: Int { get }
    /// How long the instance took to become ready: `describer_instance_create`
    /// in process, or spawn to first answer for a worker.
    var initDuration: Duration { get }

    /// Processes `batch` off Swift's cooperative pool, completes every
    /// invocation, then reports the batch's outcome, once, to the
    /// ``BatchFinished`` handler the instance was started with. (One handler
    /// per instance rather than a completion per batch: a batch then costs
    /// no closure.)
    func run(_ batch: Batch, maxOutputBytes: Int)

    /// Destroys the instance once it is idle; `done` runs when it is gone.
    func destroy(_ done: @escaping @Sendable () -> Void)

    /// Shutdown is past its grace period and the instance is still busy:
    /// stop the work if that is possible (a worker is killed; code loaded
    /// into the host cannot be). `done` runs when nothing is left to wait for.
    func abandon(_ done: @escaping @Sendable () -> Void)
}

/// Where an instance reports each batch it finished.
typealias BatchFinished = @Sendable (any PoolInstance, Batch, BatchOutcome) -> Void

/// How one batch ended, as far as the pool is concerned.
struct BatchOutcome: Sendable {
    /// How long the call took.
    var execution: Duration
    /// The instance is gone (its worker process died or was killed): the
    /// pool forgets it, and starts a replacement when work waits for one.
    var instanceLost = false
    /// Invocations the function never saw because the instance was found
    /// dead before they were handed over; the pool queues them again.
    var unsent: [Invocation] = []
}

/// Starts instances of one function: the part of a pool that differs
/// between the in-process and the worker-process tier.
protocol InstanceLauncher: Sendable {
    /// What the function declared about itself, already validated.
    var capabilities: FunctionCapabilities { get }

    /// Starts instance `id` off Swift's cooperative pool and calls
    /// `completion` once with it or with why it could not start.
    /// `finished` hears of every batch the instance runs; `onLost` runs if
    /// the instance dies later while idle.
    func start(
        id: Int,
        logger: Logger,
        isShuttingDown: @escaping @Sendable () -> Bool,
        finished: @escaping BatchFinished,
        onLost: @escaping @Sendable (any PoolInstance) -> Void,
        completion: @escaping @Sendable (Result<any PoolInstance, InvocationError>) -> Void
    )
}

/// The in-process tier: instances live in the host, on their own threads.
struct InProcessLauncher: InstanceLauncher {
    let library: FunctionLibrary
    let crashMarker: CrashMarker?
    let optionsJSON: String
    let threadCount: Int

    var capabilities: FunctionCapabilities { library.capabilities }

    func start(
        id: Int,
        logger: Logger,
        isShuttingDown: @escaping @Sendable () -> Bool,
        finished: @escaping BatchFinished,
        onLost: @escaping @Sendable (any PoolInstance) -> Void,
        completion: @escaping @Sendable (Result<any PoolInstance, InvocationError>) -> Void
    ) {
        FunctionInstance.start(
            id: id, library: library, crashMarker: crashMarker, optionsJSON: optionsJSON, threadCount: threadCount, logger: logger,
            isShuttingDown: isShuttingDown, finished: finished
        ) { result in
            completion(result.map { $0 })
        }
    }
}
