import DescriberConfiguration
import DescriberImaging
import Logging
import NIOCore
import Prometheus

#if canImport(Glibc)
import Glibc
#endif

/// Turns one function folder into a ``FunctionHost/Entry``: reads and checks
/// the manifest with the deployment's overrides, loads the library in the
/// host or checks it in a worker process, and builds the function's pool.
/// Used at start and for every hot reload.
struct FunctionLoader: Sendable {
    let hostConfig: HostConfig
    let registry: PrometheusCollectorRegistry
    let logger: Logger
    let timers: any EventLoop
    let crashMemory: CrashMemory

    func load(name: String, generation: Int) -> FunctionHost.Entry {
        let directory = "\(hostConfig.functionsDirectory)/\(name)"
        let manifestPath = "\(directory)/function.yaml"
        var logger = logger
        logger[metadataKey: "function"] = "\(name)"
        // Fingerprints first: a file that changes while it is being read is
        // seen as changed again and reloaded once more.
        let manifestFingerprint = FileSystem.fingerprint(manifestPath)
        var config: FunctionConfig
        do throws(ConfigError) {
            guard FunctionHost.isValidName(name) else {
                throw ConfigError(
                    origin: ConfigOrigin(source: directory, line: nil), key: nil, reason: "is not a valid function name: use lower-case letters, digits and '-'"
                )
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
            return FunctionHost.Entry(
                name: name, manifestPath: manifestPath, generation: generation, watched: [manifestPath: manifestFingerprint], problem: error.description)
        }
        let watched = [manifestPath: manifestFingerprint, config.libraryPath: FileSystem.fingerprint(config.libraryPath)]
        func entry(problem: String? = nil, capabilities: FunctionCapabilities? = nil, pool: FunctionPool? = nil, notice: String? = nil) -> FunctionHost.Entry {
            FunctionHost.Entry(
                name: name, manifestPath: manifestPath, generation: generation, watched: watched, config: config, problem: problem,
                capabilities: capabilities, pool: pool, isolationNotice: notice
            )
        }
        guard config.enabled else {
            return entry(problem: "disabled by configuration (enabled: false)")
        }
        var notice: String?
        if config.isolation == .inProcess, let crash = crashMemory.crash(of: name, libraryPath: config.libraryPath) {
            // It took the whole host down last time; in a worker process the
            // same crash costs one request.
            config.isolation = .process
            config.concurrency = 1
            notice =
                "runs in worker processes instead of in-process because it crashed the host (\(crash.summary)) and its library has not changed since; rebuild or replace \(config.libraryPath), or delete \(crashMemory.path), to run it in-process again"
            logger.warning(
                "Function moved to worker processes after crashing the host", metadata: ["crash": "\(crash.summary)", "crash_log": "\(crashMemory.path)"])
        }
        if config.isolation == .process {
            return loadInWorkers(config: config, logger: logger) { problem, capabilities, pool in
                entry(problem: problem, capabilities: capabilities, pool: pool, notice: notice)
            }
        }
        // Environment applies process-wide for in-process functions; set it
        // before the library's initialisers run, without clobbering the
        // operator's own settings. Only at start: setenv while other threads
        // may call getenv (a hot reload runs while serving) is not safe.
        if generation == 1 {
            for (key, value) in config.environment where getenv(key) == nil {
                setenv(key, value, 0)
            }
        } else if config.environment.contains(where: { key, value in getenv(key).map { String(cString: $0) } != value }) {
            logger.warning("The new version's environment takes effect at the next restart (in-process functions share the host's)")
        }
        // Marked before loading: a crash in the library's initialisers is
        // remembered too.
        let marker = crashMemory.marker(function: name, libraryPath: config.libraryPath)
        let library: FunctionLibrary
        do throws(LibraryLoadError) {
            library = try marker.running { () throws(LibraryLoadError) in try FunctionLibrary.load(path: config.libraryPath) }
            try Self.check(config, against: library.capabilities)
        } catch {
            logger.error("Function library refused", metadata: ["reason": "\(error)"])
            return entry(problem: error.description)
        }
        let metrics = FunctionMetrics(registry: registry, function: name)
        let launcher = InProcessLauncher(
            library: library, crashMarker: marker,
            optionsJSON: config.options.serialized, threadCount: library.capabilities.reentrant ? config.concurrency : 1
        )
        let pool = FunctionPool(config: config, launcher: launcher, metrics: metrics, logger: logger, timers: timers)
        logger.info(
            "Function loaded",
            metadata: [
                "library": "\(config.libraryPath)", "version": "\(library.capabilities.version)",
                "abi": "\(library.capabilities.abiMajor).\(library.capabilities.abiMinor)",
            ]
        )
        return entry(capabilities: library.capabilities, pool: pool)
    }

    /// `isolation: process`: the library is checked in a worker process and
    /// never loaded into the host; instances run in worker processes.
    private func loadInWorkers(
        config: FunctionConfig, logger: Logger,
        _ entry: (_ problem: String?, FunctionCapabilities?, FunctionPool?) -> FunctionHost.Entry
    ) -> FunctionHost.Entry {
        func refuse(_ problem: String) -> FunctionHost.Entry {
            logger.error("Function not loaded", metadata: ["reason": "\(problem)"])
            return entry(problem, nil, nil)
        }
        guard let executable = WorkerLauncher.locateExecutable() else {
            return refuse(
                "\(config.manifestPath): isolation 'process' needs the \(WorkerLauncher.executableName) executable, found neither next to this program nor on PATH; build it with `swift build --product \(WorkerLauncher.executableName)`"
            )
        }
        if config.concurrency > 1 {
            return refuse(
                "\(config.manifestPath): scaling.concurrency must be 1 with isolation 'process' (a worker process runs one batch at a time), not \(config.concurrency); raise scaling.max_instances for more workers"
            )
        }
        // Workers open a private copy: a new build written over the library
        // must not reach workers still running this version.
        let snapshot = FileSystem.exists(config.libraryPath) ? LibrarySnapshot(of: config.libraryPath) : nil
        let capabilities: FunctionCapabilities
        do throws(LibraryLoadError) {
            capabilities = try WorkerLauncher.probe(config: config, executable: executable, snapshot: snapshot)
            try Self.check(config, against: capabilities)
        } catch {
            return refuse(error.description)
        }
        let metrics = FunctionMetrics(registry: registry, function: config.name)
        let launcher = WorkerLauncher(config: config, capabilities: capabilities, executable: executable, snapshot: snapshot, metrics: metrics)
        let pool = FunctionPool(config: config, launcher: launcher, metrics: metrics, logger: logger, timers: timers)
        logger.info(
            "Function loaded in worker processes",
            metadata: ["library": "\(config.libraryPath)", "version": "\(capabilities.version)", "worker": "\(executable)"]
        )
        return entry(nil, capabilities, pool)
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
}
