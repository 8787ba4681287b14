import DescriberHost
import DescriberTesting
import Foundation
import NIOCore
import TestSupport
import Testing

/// The harness a function's author tests a plugin with, used as such an
/// author would: no `@testable` import, only `DescriberTesting` and
/// `DescriberHost` (and this repository's path to the example's source).
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

    @Test func aBuildFailureCarriesTheCompilersComplaint() throws {
        let source = try TestScratch.folder("broken") + "/broken.c"
        try "int broken(void) { return missing_symbol; }\n".write(toFile: source, atomically: true, encoding: .utf8)
        let error = #expect(throws: TestingError.self) {
            try FunctionLibraryBuilder.build("harness-broken", sources: [source])
        }
        #expect(
            error?.description.contains("'missing_symbol' undeclared") == true || error?.description.contains("‘missing_symbol’ undeclared") == true,
            "\(String(describing: error))")
    }
}
