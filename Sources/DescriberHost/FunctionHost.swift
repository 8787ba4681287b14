import DescriberConfiguration
import Logging
import NIOCore
import NIOPosix
import Prometheus
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// The function host: every function found under the functions folder, each
/// either ready (its library loaded and validated, its pool running) or
/// unavailable with the precise reason, which never stops the others.
public final class FunctionHost: Sendable {
    /// One function as the host knows it. A class: the request path looks
    /// it up on every invocation and must not copy the configuration.
    public final class Entry: Sendable {
        public let name: String
        public let manifestPath: String
        /// Nil when the manifest itself is invalid.
        public let config: FunctionConfig?
        /// Why the function cannot be invoked, if it cannot.
        public let problem: String?
        /// The function's declared capabilities, once its library loaded.
        public let capabilities: FunctionCapabilities?
        /// Why the host runs this function differently from its manifest
        /// (moved to worker processes after crashing the host), if it does.
        public let isolationNotice: String?
        /// 1 for the version loaded at start, one more for every reload.
        public let generation: Int
        /// The manifest and library, and the state they were in when loaded:
        /// a change to either is a new version (hot reload).
        let watched: [String: String]
        package let pool: FunctionPool?

        init(
            name: String, manifestPath: String, generation: Int = 1, watched: [String: String] = [:], config: FunctionConfig? = nil,
            problem: String? = nil, capabilities: FunctionCapabilities? = nil, pool: FunctionPool? = nil, isolationNotice: String? = nil
        ) {
            self.name = name
            self.manifestPath = manifestPath
            self.generation = generation
            self.watched = watched
            self.config = config
            self.problem = problem
            self.capabilities = capabilities
            self.pool = pool
            self.isolationNotice = isolationNotice
        }
    }

    public let config: HostConfig
    public let metrics: PrometheusCollectorRegistry
    /// Every function, by name, as currently loaded. A hot reload swaps an
    /// entry; a caller holding the old one finishes on the old version.
    public var entries: [String: Entry] { functions.withLock { $0.entries } }

    /// The function named `name`, as currently loaded. The lookup of every
    /// request: it copies no dictionary, whose shared storage every
    /// concurrent request would otherwise retain and release.
    public func entry(named name: String) -> Entry? { functions.withLock { $0.entries[name] } }
    let logger: Logger
    let loader: FunctionLoader
    let functions: Mutex<Functions>
    /// Read on every invocation: an atomic, so that concurrent callers only
    /// read its cache line rather than each taking a lock on it.
    let phase = Atomic(Phase.loaded)

    /// The mutable part of the host: what is loaded, and the reloads in progress.
    struct Functions {
        var entries: [String: Entry]
        /// Why the newest version on disk is not the one serving, by function.
        var reloadProblems: [String: String] = [:]
        /// Pools of replaced versions, finishing their work before they stop.
        var retiring: [ObjectIdentifier: FunctionPool] = [:]
        /// The fingerprints last seen by the watcher and when they were first
        /// seen that way, by function; a change is loaded once it is stable.
        var pendingChanges: [String: [String: String]] = [:]
        /// The fingerprints of versions that failed to load, not retried
        /// until the files change again.
        var failedVersions: [String: [String: String]] = [:]
        var watcher: Task<Void, Never>?
    }

    enum Phase: UInt8, AtomicRepresentable { case loaded, warming, ready, stopping, stopped }

    /// Reads every `functions/NAME/function.yaml`, applies the overrides and
    /// loads the libraries.
    ///
    /// Throws only for problems of the deployment as a whole: a missing
    /// functions folder, or overrides naming a function that does not exist.
    public init(config: HostConfig, metrics: PrometheusCollectorRegistry = PrometheusCollectorRegistry(), logger: Logger) throws(ConfigError) {
        self.config = config
        self.metrics = metrics
        self.logger = logger
        let directory = config.functionsDirectory
        guard FileSystem.isDirectory(directory) else {
            throw ConfigError(
                origin: ConfigOrigin(source: "functions_directory", line: nil), key: nil,
                reason:
                    "'\(directory)' is not a folder; point functions_directory (or DESCRIBER_FUNCTIONS_DIRECTORY) at the folder holding one sub-folder per function"
            )
        }
        let names: [String]
        do {
            names = try FileSystem.subdirectories(of: directory).filter { FileSystem.exists("\(directory)/\($0)/function.yaml") }
        } catch {
            throw ConfigError(origin: ConfigOrigin(source: directory, line: nil), key: nil, reason: "cannot be listed: \(error)")
        }
        for (name, override) in config.functionOverrides where !names.contains(name) {
            throw ConfigError(
                origin: override.origin, key: "functions.\(name)",
                reason: "overrides a function that does not exist in \(directory) (found: \(names.isEmpty ? "none" : names.joined(separator: ", ")))"
            )
        }
        loader = FunctionLoader(
            hostConfig: config, registry: metrics, logger: logger, timers: MultiThreadedEventLoopGroup.singleton.next(),
            crashMemory: CrashMemory(dataDirectory: config.dataDirectory, logger: logger)
        )
        var entries: [String: Entry] = [:]
        for name in names {
            entries[name] = loader.load(name: name, generation: 1)
        }
        functions = Mutex(Functions(entries: entries))
    }

