import DescriberConfiguration
import Foundation

/// The deployment configuration: `describer.yaml` (optional) with the
/// environment laid over it.
///
/// ```yaml
/// server:
///   host: 127.0.0.1          # DESCRIBER_SERVER__HOST
///   port: 8080               # DESCRIBER_SERVER__PORT
///   max_body_size: 20MiB     # default input limit for every function
///   shutdown_grace: 10s      # how long in-flight work may drain on SIGTERM
///   api_token: ""            # DESCRIBER_SERVER__API_TOKEN; when set, the API needs `Authorization: Bearer` with it
///   header_timeout: 10s      # a request's head must arrive within this of its first byte (408 otherwise)
///   body_timeout: 20s        # a body may take this long, plus a second for every body_min_rate bytes (408 otherwise)
///   body_min_rate: 8KiB      # per second
///   idle_timeout: 60s        # a kept-alive connection waiting for its next request closes after this
///   max_connections: 1000    # beyond this, new connections wait in the listen queue
/// functions_directory: functions
/// voices_directory: voices   # speech voice profiles, one NAME.yaml each
/// data_directory: ~/.local/state/describer   # the service's own files: crash log, camera events ($XDG_STATE_HOME/describer)
/// reload:
///   enabled: true            # pick up changed libraries and manifests while serving
///   interval: 1s             # how often function folders are looked at
/// functions:                 # per-function overrides of any manifest key
///   echo:
///     scaling: { max_instances: 8 }
///     options: { prefix: "> " }
/// ```
///
/// These are the host's sections (``sections``); the applications built on
/// the host decode their own from the same ``ConfigDocument``.
public struct HostConfig: Sendable {
    public var host: String
    public var port: Int
    public var maxBodySize: Int
    public var shutdownGrace: Duration
    /// The bearer token the API's routes require; nil: none needed. Camera
    /// webhooks (each camera authenticates itself), the DeepStack API (its
    /// own `api_key`), `/metrics`, `/healthz` and `/readyz` stay open.
    public var apiToken: String?
    /// How long a client may take to send a request, and how many may be connected.
    public var connections: ConnectionLimits
    /// Folder holding one sub-folder per function.
    public var functionsDirectory: String
    /// Folder holding the speech voice profiles (`NAME.yaml`).
    public var voicesDirectory: String
    /// The service's own files: what it must remember across restarts (which
    /// in-process functions crashed it, the camera event database). Created
    /// when first needed.
    public var dataDirectory: String
    /// Whether changed function libraries and manifests are reloaded while serving.
    public var reloadEnabled: Bool
    /// How often the function folders are checked for changes; a change is
    /// loaded once it has stayed the same for one whole interval.
    public var reloadInterval: Duration
    /// Overrides per function name, laid over the manifests.
    public var functionOverrides: [String: ConfigNode]

    public static let defaultBodyLimit = 20 << 20

    public init(
        host: String = "127.0.0.1",
        port: Int = 8080,
        maxBodySize: Int = HostConfig.defaultBodyLimit,
        shutdownGrace: Duration = .seconds(10),
        functionsDirectory: String = "functions",
        voicesDirectory: String = "voices",
        functionOverrides: [String: ConfigNode] = [:]
    ) {
        self.host = host
        self.port = port
        self.maxBodySize = maxBodySize
        self.shutdownGrace = shutdownGrace
        self.apiToken = nil
        self.connections = ConnectionLimits()
        self.functionsDirectory = functionsDirectory
        self.voicesDirectory = voicesDirectory
        self.functionOverrides = functionOverrides
        self.dataDirectory = Self.defaultDataDirectory
        self.reloadEnabled = true
        self.reloadInterval = .seconds(1)
    }

    /// `$XDG_STATE_HOME/describer`, else `~/.local/state/describer`.
    public static var defaultDataDirectory: String {
        let environment = ProcessInfo.processInfo.environment
        if let state = environment["XDG_STATE_HOME"], state.hasPrefix("/") { return state + "/describer" }
        let home = environment["HOME"] ?? NSHomeDirectory()
        return home + "/.local/state/describer"
    }

    /// The top-level keys the host decodes.
    public static let sections = ["server", "functions_directory", "voices_directory", "data_directory", "reload", "functions"]

    /// The sections whose keys are names, where an environment variable's
    /// `_` stands for a `-`.
    public static let namedSections: Set<String> = ["functions"]

    /// Decodes a deployment that is the host alone: any other top-level key
    /// is an error.
    /// - Parameter baseDirectory: relative paths in a config file are resolved against its folder.
    public init(node: ConfigNode, baseDirectory: String?) throws(ConfigError) {
        let document = ConfigDocument(root: node, baseDirectory: baseDirectory)
        try document.rejectUnknownSections(Self.sections)
        try self.init(document: document)
    }

