import DescriberHost
import Describing
import Foundation
import Logging

/// Where this installation's functions and voices live, and the embedded host.
///
/// A user runs `speak-this-image` from anywhere, so the folders are found
/// next to the program: the nearest folder above the executable holding
/// both `functions/` and `voices/` (a source checkout, where the program is
/// `.build/release/speak-this-image`), unless named by option or by
/// `DESCRIBER_FUNCTIONS_DIRECTORY` / `DESCRIBER_VOICES_DIRECTORY`.
struct Installation {
    let functionsDirectory: String
    let voicesDirectory: String

    init(functions: String?, voices: String?) {
        let environment = ProcessInfo.processInfo.environment
        let root = HostConfig.installationRoot()
        functionsDirectory = functions ?? environment["DESCRIBER_FUNCTIONS_DIRECTORY"] ?? (root.map { $0 + "/functions" } ?? "functions")
        voicesDirectory = voices ?? environment["DESCRIBER_VOICES_DIRECTORY"] ?? (root.map { $0 + "/voices" } ?? "voices")
    }

    func voiceLibrary() throws -> VoiceLibrary {
        do {
            return try VoiceLibrary.load(directory: voicesDirectory)
        } catch {
            throw Failure.speech("The voice profiles cannot be used: \(error).")
        }
    }

    /// Starts the function host embedded in this process (quietly: a
    /// screen-reader user hears only the description), runs `body`, and
    /// stops the host.
    func withHost<T>(_ body: (FunctionHost) async throws -> T) async throws -> T {
        var logger = Logger(label: "speak-this-image")
        logger.logLevel = .critical
        var config = HostConfig()
        config.functionsDirectory = functionsDirectory
        config.voicesDirectory = voicesDirectory
        let host: FunctionHost
        do {
            host = try FunctionHost(config: config, logger: logger)
        } catch {
            throw Failure.describing("The functions cannot be loaded: \(error).")
        }
        return try await host.run(body)
    }
}
