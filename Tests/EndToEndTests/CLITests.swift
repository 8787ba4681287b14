import DescriberTesting
import Foundation
import ServerTestSupport
import TestSupport
import Testing

/// The `describer` executable, run as a user would.
@Suite struct CLITests {
    static func functions() throws -> String {
        try TestSupport.functionsDirectory([
            "echo": """
            description: echo for the CLI test
            library: \(try TestSupport.library("echo", source: TestSupport.echoSource))
            request_options: { upper: { type: bool } }
            """,
            "broken": "library: libbroken.so\nscaling: { max_instances: -2 }",
        ])
    }

    @Test func functionsListsAndValidates() throws {
        let result = try Executables.run(["functions", "--functions", try Self.functions()])
        #expect(result.status == 1, "an invalid manifest fails validation")
        #expect(result.stdout.contains("echo\tready\t1.0.0\techo for the CLI test"))
        #expect(result.stdout.contains("broken\tUNAVAILABLE\t"))
        #expect(result.stdout.contains("function.yaml:2: scaling.max_instances must be between 1 and 1024, got -2"))
    }

    @Test func invokeRunsTheHostEmbeddedAndPrintsTheOutput() throws {
        let result = try Executables.run(["invoke", "echo", "-", "--option", "upper=true", "--functions", try Self.functions()], input: "quiet please")
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stdout == "QUIET PLEASE")
    }

    @Test func invokeExplainsFailuresOnStandardError() throws {
        let result = try Executables.run(["invoke", "echo", "-", "--option", "loud=yes", "--functions", try Self.functions()], input: "x")
        #expect(result.status == 1)
        #expect(result.stdout.isEmpty)
        #expect(result.stderr.contains("describer: echo failed (bad_option): unknown option 'loud' for 'echo'; it takes: upper"))
    }
}

extension CLITests {
    @Test func serveShutsDownGracefullyOnSIGTERM() async throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: Executables.executable)
        process.arguments = ["serve", "--port", "0", "--functions", try Self.functions()]
        process.environment = ProcessInfo.processInfo.environment.filter { !$0.key.hasPrefix("DESCRIBER_") }
        let log = TestSupport.scratch + "/serve-\(UUID().uuidString).log"
        _ = FileManager.default.createFile(atPath: log, contents: nil)
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: log))
        process.standardError = handle
        process.standardOutput = handle
        try process.run()
        try await waitUntil { (try? String(contentsOfFile: log, encoding: .utf8))?.contains("Server started and listening") == true }
        process.terminate()  // SIGTERM
        process.waitUntilExit()
        let text = try String(contentsOfFile: log, encoding: .utf8)
        #expect(process.terminationReason == .exit)
        #expect(process.terminationStatus == 0, "\(text)")
        #expect(text.contains("Function host stopped"))
    }
}

extension CLITests {
    /// Run from a folder of its own, as a user would, the program still
    /// finds the installation's functions and voices, as speak-this-image does.
    @Test func invokeFindsTheInstallationsFunctionsFromAnyFolder() throws {
        let elsewhere = try TestScratch.folder("elsewhere")
        let run = try Executables.run(
            "/bin/sh", ["-c", "cd '\(elsewhere)' && exec '\(Executables.executable)' invoke echo - --option upper=true"], input: "from anywhere"
        )
        #expect(run.status == 0 && run.stdout == "FROM ANYWHERE", "\(run.stdout)\(run.stderr)")
    }
}
