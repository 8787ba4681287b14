import Foundation
import Synchronization

/// Compiles a function written in C into a shared library against the ABI
/// header, as a plugin's own build would, so that a test can load it.
public enum FunctionLibraryBuilder {
    /// The folder holding `describer_function.h`, for `-I`.
    public static let abiHeaderDirectory: String = {
        // This file is Sources/DescriberTesting/FunctionLibraryBuilder.swift
        // in the describer package, wherever that package was checked out.
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("CDescriberFunction/include").path
    }()

    private static let built = Mutex<[String: String]>([:])

    /// Compiles `sources` with `/usr/bin/cc` into `lib<variant>.so` in the
    /// scratch folder, once per variant for the life of the process.
    /// - Parameters:
    ///   - variant: names the library; a second call with it returns the first build.
    ///   - defines: `-D` definitions, without the `-D`.
    ///   - extraFlags: further compiler flags.
    ///   - libraries: linker inputs (`-l…`), placed after the sources as the linker needs.
    /// - Returns: the library's path.
    public static func build(
        _ variant: String, sources: [String], defines: [String] = [], extraFlags: [String] = [], libraries: [String] = []
    ) throws -> String {
        try built.withLock { built in
            if let path = built[variant] { return path }
            let output = "\(TestScratch.path)/lib\(variant).so"
            let arguments =
                ["-std=c11", "-O1", "-fPIC", "-shared", "-fvisibility=hidden", "-Wl,-z,now", "-I", abiHeaderDirectory]
                + defines.map { "-D" + $0 } + extraFlags + ["-o", output] + sources + libraries
            try ChildProcess.run("/usr/bin/cc", arguments)
            built[variant] = output
            return output
        }
    }
}
