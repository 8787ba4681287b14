import Foundation
import ServerTestSupport
import TestSupport
import Testing

@testable import DescriberHost
@testable import DescriberTesting

/// In-process crash memory with real crashes of the `describer` executable.
@Suite struct CrashMemoryEndToEndTests {
    /// The whole story, with real crashes of the `describer` executable.
    @Test func aHostKilledByAnInProcessCrashRemembersWhichFunction() throws {
        let functions = try TestSupport.functionsDirectory([
            "crashy": TestSupport.manifest(library: try TestSupport.library("good"), "  misbehave: { type: string }")
        ])
        let data = "\(TestSupport.scratch)/data-\(UUID().uuidString)"
        let environment = ["DESCRIBER_DATA_DIRECTORY": data, "SWIFT_BACKTRACE": "enable=no"]
        let crashed = try Executables.run(
            ["invoke", "crashy", "-", "--option", "misbehave=segfault", "--functions", functions], input: "x", environment: environment
        )
        #expect(crashed.reason == .uncaughtSignal && crashed.status == SIGSEGV, "\(crashed.stderr)")
        let log = try String(contentsOfFile: data + "/" + CrashMemory.fileName, encoding: .utf8)
        #expect(log.hasPrefix("crashy\t") && log.contains("\t\(SIGSEGV)\t"), "\(log)")

        let listed = try Executables.run(["functions", "--functions", functions], environment: environment)
        #expect(
            listed.stdout.contains("crashy\tnotice\truns in worker processes instead of in-process because it crashed the host (SIGSEGV at "),
            "\(listed.stdout)")

        // The same crash now costs one request, not the host.
        let contained = try Executables.run(
            ["invoke", "crashy", "-", "--option", "misbehave=segfault", "--functions", functions], input: "x", environment: environment
        )
        #expect(contained.reason == .exit && contained.status == 1)
        #expect(contained.stderr.contains("function_crashed"), "\(contained.stderr)")
        let good = try Executables.run(["invoke", "crashy", "-", "--functions", functions], input: "x", environment: environment)
        #expect(good.status == 0 && good.stdout.hasPrefix("instance="), "\(good.stderr)")
    }
}
