import Foundation
import NIOCore
import TestSupport
import Testing

@testable import DescriberConfiguration
@testable import DescriberHost

/// The worker-process tier (`isolation: process`): results equal to the
/// in-process tier, batching across the boundary, crash containment,
/// enforced deadlines, scale to zero, crash-loop backoff, resource limits
/// and shutdown. Serialized: the tests spawn and crash many processes, and
/// running them one at a time keeps that load from starving the timing
/// windows of the suites running beside them.
@Suite(.serialized) struct ProcessIsolationTests {
    static func good() throws -> String { try TestSupport.library("good") }

    /// True while a process with this pid exists (a zombie counts: it has not been reaped).
    static func exists(_ pid: pid_t) -> Bool {
        kill(pid, 0) == 0 || errno == EPERM
    }

    static func misbehave(_ how: String, timeout: Duration? = nil) -> InvocationRequest {
        TestSupport.request(options: [("misbehave", how)], timeout: timeout)
    }

    static func metricsText(_ host: FunctionHost) -> String { host.metricsText() }

    @Test func aWorkerAnswersExactlyAsTheInProcessTier() async throws {
        let echo = try TestSupport.library("echo", source: TestSupport.echoSource)
        let echoOptions = "request_options:\n  upper: { type: bool }\n  repeat: { type: integer, min: 1, max: 8 }\noptions: { prefix: \"> \" }"
        let host = try TestSupport.host([
            "inside": TestSupport.manifest(library: try Self.good()),
            "outside": try TestSupport.workerManifest(),
            "echo-inside": "library: \(echo)\n\(echoOptions)",
            "echo-outside": "library: \(echo)\nisolation: process\n\(echoOptions)",
        ])
        await host.start()
        #expect(host.entries["outside"]?.problem == nil)
        let inside = try await host.invoke("inside", TestSupport.request("hello"))
        let outside = try await host.invoke("outside", TestSupport.request("hello"))
        // Instance numbers count per process: the host's, or the worker's own.
        #expect(outside.text == "instance=1 batch=1 index=0 size=5")
        // The worker's supervising thread carries its name to the kernel.
        let threadNames = try FileManager.default.contentsOfDirectory(atPath: "/proc/self/task").compactMap { task in
            try? String(contentsOfFile: "/proc/self/task/\(task)/comm", encoding: .utf8)
        }
        #expect(threadNames.contains { $0.hasPrefix("describer-wk-") }, "\(threadNames)")
        #expect(outside.text.split(separator: " ").dropFirst() == inside.text.split(separator: " ").dropFirst())
        #expect(outside.contentType == inside.contentType)
        #expect(outside.coldStart && outside.timings.initialization > .zero)
        let request = InvocationRequest(body: ByteBuffer(string: "hi there"), contentType: "text/plain", options: [("upper", "true"), ("repeat", "3")])
        let echoInside = try await host.invoke("echo-inside", request)
        let echoOutside = try await host.invoke("echo-outside", request)
        #expect(echoOutside.text == "> HI THEREHI THEREHI THERE")
        #expect(echoOutside.text == echoInside.text && echoOutside.contentType == echoInside.contentType)
        // Function failures cross the boundary with their status.
        let failed = await host.result("outside", TestSupport.request(options: [("fail", "invalid")])).failure
        #expect(failed?.code == .invalidInput && failed?.message == "asked to fail: invalid")
        let silent = await host.result("outside", TestSupport.request(options: [("silent", "true")])).failure
        #expect(silent?.code == .functionFailed && silent?.message == "the function returned no result for this request")
        let pids = host.workerProcessIDs(of: "outside")
        #expect(pids.count == 1 && pids[0] != getpid())
        #expect(host.workerProcessIDs(of: "inside").isEmpty)
        await host.shutdown()
    }

    @Test func batchesCrossTheBoundary() async throws {
        let host = try TestSupport.host([
            "fn": try TestSupport.workerManifest("scaling: { min_instances: 1, max_instances: 1 }\nbatching: { max_batch_size: 8, max_batch_delay: 2s }")
        ])
        await host.start()
        let outputs = try await withThrowingTaskGroup(of: (Int, InvocationOutput).self) { group in
            for index in 0..<8 {
                group.addTask { (index, try await host.invoke("fn", TestSupport.request(String(repeating: "x", count: index + 1)))) }
            }
            return try await group.reduce(into: []) { $0.append($1) }
        }
        for (index, output) in outputs {
            #expect(output.fields["batch"] == 8, "a full batch closes without waiting for the delay")
            #expect(output.fields["size"] == index + 1, "each caller gets the answer to its own input")
        }
        #expect(Set(outputs.compactMap { $0.1.fields["index"] }) == Set(0..<8))
        await host.shutdown()
    }

