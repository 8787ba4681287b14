import CDescriberFunction
import CDescriberWorkerProtocol
import DescriberConfiguration
import Foundation
import Logging
import Synchronization

/// The worker-process tier of one function (`isolation: process`): starts
/// ``WorkerInstance``s, keeps the function's crash record, and backs off
/// starting new workers while they keep crashing.
///
/// The library is never loaded into the host: ``probe(config:executable:)``
/// asks a worker started with `--info` for the library's self-description.
final class WorkerLauncher: InstanceLauncher {
    let capabilities: FunctionCapabilities
    let function: String
    let executable: String
    let config: FunctionConfig
    let metrics: FunctionMetrics
    /// The copy of the library this version's workers open, so that a new
    /// build written over the original cannot reach them; removed with the
    /// launcher. Nil where no copy could be made.
    let snapshot: LibrarySnapshot?
    /// `describer-worker` arguments, identical for every worker of the function.
    let arguments: [String]
    /// `KEY=VALUE`: the host's environment with the manifest's `environment` over it.
    let environment: [String]
    /// The largest PROCESS frame a worker accepts (`--max-frame`).
    let maxFrame: Int

    /// From this many consecutive crashes on, new workers wait (and the
    /// function reports `crash_loop`).
    static let crashLoopThreshold = 3
    /// The wait before a new worker from the threshold on: it doubles with every further crash.
    static let crashBackoff = Backoff(first: .milliseconds(100), maximum: .seconds(5))
    /// How long past the latest deadline in its batch a worker may run before it is killed.
    static let deadlineGrace: Duration = .milliseconds(100)
    /// How long a worker has to exit after DESTROY, or to be reaped after its socket closes.
    static let exitGrace: Duration = .seconds(1)

    struct Health: Sendable {
        var crashes = 0
        var consecutiveCrashes = 0
        var lastCrash: (reason: String, message: String, at: UInt64)?
        var backoffUntil: UInt64 = 0
        /// The wait the last crash imposed on the next start.
        var lastBackoff: UInt64 = 0
        var pids: Set<pid_t> = []
    }

    private let health = Mutex(Health())

    init(config: FunctionConfig, capabilities: FunctionCapabilities, executable: String, snapshot: LibrarySnapshot?, metrics: FunctionMetrics) {
        self.config = config
        self.snapshot = snapshot
        self.function = config.name
        self.capabilities = capabilities
        self.executable = executable
        self.metrics = metrics
        var batchLimit = capabilities.batch ? config.maxBatchSize : 1
        if let own = capabilities.maxBatchSize { batchLimit = min(batchLimit, own) }
        var itemInput = config.maxInputBytes
        if case .rgb8(let width, let height) = capabilities.input {
            itemInput = max(itemInput, width * height * 4)
        }
        let perItem = min(itemInput, WorkerFrame.maxFrame) + (1 << 20)
        let (total, overflow) = perItem.multipliedReportingOverflow(by: max(1, batchLimit))
        self.maxFrame = overflow ? WorkerFrame.maxFrame : min(WorkerFrame.maxFrame, total + (1 << 20))
        self.arguments =
            Self.arguments(for: config, library: snapshot?.path, info: false) + ["--max-frame", "\(maxFrame)", "--max-output", "\(config.maxOutputBytes)"]
        self.environment = Self.environment(for: config)
    }

    // MARK: Starting

    func start(
        id: Int,
        logger: Logger,
        isShuttingDown: @escaping @Sendable () -> Bool,
        finished: @escaping BatchFinished,
        onLost: @escaping @Sendable (any PoolInstance) -> Void,
        completion: @escaping @Sendable (Result<any PoolInstance, InvocationError>) -> Void
    ) {
        var logger = logger
        logger[metadataKey: "instance"] = "\(id)"
        WorkerInstance.start(
            id: id, launcher: self, logger: logger, isShuttingDown: isShuttingDown, finished: finished, onLost: onLost, completion: completion
        )
    }

