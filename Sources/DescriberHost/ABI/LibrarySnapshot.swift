import Foundation
import Synchronization

/// A private copy of a function's library, beside it, that one loaded
/// version of the function opens instead of the file itself.
///
/// Why: a build tool or `cp` that overwrites the library in place rewrites
/// the pages of every process that has it mapped, and code running there
/// dies of SIGBUS; and the dynamic loader hands back the version already
/// mapped when the same path is opened again, so a hot reload could never
/// load a new build. A copy is never written to. It sits beside the original
/// (a hidden file) so that `$ORIGIN` in the library still finds its
/// neighbours.
///
/// The copy is removed when the snapshot is released; processes that opened
/// it keep their mapping. Copies left behind by a host that was killed are
/// removed the next time a snapshot of the same library is made: those of a
/// process that no longer exists, and those under this process's own pid
/// that it did not make (a container's host is pid 1 on every run).
final class LibrarySnapshot: Sendable {
    /// The library the copy was made from.
    let original: String
    /// The copy.
    let path: String

    /// The copies this process made and still holds.
    private static let own = Mutex<Set<String>>([])

    /// Copies `original`; nil when no copy can be made beside it (a
    /// read-only folder), in which case the original is used as it is.
    init?(of original: String) {
        let url = URL(fileURLWithPath: original)
        let folder = url.deletingLastPathComponent().path
        let prefix = ".\(url.lastPathComponent)."
        Self.removeAbandoned(in: folder, prefix: prefix)
        // The pid says whose it is; the random part keeps a restarted host
        // with the same pid from colliding with its predecessor's copies.
        let path = "\(folder)/\(prefix)\(getpid())-\(UUID().uuidString)"
        do {
            try FileManager.default.copyItem(atPath: original, toPath: path)
        } catch {
            return nil
        }
        self.original = original
        self.path = path
        _ = Self.own.withLock { $0.insert(path) }
    }

    deinit {
        unlink(path)
        _ = Self.own.withLock { $0.remove(path) }
    }

    /// `message` with the copy's path replaced by the original's, for errors
    /// users read.
    func naming(_ message: String) -> String {
        message.replacingOccurrences(of: path, with: original)
    }

    /// Removes copies whose host process is gone.
    private static func removeAbandoned(in folder: String, prefix: String) {
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: folder) else { return }
        let own = Self.own.withLock { $0 }
        for name in names where name.hasPrefix(prefix) {
            let path = "\(folder)/\(name)"
            let owner = name.dropFirst(prefix.count).prefix { $0 != "-" }
            guard let pid = pid_t(owner), !own.contains(path) else { continue }
            let abandoned = pid == getpid() || (kill(pid, 0) != 0 && errno == ESRCH)
            if abandoned { unlink(path) }
        }
    }
}