    @Test func anRGB8FunctionGetsDecodedPixelsAcrossTheBoundary() async throws {
        let library = try TestSupport.library("rgbfn", source: TestSupport.fixtures + "/rgbfn.c")
        let host = try TestSupport.host([
            "inside": "library: \(library)",
            "outside": "library: \(library)\nisolation: process",
        ])
        await host.start()
        let jpeg = try TestImages.bytes("text_motion.jpg")
        let request = InvocationRequest(body: ByteBuffer(bytes: jpeg), contentType: "image/jpeg")
        let inside = try await host.invoke("inside", request)
        let outside = try await host.invoke("outside", request)
        #expect(outside.text.hasPrefix("256x159 stride=768"))
        #expect(outside.text == inside.text)
        await host.shutdown()
    }

    struct Crash: Sendable, CustomTestStringConvertible {
        var misbehaviour: String
        var label: String
        var phrase: String
        var testDescription: String { misbehaviour }
    }

    static let crashes = [
        Crash(misbehaviour: "segfault", label: "SIGSEGV", phrase: "died of SIGSEGV"),
        Crash(misbehaviour: "abort", label: "SIGABRT", phrase: "died of SIGABRT"),
        Crash(misbehaviour: "exit", label: "exit", phrase: "exited with status 3"),
    ]

