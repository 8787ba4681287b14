import DescriberHost
import DescriberTesting
import NIOCore
import TestSupport
import Testing

/// The harness a function's author tests a plugin with, used as such an
/// author would: through the public API of `DescriberTesting` and
/// `DescriberHost` alone, on the example function built from its source.
@Suite struct FunctionHarnessTests {
    static func echo() throws -> String {
        try FunctionLibraryBuilder.build("harness-echo", sources: [TestSupport.echoSource])
    }

    @Test func feedsAFunctionRequestsThroughTheRealHost() async throws {
        let manifest = """
            options: { prefix: "> " }
            request_options: { upper: { type: bool }, repeat: { type: integer, min: 1, max: 8 } }
            """
        try await FunctionHarness(library: try Self.echo(), name: "echo", manifest: manifest).run { harness in
            let output = try await harness.invoke("hello", options: [("upper", "true"), ("repeat", "2")])
            #expect(String(buffer: output.body) == "> HELLOHELLO")
            #expect(output.contentType == "text/plain")
            let refused = await #expect(throws: InvocationError.self) {
                try await harness.invoke("hello", options: [("repeat", "9")])
            }
            #expect(refused?.code == .badOption, "the manifest's request_options are enforced")
        }
    }

    @Test func reportsWhyALibraryIsRefused() throws {
        let harness = try FunctionHarness(library: "/nonexistent/libnothing.so")
        let problem = try #require(harness.problem)
        #expect(problem.contains("/nonexistent/libnothing.so"), "\(problem)")
    }

    @Test func aBuildFailureNamesTheCompilersComplaint() {
        let error = #expect(throws: TestingError.self) {
            try FunctionLibraryBuilder.build("harness-broken", sources: [TestSupport.fixtures + "/images/NOTICE.md"])
        }
        #expect(error?.description.contains("/usr/bin/cc") == true, "\(String(describing: error))")
    }
}
