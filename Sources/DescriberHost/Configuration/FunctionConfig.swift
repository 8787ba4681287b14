import DescriberConfiguration

/// How a function runs: its manifest (`functions/NAME/function.yaml`) with the
/// deployment file's and the environment's overrides applied.
///
/// Keys (all optional except `library`; defaults in brackets):
///
/// | key | meaning |
/// |---|---|
/// | `description` | one line for listings |
/// | `enabled` [true] | `false` skips the function |
/// | `library` | the shared library, relative to the function's folder |
/// | `isolation` [in-process] | `in-process`, or `process`: each instance in its own worker process |
/// | `input.content_types` [`*/*`] | media types accepted: `image/jpeg`, `image/*`, `*/*` |
/// | `input.max_bytes` [server limit] | larger bodies get 413 |
/// | `output.max_bytes` [64MiB] | larger outputs fail the item |
/// | `scaling.min_instances` [0] | kept warm, created at start; 0 allows scale to zero |
/// | `scaling.max_instances` [1] | instances created on demand up to this |
/// | `scaling.concurrency` [1] | batches one instance runs at once (>1 needs a reentrant function) |
/// | `scaling.idle_timeout` [5m] | idle instances above `min_instances` are destroyed after this |
/// | `batching.max_batch_size` [1] | requests coalesced into one call (>1 needs a batch-capable function) |
/// | `batching.max_batch_delay` [0] | how long a partial batch waits for more requests |
/// | `timeout.default` [30s] | deadline of a request that sets none |
/// | `timeout.maximum` [= default] | the most a request may ask for with `X-Describer-Timeout-Ms` |
/// | `queue.max_depth` [64] | requests waiting for an instance; beyond it 429 |
/// | `environment` | variables set before the library loads (a worker's own environment with `process`) |
/// | `process.memory` | worker address-space limit (RLIMIT_AS), e.g. `512MiB` |
/// | `process.cpu_seconds` | worker CPU-time limit (RLIMIT_CPU); SIGXCPU kills a worker that uses it up |
/// | `process.open_files` | worker open-file limit (RLIMIT_NOFILE) |
/// | `process.nice` | worker niceness, -20 (needs privilege) to 19 |
/// | `process.working_directory` | the worker's working directory, relative to the function's folder |
/// | `request_options` | per-request options allowed as query parameters (``RequestOptionSpec``) |
/// | `options` | anything; handed verbatim, as JSON, to every instance |
public struct FunctionConfig: Sendable {
    public enum Isolation: String, Sendable { case inProcess = "in-process", process }

    /// The `process:` settings of the worker-process tier; nil means no limit.
    public struct ProcessSettings: Sendable, Equatable {
        public var memory: Int?
        public var cpuSeconds: Int?
        public var openFiles: Int?
        public var nice: Int?
        /// Absolute or relative to the working directory of the host, resolved.
        public var workingDirectory: String?

        public init(memory: Int? = nil, cpuSeconds: Int? = nil, openFiles: Int? = nil, nice: Int? = nil, workingDirectory: String? = nil) {
            self.memory = memory
            self.cpuSeconds = cpuSeconds
            self.openFiles = openFiles
            self.nice = nice
            self.workingDirectory = workingDirectory
        }
    }

    public var name: String
    public var description: String
    public var enabled: Bool
    /// The folder holding the manifest.
    public var directory: String
    /// The manifest file.
    public var manifestPath: String
    /// Absolute or directory-relative path of the library as resolved.
    public var libraryPath: String
    public var isolation: Isolation
    /// Worker limits; only with `isolation: process`.
    public var process: ProcessSettings
    public var acceptedContentTypes: [String]
    public var maxInputBytes: Int
    public var maxOutputBytes: Int
    public var minInstances: Int
    public var maxInstances: Int
    public var concurrency: Int
    public var idleTimeout: Duration
    public var maxBatchSize: Int
    public var maxBatchDelay: Duration
    public var defaultTimeout: Duration
    public var maximumTimeout: Duration
    public var maxQueueDepth: Int
    public var environment: [(String, String)]
    public var requestOptions: [String: RequestOptionSpec]
    /// The free-form `options`, the escape hatch handed to every instance.
    public var options: JSONValue
    /// ``options`` as shown: with the values marked `!secret` redacted.
    public var redactedOptions: JSONValue
    /// The ``environment`` variables whose values are marked `!secret`.
    public var secretEnvironment: Set<String>

