import ArgumentParser
import Assist
import Cameras
import DescriberHost
import DescriberServer
import Describing
import Foundation
import Hummingbird
import Logging
import NIOCore
import ServiceLifecycle
import UnixSignals

@main
struct Describer: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "describer",
        abstract: "A function host for image description, speech and camera events.",
        subcommands: [Serve.self, Invoke.self, Functions.self, Eval.self, AssistCommand.self]
    )
}

/// Options every subcommand shares: where the configuration lives.
struct ConfigOptions: ParsableArguments {
    @Option(name: .long, help: "Deployment config file (YAML). Default: ./describer.yaml if present.")
    var config: String?

    @Option(name: .long, help: "Folder holding one sub-folder per function (overrides functions_directory).")
    var functions: String?

    @Option(name: .long, help: "Folder holding the voice profiles, NAME.yaml each (overrides voices_directory).")
    var voices: String?

    @Option(name: .long, help: "Log level: trace, debug, info, notice, warning, error, critical.")
    var logLevel: Logger.Level = .info

    /// The deployment: the config file (or `./describer.yaml`), the
    /// environment, then these options.
    func loadDeployment() throws -> DeploymentConfig {
        var path = config
        if path == nil, FileManager.default.fileExists(atPath: "describer.yaml") { path = "describer.yaml" }
        var deployment = try DeploymentConfig.load(path: path, environment: ProcessInfo.processInfo.environment)
        // As speak-this-image does: the installation's functions and voices, from any folder.
        deployment.host = deployment.host.locatingInstallationFolders()
        if let functions { deployment.host.functionsDirectory = functions }
        if let voices { deployment.host.voicesDirectory = voices }
        return deployment
    }

    /// The host's part of the deployment, for the commands that run the host alone.
    func loadHostConfig() throws -> HostConfig { try loadDeployment().host }

    func makeLogger() -> Logger {
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = logLevel
            return handler
        }
        return Logger(label: "describer")
    }
}

extension Logger.Level: @retroactive ExpressibleByArgument {}

struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Serve the functions over HTTP.")

    @OptionGroup var options: ConfigOptions
    @Option(help: "Address to listen on (default 127.0.0.1, or server.host).") var host: String?
    @Option(help: "Port to listen on (default 8080, or server.port).") var port: Int?

    func run() async throws {
        let logger = options.makeLogger()
        let deployment = try options.loadDeployment()
        var config = deployment.host
        if let host { config.host = host }
        if let port { config.port = port }
        let functionHost = try FunctionHost(config: config, logger: logger)
        let voices = try VoiceLibrary.load(directory: config.voicesDirectory)
        // A misspelt voice would otherwise surface only when the first alert is spoken.
        for camera in deployment.cameras.cameras where camera.speech.enabled && voices.profiles[camera.speech.voice] == nil {
            throw ValidationError(
                "cameras.\(camera.id).speech.voice: there is no voice '\(camera.speech.voice)' in \(config.voicesDirectory) (the voices are: \(voices.names.joined(separator: ", ")))"
            )
        }
        // The questions' database, only when someone can answer them.
        var assist: AssistQueue?
        if deployment.assist.isEnabled {
            assist = try AssistQueue(
                config: deployment.assist, describer: ImageDescriber(host: functionHost), registry: functionHost.metrics, logger: logger)
        }
        // The event database is opened only for a deployment that has cameras.
        var cameras: CameraSystem?
        if !deployment.cameras.cameras.isEmpty {
            cameras = try CameraSystem(settings: deployment.cameras, host: functionHost, assist: assist, logger: logger)
        }
        if config.apiToken == nil, !["127.0.0.1", "localhost", "::1"].contains(config.host) {
            logger.warning(
                "Listening beyond this machine without an API token: anyone who can reach the port can read camera events and snapshots and call the functions. Set server.api_token (or DESCRIBER_SERVER__API_TOKEN).",
                metadata: ["host": "\(config.host)", "port": "\(config.port)"]
            )
        }
        let app = buildApplication(
            host: functionHost, voices: voices, cameras: cameras, deepStack: deployment.deepStack, assist: assist, logger: logger
        )
        var lifecycle = ServiceGroupConfiguration(services: [app], gracefulShutdownSignals: [.sigterm, .sigint], logger: logger)
        // Past the grace, what is still draining (a client that stopped
        // reading its answer, say) is cancelled rather than waited for.
        lifecycle.maximumGracefulShutdownDuration = config.shutdownGrace
        try await ServiceGroup(configuration: lifecycle).run()
    }
}

