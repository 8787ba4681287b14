import Foundation
import NIOCore
import Synchronization
import TestSupport
import Testing

@testable import DescriberConfiguration
@testable import DescriberHost

/// Hot reload: new versions of a function's library or manifest replace the
/// old one while the host serves, without failing a request.
@Suite(.serialized) struct HotReloadTests {
    static func generation(_ number: Int, extra: [String] = []) throws -> String {
        try TestSupport.library("generation\(number)\(extra.joined())", defines: ["TESTFN_GENERATION=\(number)"] + extra)
    }

    /// A folder of its own holding the library a manifest names by absolute path.
    static func installedLibrary(_ source: String) throws -> String {
        let folder = "\(TestSupport.scratch)/installed-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        let path = folder + "/libreloading.so"
        try FileManager.default.copyItem(atPath: source, toPath: path)
        return path
    }

    /// Puts `source` at `path` the way deployments do: by renaming a finished
    /// file over it, or (`inPlace`) like `cp`, truncating and writing it in
    /// pieces while the host may be looking.
    static func replace(_ path: String, with source: String, inPlace: Bool) throws {
        let bytes = try Data(contentsOf: URL(fileURLWithPath: source))
        guard inPlace else {
            let temporary = path + ".partial"
            try bytes.write(to: URL(fileURLWithPath: temporary))
            #expect(rename(temporary, path) == 0)
            return
        }
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: path))
        try handle.truncate(atOffset: 0)
        let piece = bytes.count / 4 + 1
        for start in stride(from: 0, to: bytes.count, by: piece) {
            handle.write(bytes[start..<min(start + piece, bytes.count)])
            usleep(20_000)
        }
        try handle.close()
    }

    static func host(library: String, isolation: String) throws -> FunctionHost {
        try TestSupport.host(
            ["reloading": TestSupport.manifest(library: library, "isolation: \(isolation)\nscaling: { max_instances: 2 }")],
            config: "reload: { interval: 100ms }"
        )
    }

    /// Invokes from `callers` tasks without pause while `during` runs, and
    /// returns every answer and every failure.
    static func underLoad(
        _ host: FunctionHost, callers: Int = 4, during: @escaping @Sendable () async throws -> Void
    ) async throws -> (answers: [String], failures: [InvocationError]) {
        final class Collected: Sendable {
            let stop = Atomic<Bool>(false)
            let answers = Mutex<[String]>([])
            let failures = Mutex<[InvocationError]>([])
        }
        let collected = Collected()
        try await withThrowingTaskGroup(of: Void.self) { group in
            for _ in 0..<callers {
                group.addTask {
                    while !collected.stop.load(ordering: .relaxed) {
                        switch await host.result("reloading", TestSupport.request(options: [("sleep_ms", "1")])) {
                        case .success(let output): collected.answers.withLock { $0.append(output.text) }
                        case .failure(let error): collected.failures.withLock { $0.append(error) }
                        }
                    }
                }
            }
            group.addTask {
                defer { collected.stop.store(true, ordering: .relaxed) }
                try await during()
            }
            try await group.waitForAll()
        }
        return (collected.answers.withLock { $0 }, collected.failures.withLock { $0 })
    }

    @Test(arguments: [("process", false), ("process", true), ("in-process", false), ("in-process", true)])
    func reloadUnderLoadFailsNothing(isolation: String, inPlace: Bool) async throws {
        let library = try Self.installedLibrary(try Self.generation(1))
        let newVersion = try Self.generation(2)
        let host = try Self.host(library: library, isolation: isolation)
        try await host.run { host in
            final class Workers: Sendable { let pids = Mutex<[pid_t]>([]) }
            let oldWorkers = Workers()
            let (answers, failures) = try await Self.underLoad(host) {
                try await Task.sleep(for: .milliseconds(300))
                oldWorkers.pids.withLock { $0 = host.workerProcessIDs(of: "reloading") }
                try Self.replace(library, with: newVersion, inPlace: inPlace)
                try await waitUntil { host.entries["reloading"]?.generation == 2 }
                try await Task.sleep(for: .milliseconds(300))
            }
            #expect(failures.isEmpty, "\(failures.prefix(3))")
            #expect(answers.contains { $0.hasSuffix("generation=1") }, "the old version served before the reload")
            #expect(answers.last?.hasSuffix("generation=2") == true, "the new version answers afterwards")
            let after = try await host.invoke("reloading", TestSupport.request())
            #expect(after.text.hasSuffix("generation=2"))
            #expect(host.describe("reloading")?["generation"] == .int(2))
            // The old version's workers finish and exit.
            for pid in oldWorkers.pids.withLock({ $0 }) {
                try await waitUntil { !ProcessIsolationTests.exists(pid) }
            }
        }
    }

    @Test func aReloadThatFailsKeepsTheOldVersionServing() async throws {
        let library = try Self.installedLibrary(try Self.generation(1))
        let host = try Self.host(library: library, isolation: "process")
        try await host.run { host in
            try Self.replace(library, with: try Self.generation(3, extra: ["TESTFN_ABI_MAJOR=99"]), inPlace: false)
            try await waitUntil { host.reloadProblem(of: "reloading") != nil }
            let problem = try #require(host.describe("reloading")?["reload_problem"]?.stringValue)
            #expect(problem.contains("was built for function ABI 99.2"), "\(problem)")
            #expect(host.entries["reloading"]?.generation == 1)
            #expect(try await host.invoke("reloading", TestSupport.request()).text.hasSuffix("generation=1"))

            // A broken manifest edit is refused the same way, naming file and key.
            let manifest = host.entries["reloading"]!.manifestPath
            try "library: \(library)\nscaling: { max_instances: 0 }\n".write(toFile: manifest, atomically: true, encoding: .utf8)
            try await waitUntil { host.reloadProblem(of: "reloading")?.contains("scaling.max_instances") == true }
            #expect(host.reloadProblem(of: "reloading")?.contains("function.yaml") == true)
            #expect(try await host.invoke("reloading", TestSupport.request()).text.hasSuffix("generation=1"))

            // Fixing both loads the new version, and the problem is gone.
            try TestSupport.manifest(library: library, "isolation: process").write(toFile: manifest, atomically: true, encoding: .utf8)
            try Self.replace(library, with: try Self.generation(2), inPlace: false)
            try await waitUntil { host.entries["reloading"]?.generation == 2 }
            #expect(host.reloadProblem(of: "reloading") == nil)
            #expect(try await host.invoke("reloading", TestSupport.request()).text.hasSuffix("generation=2"))

            var text: [UInt8] = []
            host.emitMetrics(into: &text)
            let exposition = String(decoding: text, as: UTF8.self)
            #expect(exposition.contains("# HELP describer_reloads_total Function reloads by outcome."))
            #expect(exposition.contains(#"describer_reloads_total{function="reloading",outcome="failed"} 2"#), "\(exposition)")
            #expect(exposition.contains(#"describer_reloads_total{function="reloading",outcome="loaded"} 1"#), "\(exposition)")
        }
    }

    @Test func aNewFunctionFolderIsLoaded() async throws {
        let host = try Self.host(library: try Self.generation(1), isolation: "in-process")
        try await host.run { host in
            #expect(host.entries["late"] == nil)
            let folder = host.config.functionsDirectory + "/late"
            try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
            try TestSupport.manifest(library: try Self.generation(2)).write(toFile: folder + "/function.yaml", atomically: true, encoding: .utf8)
            try await waitUntil { host.entries["late"]?.pool != nil }
            #expect(try await host.invoke("late", TestSupport.request()).text.hasSuffix("generation=2"))

            // One that cannot start its pre-warmed instance says so, rather than sitting there dead.
            let broken = host.config.functionsDirectory + "/broken"
            try FileManager.default.createDirectory(atPath: broken, withIntermediateDirectories: true)
            try TestSupport.manifest(library: try Self.generation(2), "scaling: { min_instances: 1 }\noptions: { create_fail: true }")
                .write(toFile: broken + "/function.yaml", atomically: true, encoding: .utf8)
            try await waitUntil { host.entries["broken"] != nil }
            #expect(host.entries["broken"]?.pool == nil)
            #expect(host.entries["broken"]?.problem?.contains("pre-warmed") == true, "\(String(describing: host.entries["broken"]?.problem))")
        }
    }
}

