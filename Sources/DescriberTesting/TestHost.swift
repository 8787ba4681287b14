import DescriberConfiguration
import DescriberHost
import Foundation
import Logging

/// Function hosts for tests: a functions folder written from manifests, and
/// the deployment's configuration given as YAML text, in memory.
public enum TestHost {
    /// A logger that stays quiet unless something is critical.
    public static let quietLogger: Logger = {
        var logger = Logger(label: "describer-tests")
        logger.logLevel = .critical
        return logger
    }()

    /// Writes a functions folder holding one sub-folder per `manifests`
    /// entry (name → `function.yaml`); returns its path.
    public static func functionsFolder(_ manifests: [String: String]) throws -> String {
        // Also for none: a deployment without functions still has the folder.
        let root = try TestScratch.folder("functions")
        for (name, manifest) in manifests {
            try FileManager.default.createDirectory(atPath: "\(root)/\(name)", withIntermediateDirectories: true)
            try manifest.write(toFile: "\(root)/\(name)/function.yaml", atomically: true, encoding: .utf8)
        }
        return root
    }

    /// The configuration tree of `config` (YAML, as in `describer.yaml`)
    /// with `environment` laid over it. The data folder is in the scratch
    /// folder unless one is given: a test never writes to the user's own.
    public static func configuration(
        _ config: String?, environment: [String: String] = [:], namedSections: Set<String> = HostConfig.namedSections
    ) throws -> ConfigNode {
        var node = ConfigNode.emptyMapping(ConfigOrigin(source: "test", line: nil))
        if let config { node = try ConfigNode.parseYAML(config, source: "describer.yaml") }
        var environment = environment
        if config?.contains("data_directory") != true && environment["DESCRIBER_DATA_DIRECTORY"] == nil {
            environment["DESCRIBER_DATA_DIRECTORY"] = TestScratch.path + "/data"
        }
        return node.overlaid(by: ConfigNode.environmentOverlay(environment, namedSections: namedSections))
    }

    /// The settings a test host runs with: the functions in `directory`,
    /// a short shutdown grace, and any free port.
    public static func prepared(_ config: HostConfig, functionsDirectory directory: String) -> HostConfig {
        var config = config
        config.functionsDirectory = directory
        config.shutdownGrace = .seconds(2)
        config.port = 0
        return config
    }

    /// A host over `manifests` (not started: see ``FunctionHost/run(_:)``),
    /// configured by `config` (the host's sections of `describer.yaml`)
    /// and `environment` (`DESCRIBER_…` variables).
    public static func make(
        _ manifests: [String: String], config: String? = nil, environment: [String: String] = [:], logger: Logger = quietLogger
    ) throws -> FunctionHost {
        let directory = try functionsFolder(manifests)
        let hostConfig = try HostConfig(node: configuration(config, environment: environment), baseDirectory: nil)
        return try FunctionHost(config: prepared(hostConfig, functionsDirectory: directory), logger: logger)
    }
}