    @Test(arguments: crashes)
    func aCrashFailsItsRequestWith502AndTheNextRequestSucceeds(_ crash: Crash) async throws {
        let host = try TestSupport.host(["fn": try TestSupport.workerManifest()])
        await host.start()
        _ = try await host.invoke("fn", TestSupport.request())
        let before = host.workerProcessIDs(of: "fn")
        let error = try #require(await host.result("fn", Self.misbehave(crash.misbehaviour)).failure)
        #expect(error.code == .functionCrashed)
        #expect(error.httpStatus == 502)
        #expect(error.message == "the function's worker process \(crash.phrase) while running this request")
        let after = try await host.invoke("fn", TestSupport.request())
        #expect(after.coldStart, "a replacement worker started")
        #expect(host.workerProcessIDs(of: "fn") != before)
        for pid in before { #expect(!Self.exists(pid), "the crashed worker was reaped") }
        #expect(Self.metricsText(host).contains(#"describer_worker_crashes_total{function="fn",signal="\#(crash.label)"} 1"#))
        await host.shutdown()
    }

    @Test func aRequestHangingPastItsDeadlineGets504AndItsWorkerIsKilled() async throws {
        let host = try TestSupport.host(["fn": try TestSupport.workerManifest("timeout: { default: 5s, maximum: 10s }")])
        await host.start()
        _ = try await host.invoke("fn", TestSupport.request())
        let pid = try #require(host.workerProcessIDs(of: "fn").first)
        let error = try #require(await host.result("fn", Self.misbehave("hang", timeout: .milliseconds(300))).failure)
        #expect(error.code == .deadlineExceeded && error.httpStatus == 504)
        try await waitUntil { !Self.exists(pid) }
        let next = try await host.invoke("fn", TestSupport.request())
        #expect(next.coldStart)
        #expect(!host.workerProcessIDs(of: "fn").contains(pid))
        #expect(Self.metricsText(host).contains(#"describer_worker_kills_total{function="fn",reason="deadline"} 1"#))
        #expect(!Self.metricsText(host).contains("describer_worker_crashes_total"), "a deadline kill is not a crash")
        await host.shutdown()
    }

    @Test func aWorkerKilledFromOutsideWhileIdleIsReplacedAndNothingIsLost() async throws {
        // The OOM killer or an operator: the worker dies between requests.
        let host = try TestSupport.host(["fn": try TestSupport.workerManifest("scaling: { min_instances: 1, max_instances: 1 }")])
        await host.start()
        _ = try await host.invoke("fn", TestSupport.request())
        let pids = host.workerProcessIDs(of: "fn")
        #expect(pids.count == 1)
        for pid in pids { kill(pid, SIGKILL) }
        try await waitUntil { host.workerProcessIDs(of: "fn") != pids }
        for index in 0..<5 {
            let output = try await host.invoke("fn", TestSupport.request("after \(index)"))
            #expect(!output.text.isEmpty)
        }
        // Answers reach callers just before their instance is marked idle again.
        try await waitUntil { host.snapshot(of: "fn")?.busy == 0 && host.snapshot(of: "fn")?.idle == 1 }
        await host.shutdown()
    }

    @Test func idleWorkersExitAfterTheIdleTimeout() async throws {
        let host = try TestSupport.host(["fn": try TestSupport.workerManifest("scaling: { max_instances: 2, idle_timeout: 150ms }")])
        await host.start()
        #expect(host.workerProcessIDs(of: "fn").isEmpty, "min_instances 0 starts no worker")
        _ = try await host.invoke("fn", TestSupport.request())
        let pids = host.workerProcessIDs(of: "fn")
        #expect(pids.count == 1)
        try await waitUntil { host.workerProcessIDs(of: "fn").isEmpty && host.snapshot(of: "fn")?.idle == 0 }
        for pid in pids { try await waitUntil { !Self.exists(pid) } }
        let again = try await host.invoke("fn", TestSupport.request())
        #expect(again.coldStart)
        await host.shutdown()
    }

    @Test func minInstancesArePrewarmedAndShutdownStopsEveryWorker() async throws {
        let host = try TestSupport.host(["fn": try TestSupport.workerManifest("scaling: { min_instances: 2, max_instances: 2 }")])
        await host.start()
        let pids = host.workerProcessIDs(of: "fn")
        #expect(pids.count == 2)
        #expect(host.snapshot(of: "fn")?.idle == 2)
        let output = try await host.invoke("fn", TestSupport.request())
        #expect(!output.coldStart)
        await host.shutdown()
        #expect(host.workerProcessIDs(of: "fn").isEmpty)
        for pid in pids { #expect(!Self.exists(pid), "destroyed and reaped during shutdown") }
    }

    @Test func shutdownKillsAWorkerStillBusyAfterTheGracePeriod() async throws {
        // TestSupport sets shutdown_grace to 2 s; the request would hang for 30 s.
        let host = try TestSupport.host(["fn": try TestSupport.workerManifest("timeout: { default: 30s }")])
        await host.start()
        async let hung = host.result("fn", Self.misbehave("hang"))
        try await waitUntil { host.snapshot(of: "fn")?.busy == 1 }
        let pid = try #require(host.workerProcessIDs(of: "fn").first)
        await host.shutdown()
        #expect(!Self.exists(pid))
        let error = await hung.failure
        #expect(error?.code == .unavailable)
    }

    @Test func aCrashLoopBacksOffAndIsReported() async throws {
        let host = try TestSupport.host(["fn": try TestSupport.workerManifest("options: { create_crash: true }")])
        await host.start()
        for attempt in 1...4 {
            let error = try #require(await host.result("fn", TestSupport.request()).failure)
            #expect(error.code == .functionCrashed, "attempt \(attempt)")
            #expect(error.message == "the function's worker process died of SIGSEGV while starting an instance")
        }
        #expect(host.state(of: "fn") == "crash_loop")
        let description = try #require(host.describe("fn")).serialized
        #expect(description.contains(#""state":"crash_loop""#))
        #expect(description.contains(#""consecutive_crashes":4"#))
        #expect(description.contains(#""crash_loop":true"#))
        #expect(description.contains(#""signal":"SIGSEGV""#))
        // The third crash set a 100 ms wait, the fourth doubled it.
        #expect(description.contains(#""last_backoff_ms":200"#), "\(description)")
        #expect(description.contains("crash loop: 4 worker crashes in a row, the last SIGSEGV"))
        await host.shutdown()
    }

    @Test func aWorkerOverItsCPULimitIsKilledAndReported() async throws {
        // Normal priority: at nice 19 on a machine busy with builds the worker
        // could wait longer than the deadline for its one second of CPU.
        let host = try TestSupport.host(["fn": try TestSupport.workerManifest("process: { cpu_seconds: 1 }\ntimeout: { default: 30s }")])
        await host.start()
        let error = try #require(await host.result("fn", Self.misbehave("busy")).failure)
        #expect(error.code == .functionCrashed)
        #expect(
            error.message.hasPrefix(
                "the function's worker process died of SIGXCPU while running this request; it used up its CPU time limit (process.cpu_seconds: 1)"),
            "\(error.message)")
        #expect(Self.metricsText(host).contains(#"describer_worker_crashes_total{function="fn",signal="SIGXCPU"} 1"#))
        _ = try await host.invoke("fn", TestSupport.request())
        await host.shutdown()
    }

    @Test func aWorkerOverItsMemoryLimitIsReportedAsSuch() async throws {
        let host = try TestSupport.host(["fn": try TestSupport.workerManifest("process: { memory: 256MiB }")])
        await host.start()
        let error = try #require(await host.result("fn", Self.misbehave("alloc")).failure)
        #expect(error.code == .functionCrashed)
        #expect(
            error.message
                == "the function's worker process died of SIGABRT while running this request; process.memory limits its address space to 268435456 bytes, so a failed allocation may be the cause"
        )
        _ = try await host.invoke("fn", TestSupport.request())
        await host.shutdown()
    }

