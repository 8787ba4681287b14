import CLibUV
import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A failed system call, with the call's name and errno's message.
struct SystemCallError: Error, Sendable, CustomStringConvertible {
    var call: String
    var code: Int32
    var description: String { "\(call) failed: \(String(cString: strerror(code)))" }
}

enum SystemCall {
    /// Runs `body` until it does not fail with EINTR; a negative result
    /// becomes a ``SystemCallError``. The one place C results become errors.
    @discardableResult
    static func retrying<T: BinaryInteger>(_ name: String, _ body: () -> T) throws(SystemCallError) -> T {
        while true {
            let result = body()
            if result >= 0 { return result }
            let code = errno
            if code == EINTR { continue }
            throw SystemCallError(call: name, code: code)
        }
    }
}

/// How a worker process ended, read from `wait4`.
struct WorkerTermination: Sendable, Equatable {
    enum Kind: Sendable, Equatable {
        case exited(Int32)
        case signaled(Int32)
        /// Someone else reaped it (ECHILD); nothing is known.
        case unknown
    }

    var kind: Kind
    /// User plus system CPU time the worker used, in seconds.
    var cpuSeconds: Double

    /// `SIGSEGV`, `exit` or `unknown`: the `signal` label of the crash counter.
    var label: String {
        switch kind {
        case .signaled(let signal): Self.signalName(signal)
        case .exited: "exit"
        case .unknown: "unknown"
        }
    }

    /// "died of SIGSEGV", "exited with status 3".
    var phrase: String {
        switch kind {
        case .signaled(let signal): "died of \(Self.signalName(signal))"
        case .exited(let status): "exited with status \(status)"
        case .unknown: "ended in an unknown way"
        }
    }

    static func signalName(_ signal: Int32) -> String {
        switch signal {
        case SIGSEGV: "SIGSEGV"
        case SIGABRT: "SIGABRT"
        case SIGBUS: "SIGBUS"
        case SIGFPE: "SIGFPE"
        case SIGILL: "SIGILL"
        case SIGKILL: "SIGKILL"
        case SIGTERM: "SIGTERM"
        case SIGINT: "SIGINT"
        case SIGHUP: "SIGHUP"
        case SIGQUIT: "SIGQUIT"
        case SIGPIPE: "SIGPIPE"
        case SIGXCPU: "SIGXCPU"
        case SIGXFSZ: "SIGXFSZ"
        case SIGSYS: "SIGSYS"
        case SIGTRAP: "SIGTRAP"
        case SIGUSR1: "SIGUSR1"
        case SIGUSR2: "SIGUSR2"
        case SIGALRM: "SIGALRM"
        default: "signal \(signal)"
        }
    }
}

/// Why the host itself killed a worker, so its death is not taken for a crash.
enum WorkerKillReason: Sendable, Equatable {
    /// A request it ran outlived its deadline.
    case deadline
    /// Shutdown's grace period ended while it was busy.
    case shutdown
    /// It sent a malformed or unexpected frame.
    case protocolViolation(String)
    /// It did not exit after DESTROY within the grace period.
    case destroyTimeout
}

/// One worker process: its pid and the host's end of its protocol socket.
///
/// The pid is killed only while the process is known not to have been reaped,
/// under the same lock as the reaping, so a recycled pid is never signalled.
final class WorkerProcess: Sendable {
    let pid: pid_t
    /// The host's end of the socketpair. Only the instance's thread reads or
    /// writes it; it is closed when the process is reaped.
    let socket: Int32

    private struct State {
        var reaped = false
        var killedBy: WorkerKillReason?
    }

    private let state = Mutex(State())

    private init(pid: pid_t, socket: Int32) {
        self.pid = pid
        self.socket = socket
    }