    package static func isValidName(_ name: String) -> Bool {
        !name.isEmpty && name.count <= 64 && name.first != "-"
            && name.unicodeScalars.allSatisfy { ("a"..."z").contains($0) || ("0"..."9").contains($0) || $0 == "-" }
    }

    // MARK: Invoking

    /// Validates a request against the function's manifest and runs it.
    public func invoke(_ name: String, _ request: InvocationRequest) async throws(InvocationError) -> InvocationOutput {
        guard let entry = entry(named: name) else {
            throw InvocationError(.unknownFunction, "no function named '\(name)' (available: \(entries.keys.sorted().joined(separator: ", ")))")
        }
        return try await invoke(entry, request)
    }

    /// Invokes a function already looked up.
    ///
    /// A caller that looked the function up just before a hot reload swapped
    /// it finds the old version no longer taking work; it is handed to the
    /// new version instead of failing.
    package func invoke(_ entry: Entry, _ request: InvocationRequest) async throws(InvocationError) -> InvocationOutput {
        var entry = entry
        while true {
            do throws(InvocationError) {
                return try await invokeOnce(entry, request)
            } catch let error where error.code == .superseded {
                guard let current = self.entry(named: entry.name), current !== entry else { throw InvocationError(.unavailable, "the host is shutting down") }
                entry = current
            }
        }
    }

    private func invokeOnce(_ entry: Entry, _ request: InvocationRequest) async throws(InvocationError) -> InvocationOutput {
        let admission = try admission(entry, request)
        return try await admission.pool.invoke(
            body: request.body, contentType: request.contentType, optionsJSON: admission.optionsJSON, admittedAt: admission.now,
            deadline: admission.deadline, decodedImage: request.decodedImage
        )
    }

    /// Invokes a function already looked up, for a caller that does not
    /// suspend: the HTTP fast path, which answers from the connection's
    /// event loop. A request the function refuses outright (bad options, a
    /// content type it does not take, the host shutting down) is thrown at
    /// once; otherwise `onResult` is called once, on whichever thread
    /// completes the invocation, and must only hand the result on.
    /// `decodedImage` is not taken: this path is for raw requests.
    package func submit(_ entry: Entry, _ request: InvocationRequest, onResult: @escaping InvocationCallback) throws(InvocationError) -> PendingInvocation {
        var entry = entry
        while true {
            let admission = try admission(entry, request)
            do throws(InvocationError) {
                let invocation = try admission.pool.submit(
                    body: request.body, contentType: request.contentType, optionsJSON: admission.optionsJSON, admittedAt: admission.now,
                    deadline: admission.deadline, onResult: onResult
                )
                return PendingInvocation(pool: admission.pool, invocation: invocation)
            } catch let error where error.code == .superseded {
                // As in invoke(_:_:): the new version takes the request.
                guard let current = self.entry(named: entry.name), current !== entry else { throw InvocationError(.unavailable, "the host is shutting down") }
                entry = current
            }
        }
    }

    /// What an invocation needs from the checks before it is admitted.
    private struct Admission {
        let pool: FunctionPool
        let optionsJSON: String
        /// CLOCK_MONOTONIC nanoseconds when the deadline was set.
        let now: UInt64
        let deadline: UInt64
    }