    @Test func anOutputOverTheLimitFailsOnlyItsRequest() async throws {
        let host = try TestSupport.host(["fn": try TestSupport.workerManifest("output: { max_bytes: 1MiB }")])
        await host.start()
        let error = try #require(await host.result("fn", Self.misbehave("huge")).failure)
        #expect(error.code == .functionFailed)
        #expect(error.message == "output of 2097152 bytes exceeds output.max_bytes (1048576)")
        let next = try await host.invoke("fn", TestSupport.request())
        #expect(!next.coldStart, "the same worker goes on serving")
        _ = try await host.invoke("fn", Self.misbehave("log"))
        await host.shutdown()
    }

    @Test func limitsEnvironmentAndWorkingDirectoryReachTheWorker() async throws {
        let directory = TestSupport.scratch + "/workdir-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let host = try TestSupport.host([
            "fn": try TestSupport.workerManifest(
                "process: { memory: 512MiB, open_files: 64, nice: 5, working_directory: \(directory) }\nenvironment: { DESCRIBER_TEST_WORKER_VARIABLE: hello }"
            )
        ])
        await host.start()
        _ = try await host.invoke("fn", TestSupport.request())
        let pid = try #require(host.workerProcessIDs(of: "fn").first)
        let limits = try String(contentsOfFile: "/proc/\(pid)/limits", encoding: .utf8)
        let lines = limits.split(separator: "\n")
        #expect(lines.contains { $0.hasPrefix("Max address space") && $0.contains("536870912") })
        #expect(lines.contains { $0.hasPrefix("Max open files") && $0.contains(" 64 ") })
        #expect(lines.contains { $0.hasPrefix("Max core file size") && $0.contains(" 0 ") })
        let environment = try Data(contentsOf: URL(fileURLWithPath: "/proc/\(pid)/environ"))
        #expect(String(decoding: environment, as: UTF8.self).contains("DESCRIBER_TEST_WORKER_VARIABLE=hello"))
        let workingDirectory = try FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\(pid)/cwd")
        #expect(FileSystem.absolute(workingDirectory) == FileSystem.absolute(directory))
        let stat = try String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8)
        // Field 19 is the nice value; the command name (field 2) has no spaces here.
        #expect(stat.split(separator: " ")[18] == "5")
        await host.shutdown()
    }

    @Test func manifestsAreValidatedForTheProcessTier() throws {
        let library = try Self.good()
        let host = try TestSupport.host([
            "concurrent": try TestSupport.workerManifest("scaling: { concurrency: 2 }"),
            "missing": "library: /nonexistent/libnothing.so\nisolation: process",
            "limits": TestSupport.manifest(library: library, "process: { memory: 1GiB }"),
            "tiny": try TestSupport.workerManifest("process: { memory: 1KiB }"),
            "unknown": try TestSupport.workerManifest("process: { swap: 1GiB }"),
            "folder": try TestSupport.workerManifest("process: { working_directory: nowhere }"),
            "major2": TestSupport.manifest(library: try TestSupport.library("major2", defines: ["TESTFN_ABI_MAJOR=2"]), "isolation: process"),
        ])
        #expect(host.entries["concurrent"]?.problem?.contains("scaling.concurrency must be 1 with isolation 'process'") == true)
        #expect(
            host.entries["missing"]?.problem?.hasPrefix("/nonexistent/libnothing.so cannot be loaded:") == true, "\(host.entries["missing"]?.problem ?? "")")
        #expect(host.entries["limits"]?.problem?.hasSuffix("process.memory applies only to worker processes; set isolation: process or remove it") == true)
        #expect(host.entries["tiny"]?.problem?.contains("process.memory must be between 16777216 and") == true)
        #expect(
            host.entries["unknown"]?.problem?.contains(
                "process.swap is not a known key (expected one of: memory, cpu_seconds, open_files, nice, working_directory)") == true)
        #expect(host.entries["folder"]?.problem?.contains("process.working_directory must be an existing folder") == true)
        #expect(host.entries["major2"]?.problem?.contains("was built for function ABI 2.2, but this host speaks ABI 1.2") == true)
        for name in host.entries.keys { #expect(host.state(of: name) == "unavailable", "\(name)") }
    }
}