    /// Starts `executable` with the worker end of a new socketpair as fd 3,
    /// stdin from /dev/null, stdout onto the host's stderr, default signal
    /// handling, an empty signal mask, and its own process group (so a
    /// terminal's Ctrl-C reaches the host, which then shuts workers down in
    /// order, rather than killing them mid-request).
    static func spawn(executable: String, arguments: [String], environment: [String]) throws(SystemCallError) -> WorkerProcess {
        var fds: [Int32] = [-1, -1]
        #if canImport(Glibc)
        let type = Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue)
        #else
        let type = SOCK_STREAM
        #endif
        try SystemCall.retrying("socketpair") { socketpair(AF_UNIX, type, 0, &fds) }
        var hostEnd = fds[0]
        var workerEnd = fds[1]
        // dup2 onto the same number would leave close-on-exec set.
        if workerEnd == 3 {
            let moved = fcntl(workerEnd, F_DUPFD_CLOEXEC, 10)
            close(workerEnd)
            workerEnd = moved
        }
        if hostEnd == 3 || hostEnd < 0 || workerEnd < 0 {
            let moved = hostEnd >= 0 ? fcntl(hostEnd, F_DUPFD_CLOEXEC, 10) : -1
            if hostEnd >= 0 { close(hostEnd) }
            hostEnd = moved
        }
        defer { if workerEnd >= 0 { close(workerEnd) } }
        guard hostEnd >= 0, workerEnd >= 0 else {
            if hostEnd >= 0 { close(hostEnd) }
            throw SystemCallError(call: "fcntl(F_DUPFD_CLOEXEC)", code: errno)
        }

        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_adddup2(&actions, workerEnd, 3)
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_adddup2(&actions, 2, 1)

        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var noSignals = sigset_t()
        sigemptyset(&noSignals)
        posix_spawnattr_setsigmask(&attributes, &noSignals)
        var allSignals = sigset_t()
        sigfillset(&allSignals)
        sigdelset(&allSignals, SIGKILL)
        sigdelset(&allSignals, SIGSTOP)
        posix_spawnattr_setsigdefault(&attributes, &allSignals)
        posix_spawnattr_setpgroup(&attributes, 0)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETPGROUP))

        let argv = ([executable] + arguments).map { strdup($0) } + [nil]
        let envp = environment.map { strdup($0) } + [nil]
        defer {
            for pointer in argv { free(pointer) }
            for pointer in envp { free(pointer) }
        }
        var pid: pid_t = 0
        let status = posix_spawn(&pid, executable, &actions, &attributes, argv, envp)
        guard status == 0 else {
            close(hostEnd)
            throw SystemCallError(call: "posix_spawn \(executable)", code: status)
        }
        return WorkerProcess(pid: pid, socket: hostEnd)
    }

    /// Why the host killed it, if it did.
    var killReason: WorkerKillReason? { state.withLock { $0.killedBy } }

    /// Sends SIGTERM unless the process was already reaped: during create,
    /// the worker's `expired` then says the host gave up on it; at any other
    /// time it ends the worker, which is then counted as stopped by the host.
    func terminate(_ reason: WorkerKillReason) {
        state.withLock { state in
            guard !state.reaped else { return }
            if state.killedBy == nil { state.killedBy = reason }
            _ = signalProcess(pid, SIGTERM)
        }
    }

    /// Sends SIGKILL unless the process was already reaped. The first reason given is kept.
    func kill(_ reason: WorkerKillReason) {
        state.withLock { state in
            guard !state.reaped else { return }
            if state.killedBy == nil { state.killedBy = reason }
            _ = signalProcess(pid, SIGKILL)
        }
    }

    /// Waits for the process to exit, for at most `grace`, then kills it and
    /// waits for good. Closes the socket. Runs on the instance's own thread.
    func reap(grace: Duration) -> WorkerTermination {
        let giveUp = MonotonicClock.now() + grace.nanosecondsClamped
        var killed = false
        while true {
            var status: Int32 = 0
            var usage = rusage()
            let options = killed ? 0 : WNOHANG
            let result = wait4(pid, &status, options, &usage)
            if result == pid {
                let cpu =
                    Double(usage.ru_utime.tv_sec) + Double(usage.ru_utime.tv_usec) / 1e6
                    + Double(usage.ru_stime.tv_sec) + Double(usage.ru_stime.tv_usec) / 1e6
                return finish(WorkerTermination(kind: Self.decode(status), cpuSeconds: cpu))
            }
            if result < 0 {
                if errno == EINTR { continue }
                return finish(WorkerTermination(kind: .unknown, cpuSeconds: 0))
            }
            if MonotonicClock.now() >= giveUp && !killed {
                state.withLock { _ in _ = signalProcess(pid, SIGKILL) }
                killed = true
            } else {
                usleep(500)
            }
        }
    }

    private func finish(_ termination: WorkerTermination) -> WorkerTermination {
        state.withLock { $0.reaped = true }
        close(socket)
        return termination
    }

    /// WIFEXITED/WEXITSTATUS/WIFSIGNALED/WTERMSIG, which Swift does not import.
    static func decode(_ status: Int32) -> WorkerTermination.Kind {
        let signal = status & 0x7f
        if signal == 0 { return .exited((status >> 8) & 0xff) }
        if signal != 0x7f { return .signaled(signal) }
        return .unknown
    }
}

/// `kill(2)`, named apart from ``WorkerProcess/kill(_:)``.
private func signalProcess(_ pid: pid_t, _ signal: Int32) -> Int32 { kill(pid, signal) }
