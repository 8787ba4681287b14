import Assist
import Cameras
import DeepStack
import DescriberConfiguration
import DescriberHost

/// A whole deployment's configuration: the host's sections and each
/// application's, decoded from one ``ConfigDocument``. A top-level key that
/// none of them owns is an error with its file and line.
public struct DeploymentConfig: Sendable {
    public var host: HostConfig
    public var cameras: CameraSettings
    public var deepStack: DeepStackConfig
    public var assist: AssistConfig

    /// Every top-level key some component decodes.
    public static let sections = HostConfig.sections + CameraSettings.sections + [DeepStackConfig.section, AssistConfig.section]

    public static let namedSections = HostConfig.namedSections.union(CameraSettings.namedSections)

    public init(host: HostConfig, cameras: CameraSettings? = nil, deepStack: DeepStackConfig = DeepStackConfig(), assist: AssistConfig? = nil) {
        self.host = host
        self.cameras = cameras ?? CameraSettings(store: CameraStoreConfig(databasePath: host.dataDirectory + "/cameras.sqlite"))
        self.deepStack = deepStack
        self.assist = assist ?? AssistConfig(databasePath: host.dataDirectory + "/assist.sqlite")
    }

    public init(document: ConfigDocument) throws(ConfigError) {
        try document.rejectUnknownSections(Self.sections)
        host = try HostConfig(document: document)
        cameras = try CameraSettings(document: document, dataDirectory: host.dataDirectory)
        deepStack = try DeepStackConfig(document: document)
        assist = try AssistConfig(document: document, dataDirectory: host.dataDirectory)
    }

    /// Reads `path` (if given) and the environment.
    public static func load(path: String?, environment: [String: String]) throws(ConfigError) -> DeploymentConfig {
        try DeploymentConfig(document: ConfigDocument.load(path: path, environment: environment, namedSections: namedSections))
    }
}
