import DescriberHost
import Logging
import NIOCore

/// One function library loaded into a real host and fed requests, without a
/// server: how a function's author tests a plugin.
///
/// ```swift
/// let library = try FunctionLibraryBuilder.build("upper", sources: ["upper.c"])
/// try await FunctionHarness(library: library).run { harness in
///     let output = try await harness.invoke("hello")
///     #expect(String(buffer: output.body) == "HELLO")
/// }
/// ```
///
/// The harness goes through the host's whole path: the manifest's checks,
/// the ABI's validation, instance creation with the `options`, scheduling,
/// batching and deadlines, and (with `isolation: process`) worker processes.
public struct FunctionHarness: Sendable {
    /// The function's name in the host.
    public let name: String
    /// The host the function is loaded into.
    public let host: FunctionHost

    /// Loads `library` as function `name`, with `manifest` (further keys of
    /// `function.yaml`, such as `options:` or `scaling:`) and the host's
    /// deployment `config`.
    public init(library: String, name: String = "function", manifest: String = "", config: String? = nil, logger: Logger = TestHost.quietLogger) throws {
        self.name = name
        host = try TestHost.make([name: "library: \(library)\n\(manifest)"], config: config, logger: logger)
    }

    /// Why the function cannot be invoked, if it cannot (its manifest or
    /// library was refused): the message the host would report.
    public var problem: String? { host.entries[name]?.problem }

    /// Starts the host (pre-warming `min_instances`), runs `body`, and shuts
    /// the host down, whether `body` returns or throws.
    public func run<T>(_ body: (FunctionHarness) async throws -> T) async throws -> T {
        try await host.run { _ in try await body(self) }
    }

    /// Invokes the function with `body`, as `POST /v1/functions/{name}/invoke` would.
    /// - Parameters:
    ///   - options: per-request options, checked against the manifest's `request_options`.
    ///   - timeout: the deadline, at most the manifest's `timeout.maximum`.
    public func invoke(
        _ body: ByteBuffer, contentType: String = "application/octet-stream", options: [(String, String)] = [], timeout: Duration? = nil
    ) async throws(InvocationError) -> InvocationOutput {
        try await host.invoke(name, InvocationRequest(body: body, contentType: contentType, options: options, timeout: timeout))
    }

    /// Invokes the function with `text` as `text/plain`.
    public func invoke(_ text: String, options: [(String, String)] = [], timeout: Duration? = nil) async throws(InvocationError) -> InvocationOutput {
        try await invoke(ByteBuffer(string: text), contentType: "text/plain", options: options, timeout: timeout)
    }
}
