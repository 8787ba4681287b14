/// A deployment's configuration as read: `describer.yaml` (optional) with
/// the environment laid over it, before any component has decoded its part.
///
/// Each component decodes its own top-level sections from the document (the
/// host its `server`, `functions`, …; the cameras their `cameras` and
/// `camera_events`), and whoever composes them rejects the keys none of them
/// knows, so a misspelt section is an error with its file and line.
public struct ConfigDocument: Sendable {
    /// The merged tree.
    public var root: ConfigNode
    /// The folder of the file, against which relative paths written in it
    /// are resolved; nil without a file.
    public var baseDirectory: String?

    public init(root: ConfigNode, baseDirectory: String? = nil) {
        self.root = root
        self.baseDirectory = baseDirectory
    }

    /// Reads `path` (if given) and lays the `DESCRIBER_…` variables of
    /// `environment` over it.
    /// - Parameter namedSections: sections whose keys are names (functions,
    ///   cameras); see ``ConfigNode/environmentOverlay(_:prefix:namedSections:)``.
    public static func load(path: String?, environment: [String: String], namedSections: Set<String>) throws(ConfigError) -> ConfigDocument {
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
        node = node.overlaid(by: ConfigNode.environmentOverlay(environment, namedSections: namedSections))
        return ConfigDocument(root: node, baseDirectory: baseDirectory)
    }

    /// The top level as a mapping.
    package func rootMapping() throws(ConfigError) -> ConfigMapping {
        try ConfigMapping(root, path: [], fallbackOrigin: root.origin)
    }

    /// Fails on a top-level key that is none of `known`.
    public func rejectUnknownSections(_ known: [String]) throws(ConfigError) {
        try rootMapping().rejectUnknownKeys(known)
    }

    /// `path` as written under `key`, resolved against the file's folder
    /// when the file wrote it (a path from the environment or a default is
    /// relative to the working directory).
    package func path(_ key: String, default defaultValue: String) throws(ConfigError) -> String {
        let root = try rootMapping()
        let directory = try root.string(key) ?? defaultValue
        if !directory.hasPrefix("/"), let baseDirectory, root[key]?.origin.line != nil {
            return baseDirectory + "/" + directory
        }
        return directory
    }
}
