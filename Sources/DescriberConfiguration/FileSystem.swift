import CLibUV  // where Swift finds struct stat in this module graph
import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// The few file-system reads configuration needs, in one place.
package enum FileSystem {
    package static func readText(_ path: String) throws -> String {
        try String(contentsOfFile: path, encoding: .utf8)
    }

    package static func directory(of path: String) -> String {
        let url = URL(fileURLWithPath: path)
        return url.deletingLastPathComponent().path
    }

    package static func isDirectory(_ path: String) -> Bool {
        var isDirectory: ObjCBool = false
        return FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) && isDirectory.boolValue
    }

    package static func exists(_ path: String) -> Bool {
        FileManager.default.fileExists(atPath: path)
    }

    /// Names of the sub-folders of `path`, sorted.
    package static func subdirectories(of path: String) throws -> [String] {
        try FileManager.default.contentsOfDirectory(atPath: path)
            .filter { !$0.hasPrefix(".") && isDirectory(path + "/" + $0) }
            .sorted()
    }

    /// Names of the regular files in `path` ending in `.extension`, sorted.
    package static func files(in path: String, withExtension fileExtension: String) throws -> [String] {
        try FileManager.default.contentsOfDirectory(atPath: path)
            .filter { !$0.hasPrefix(".") && $0.hasSuffix("." + fileExtension) && !isDirectory(path + "/" + $0) }
            .sorted()
    }

    package static func absolute(_ path: String) -> String {
        URL(fileURLWithPath: path).standardizedFileURL.path
    }

    /// Which file is at `path` and what state it is in: device, inode, size
    /// and modification time to the nanosecond, or "missing". Any write or
    /// replacement of the file changes it.
    package static func fingerprint(_ path: String) -> String {
        var status = stat()
        guard stat(path, &status) == 0 else { return "missing" }
        return "\(status.st_dev):\(status.st_ino):\(status.st_size):\(status.st_mtim.tv_sec).\(status.st_mtim.tv_nsec)"
    }
}
