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
/// functions_directory: functions
/// voices_directory: voices   # speech voice profiles, one NAME.yaml each
/// data_directory: ~/.local/state/describer   # the service's own files: crash log, camera events ($XDG_STATE_HOME/describer)
/// reload:
///   enabled: true            # pick up changed libraries and manifests while serving
///   interval: 1s             # how often function folders are looked at
/// deepstack:
///   api_key: ""              # DESCRIBER_DEEPSTACK__API_KEY; when set, /v1/vision/* requires it
///   ports: [32168]           # also serve the DeepStack API alone on these ports
/// functions:                 # per-function overrides of any manifest key
///   echo:
///     scaling: { max_instances: 8 }
///     options: { prefix: "> " }
/// cameras: { … }             # see CameraConfig
/// camera_events: { … }       # see CameraStoreConfig
/// ```
public struct HostConfig: Sendable {
    public var host: String
    public var port: Int
    public var maxBodySize: Int
    public var shutdownGrace: Duration
    /// The bearer token the API's routes require; nil: none needed. Camera
    /// webhooks (each camera authenticates itself), the DeepStack API (its
    /// own `api_key`), `/metrics`, `/healthz` and `/readyz` stay open.
    public var apiToken: String?
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
    /// The `api_key` DeepStack clients must send; nil or empty: none needed.
    public var deepStackAPIKey: String?
    /// Further ports serving only the DeepStack API, for clients that
    /// assume CodeProject.AI's 32168 or DeepStack's 5000.
    public var deepStackPorts: [Int]
    /// Overrides per function name, laid over the manifests.
    public var functionOverrides: [String: ConfigNode]
    /// The cameras that may post events, in the order the file lists them.
    public var cameras: [CameraConfig]
    /// Where camera events are stored and for how long.
    public var cameraStore: CameraStoreConfig

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
        self.functionsDirectory = functionsDirectory
        self.voicesDirectory = voicesDirectory
        self.functionOverrides = functionOverrides
        self.dataDirectory = Self.defaultDataDirectory
        self.reloadEnabled = true
        self.reloadInterval = .seconds(1)
        self.deepStackAPIKey = nil
        self.deepStackPorts = []
        self.cameras = []
        self.cameraStore = CameraStoreConfig(databasePath: Self.defaultDataDirectory + "/cameras.sqlite")
    }

    /// `$XDG_STATE_HOME/describer`, else `~/.local/state/describer`.
    public static var defaultDataDirectory: String {
        let environment = ProcessInfo.processInfo.environment
        if let state = environment["XDG_STATE_HOME"], state.hasPrefix("/") { return state + "/describer" }
        let home = environment["HOME"] ?? NSHomeDirectory()
        return home + "/.local/state/describer"
    }

    /// Decodes the merged deployment configuration.
    /// - Parameter baseDirectory: relative paths in a config file are resolved against its folder.
    public init(node: ConfigNode, baseDirectory: String?) throws(ConfigError) {
        let root = try ConfigMapping(node, path: [], fallbackOrigin: node.origin)
        try root.rejectUnknownKeys([
            "server", "functions_directory", "voices_directory", "data_directory", "reload", "deepstack", "functions", "cameras", "camera_events",
        ])
        let server = try root.mapping("server")
        try server.rejectUnknownKeys(["host", "port", "max_body_size", "shutdown_grace", "api_token"])
        self.host = try server.string("host") ?? "127.0.0.1"
        self.port = try server.int("port", default: 8080, in: 0...65535)
        self.maxBodySize = try server.byteCount("max_body_size", default: Self.defaultBodyLimit, in: 1...(1 << 40))
        self.shutdownGrace = try server.duration("shutdown_grace", default: .seconds(10), in: .zero...(.seconds(3600)))
        // Empty means none, so the environment can switch a file's token off.
        self.apiToken = try server.string("api_token").flatMap { $0.isEmpty ? nil : $0 }
        if let apiToken, apiToken.count < 16 {
            throw server.error("api_token", "must be at least 16 characters (for example the output of `openssl rand -hex 16`), got \(apiToken.count)")
        }
        func directory(_ key: String, default defaultValue: String) throws(ConfigError) -> String {
            let directory = try root.string(key) ?? defaultValue
            // A path written in the file is relative to the file, not to the working directory.
            if !directory.hasPrefix("/"), let baseDirectory, root[key]?.origin.line != nil {
                return baseDirectory + "/" + directory
            }
            return directory
        }
        self.functionsDirectory = try directory("functions_directory", default: "functions")
        self.voicesDirectory = try directory("voices_directory", default: "voices")
        self.dataDirectory = try directory("data_directory", default: Self.defaultDataDirectory)
        let reload = try root.mapping("reload")
        try reload.rejectUnknownKeys(["enabled", "interval"])
        self.reloadEnabled = try reload.bool("enabled", default: true)
        self.reloadInterval = try reload.duration("interval", default: .seconds(1), in: .milliseconds(50)...(.seconds(3600)))
        let deepstack = try root.mapping("deepstack")
        try deepstack.rejectUnknownKeys(["api_key", "ports"])
        self.deepStackAPIKey = try deepstack.string("api_key")
        var ports: [Int] = []
        for text in try deepstack.stringList("ports") ?? [] {
            guard let port = Int(text), (1...65535).contains(port) else {
                throw deepstack.error("ports", "must be a list of port numbers between 1 and 65535, got '\(text)'")
            }
            ports.append(port)
        }
        self.deepStackPorts = ports
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
        let cameras = try root.mapping("cameras")
        var cameraConfigs: [CameraConfig] = []
        for id in cameras.keys {
            guard CameraConfig.isValidID(id) else {
                throw cameras.error(id, "is not a valid camera id: use lower-case letters, digits and '-' (at most 64)")
            }
            cameraConfigs.append(try CameraConfig(id: id, mapping: try cameras.mapping(id)))
        }
        self.cameras = cameraConfigs
        self.cameraStore = try CameraStoreConfig(mapping: try root.mapping("camera_events"), dataDirectory: dataDirectory)
    }

    /// Reads `path` (if given) and the environment.
    public static func load(path: String?, environment: [String: String]) throws(ConfigError) -> HostConfig {
        var node = ConfigNode.emptyMapping(ConfigOrigin(source: "defaults", line: nil))
        var baseDirectory: String?
        if let path {
            let text: String
            do {
                text = try FileSystem.readText(path)
            } catch {
                throw ConfigError(origin: ConfigOrigin(source: path, line: nil), key: nil, reason: "cannot be read: \(error)")
            }
            node = try ConfigNode.parseYAML(text, source: path)
            baseDirectory = FileSystem.directory(of: path)
        }
        node = node.overlaid(by: ConfigNode.environmentOverlay(environment))
        return try HostConfig(node: node, baseDirectory: baseDirectory)
    }
}
