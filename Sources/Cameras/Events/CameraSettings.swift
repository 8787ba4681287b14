import DescriberConfiguration

/// The cameras' part of a deployment's configuration: the `cameras` and
/// `camera_events` sections.
public struct CameraSettings: Sendable, Equatable {
    /// The cameras that may post events, in the order the file lists them.
    public var cameras: [CameraConfig]
    /// Where camera events are stored and for how long.
    public var store: CameraStoreConfig

    /// The top-level keys the cameras decode.
    public static let sections = ["cameras", "camera_events"]

    /// The sections whose keys are names: camera ids, so that
    /// `DESCRIBER_CAMERAS__FRONT_DOOR__…` configures `front-door`.
    public static let namedSections: Set<String> = ["cameras"]

    public init(cameras: [CameraConfig] = [], store: CameraStoreConfig) {
        self.cameras = cameras
        self.store = store
    }

    /// Decodes `cameras` and `camera_events`.
    /// - Parameter dataDirectory: the host's data folder, where a relative database path is.
    public init(document: ConfigDocument, dataDirectory: String) throws(ConfigError) {
        let root = try document.rootMapping()
        let cameras = try root.mapping("cameras")
        var configs: [CameraConfig] = []
        for id in cameras.keys {
            guard CameraConfig.isValidID(id) else {
                throw cameras.error(id, "is not a valid camera id: use lower-case letters, digits and '-' (at most 64)")
            }
            configs.append(try CameraConfig(id: id, mapping: try cameras.mapping(id)))
        }
        self.cameras = configs
        self.store = try CameraStoreConfig(mapping: try root.mapping("camera_events"), dataDirectory: dataDirectory)
    }
}
