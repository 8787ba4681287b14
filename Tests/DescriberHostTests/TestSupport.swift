import Foundation
import Logging
import NIOCore
import Synchronization

@testable import DescriberHost
@testable import DescriberServer
@testable import DescriberConfiguration

/// Paths and builders shared by the suites.
enum TestSupport {
    static let packageRoot: String = {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().path
    }()

    static let headerDirectory = packageRoot + "/Sources/CDescriberFunction/include"
    static let fixtureSource = packageRoot + "/Tests/DescriberHostTests/Fixtures/testfn.c"
    static let echoSource = packageRoot + "/functions/echo/echo.c"

    /// A scratch folder for this test process.
    static let scratch: String = {
        let path = NSTemporaryDirectory() + "describer-tests-\(getpid())"
        try? FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        return path
    }()

    private static let built = Mutex<[String: String]>([:])

    /// Compiles `source` with `defines` into a shared library, once per variant.
    /// `libraries` (`-l…`) follow the sources, as the linker needs.
    static func library(_ variant: String, source: String = fixtureSource, defines: [String] = [], extraFlags: [String] = [], libraries: [String] = []) throws -> String {
        try built.withLock { built in
            if let path = built[variant] { return path }
            let output = "\(scratch)/lib\(variant).so"
            let arguments = ["-std=c11", "-O1", "-fPIC", "-shared", "-fvisibility=hidden", "-Wl,-z,now", "-I", headerDirectory]
                + defines.map { "-D" + $0 } + extraFlags + ["-o", output, source] + libraries
            try run("/usr/bin/cc", arguments)
            built[variant] = output
            return output
        }
    }

    /// Runs `executable` to its end, its errors into a file.
    ///
    /// With `posix_spawn` and `waitpid`, not Foundation's `Process`: its
    /// `waitUntilExit` hears of the exit through libdispatch, whose threads
    /// are Swift's cooperative pool. When suites run in parallel, one test
    /// compiles while holding `built`'s lock and the others block on that
    /// lock; with every cooperative thread blocked, the exit was never
    /// heard and the run hung.
    static func run(_ executable: String, _ arguments: [String]) throws {
        let errorsPath = "\(scratch)/stderr-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: errorsPath) }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 2, errorsPath, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        let argv = ([executable] + arguments).map { strdup($0) } + [nil]
        defer { for argument in argv { free(argument) } }
        var pid: pid_t = 0
        let spawned = posix_spawn(&pid, executable, &actions, nil, argv, environ)
        guard spawned == 0 else { throw TestError("cannot start \(executable): \(String(cString: strerror(spawned)))") }
        var status: Int32 = 0
        while waitpid(pid, &status, 0) == -1 && errno == EINTR {}
        guard status == 0 else {
            let message = (try? String(contentsOfFile: errorsPath, encoding: .utf8)) ?? ""
            throw TestError("\(executable) \(arguments.joined(separator: " ")) failed (wait status \(status)): \(message)")
        }
    }

    /// Writes a functions folder holding one sub-folder per `manifests` entry.
    static func functionsDirectory(_ manifests: [String: String]) throws -> String {
        let root = "\(scratch)/functions-\(UUID().uuidString)"
        // Also for none: a deployment without functions still has the folder.
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
        for (name, manifest) in manifests {
            try FileManager.default.createDirectory(atPath: "\(root)/\(name)", withIntermediateDirectories: true)
            try manifest.write(toFile: "\(root)/\(name)/function.yaml", atomically: true, encoding: .utf8)
        }
        return root
    }

    static let logger: Logger = {
        var logger = Logger(label: "describer-tests")
        logger.logLevel = .critical
        return logger
    }()

    /// A host over `manifests`, with optional deployment overrides.
    static func host(_ manifests: [String: String], config: String? = nil, environment: [String: String] = [:]) throws -> FunctionHost {
        try deployment(manifests, config: config, environment: environment).host
    }

    /// A host over `manifests` and the whole deployment's configuration
    /// (the cameras', the DeepStack API's), with optional overrides.
    static func deployment(
        _ manifests: [String: String], config: String? = nil, environment: [String: String] = [:]
    ) throws -> (host: FunctionHost, deployment: DeploymentConfig) {
        let directory = try functionsDirectory(manifests)
        var node = ConfigNode.emptyMapping(ConfigOrigin(source: "test", line: nil))
        if let config { node = try ConfigNode.parseYAML(config, source: "describer.yaml") }
        var environment = environment
        // Never the user's own data directory.
        if config?.contains("data_directory") != true && environment["DESCRIBER_DATA_DIRECTORY"] == nil {
            environment["DESCRIBER_DATA_DIRECTORY"] = scratch + "/data"
        }
        node = node.overlaid(by: ConfigNode.environmentOverlay(environment, namedSections: DeploymentConfig.namedSections))
        var deployment = try DeploymentConfig(document: ConfigDocument(root: node))
        deployment.host.functionsDirectory = directory
        deployment.host.shutdownGrace = .seconds(2)
        deployment.host.port = 0
        return (try FunctionHost(config: deployment.host, logger: logger), deployment)
    }

    /// A manifest for the test function, with `extra` YAML appended.
    static func manifest(library: String, _ extra: String = "") -> String {
        """
        library: \(library)
        request_options:
          sleep_ms: { type: integer, min: 0, max: 60000 }
          fail: { type: string, values: [invalid, unsupported, failed] }
          silent: { type: bool }
        \(extra)
        """
    }

    static func request(_ text: String = "input", options: [(String, String)] = [], timeout: Duration? = nil) -> InvocationRequest {
        InvocationRequest(body: ByteBuffer(string: text), contentType: "text/plain", options: options, timeout: timeout)
    }
}

struct TestError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

extension InvocationOutput {
    var text: String { String(buffer: body) }

    /// Parses the test function's "instance=I batch=B index=K size=S".
    var fields: [String: Int] {
        var result: [String: Int] = [:]
        for pair in text.split(separator: " ") {
            let parts = pair.split(separator: "=")
            if parts.count == 2, let value = Int(parts[1]) { result[String(parts[0])] = value }
        }
        return result
    }
}

extension FunctionHost {
    /// Invokes and returns the result instead of throwing.
    func result(_ name: String, _ request: InvocationRequest) async -> Result<InvocationOutput, InvocationError> {
        do throws(InvocationError) {
            return .success(try await invoke(name, request))
        } catch {
            return .failure(error)
        }
    }
}

extension Result {
    var failure: Failure? {
        if case .failure(let error) = self { return error }
        return nil
    }
    var success: Success? {
        if case .success(let value) = self { return value }
        return nil
    }
}
