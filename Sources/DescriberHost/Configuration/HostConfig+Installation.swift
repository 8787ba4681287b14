import DescriberConfiguration
import Foundation

extension HostConfig {
    /// The folder of the installation the running program belongs to: the
    /// nearest folder above the executable holding both `functions/` and
    /// `voices/`. In a source checkout the programs are in
    /// `.build/release/`, so it is the checkout.
    public static func installationRoot() -> String? {
        var directory = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath().deletingLastPathComponent()
        if let executable = Bundle.main.executableURL { directory = executable.resolvingSymlinksInPath().deletingLastPathComponent() }
        for _ in 0..<6 {
            let candidate = directory.path
            if FileSystem.isDirectory(candidate + "/functions"), FileSystem.isDirectory(candidate + "/voices") { return candidate }
            directory.deleteLastPathComponent()
        }
        return nil
    }

    /// These settings with the default folders found where the program is
    /// installed when the working directory has none: a user runs the
    /// program from anywhere. A folder named by the configuration file or
    /// the environment is kept as named.
    public func locatingInstallationFolders(environment: [String: String] = ProcessInfo.processInfo.environment) -> HostConfig {
        var config = self
        guard let root = Self.installationRoot() else { return config }
        if functionsDirectory == "functions", environment["DESCRIBER_FUNCTIONS_DIRECTORY"] == nil, !FileSystem.isDirectory("functions") {
            config.functionsDirectory = root + "/functions"
        }
        if voicesDirectory == "voices", environment["DESCRIBER_VOICES_DIRECTORY"] == nil, !FileSystem.isDirectory("voices") {
            config.voicesDirectory = root + "/voices"
        }
        return config
    }
}
