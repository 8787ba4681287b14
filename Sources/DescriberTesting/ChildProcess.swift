import Foundation

/// Runs a program to its end for a test.
///
/// With `posix_spawn` and `waitpid`, and files rather than pipes for its
/// output, not Foundation's `Process`: its `waitUntilExit` hears of the exit
/// through libdispatch and a run loop, and a test blocking a cooperative
/// thread in it while the others were blocked too never heard of it (a
/// parallel run hung, and a serial one once, with the child a zombie).
public enum ChildProcess {
    /// How a program ended, and what it printed.
    public struct Outcome: Sendable {
        public enum Termination: Sendable, Equatable { case exit, uncaughtSignal }
        /// The exit status, or the signal's number.
        public var status: Int32
        public var reason: Termination
        public var stdout: String
        public var stderr: String
    }

    /// Runs `executable` with `arguments`, `input` on its standard input
    /// (none: empty), and `environment` (nil: this process's).
    public static func outcome(
        _ executable: String, _ arguments: [String], input: String? = nil, environment: [String: String]? = nil
    ) throws -> Outcome {
        let base = "\(TestScratch.path)/child-\(UUID().uuidString)"
        let paths = (stdin: base + ".in", stdout: base + ".out", stderr: base + ".err")
        try (input ?? "").write(toFile: paths.stdin, atomically: false, encoding: .utf8)
        defer { for path in [paths.stdin, paths.stdout, paths.stderr] { try? FileManager.default.removeItem(atPath: path) } }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, paths.stdin, O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, paths.stdout, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        posix_spawn_file_actions_addopen(&actions, 2, paths.stderr, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        let argv = ([executable] + arguments).map { strdup($0) } + [nil]
        defer { for argument in argv { free(argument) } }
        let envp = environment.map { $0.map { strdup("\($0.key)=\($0.value)") } + [nil] }
        defer { for variable in envp ?? [] { free(variable) } }
        var pid: pid_t = 0
        let spawned =
            envp.map { envp in posix_spawn(&pid, executable, &actions, nil, argv, envp) } ?? posix_spawn(&pid, executable, &actions, nil, argv, environ)
        guard spawned == 0 else { throw TestingError("cannot start \(executable): \(String(cString: strerror(spawned)))") }
        var status: Int32 = 0
        while waitpid(pid, &status, 0) == -1 && errno == EINTR {}
        let read = { (path: String) in (try? String(contentsOfFile: path, encoding: .utf8)) ?? "" }
        // WIFSIGNALED and WTERMSIG are macros Swift does not import.
        let signal = status & 0x7F
        let signalled = signal != 0 && signal != 0x7F
        return Outcome(
            status: signalled ? signal : (status >> 8) & 0xFF, reason: signalled ? .uncaughtSignal : .exit,
            stdout: read(paths.stdout), stderr: read(paths.stderr)
        )
    }

    /// Runs `executable` with `arguments`; throws with its standard error
    /// when it does not exit with 0.
    public static func run(_ executable: String, _ arguments: [String]) throws {
        let outcome = try outcome(executable, arguments)
        guard outcome.reason == .exit, outcome.status == 0 else {
            throw TestingError("\(executable) \(arguments.joined(separator: " ")) failed (\(outcome.reason) \(outcome.status)): \(outcome.stderr)")
        }
    }
}

/// A test's set-up that could not be done, with the reason.
public struct TestingError: Error, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}
