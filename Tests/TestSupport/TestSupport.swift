import DescriberConfiguration
import DescriberHost
import DescriberTesting
import Foundation
import Logging
import NIOCore
import Testing

/// This repository's paths and builders, shared by the suites, over the
/// public ``DescriberTesting`` module a plugin author uses too.
package enum TestSupport {
    package static let packageRoot: String = {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().path
    }()

    /// The committed test photos, test functions and their notices.
    package static let fixtures = packageRoot + "/Tests/Fixtures"
    package static let fixtureSource = fixtures + "/testfn.c"
    package static let echoSource = packageRoot + "/functions/echo/echo.c"

    /// A scratch folder for this test process.
    package static var scratch: String { TestScratch.path }

    /// Compiles `source` with `defines` into a shared library, once per variant.
    /// `libraries` (`-l…`) follow the sources, as the linker needs.
    package static func library(
        _ variant: String, source: String = fixtureSource, defines: [String] = [], extraFlags: [String] = [], libraries: [String] = []
    ) throws -> String {
        try FunctionLibraryBuilder.build(variant, sources: [source], defines: defines, extraFlags: extraFlags, libraries: libraries)
    }

    /// Writes a functions folder holding one sub-folder per `manifests` entry.
    package static func functionsDirectory(_ manifests: [String: String]) throws -> String {
        try TestHost.functionsFolder(manifests)
    }

    package static var logger: Logger { TestHost.quietLogger }

    /// A host over `manifests`, with optional deployment overrides of the host's sections.
    package static func host(_ manifests: [String: String], config: String? = nil, environment: [String: String] = [:]) throws -> FunctionHost {
        try TestHost.make(manifests, config: config, environment: environment)
    }

    /// A manifest for the test function, with `extra` YAML appended.
    package static func manifest(library: String, _ extra: String = "") -> String {
        """
        library: \(library)
        request_options:
          sleep_ms: { type: integer, min: 0, max: 60000 }
          stubborn: { type: bool }
          fail: { type: string, values: [invalid, unsupported, failed] }
          silent: { type: bool }
        \(extra)
        """
    }

    /// The RGB test function, which reports the geometry of the pixels it was given.
    package static func rgbManifest(_ extra: String = "") throws -> String {
        "library: \(try TestSupport.library("rgbfn", source: TestSupport.fixtures + "/rgbfn.c"))\n\(extra)"
    }

    /// The test function in worker processes, with `extra` manifest YAML.
    package static func workerManifest(_ extra: String = "") throws -> String {
        // The first line continues TestSupport's request_options.
        TestSupport.manifest(
            library: try library("good"),
            "  misbehave: { type: string, values: [segfault, abort, exit, hang, busy, huge, log, alloc, long_type, long_error] }\nisolation: process\n\(extra)")
    }

    /// A port on 127.0.0.1 that nothing listens on, as the kernel chose it.
    package static func freePort() throws -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) == 0 && getsockname(fd, $0, &length) == 0 }
        }
        guard bound else { throw TestError("cannot find a free port") }
        return Int(UInt16(bigEndian: address.sin_port))
    }

    package static func request(_ text: String = "input", options: [(String, String)] = [], timeout: Duration? = nil) -> InvocationRequest {
        InvocationRequest(body: ByteBuffer(string: text), contentType: "text/plain", options: options, timeout: timeout)
    }
}

package typealias TestError = TestingError

/// Polls `condition` every 10 ms for up to 10 s; a test that depends on a
/// background transition waits for it instead of sleeping a fixed time.
package func waitUntil(_ condition: () -> Bool, sourceLocation: SourceLocation = #_sourceLocation) async throws {
    for _ in 0..<1000 {
        if condition() { return }
        try await Task.sleep(for: .milliseconds(10))
    }
    Issue.record("condition not met within 10 s", sourceLocation: sourceLocation)
}

extension InvocationOutput {
    package var text: String { String(buffer: body) }

    /// Parses the test function's "instance=I batch=B index=K size=S".
    package var fields: [String: Int] {
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
    package func result(_ name: String, _ request: InvocationRequest) async -> Result<InvocationOutput, InvocationError> {
        do throws(InvocationError) {
            return .success(try await invoke(name, request))
        } catch {
            return .failure(error)
        }
    }
}

extension Result {
    package var failure: Failure? {
        if case .failure(let error) = self { return error }
        return nil
    }
    package var success: Success? {
        if case .success(let value) = self { return value }
        return nil
    }
}
