import Foundation

/// A scratch folder for this test process, created on first use and left
/// for the operating system's temporary-file cleaning: a failed test's
/// libraries, manifests and logs stay there to be looked at.
public enum TestScratch {
    public static let path: String = {
        let path = NSTemporaryDirectory() + "describer-tests-\(getpid())"
        try? FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        return path
    }()

    /// A new, empty folder inside ``path``.
    public static func folder(_ prefix: String) throws -> String {
        let folder = "\(path)/\(prefix)-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        return folder
    }
}
