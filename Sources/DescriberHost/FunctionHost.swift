#if canImport(Glibc)
import Glibc
#endif
import Logging
import NIOCore
import NIOPosix
import Prometheus
import Synchronization

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
        let pool: FunctionPool?

        init(name: String, manifestPath: String, config: FunctionConfig? = nil, problem: String? = nil, capabilities: FunctionCapabilities? = nil, pool: FunctionPool? = nil) {
            self.name = name
            self.manifestPath = manifestPath
            self.config = config
            self.problem = problem
            self.capabilities = capabilities
            self.pool = pool
        }
    }

    public let config: HostConfig
    public let metrics: PrometheusCollectorRegistry
    public let entries: [String: Entry]
    private let logger: Logger
    private let phase = Mutex(Phase.loaded)

    enum Phase { case loaded, warming, ready, stopping, stopped }

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
                reason: "'\(directory)' is not a folder; point functions_directory (or DESCRIBER_FUNCTIONS_DIRECTORY) at the folder holding one sub-folder per function"
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
        let timers = MultiThreadedEventLoopGroup.singleton.next()
        var entries: [String: Entry] = [:]
        for name in names {
            entries[name] = Self.loadFunction(name: name, directory: "\(directory)/\(name)", hostConfig: config, registry: metrics, logger: logger, timers: timers)
        }
        self.entries = entries
    }

    private static func loadFunction(
        name: String, directory: String, hostConfig: HostConfig, registry: PrometheusCollectorRegistry, logger: Logger,
        timers: any EventLoop
    ) -> Entry {
        let manifestPath = "\(directory)/function.yaml"
        var logger = logger
        logger[metadataKey: "function"] = "\(name)"
        let config: FunctionConfig
        do throws(ConfigError) {
            guard Self.isValidName(name) else {
                throw ConfigError(origin: ConfigOrigin(source: directory, line: nil), key: nil, reason: "is not a valid function name: use lower-case letters, digits and '-'")
            }
            let text: String
            do { text = try FileSystem.readText(manifestPath) } catch {
                throw ConfigError(origin: ConfigOrigin(source: manifestPath, line: nil), key: nil, reason: "cannot be read: \(error)")
            }
            var node = try ConfigNode.parseYAML(text, source: manifestPath)
            if let override = hostConfig.functionOverrides[name] { node = node.overlaid(by: override) }
            config = try FunctionConfig(node: node, name: name, directory: directory, manifestPath: manifestPath, serverBodyLimit: hostConfig.maxBodySize)
        } catch {
            logger.error("Function manifest is invalid", metadata: ["reason": "\(error)"])
            return Entry(name: name, manifestPath: manifestPath, problem: error.description)
        }
        guard config.enabled else {
            return Entry(name: name, manifestPath: manifestPath, config: config, problem: "disabled by configuration (enabled: false)")
        }
        if config.isolation == .process {
            return loadWorkerFunction(name: name, manifestPath: manifestPath, config: config, registry: registry, logger: logger, timers: timers)
        }
        // Environment applies process-wide for in-process functions; set it
        // before the library's initialisers run, without clobbering the
        // operator's own settings.
        for (key, value) in config.environment where getenv(key) == nil {
            setenv(key, value, 0)
        }
        let library: FunctionLibrary
        do throws(LibraryLoadError) {
            library = try FunctionLibrary.load(path: config.libraryPath)
            try Self.check(config, against: library.capabilities)
        } catch {
            logger.error("Function library refused", metadata: ["reason": "\(error)"])
            return Entry(name: name, manifestPath: manifestPath, config: config, problem: error.description)
        }
        let metrics = FunctionMetrics(registry: registry, function: name)
        let launcher = InProcessLauncher(
            library: library, optionsJSON: config.options.serialized,
            threadCount: library.capabilities.reentrant ? config.concurrency : 1
        )
        let pool = FunctionPool(config: config, launcher: launcher, metrics: metrics, logger: logger, timers: timers)
        logger.info(
            "Function loaded",
            metadata: ["library": "\(config.libraryPath)", "version": "\(library.capabilities.version)", "abi": "\(library.capabilities.abiMajor).\(library.capabilities.abiMinor)"]
        )
        return Entry(name: name, manifestPath: manifestPath, config: config, capabilities: library.capabilities, pool: pool)
    }

    /// `isolation: process`: the library is checked in a worker process and
    /// never loaded into the host; instances run in worker processes.
    private static func loadWorkerFunction(
        name: String, manifestPath: String, config: FunctionConfig, registry: PrometheusCollectorRegistry, logger: Logger,
        timers: any EventLoop
    ) -> Entry {
        func refuse(_ problem: String) -> Entry {
            logger.error("Function not loaded", metadata: ["reason": "\(problem)"])
            return Entry(name: name, manifestPath: manifestPath, config: config, problem: problem)
        }
        guard let executable = WorkerLauncher.locateExecutable() else {
            return refuse(
                "\(manifestPath): isolation 'process' needs the \(WorkerLauncher.executableName) executable, found neither next to this program nor on PATH; build it with `swift build --product \(WorkerLauncher.executableName)`"
            )
        }
        if config.concurrency > 1 {
            return refuse(
                "\(manifestPath): scaling.concurrency must be 1 with isolation 'process' (a worker process runs one batch at a time), not \(config.concurrency); raise scaling.max_instances for more workers"
            )
        }
        let capabilities: FunctionCapabilities
        do throws(LibraryLoadError) {
            capabilities = try WorkerLauncher.probe(config: config, executable: executable)
            try Self.check(config, against: capabilities)
        } catch {
            logger.error("Function library refused", metadata: ["reason": "\(error)"])
            return Entry(name: name, manifestPath: manifestPath, config: config, problem: error.description)
        }
        let metrics = FunctionMetrics(registry: registry, function: name)
        let launcher = WorkerLauncher(config: config, capabilities: capabilities, executable: executable, metrics: metrics)
        let pool = FunctionPool(config: config, launcher: launcher, metrics: metrics, logger: logger, timers: timers)
        logger.info(
            "Function loaded in worker processes",
            metadata: ["library": "\(config.libraryPath)", "version": "\(capabilities.version)", "worker": "\(executable)"]
        )
        return Entry(name: name, manifestPath: manifestPath, config: config, capabilities: capabilities, pool: pool)
    }

    /// Refuses settings the library's declared capabilities cannot honour.
    static func check(_ config: FunctionConfig, against capabilities: FunctionCapabilities) throws(LibraryLoadError) {
        if config.concurrency > 1 && !capabilities.reentrant {
            throw LibraryLoadError(
                .badCapability, path: config.libraryPath,
                "is not reentrant (no DESCRIBER_CAP_REENTRANT), so scaling.concurrency must be 1, not \(config.concurrency)"
            )
        }
        if config.maxBatchSize > 1 && !capabilities.batch {
            throw LibraryLoadError(
                .badCapability, path: config.libraryPath,
                "does not process batches (no DESCRIBER_CAP_BATCH), so batching.max_batch_size must be 1, not \(config.maxBatchSize)"
            )
        }
        if case .rgb8 = capabilities.input, FunctionPool.imageContentTypes(accepting: config.acceptedContentTypes).isEmpty {
            throw LibraryLoadError(
                .badCapability, path: config.libraryPath,
                "wants decoded RGB8 pixels, but input.content_types (\(config.acceptedContentTypes.joined(separator: ", "))) admits none of the formats the host decodes (\(ImageFormat.decodableMediaTypes.joined(separator: ", ")))"
            )
        }
    }

    static func isValidName(_ name: String) -> Bool {
        !name.isEmpty && name.count <= 64 && name.first != "-"
            && name.unicodeScalars.allSatisfy { ("a"..."z").contains($0) || ("0"..."9").contains($0) || $0 == "-" }
    }

    // MARK: Invoking

    /// Validates a request against the function's manifest and runs it.
    public func invoke(_ name: String, _ request: InvocationRequest) async throws(InvocationError) -> InvocationOutput {
        guard let entry = entries[name] else {
            throw InvocationError(.unknownFunction, "no function named '\(name)' (available: \(entries.keys.sorted().joined(separator: ", ")))")
        }
        return try await invoke(entry, request)
    }

    /// Invokes a function already looked up.
    func invoke(_ entry: Entry, _ request: InvocationRequest) async throws(InvocationError) -> InvocationOutput {
        let name = entry.name
        guard let pool = entry.pool else {
            throw InvocationError(.unavailable, "function '\(name)' is not available: \(entry.problem ?? "not loaded")")
        }
        let limits = pool.limits
        switch phase.withLock({ $0 }) {
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
        let (deadline, overflow) = MonotonicClock.now().addingReportingOverflow(timeout.nanosecondsClamped)
        guard !overflow else { throw InvocationError(.badOption, "the timeout is too long") }
        return try await pool.invoke(
            body: request.body, contentType: request.contentType, optionsJSON: optionsJSON, deadline: deadline, decodedImage: request.decodedImage
        )
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
                    "unknown option '\(key)' for '\(function)'; " + (allowed.isEmpty ? "it takes no per-request options" : "it takes: \(allowed.joined(separator: ", "))")
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
        phase.withLock { $0 = .warming }
        await withTaskGroup(of: Void.self) { group in
            for entry in entries.values {
                if let pool = entry.pool { group.addTask { await pool.prewarm() } }
            }
        }
        phase.withLock { if $0 == .warming { $0 = .ready } }
        logger.info("Function host ready", metadata: ["functions": "\(entries.values.filter { $0.pool != nil }.map(\.name).sorted())"])
    }

    /// Stops accepting, drains in-flight work up to the grace period, destroys instances.
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

    public func shutdown() async {
        phase.withLock { $0 = .stopping }
        await withTaskGroup(of: Void.self) { group in
            for entry in entries.values {
                if let pool = entry.pool { group.addTask { await pool.drain(grace: self.config.shutdownGrace) } }
            }
        }
        phase.withLock { $0 = .stopped }
        logger.info("Function host stopped")
    }

    /// True once every function is pre-warmed and until shutdown begins.
    public var isReady: Bool { phase.withLock { $0 == .ready } }

    /// The current state of a function's pool.
    func snapshot(of name: String) -> PoolSnapshot? { entries[name]?.pool?.snapshot }

    /// The Prometheus exposition of the host's metrics, for tests and tools.
    func metricsText() -> String {
        var bytes: [UInt8] = []
        metrics.emit(into: &bytes)
        return String(decoding: bytes, as: UTF8.self)
    }

    /// The pids of a process-isolated function's live worker processes.
    func workerProcessIDs(of name: String) -> [pid_t] {
        (entries[name]?.pool?.launcher as? WorkerLauncher)?.processIDs ?? []
    }
}