struct Invoke: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Invoke a function once with the host embedded (no server needed) and print its output.",
        discussion: "Exit codes: 0 success, 1 the invocation failed (the reason is on stderr)."
    )

    @OptionGroup var options: ConfigOptions
    @Argument(help: "The function to invoke.") var function: String
    @Argument(help: "Input file, or - for standard input (the default).") var input: String = "-"
    @Option(name: .customLong("option"), help: "A per-request option, key=value; repeatable.") var requestOptions: [String] = []
    @Option(help: "Content type of the input (default: guessed from the file name).") var contentType: String?
    @Option(help: "Deadline in milliseconds (at most the function's timeout.maximum).") var timeoutMs: Int?

    func run() async throws {
        let logger = options.makeLogger()
        let host = try FunctionHost(config: try options.loadHostConfig(), logger: logger)
        let data: Data
        if input == "-" {
            data = FileHandle.standardInput.readDataToEndOfFile()
        } else {
            guard let contents = FileManager.default.contents(atPath: input) else {
                throw ValidationError("cannot read \(input)")
            }
            data = contents
        }
        var pairs: [(String, String)] = []
        for option in requestOptions {
            guard let equals = option.firstIndex(of: "=") else { throw ValidationError("--option takes key=value, got '\(option)'") }
            pairs.append((String(option[..<equals]), String(option[option.index(after: equals)...])))
        }
        let request = InvocationRequest(
            body: ByteBuffer(bytes: data),
            contentType: contentType ?? Self.guessContentType(input),
            options: pairs,
            timeout: try timeoutMs.map { milliseconds in
                guard milliseconds > 0, milliseconds <= 86_400_000 * 366 else {
                    throw ValidationError("--timeout-ms must be between 1 and a year of milliseconds")
                }
                return .milliseconds(milliseconds)
            }
        )
        await host.start()
        let result: Result<InvocationOutput, InvocationError>
        do throws(InvocationError) {
            result = .success(try await host.invoke(function, request))
        } catch {
            result = .failure(error)
        }
        await host.shutdown()
        switch result {
        case .success(let output):
            FileHandle.standardOutput.write(Data(output.body.readableBytesView))
        case .failure(let error):
            FileHandle.standardError.write(Data("describer: \(function) failed (\(error.code.rawValue)): \(error.message)\n".utf8))
            throw ExitCode(1)
        }
    }

    static func guessContentType(_ path: String) -> String {
        switch URL(fileURLWithPath: path).pathExtension.lowercased() {
        case "jpg", "jpeg": "image/jpeg"
        case "png": "image/png"
        case "txt": "text/plain; charset=utf-8"
        case "json": "application/json"
        case "wav": "audio/wav"
        default: "application/octet-stream"
        }
    }
}

struct Functions: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "List the functions and validate their manifests and libraries.",
        discussion: "Exit codes: 0 every enabled function loads, 1 at least one does not."
    )

    @OptionGroup var options: ConfigOptions

    func run() async throws {
        let logger = options.makeLogger()
        let host = try FunctionHost(config: try options.loadHostConfig(), logger: logger)
        var failed = false
        for name in host.entries.keys.sorted() {
            let entry = host.entries[name]!
            if let problem = entry.problem {
                let disabled = entry.config?.enabled == false
                failed = failed || !disabled
                print("\(name)\t\(disabled ? "disabled" : "UNAVAILABLE")\t\(problem)")
            } else {
                let description = entry.config?.description ?? ""
                let version = entry.capabilities?.version ?? ""
                print("\(name)\tready\t\(version)\t\(description)")
            }
            if let notice = entry.isolationNotice { print("\(name)\tnotice\t\(notice)") }
        }
        if host.entries.isEmpty { print("no functions in \(host.config.functionsDirectory)") }
        if failed { throw ExitCode(1) }
    }
}
