import DescriberTesting
import Foundation
import TestSupport

#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// `describer serve`, the built executable, run as a user runs it: on a port
/// of its own, with a configuration file, until it is stopped. What it logs
/// goes to a file, for the reason when something goes wrong.
///
/// Started with `posix_spawn`, not Foundation's `Process`, for the reason
/// ``ChildProcess`` gives; it is reaped by ``stop()``, which says how it ended.
package final class LiveServer: @unchecked Sendable {
    package let port: Int
    package let log: String
    private let pid: pid_t
    private var ended: ChildProcess.Outcome.Termination?
    private var status: Int32 = 0

    package var baseURL: String { "http://127.0.0.1:\(port)" }

    /// Starts `describer serve --config CONFIG --port PORT` with the
    /// environment's `DESCRIBER_…` variables left out, and waits until
    /// `/readyz` answers 200 (every function pre-warmed).
    package static func start(config: String, port: Int, timeout: Duration = .seconds(60)) async throws -> LiveServer {
        try await start(arguments: ["--config", config], port: port, timeout: timeout)
    }

    /// Starts it on a free port with the repository's functions and voices
    /// (so `make -C functions` must have run), its data in a new folder in
    /// the scratch folder, `environment` (such as `DESCRIBER_SERVER__API_TOKEN`) set,
    /// and `arguments` (such as `--log-level debug`) after the others.
    package static func start(
        environment: [String: String] = [:], arguments extra: [String] = [], timeout: Duration = .seconds(60)
    ) async throws -> LiveServer {
        let arguments = ["--functions", TestSupport.packageRoot + "/functions", "--voices", TestSupport.packageRoot + "/voices"] + extra
        var environment = environment
        // A folder of its own: servers started side by side must not share their databases.
        environment["DESCRIBER_DATA_DIRECTORY"] = try environment["DESCRIBER_DATA_DIRECTORY"] ?? TestScratch.folder("data")
        return try await start(arguments: arguments, environment: environment, port: try TestSupport.freePort(), timeout: timeout)
    }

    private static func start(
        arguments extra: [String], environment extraEnvironment: [String: String] = [:], port: Int, timeout: Duration
    ) async throws -> LiveServer {
        let log = "\(TestScratch.path)/serve-\(UUID().uuidString).log"
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, log, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        posix_spawn_file_actions_adddup2(&actions, 1, 2)
        let executable = Executables.executable
        let arguments: [String] = [executable, "serve", "--port", String(port)] + extra
        let argv = arguments.map { strdup($0) } + [nil]
        defer { for argument in argv { free(argument) } }
        let environment = ProcessInfo.processInfo.environment.filter { !$0.key.hasPrefix("DESCRIBER_") }.merging(extraEnvironment) { $1 }
        let envp = environment.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer { for variable in envp { free(variable) } }
        var pid: pid_t = 0
        let spawned = posix_spawn(&pid, executable, &actions, nil, argv, envp)
        guard spawned == 0 else { throw TestError("cannot start \(executable): \(String(cString: strerror(spawned)))") }
        let server = LiveServer(port: port, log: log, pid: pid)
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            guard server.isRunning else { throw TestError("describer serve ended before it was ready:\n\(server.logTail())") }
            if await server.status(of: "/readyz") == 200 { return server }
            try await Task.sleep(for: .milliseconds(100))
        }
        _ = server.stop()
        throw TestError("describer serve was not ready within \(timeout):\n\(server.logTail())")
    }

    private init(port: Int, log: String, pid: pid_t) {
        self.port = port
        self.log = log
        self.pid = pid
    }

    /// The status `GET path` answers, or nil when nothing answers.
    package func status(of path: String) async -> Int? {
        guard let url = URL(string: baseURL + path), let (_, response) = try? await URLSession.shared.data(from: url) else { return nil }
        return (response as? HTTPURLResponse)?.statusCode
    }

    /// Whether the process is still running (false once it has ended, for whatever reason).
    package var isRunning: Bool {
        if ended != nil { return false }
        var raw: Int32 = 0
        guard waitpid(pid, &raw, WNOHANG) == pid else { return true }
        record(raw)
        return false
    }

    /// Stops the server as a service manager does (SIGTERM) and waits for it;
    /// answers how it ended: `.exit` with status 0 for a graceful shutdown.
    /// A server that had already ended (a crash) answers how it ended then.
    @discardableResult
    package func stop() -> (termination: ChildProcess.Outcome.Termination, status: Int32) {
        if isRunning {
            kill(pid, SIGTERM)
            var raw: Int32 = 0
            while waitpid(pid, &raw, 0) == -1 && errno == EINTR {}
            record(raw)
        }
        return (ended ?? .exit, status)
    }

    private func record(_ raw: Int32) {
        // WIFSIGNALED and WTERMSIG are macros Swift does not import.
        let signal = raw & 0x7F
        let signalled = signal != 0 && signal != 0x7F
        ended = signalled ? .uncaughtSignal : .exit
        status = signalled ? signal : (raw >> 8) & 0xFF
    }

    /// The end of what the server logged.
    package func logTail(lines: Int = 40) -> String {
        let text = (try? String(contentsOfFile: log, encoding: .utf8)) ?? ""
        return text.split(separator: "\n", omittingEmptySubsequences: false).suffix(lines).joined(separator: "\n")
    }
}
