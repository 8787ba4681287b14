import DescriberTesting
import Foundation
import TestSupport

/// `describer serve` as a user runs it: the built executable, on a free
/// port of 127.0.0.1, with the repository's functions and voices (so
/// `make -C functions` must have run), in its own process.
///
/// Spawned with `posix_spawn`, its output in a file, for the reason
/// ``ChildProcess`` gives: Foundation's `Process` can miss a child's exit.
package final class ServedDescriber: Sendable {
    package let url: String
    package let log: String
    private let pid: pid_t

    /// Starts the server and waits until every function is pre-warmed.
    /// - Parameter environment: extra variables, such as `DESCRIBER_SERVER__API_TOKEN`.
    package init(environment extra: [String: String] = [:]) async throws {
        let port = try TestSupport.freePort()
        url = "http://127.0.0.1:\(port)"
        log = "\(TestSupport.scratch)/serve-\(UUID().uuidString).log"
        var environment = ProcessInfo.processInfo.environment.filter { !$0.key.hasPrefix("DESCRIBER_") }
        environment["DESCRIBER_DATA_DIRECTORY"] = TestSupport.scratch + "/data"
        environment.merge(extra) { $1 }
        let arguments = [
            Executables.executable, "serve", "--port", "\(port)", "--functions", TestSupport.packageRoot + "/functions",
            "--voices", TestSupport.packageRoot + "/voices",
        ]
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, log, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        posix_spawn_file_actions_adddup2(&actions, 1, 2)
        let argv = arguments.map { strdup($0) } + [nil]
        defer { for argument in argv { free(argument) } }
        let envp = environment.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer { for variable in envp { free(variable) } }
        var pid: pid_t = 0
        let spawned = posix_spawn(&pid, Executables.executable, &actions, nil, argv, envp)
        guard spawned == 0 else { throw TestError("cannot start describer serve: \(String(cString: strerror(spawned)))") }
        self.pid = pid
        // Pre-warming loads every function (the models too): allow a busy machine a minute.
        for _ in 0..<600 {
            if output.contains("Function host ready") { return }
            var status: Int32 = 0
            if waitpid(pid, &status, WNOHANG) == pid { throw TestError("describer serve exited early:\n\(output)") }
            try await Task.sleep(for: .milliseconds(100))
        }
        stop()
        throw TestError("describer serve was not ready within a minute:\n\(output)")
    }

    package var output: String { (try? String(contentsOfFile: log, encoding: .utf8)) ?? "" }

    /// Stops it as a service manager would (SIGTERM) and waits for its exit.
    package func stop() {
        guard kill(pid, SIGTERM) == 0 else { return }
        var status: Int32 = 0
        while waitpid(pid, &status, 0) == -1 && errno == EINTR {}
    }
}