    /// The keys a manifest may hold at its top level.
    static let topLevelKeys = [
        "description", "enabled", "library", "isolation", "input", "output", "scaling", "batching", "timeout",
        "queue", "environment", "request_options", "options", "process",
    ]

    /// Decodes a merged configuration node.
    /// - Parameters:
    ///   - node: the manifest with overrides laid over it.
    ///   - name: the function's name (its folder's name).
    ///   - directory: the function's folder.
    ///   - serverBodyLimit: the default for `input.max_bytes`.
    public init(node: ConfigNode, name: String, directory: String, manifestPath: String, serverBodyLimit: Int) throws(ConfigError) {
        let root = try ConfigMapping(node, path: [], fallbackOrigin: ConfigOrigin(source: manifestPath, line: nil))
        try root.rejectUnknownKeys(Self.topLevelKeys)
        self.name = name
        self.directory = directory
        self.manifestPath = manifestPath
        self.description = try root.string("description") ?? ""
        self.enabled = try root.bool("enabled", default: true)

        guard let library = try root.string("library"), !library.isEmpty else {
            throw root.error("library", "is required: the shared library to load, relative to \(directory)")
        }
        self.libraryPath = library.hasPrefix("/") ? library : directory + "/" + library

        let isolationName = try root.string("isolation") ?? Isolation.inProcess.rawValue
        guard let isolation = Isolation(rawValue: isolationName) else {
            throw root.error("isolation", "must be in-process or process, got '\(isolationName)'")
        }
        self.isolation = isolation

        let process = try root.mapping("process")
        try process.rejectUnknownKeys(["memory", "cpu_seconds", "open_files", "nice", "working_directory"])
        if isolation != .process, let first = process.keys.first {
            throw process.error(first, "applies only to worker processes; set isolation: process or remove it")
        }
        var settings = ProcessSettings()
        if process["memory"] != nil {
            settings.memory = try process.byteCount("memory", default: 0, in: (16 << 20)...(1 << 50))
        }
        if process["cpu_seconds"] != nil {
            settings.cpuSeconds = try process.int("cpu_seconds", default: 0, in: 1...31_536_000)
        }
        if process["open_files"] != nil {
            settings.openFiles = try process.int("open_files", default: 0, in: 16...1_048_576)
        }
        if process["nice"] != nil {
            settings.nice = try process.int("nice", default: 0, in: -20...19)
        }
        if let path = try process.string("working_directory") {
            let resolved = path.hasPrefix("/") ? path : directory + "/" + path
            guard !path.isEmpty, FileSystem.isDirectory(resolved) else {
                throw process.error("working_directory", "must be an existing folder (absolute or relative to \(directory)), got '\(path)'")
            }
            settings.workingDirectory = resolved
        }
        self.process = settings

        let input = try root.mapping("input")
        try input.rejectUnknownKeys(["content_types", "max_bytes"])
        self.acceptedContentTypes = try input.stringList("content_types") ?? ["*/*"]
        for pattern in acceptedContentTypes where !MediaType.isValidPattern(pattern) {
            throw input.error("content_types", "holds '\(pattern)', which is not a media type such as image/jpeg, image/* or */*")
        }
        let maxBytesLimit = 1 << 40
        self.maxInputBytes = try input.byteCount("max_bytes", default: serverBodyLimit, in: 1...maxBytesLimit)

        let output = try root.mapping("output")
        try output.rejectUnknownKeys(["max_bytes"])
        self.maxOutputBytes = try output.byteCount("max_bytes", default: 64 << 20, in: 1...maxBytesLimit)

        let scaling = try root.mapping("scaling")
        try scaling.rejectUnknownKeys(["min_instances", "max_instances", "concurrency", "idle_timeout"])
        self.maxInstances = try scaling.int("max_instances", default: 1, in: 1...1024)
        self.minInstances = try scaling.int("min_instances", default: 0, in: 0...1024)
        if minInstances > maxInstances {
            throw scaling.error("min_instances", "must not exceed max_instances (\(maxInstances)), got \(minInstances)")
        }
        self.concurrency = try scaling.int("concurrency", default: 1, in: 1...1024)
        self.idleTimeout = try scaling.duration("idle_timeout", default: .seconds(300), in: .milliseconds(1)...(.seconds(86_400 * 7)))

        let batching = try root.mapping("batching")
        try batching.rejectUnknownKeys(["max_batch_size", "max_batch_delay"])
        self.maxBatchSize = try batching.int("max_batch_size", default: 1, in: 1...4096)
        self.maxBatchDelay = try batching.duration("max_batch_delay", default: .zero, in: .zero...(.seconds(10)))

        let timeout = try root.mapping("timeout")
        try timeout.rejectUnknownKeys(["default", "maximum"])
        self.defaultTimeout = try timeout.duration("default", default: .seconds(30), in: .milliseconds(1)...(.seconds(86_400)))
        self.maximumTimeout = try timeout.duration("maximum", default: defaultTimeout, in: .milliseconds(1)...(.seconds(86_400)))
        if maximumTimeout < defaultTimeout {
            throw timeout.error("maximum", "must not be shorter than timeout.default (\(ConfigMapping.format(defaultTimeout)))")
        }

        let queue = try root.mapping("queue")
        try queue.rejectUnknownKeys(["max_depth"])
        self.maxQueueDepth = try queue.int("max_depth", default: 64, in: 0...1_000_000)

        let environment = try root.mapping("environment")
        var variables: [(String, String)] = []
        var secrets: Set<String> = []
        for key in environment.keys {
            guard key.first.map({ $0 == "_" || $0.isLetter }) == true, key.allSatisfy({ $0 == "_" || $0.isLetter || $0.isNumber }) else {
                throw environment.error(key, "is not a valid environment variable name")
            }
            guard let value = try environment.string(key) else { throw environment.error(key, "needs a value") }
            variables.append((key, value))
            if environment[key]?.isSecret == true { secrets.insert(key) }
        }
        self.environment = variables
        self.secretEnvironment = secrets

        let requestOptions = try root.mapping("request_options")
        var specs: [String: RequestOptionSpec] = [:]
        for key in requestOptions.keys {
            specs[key] = try RequestOptionSpec(requestOptions.mapping(key))
        }
        self.requestOptions = specs

        switch root["options"] {
        case nil:
            self.options = .object([:])
            self.redactedOptions = .object([:])
        case .some(let node):
            guard case .mapping = node else { throw root.error("options", "must be a mapping (it is handed to the function as a JSON object)") }
            self.options = node.json
            self.redactedOptions = node.redactedJSON
        }
    }
}

/// Media type matching for `input.content_types`.
package enum MediaType {
    static func isValidPattern(_ pattern: String) -> Bool {
        let parts = pattern.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count == 2, !parts[0].isEmpty, !parts[1].isEmpty else { return false }
        if parts[0] == "*" && parts[1] != "*" { return false }
        return parts.allSatisfy { $0.allSatisfy { $0.isLetter || $0.isNumber || "!#$&^_.+-*".contains($0) } }
    }

    /// The `type/subtype` of a Content-Type header, lower-cased, without parameters.
    package static func essence(of contentType: String) -> String {
        let head = contentType.split(separator: ";", maxSplits: 1).first.map(String.init) ?? ""
        return head.trimmingWhitespace().lowercased()
    }

    package static func matches(_ contentType: String, patterns: [String]) -> Bool {
        let essence = essence(of: contentType)
        let parts = essence.split(separator: "/", maxSplits: 1)
        guard parts.count == 2 else { return patterns.contains("*/*") }
        for pattern in patterns {
            let lower = pattern.lowercased()
            if lower == "*/*" || lower == essence { return true }
            if lower.hasSuffix("/*"), lower.dropLast(2) == parts[0] { return true }
        }
        return false
    }
}