    /// Decodes the host's sections of a deployment's configuration, leaving
    /// the others to the components that own them.
    public init(document: ConfigDocument) throws(ConfigError) {
        let root = try document.rootMapping()
        let server = try root.mapping("server")
        try server.rejectUnknownKeys([
            "host", "port", "max_body_size", "shutdown_grace", "api_token", "header_timeout", "body_timeout", "body_min_rate", "idle_timeout",
            "max_connections",
        ])
        self.host = try server.string("host") ?? "127.0.0.1"
        self.port = try server.int("port", default: 8080, in: 0...65535)
        self.maxBodySize = try server.byteCount("max_body_size", default: Self.defaultBodyLimit, in: 1...(1 << 40))
        self.shutdownGrace = try server.duration("shutdown_grace", default: .seconds(10), in: .zero...(.seconds(3600)))
        // Empty means none, so the environment can switch a file's token off.
        self.apiToken = try server.string("api_token").flatMap { $0.isEmpty ? nil : $0 }
        if let apiToken, apiToken.count < 16 {
            throw server.error("api_token", "must be at least 16 characters (for example the output of `openssl rand -hex 16`), got \(apiToken.count)")
        }
        let defaults = ConnectionLimits()
        self.connections = ConnectionLimits(
            headerTimeout: try server.duration("header_timeout", default: defaults.headerTimeout, in: .milliseconds(100)...(.seconds(3600))),
            bodyTimeout: try server.duration("body_timeout", default: defaults.bodyTimeout, in: .milliseconds(100)...(.seconds(3600))),
            bodyMinimumRate: try server.byteCount("body_min_rate", default: defaults.bodyMinimumRate, in: 1...(1 << 30)),
            idleTimeout: try server.duration("idle_timeout", default: defaults.idleTimeout, in: .milliseconds(100)...(.seconds(86400))),
            maxConnections: try server.int("max_connections", default: defaults.maxConnections, in: 1...1_000_000)
        )
        self.functionsDirectory = try document.path("functions_directory", default: "functions")
        self.voicesDirectory = try document.path("voices_directory", default: "voices")
        self.dataDirectory = try document.path("data_directory", default: Self.defaultDataDirectory)
        let reload = try root.mapping("reload")
        try reload.rejectUnknownKeys(["enabled", "interval"])
        self.reloadEnabled = try reload.bool("enabled", default: true)
        self.reloadInterval = try reload.duration("interval", default: .seconds(1), in: .milliseconds(50)...(.seconds(3600)))
        let functions = try root.mapping("functions")
        var overrides: [String: ConfigNode] = [:]
        for key in functions.keys {
            let value = functions[key]!
            guard case .mapping = value else {
                throw functions.error(key, "must be a mapping of manifest keys to override")
            }
            overrides[key] = value
        }
        self.functionOverrides = overrides
    }

    /// Reads `path` (if given) and the environment, for a deployment that is
    /// the host alone: any other top-level key is an error.
    public static func load(path: String?, environment: [String: String]) throws(ConfigError) -> HostConfig {
        let document = try ConfigDocument.load(path: path, environment: environment, namedSections: namedSections)
        try document.rejectUnknownSections(sections)
        return try HostConfig(document: document)
    }
}

/// What a client may cost the server before it has asked for anything: a
/// request's head and body must arrive in time, an idle connection closes,
/// and connections past a number wait. Without these, a client sending a
/// byte at a time holds a connection, and a file descriptor, for ever.
public struct ConnectionLimits: Sendable, Equatable {
    /// From a request's first byte until its head is complete.
    public var headerTimeout: Duration
    /// From a head until its body is complete, extended by a second for
    /// every ``bodyMinimumRate`` bytes received: a large upload on a slow
    /// link finishes, a trickle does not.
    public var bodyTimeout: Duration
    /// Bytes a second.
    public var bodyMinimumRate: Int
    /// From the end of an answer (or the connection's opening) until the
    /// next request's first byte.
    public var idleTimeout: Duration
    /// Open connections beyond which no new one is accepted.
    public var maxConnections: Int

    public init(
        headerTimeout: Duration = .seconds(10), bodyTimeout: Duration = .seconds(20), bodyMinimumRate: Int = 8 << 10, idleTimeout: Duration = .seconds(60),
        maxConnections: Int = 1000
    ) {
        self.headerTimeout = headerTimeout
        self.bodyTimeout = bodyTimeout
        self.bodyMinimumRate = bodyMinimumRate
        self.idleTimeout = idleTimeout
        self.maxConnections = maxConnections
    }
}