/// In-process crash memory: a function that crashed the host runs in worker
/// processes from the next start on.
@Suite struct CrashMemoryTests {
    static func crashLog(in dataDirectory: String) -> String { dataDirectory + "/" + CrashMemory.fileName }

    @Test func aRememberedCrashMovesTheFunctionToWorkerProcesses() async throws {
        let library = try HotReloadTests.installedLibrary(try TestSupport.library("good"))
        let data = "\(TestSupport.scratch)/data-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: data, withIntermediateDirectories: true)
        try "fn\t\(FileSystem.fingerprint(library))\t11\t1764090000\nunreadable line\n".write(
            toFile: Self.crashLog(in: data), atomically: true, encoding: .utf8
        )
        let config = "data_directory: \(data)"
        let host = try TestSupport.host(["fn": TestSupport.manifest(library: library, "scaling: { concurrency: 4 }")], config: config)
        let notice = try #require(host.entries["fn"]?.isolationNotice)
        #expect(notice.contains("crashed the host (SIGSEGV at 2025-11-25T"), "\(notice)")
        #expect(host.describe("fn")?["isolation_notice"]?.stringValue == notice)
        try await host.run { host in
            let output = try await host.invoke("fn", TestSupport.request())
            #expect(output.text.hasPrefix("instance=1"))
            #expect(!host.workerProcessIDs(of: "fn").isEmpty, "it ran in a worker process")
        }

        // A rebuilt library gets a fresh chance in process.
        try HotReloadTests.replace(library, with: try HotReloadTests.generation(2), inPlace: false)
        let rebuilt = try TestSupport.host(["fn": TestSupport.manifest(library: library)], config: config)
        #expect(rebuilt.entries["fn"]?.isolationNotice == nil)
        #expect(rebuilt.entries["fn"]?.config?.isolation == .inProcess)
    }
}

extension JSONValue {
    subscript(key: String) -> JSONValue? {
        if case .object(let members) = self { return members[key] }
        return nil
    }

    var stringValue: String? {
        if case .string(let text) = self { return text }
        return nil
    }
}
