import CCrashGuard
import DescriberConfiguration
import Foundation
import Logging
import Synchronization

/// What the host remembers of in-process functions that crashed it.
///
/// An in-process function that segfaults takes the host down with it. A
/// signal handler (CCrashGuard) appends a line naming the function that was
/// running on the crashing thread to `crashed-functions.tsv` in the data
/// directory before the signal goes on to kill the process. On the next
/// start, a function with a line there runs in worker processes instead,
/// where a crash costs one request, and the host says so in its log and in
/// `GET /v1/functions/{name}`.
///
/// A line names the library file's identity (device, inode, size, mtime):
/// a rebuilt or replaced library gets a fresh chance in process. Deleting the
/// file forgets every crash.
///
/// Line format: `NAME \t FINGERPRINT \t SIGNAL \t UNIX_SECONDS`.
final class CrashMemory: Sendable {
    struct Crash: Sendable, Equatable {
        var function: String
        var libraryFingerprint: String
        var signal: Int32
        var time: Date

        /// "SIGSEGV at 2026-11-25T17:02:03Z".
        var summary: String {
            "\(WorkerTermination.signalName(signal)) at \(time.formatted(.iso8601))"
        }
    }

    static let fileName = "crashed-functions.tsv"

    let path: String
    /// The crashes recorded before this start, latest per function.
    let crashes: [String: Crash]
    /// The crash log, open for appending, or nil when it could not be
    /// opened (then crashes go unrecorded, which the log says once).
    private let descriptor: Int32?

    /// Reads the crash log in `dataDirectory` and installs the signal handler.
    init(dataDirectory: String, logger: Logger) {
        let path = dataDirectory + "/" + Self.fileName
        self.path = path
        crashes = Self.read(path, logger: logger)
        do {
            try FileManager.default.createDirectory(atPath: dataDirectory, withIntermediateDirectories: true)
        } catch {
            logger.warning(
                "In-process crashes will not be remembered: the data directory cannot be created", metadata: ["path": "\(dataDirectory)", "reason": "\(error)"])
        }
        let descriptor = Self.openedLogs.withLock { opened in
            if let existing = opened[path] { return existing }
            let fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0o644)
            if fd >= 0 { opened[path] = fd }
            return fd
        }
        if descriptor < 0 {
            logger.warning(
                "In-process crashes will not be remembered: the crash log cannot be opened",
                metadata: ["path": "\(path)", "reason": "\(String(cString: strerror(errno)))"])
            self.descriptor = nil
        } else {
            self.descriptor = descriptor
            let status = describer_crash_guard_install()
            if status != 0 {
                logger.warning(
                    "In-process crashes will not be remembered: the signal handler cannot be installed",
                    metadata: ["reason": "\(String(cString: strerror(status)))"])
            }
        }
    }

    /// Crash logs opened by this process, by path. Never closed: a crashing
    /// thread may write to one at any moment, and hosts in one process (tests)
    /// share a log rather than each holding a descriptor.
    private static let openedLogs = Mutex<[String: Int32]>([:])

    /// The crash recorded for `function` with the library as it is now, if any.
    func crash(of function: String, libraryPath: String) -> Crash? {
        guard let crash = crashes[function], crash.libraryFingerprint == FileSystem.fingerprint(libraryPath) else { return nil }
        return crash
    }

    /// What the signal handler writes if `function`, loaded from
    /// `libraryPath` in its current state, crashes; nil when crashes cannot
    /// be recorded. Made once per load and never freed, because a thread may
    /// hold it at the moment of a crash.
    func marker(function: String, libraryPath: String) -> CrashMarker? {
        guard let descriptor else { return nil }
        let fingerprint = FileSystem.fingerprint(libraryPath)
        // Function names are [a-z0-9-] and fingerprints digits, ':' and '.',
        // so neither can break the line format.
        let prefix = "\(function)\t\(fingerprint)\t"
        let text = strdup(prefix)!
        let marker = UnsafeMutablePointer<describer_crash_marker>.allocate(capacity: 1)
        marker.initialize(to: describer_crash_marker(fd: descriptor, prefix: text, prefix_size: strlen(text)))
        return CrashMarker(pointer: marker)
    }

    static func read(_ path: String, logger: Logger) -> [String: Crash] {
        guard let text = try? FileSystem.readText(path) else { return [:] }
        var crashes: [String: Crash] = [:]
        for line in text.split(separator: "\n") {
            let fields = line.split(separator: "\t", omittingEmptySubsequences: false)
            guard fields.count == 4, let signal = Int32(fields[2]), let seconds = TimeInterval(fields[3]) else {
                logger.warning("Skipping an unreadable line of the crash log", metadata: ["path": "\(path)", "line": "\(line)"])
                continue
            }
            crashes[String(fields[0])] = Crash(
                function: String(fields[0]), libraryFingerprint: String(fields[1]), signal: signal,
                time: Date(timeIntervalSince1970: seconds)
            )
        }
        return crashes
    }
}

/// The crash guard's record for one loaded in-process function.
struct CrashMarker: @unchecked Sendable {
    // Immutable after creation and never freed, so sharing it is sound.
    let pointer: UnsafePointer<describer_crash_marker>

    init(pointer: UnsafeMutablePointer<describer_crash_marker>) { self.pointer = UnsafePointer(pointer) }

    /// Runs `body` (a call into the function) marked as this function's.
    @inline(__always)
    func running<T, E: Error>(_ body: () throws(E) -> T) throws(E) -> T {
        describer_crash_guard_enter(pointer)
        defer { describer_crash_guard_leave() }
        return try body()
    }
}

extension Optional where Wrapped == CrashMarker {
    /// Runs `body` marked as the function's, or plainly without a marker.
    @inline(__always)
    func running<T, E: Error>(_ body: () throws(E) -> T) throws(E) -> T {
        switch self {
        case .some(let marker): try marker.running(body)
        case .none: try body()
        }
    }
}
