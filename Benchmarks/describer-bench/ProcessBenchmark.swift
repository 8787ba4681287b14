// describer-bench process ECHO_LIBRARY
//
// The worker-process tier (`isolation: process`) against the in-process tier,
// in the same run, on the same echo function with a 5-byte input:
//   - warm invocation cost per call for one caller that waits for each answer
//     (target: at most 100 µs more than in process);
//   - the same with 64 concurrent callers batched up to 64 per call;
//   - cold start of a worker to its first result (target: at most 30 ms),
//     as the extra latency of a cold invocation over a warm one.
//
// Needs describer-worker next to describer-bench:
//   swift build -c release --product describer-worker
//   swift build -c release --product describer-bench
import DescriberHost
import Foundation
import Logging
import NIOCore

enum ProcessBenchmark {
    static func run(_ arguments: [String]) async throws {
        let library = arguments[2]
        var logger = Logger(label: "bench")
        logger.logLevel = .error

        func host(_ settings: String) throws -> FunctionHost {
            let root = NSTemporaryDirectory() + "describer-bench-\(getpid())-\(UUID().uuidString)"
            try FileManager.default.createDirectory(atPath: root + "/echo", withIntermediateDirectories: true)
            try "library: \(library)\n\(settings)\n".write(toFile: root + "/echo/function.yaml", atomically: true, encoding: .utf8)
            let host = try FunctionHost(config: HostConfig(port: 0, functionsDirectory: root), logger: logger)
            if let problem = host.entries["echo"]?.problem {
                throw BenchmarkError("echo is unavailable: \(problem)")
            }
            return host
        }

        func median(_ values: [Double]) -> Double { values.sorted()[values.count / 2] }

        let request = InvocationRequest(body: ByteBuffer(string: "hello"), contentType: "text/plain")
        let warmSettings = "scaling: { min_instances: 1, max_instances: 1 }\nqueue: { max_depth: 4096 }"
        let inProcess = try host(warmSettings)
        let worker = try host(warmSettings + "\nisolation: process")
        await inProcess.start()
        await worker.start()

        // One caller, in a detached task as an HTTP handler would be; the two
        // tiers alternate so that both see the same machine.
        let iterations = 20_000
        var inside: [Double] = []
        var outside: [Double] = []
        for round in 0..<6 {
            for (target, name) in [(inProcess, "in"), (worker, "out")] {
                let total = try await Task.detached {
                    let start = monotonicNanoseconds()
                    for _ in 0..<iterations { _ = try await target.invoke("echo", request) }
                    return monotonicNanoseconds() - start
                }.value
                // The first round warms both paths up.
                if round == 0 { continue }
                if name == "in" { inside.append(Double(total) / Double(iterations)) } else { outside.append(Double(total) / Double(iterations)) }
            }
        }
        let i = median(inside), o = median(outside)
        print(String(format: "in-process, one caller:           %8.1f us/call (median of 5 x %d)", i / 1000, iterations))
        print(String(format: "worker process, one caller:       %8.1f us/call -> added %.1f us/call (target <= 100)", o / 1000, (o - i) / 1000))

        // 64 callers, batches of up to 64 across the boundary.
        let batchSettings = "scaling: { min_instances: 1, max_instances: 1 }\nbatching: { max_batch_size: 64 }\nqueue: { max_depth: 4096 }"
        let batchedInside = try host(batchSettings)
        let batchedOutside = try host(batchSettings + "\nisolation: process")
        await batchedInside.start()
        await batchedOutside.start()
        var concurrentInside: [Double] = []
        var concurrentOutside: [Double] = []
        let callers = 64, perCaller = 1_000
        for round in 0..<4 {
            for (target, name) in [(batchedInside, "in"), (batchedOutside, "out")] {
                let start = monotonicNanoseconds()
                try await withThrowingTaskGroup(of: Void.self) { group in
                    for _ in 0..<callers {
                        group.addTask { for _ in 0..<perCaller { _ = try await target.invoke("echo", request) } }
                    }
                    try await group.waitForAll()
                }
                let perCall = Double(monotonicNanoseconds() - start) / Double(callers * perCaller)
                if round == 0 { continue }
                if name == "in" { concurrentInside.append(perCall) } else { concurrentOutside.append(perCall) }
            }
        }
        let ci = median(concurrentInside), co = median(concurrentOutside)
        print(String(format: "in-process, 64 callers, batch<=64: %7.2f us/call", ci / 1000))
        print(String(format: "worker, 64 callers, batch<=64:     %7.2f us/call -> added %.2f us/call", co / 1000, (co - ci) / 1000))

        // Cold starts: idle_timeout 1ms scales to zero between rounds.
        let coldHost = try host("scaling: { min_instances: 0, max_instances: 1, idle_timeout: 1ms }\nisolation: process")
        await coldHost.start()
        let (cold, initialization, warm) = try await Task.detached {
            var cold: [Double] = []
            var initialization: [Double] = []
            var warm: [Double] = []
            for _ in 0..<200 {
                var output: InvocationOutput?
                let start = monotonicNanoseconds()
                output = try await coldHost.invoke("echo", request)
                let coldTime = Double(monotonicNanoseconds() - start)
                guard let output, output.coldStart else { continue }
                cold.append(coldTime)
                initialization.append(
                    Double(output.timings.initialization.components.attoseconds) / 1e9 + Double(output.timings.initialization.components.seconds) * 1e9)
                let warmStart = monotonicNanoseconds()
                _ = try await coldHost.invoke("echo", request)
                warm.append(Double(monotonicNanoseconds() - warmStart))
                try await Task.sleep(for: .milliseconds(10))
            }
            return (cold, initialization, warm)
        }.value
        print("cold worker starts measured:      \(cold.count)")
        print(String(format: "cold invocation latency (median): %8.2f ms", median(cold) / 1e6))
        print(String(format: "warm invocation latency (median): %8.3f ms", median(warm) / 1e6))
        print(String(format: "cold start cost (cold - warm):    %8.2f ms (target <= 30)", (median(cold) - median(warm)) / 1e6))
        print(String(format: "spawn to CREATED (median):        %8.2f ms", median(initialization) / 1e6))

        for host in [inProcess, worker, batchedInside, batchedOutside, coldHost] { await host.shutdown() }
    }

    struct BenchmarkError: Error, CustomStringConvertible {
        var description: String
        init(_ description: String) { self.description = description }
    }
}