    /// Checks a request against the function's limits and sets its deadline.
    private func admission(_ entry: Entry, _ request: InvocationRequest) throws(InvocationError) -> Admission {
        let name = entry.name
        guard let pool = entry.pool else {
            throw InvocationError(.unavailable, "function '\(name)' is not available: \(entry.problem ?? "not loaded")")
        }
        let limits = pool.limits
        switch phase.load(ordering: .acquiring) {
        case .stopping, .stopped: throw InvocationError(.unavailable, "the host is shutting down")
        default: break
        }
        guard request.body.readableBytes <= limits.maxInputBytes else {
            throw InvocationError(.payloadTooLarge, "the input is \(request.body.readableBytes) bytes; '\(name)' accepts at most \(limits.maxInputBytes)")
        }
        guard limits.acceptsAnyContentType || MediaType.matches(request.contentType, patterns: limits.contentTypes) else {
            throw InvocationError(
                .unsupportedMediaType,
                "'\(name)' does not accept \(MediaType.essence(of: request.contentType)); it accepts \(limits.contentTypes.joined(separator: ", "))"
            )
        }
        let optionsJSON = try Self.validateOptions(request.options, function: name, specs: limits.requestOptions)
        var timeout = limits.defaultTimeout
        if let requested = request.timeout {
            guard requested > .zero else { throw InvocationError(.badOption, "the requested timeout must be positive") }
            guard requested <= limits.maximumTimeout else {
                throw InvocationError(
                    .badOption,
                    "the requested timeout of \(InvocationTimings.milliseconds(requested)) ms exceeds the maximum of \(InvocationTimings.milliseconds(limits.maximumTimeout)) ms for '\(name)'"
                )
            }
            timeout = requested
        }
        let now = MonotonicClock.now()
        let (deadline, overflow) = now.addingReportingOverflow(timeout.nanosecondsClamped)
        guard !overflow else { throw InvocationError(.badOption, "the timeout is too long") }
        return Admission(pool: pool, optionsJSON: optionsJSON, now: now, deadline: deadline)
    }

    /// Checks query options against `request_options` and serialises them canonically.
    static func validateOptions(_ options: [(String, String)], function: String, specs: [String: RequestOptionSpec]) throws(InvocationError) -> String {
        guard !options.isEmpty else { return "{}" }
        var values: [String: JSONValue] = [:]
        for (key, text) in options {
            guard let spec = specs[key] else {
                let allowed = specs.keys.sorted()
                throw InvocationError(
                    .badOption,
                    "unknown option '\(key)' for '\(function)'; "
                        + (allowed.isEmpty ? "it takes no per-request options" : "it takes: \(allowed.joined(separator: ", "))")
                )
            }
            guard values[key] == nil else { throw InvocationError(.badOption, "option '\(key)' is given more than once") }
            values[key] = try spec.value(for: key, from: text).get()
        }
        return JSONValue.object(values).serialized
    }

    // MARK: Lifecycle

    /// Pre-warms every function to its `min_instances`; the host is ready after.
    public func start() async {
        phase.store(.warming, ordering: .releasing)
        let entries = self.entries
        await withTaskGroup(of: Void.self) { group in
            for entry in entries.values {
                if let pool = entry.pool { group.addTask { await pool.prewarm() } }
            }
        }
        _ = phase.compareExchange(expected: .warming, desired: .ready, ordering: .acquiringAndReleasing)
        if config.reloadEnabled { startWatching() }
        logger.info("Function host ready", metadata: ["functions": "\(entries.values.filter { $0.pool != nil }.map(\.name).sorted())"])
    }

    /// Starts the host, runs `body`, and shuts the host down whether `body`
    /// returns or throws: the embedded host of a command-line tool or a test.
    public func run<T>(_ body: (FunctionHost) async throws -> T) async throws -> T {
        await start()
        do {
            let result = try await body(self)
            await shutdown()
            return result
        } catch {
            await shutdown()
            throw error
        }
    }

    /// Stops accepting, drains in-flight work up to the grace period, destroys instances.
    public func shutdown() async {
        phase.store(.stopping, ordering: .releasing)
        // The watcher first: a reload in progress finishes before the pools
        // are listed, so a version it swapped in is drained too.
        let watcher = functions.withLock { $0.watcher }
        watcher?.cancel()
        await watcher?.value
        let pools = functions.withLock { functions in functions.entries.values.compactMap(\.pool) + functions.retiring.values }
        await withTaskGroup(of: Void.self) { group in
            for pool in pools {
                group.addTask { await pool.drain(grace: self.config.shutdownGrace) }
            }
        }
        phase.store(.stopped, ordering: .releasing)
        logger.info("Function host stopped")
    }

    /// True once every function is pre-warmed and until shutdown begins.
    public var isReady: Bool { phase.load(ordering: .acquiring) == .ready }

    /// The current state of a function's pool.
    func snapshot(of name: String) -> PoolSnapshot? { entries[name]?.pool?.snapshot }

    /// Writes the Prometheus exposition of the host's metrics, with the
    /// pools' gauges brought up to date first.
    public func emitMetrics(into buffer: inout [UInt8]) {
        for entry in entries.values { entry.pool?.publishGauges() }
        metrics.emit(into: &buffer)
    }

    /// The Prometheus exposition of the host's metrics, for tests and tools.
    func metricsText() -> String {
        var bytes: [UInt8] = []
        emitMetrics(into: &bytes)
        return String(decoding: bytes, as: UTF8.self)
    }

    /// The pids of a process-isolated function's live worker processes.
    func workerProcessIDs(of name: String) -> [pid_t] {
        (entries[name]?.pool?.launcher as? WorkerLauncher)?.processIDs ?? []
    }
}