    static func arguments(for config: FunctionConfig, library: String?, info: Bool) -> [String] {
        var arguments = ["--library", library ?? config.libraryPath, "--parent", "\(getpid())"]
        if info { arguments.append("--info") }
        let settings = config.process
        if let memory = settings.memory { arguments += ["--memory", "\(memory)"] }
        if let cpu = settings.cpuSeconds { arguments += ["--cpu-seconds", "\(cpu)"] }
        if let files = settings.openFiles { arguments += ["--open-files", "\(files)"] }
        if let nice = settings.nice { arguments += ["--nice", "\(nice)"] }
        if let directory = settings.workingDirectory { arguments += ["--chdir", directory] }
        return arguments
    }

    static func environment(for config: FunctionConfig) -> [String] {
        var variables = ProcessInfo.processInfo.environment
        // SwiftPM links the worker against the shared Swift runtime, whose
        // backtracer would print a page per crash; the host reports crashes
        // itself. A manifest may turn it back on for a Swift function.
        variables["SWIFT_BACKTRACE"] = "enable=no"
        for (key, value) in config.environment { variables[key] = value }
        return variables.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }
    }

    // MARK: The crash record

    /// How long a new worker must wait before it starts; zero outside a crash loop.
    func startDelay(now: UInt64) -> UInt64 {
        health.withLock { $0.backoffUntil > now ? $0.backoffUntil - now : 0 }
    }

    /// A worker died on its own. Counts it, and from the threshold on,
    /// doubles the wait before the next start.
    func recordCrash(_ termination: WorkerTermination, message: String, logger: Logger) {
        metrics.recordWorkerCrash(signal: termination.label)
        let now = MonotonicClock.now()
        let (consecutive, backoff) = health.withLock { health -> (Int, UInt64) in
            health.crashes += 1
            health.consecutiveCrashes += 1
            health.lastCrash = (termination.label, message, now)
            var backoff: UInt64 = 0
            let beyond = health.consecutiveCrashes - Self.crashLoopThreshold
            if beyond >= 0 {
                backoff = Self.crashBackoff.delay(retry: beyond + 1).nanosecondsClamped
                health.backoffUntil = now + backoff
            }
            health.lastBackoff = backoff
            return (health.consecutiveCrashes, backoff)
        }
        logger.error(
            "Worker process crashed",
            metadata: [
                "reason": "\(message)", "signal": "\(termination.label)", "consecutive": "\(consecutive)",
                "backoff_ms": "\(backoff / 1_000_000)",
            ]
        )
    }

    /// A worker finished a batch: whatever crashed before, the function works.
    func recordSuccess() {
        // Read without contention in the common case: nothing to reset.
        health.withLock { health in
            if health.consecutiveCrashes != 0 {
                health.consecutiveCrashes = 0
                health.backoffUntil = 0
            }
        }
    }

    func recordKill(_ reason: WorkerKillReason) {
        let label: String
        switch reason {
        case .deadline: label = "deadline"
        case .shutdown: label = "shutdown"
        case .protocolViolation: label = "protocol"
        case .destroyTimeout: label = "destroy_timeout"
        }
        metrics.recordWorkerKill(reason: label)
    }

    func register(_ pid: pid_t) { health.withLock { _ = $0.pids.insert(pid) } }
    func unregister(_ pid: pid_t) { health.withLock { _ = $0.pids.remove(pid) } }

    /// The pids of the worker processes alive now.
    var processIDs: [pid_t] { health.withLock { $0.pids.sorted() } }

    var isCrashLooping: Bool { health.withLock { $0.consecutiveCrashes >= Self.crashLoopThreshold } }

    /// What `GET /v1/functions/{name}` shows under `workers`.
    var description: JSONValue {
        let now = MonotonicClock.now()
        let health = self.health.withLock { $0 }
        var members: [String: JSONValue] = [
            "executable": .string(executable),
            "pids": .array(health.pids.sorted().map { .int(Int($0)) }),
            "crashes": .int(health.crashes),
            "consecutive_crashes": .int(health.consecutiveCrashes),
            "crash_loop": .bool(health.consecutiveCrashes >= Self.crashLoopThreshold),
            "backoff_ms": .double(Double(health.backoffUntil > now ? health.backoffUntil - now : 0) / 1e6),
            "last_backoff_ms": .int(Int(health.lastBackoff / 1_000_000)),
        ]
        if let last = health.lastCrash {
            members["last_crash"] = .object([
                "signal": .string(last.reason),
                "message": .string(last.message),
                "seconds_ago": .double(Double(now - min(now, last.at)) / 1e9),
            ])
        }
        return .object(members)
    }

    /// One line for `problem`-style reporting while crash-looping, else nil.
    var crashLoopSummary: String? {
        let now = MonotonicClock.now()
        return health.withLock { health in
            guard health.consecutiveCrashes >= Self.crashLoopThreshold, let last = health.lastCrash else { return nil }
            let wait = health.backoffUntil > now ? (health.backoffUntil - now) / 1_000_000 : 0
            return
                "crash loop: \(health.consecutiveCrashes) worker crashes in a row, the last \(last.reason) (\(last.message)); the next worker starts in \(wait) ms"
        }
    }

    // MARK: Messages

    /// Why a worker that died on its own failed a request, naming the signal
    /// or the exit status, and the resource limit it likely hit.
    func crashMessage(_ termination: WorkerTermination, while activity: String) -> String {
        var message = "the function's worker process \(termination.phrase) while \(activity)"
        let settings = config.process
        switch termination.kind {
        case .signaled(SIGXCPU):
            message += "; it used up its CPU time limit (process.cpu_seconds: \(settings.cpuSeconds.map(String.init) ?? "?"))"
        case .signaled(SIGKILL):
            if let limit = settings.cpuSeconds, termination.cpuSeconds >= Double(limit) {
                message += "; it used up its CPU time limit (process.cpu_seconds: \(limit)) and ignored SIGXCPU"
            } else {
                message += "; something outside the host killed it (the kernel's out-of-memory killer, or an operator)"
            }
        case .exited(Int32(DWP_EXIT_NO_MEMORY)):
            message += "; it ran out of memory" + (settings.memory.map { " (process.memory: \($0) bytes)" } ?? "")
        case .signaled(SIGSEGV), .signaled(SIGABRT), .signaled(SIGBUS), .exited:
            if let memory = settings.memory {
                message += "; process.memory limits its address space to \(memory) bytes, so a failed allocation may be the cause"
            }
        default:
            break
        }
        return message
    }

    // MARK: Probing a library

    /// Validates the library in a worker started with `--info`, under the
    /// function's limits and environment, without loading it into the host.
    static func probe(
        config: FunctionConfig, executable: String, snapshot: LibrarySnapshot?, timeout: Duration = .seconds(10)
    ) throws(LibraryLoadError) -> FunctionCapabilities {
        do throws(LibraryLoadError) {
            return try probe(config: config, executable: executable, library: snapshot?.path, timeout: timeout)
        } catch {
            guard let snapshot else { throw error }
            throw LibraryLoadError(error.code, path: error.path, snapshot.naming(error.reason))
        }
    }

    private static func probe(config: FunctionConfig, executable: String, library: String?, timeout: Duration) throws(LibraryLoadError) -> FunctionCapabilities
    {
        let path = config.libraryPath
        let process: WorkerProcess
        do {
            process = try WorkerProcess.spawn(
                executable: executable, arguments: arguments(for: config, library: library, info: true), environment: environment(for: config)
            )
        } catch {
            throw LibraryLoadError(.cannotOpen, path: path, "cannot be checked: the worker process did not start (\(error))")
        }
        let channel = FrameChannel(fd: process.socket)
        let giveUp = MonotonicClock.now() + timeout.nanosecondsClamped
        var outcome: Result<FunctionCapabilities, LibraryLoadError>?
        while outcome == nil {
            switch channel.next(limit: WorkerFrame.controlLimit, until: giveUp) {
            case .message(.log):
                continue
            case .message(.info(let info)):
                outcome = Result { () throws(LibraryLoadError) in try capabilities(from: info, path: path) }
            case .message(.loadFailed(let code, let message)):
                let kind: LibraryLoadError.Code =
                    switch Int(code) {
                    case Int(DWP_LOAD_MISSING_SYMBOL): .missingSymbol
                    case Int(DWP_LOAD_BAD_INFO): .badInfo
                    default: .cannotOpen
                    }
                outcome = .failure(
                    LibraryLoadError(kind, path: path, Int(code) == Int(DWP_LOAD_LIMITS) ? "cannot be loaded in a worker process: \(message)" : message))
            case .message(let message):
                outcome = .failure(
                    LibraryLoadError(.badInfo, path: path, "cannot be checked: the worker sent an unexpected \(WorkerFrame.name(of: message.frameType)) frame"))
            case .malformed(let reason):
                outcome = .failure(LibraryLoadError(.badInfo, path: path, "cannot be checked: the worker sent \(reason)"))
            case .timedOut:
                process.kill(.destroyTimeout)
                outcome = .failure(
                    LibraryLoadError(.cannotOpen, path: path, "did not finish loading in a worker process within \(ConfigMapping.format(timeout))"))
            case .endOfFile, .woken:
                let termination = process.reap(grace: exitGrace)
                throw LibraryLoadError(.cannotOpen, path: path, "cannot be loaded: the worker process \(termination.phrase) while loading it")
            }
        }
        process.kill(.destroyTimeout)
        _ = process.reap(grace: exitGrace)
        return try outcome!.get()
    }

    /// Rebuilds a describer_function_info from an INFO frame and validates it
    /// exactly as for a library loaded into the host.
    static func capabilities(from message: WorkerMessage.Info, path: String) throws(LibraryLoadError) -> FunctionCapabilities {
        let fields = message.fields
        var info = describer_function_info()
        info.struct_size = fields.struct_size
        info.abi_major = fields.abi_major
        info.abi_minor = fields.abi_minor
        info.capabilities = fields.capabilities
        info.input_kind = fields.input_kind
        info.max_width = fields.max_width
        info.max_height = fields.max_height
        info.max_batch_size = fields.max_batch_size
        let result = message.name.withCString { namePointer in
            message.version.withCString { versionPointer in
                info.name = fields.has_name != 0 ? namePointer : nil
                info.version = fields.has_version != 0 ? versionPointer : nil
                // Validation reads no more than this host's struct, whatever
                // struct_size declares: the worker sends it as the library
                // declared it, and room for that would let a library make the
                // host allocate gigabytes.
                return withUnsafePointer(to: info) { pointer in
                    Result { () throws(LibraryLoadError) in try FunctionCapabilities(validating: pointer, path: path) }
                }
            }
        }
        return try result.get()
    }

    // MARK: Finding the worker executable

    /// Set by embedders (and the benchmark) to use a specific worker binary.
    static let executableOverride = Mutex<String?>(nil)

    static let executableName = "describer-worker"

    /// `describer-worker` next to the running executable, else on PATH.
    static func locateExecutable() -> String? {
        if let path = executableOverride.withLock({ $0 }) { return path }
        var candidates: [String] = []
        if let own = Bundle.main.executableURL?.resolvingSymlinksInPath().deletingLastPathComponent().path {
            candidates.append(own + "/" + executableName)
        }
        if let argument = CommandLine.arguments.first, argument.contains("/") {
            candidates.append(URL(fileURLWithPath: argument).deletingLastPathComponent().path + "/" + executableName)
        }
        for directory in (ProcessInfo.processInfo.environment["PATH"] ?? "").split(separator: ":") {
            candidates.append("\(directory)/\(executableName)")
        }
        return candidates.first { access($0, X_OK) == 0 }
    }
}
