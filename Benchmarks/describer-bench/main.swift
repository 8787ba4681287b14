// describer-bench: the measurements behind BENCHMARKS.md.
//
//   describer-bench overhead ECHO_LIBRARY   warm in-process invocation vs calling the C function directly
//   describer-bench coldstart ECHO_LIBRARY  cold start of an instance vs a warm invocation
//   describer-bench serve ECHO_LIBRARY PORT [SETTINGS]
//                                           the real application plus a bare Hummingbird route, for wrk;
//                                           SETTINGS replaces the echo manifest's settings (all but library)
//   describer-bench decode JPEG [SOURCE]    image decoding against libjpeg and djpeg (see DecodeBenchmark.swift)
//   describer-bench speak FUNCTIONS_DIR     speech real-time factor through the host (see SpeechBenchmark.swift)
//   describer-bench ocr FUNCTIONS_DIR IMAGE [N]  ocr latency, cold and warm, and peak memory (see OCRBenchmark.swift)
//   describer-bench vision FUNCTIONS_DIR IMAGES_DIR
//                                           detect and describe latency, detect batching, peak memory
//                                           per instance (see VisionBenchmark.swift)
//   describer-bench decode JPEG [SOURCE]    image decoding vs libjpeg and djpeg; DCT scaling on a 12 MP image
//                                           made from SOURCE (see DecodeBenchmark.swift)
//
// Build with `swift build -c release --product describer-bench`; Benchmarks/run.sh runs everything.
import CDescriberFunction
import DescriberHTTP
import DescriberHost
import DescriberServer
import Foundation
import Hummingbird
import Logging
import NIOCore

let arguments = CommandLine.arguments
guard arguments.count >= 3 else {
    FileHandle.standardError.write(
        Data(
            "usage: describer-bench overhead|coldstart|serve ECHO_LIBRARY [PORT]\n       describer-bench decode JPEG [SOURCE_JPEG]\n       describer-bench speak FUNCTIONS_DIRECTORY\n       describer-bench ocr FUNCTIONS_DIRECTORY IMAGE [ITERATIONS]\n       describer-bench vision FUNCTIONS_DIRECTORY IMAGES_DIRECTORY\n"
                .utf8))
    exit(2)
}
let mode = arguments[1]
// The manifest written below lives in a temporary folder, so a relative
// library path is made absolute here, against the working directory.
let library = URL(fileURLWithPath: arguments[2]).standardizedFileURL.path

let logger: Logger = {
    var logger = Logger(label: "bench")
    logger.logLevel = .error
    return logger
}()

/// A functions folder holding one echo function with `manifest` settings.
func makeHost(_ settings: String, port: Int = 0) throws -> FunctionHost {
    let root = NSTemporaryDirectory() + "describer-bench-\(getpid())-\(UUID().uuidString)"
    try FileManager.default.createDirectory(atPath: root + "/echo", withIntermediateDirectories: true)
    try "library: \(library)\n\(settings)\n".write(toFile: root + "/echo/function.yaml", atomically: true, encoding: .utf8)
    return try FunctionHost(config: HostConfig(port: port, functionsDirectory: root), logger: logger)
}

func nanoseconds(_ body: () async throws -> Void) async rethrows -> UInt64 {
    let start = monotonicNanoseconds()
    try await body()
    return monotonicNanoseconds() - start
}

func median(_ values: [Double]) -> Double { values.sorted()[values.count / 2] }

// MARK: The baseline: the same C function called directly.

func directCallLoop(iterations: Int) -> UInt64 {
    let direct = try! DirectFunction(library: library)
    let options = "{}"
    let body: [UInt8] = Array("hello".utf8)
    let contentType = "text/plain"
    return body.withUnsafeBufferPointer { bytes in
        contentType.withCString { type in
            options.withCString { json in
                var request = describer_request()
                request.data = bytes.baseAddress
                request.size = bytes.count
                request.content_type = type
                request.options_json = json
                request.options_size = 2
                request.deadline_ns = UInt64.max
                let start = monotonicNanoseconds()
                for _ in 0..<iterations {
                    direct.process(&request)
                }
                return monotonicNanoseconds() - start
            }
        }
    }
}

switch mode {
case "overhead":
    let iterations = 200_000
    let host = try makeHost("scaling: { min_instances: 1, max_instances: 1 }\nqueue: { max_depth: 1024 }")
    await host.start()
    let request = InvocationRequest(body: ByteBuffer(string: "hello"), contentType: "text/plain")
    // Warm up both paths.
    _ = directCallLoop(iterations: 10_000)
    for _ in 0..<10_000 { _ = try await host.invoke("echo", request) }
    var direct: [Double] = []
    var hosted: [Double] = []
    for _ in 0..<5 {
        direct.append(Double(directCallLoop(iterations: iterations)) / Double(iterations))
        // A detached task, like an HTTP handler's: top-level code runs on the
        // main actor, and every call from there would hop to the cooperative
        // pool and back, measuring two actor hops rather than the host.
        let total = try await Task.detached {
            try await nanoseconds {
                for _ in 0..<iterations { _ = try await host.invoke("echo", request) }
            }
        }.value
        hosted.append(Double(total) / Double(iterations))
    }
    // The distribution of single calls: a mean near the target can hide
    // a few slow calls (a caller that suspended, a thread preempted).
    let latencies = try await Task.detached {
        var latencies = [UInt64](repeating: 0, count: iterations)
        for index in 0..<iterations {
            let start = monotonicNanoseconds()
            _ = try await host.invoke("echo", request)
            latencies[index] = monotonicNanoseconds() - start
        }
        return latencies.sorted()
    }.value
    func latency(_ fraction: Double) -> Double { Double(latencies[min(iterations - 1, Int(Double(iterations) * fraction))]) / 1000 }
    let slow = latencies.filter { $0 > 10_000 }
    // Many callers at once: the per-call cost when the host can batch.
    let concurrentHost = try makeHost(
        "scaling: { min_instances: 1, max_instances: 1, concurrency: 1 }\nbatching: { max_batch_size: 64 }\nqueue: { max_depth: 4096 }")
    await concurrentHost.start()
    var concurrent: [Double] = []
    let callers = 64
    let perCaller = 5_000
    for _ in 0..<5 {
        let total = try await nanoseconds {
            try await withThrowingTaskGroup(of: Void.self) { group in
                for _ in 0..<callers {
                    group.addTask { for _ in 0..<perCaller { _ = try await concurrentHost.invoke("echo", request) } }
                }
                try await group.waitForAll()
            }
        }
        concurrent.append(Double(total) / Double(callers * perCaller))
    }
    let d = median(direct), h = median(hosted), c = median(concurrent)
    print(String(format: "direct C call:                      %8.1f ns/call (median of 5 x %d)", d, iterations))
    print(String(format: "host.invoke, one caller:            %8.1f ns/call -> overhead %.2f us/call", h, (h - d) / 1000))
    print(String(format: "host.invoke, %d callers, batch<=64: %8.1f ns/call -> overhead %.2f us/call", callers, c, (c - d) / 1000))
    print(
        String(
            format: "one caller, single calls: p50 %.2f us, p90 %.2f us, p99 %.2f us; %.2f%% over 10 us, costing %.2f us/call on average",
            latency(0.5), latency(0.9), latency(0.99), Double(slow.count) * 100 / Double(iterations), Double(slow.reduce(0, +)) / 1000 / Double(iterations)
        ))
    await host.shutdown()
    await concurrentHost.shutdown()

case "coldstart":
    // idle_timeout 1ms scales to zero between rounds, so every other call is cold.
    let host = try makeHost("scaling: { min_instances: 0, max_instances: 1, idle_timeout: 1ms }")
    await host.start()
    let request = InvocationRequest(body: ByteBuffer(string: "hello"), contentType: "text/plain")
    // On the cooperative pool, like an HTTP handler (see "overhead").
    let (coldLatency, initTimes, warmLatency) = try await Task.detached {
        var coldLatency: [Double] = []
        var initTimes: [Double] = []
        var warmLatency: [Double] = []
        for _ in 0..<1000 {
            var output: InvocationOutput?
            let cold = try await nanoseconds { output = try await host.invoke("echo", request) }
            guard let output, output.coldStart else { continue }
            coldLatency.append(Double(cold))
            initTimes.append(Double(output.timings.initialization.components.attoseconds) / 1e9)
            let warm = try await nanoseconds { _ = try await host.invoke("echo", request) }
            warmLatency.append(Double(warm))
            try await Task.sleep(for: .milliseconds(3))
        }
        return (coldLatency, initTimes, warmLatency)
    }.value
    let cold = median(coldLatency), warm = median(warmLatency)
    print("cold invocations measured: \(coldLatency.count)")
    print(String(format: "cold invocation latency (median):   %8.1f us", cold / 1000))
    print(String(format: "warm invocation latency (median):   %8.1f us", warm / 1000))
    print(String(format: "cold start cost (cold - warm):      %8.1f us", (cold - warm) / 1000))
    print(String(format: "describer_instance_create (median): %8.1f us", median(initTimes) / 1000))
    await host.shutdown()

case "serve":
    let port = arguments.count > 3 ? Int(arguments[3]) ?? 8081 : 8081
    // The echo function's settings: one instance, one thread, batches of up
    // to 64 sent at once; or a whole manifest body of the caller's choosing.
    let settings =
        arguments.count > 4
        ? arguments[4]
        : "scaling: { min_instances: 1, max_instances: 1, concurrency: 1 }\nbatching: { max_batch_size: 64 }\nqueue: { max_depth: 4096 }"
    let host = try makeHost(settings, port: port)
    let router = buildRouter(host: host)
    // The baseline: a bare Hummingbird route doing the same HTTP work (read
    // the body, answer it back) without the host.
    router.post("/bare") { request, _ -> Response in
        let body = try await request.body.collect(upTo: 1 << 20)
        return Response(status: .ok, headers: [.contentType: "text/plain"], body: .init(byteBuffer: body))
    }
    // As `describer serve` does: the invoke route's fast path in the
    // pipeline; INVOKE_THROUGH_ROUTER=1 leaves it out, for comparison.
    let throughRouter = ProcessInfo.processInfo.environment["INVOKE_THROUGH_ROUTER"] == "1"
    let app = Application(
        router: router,
        server: .describer(host: host, serverName: nil, invokeFastPath: !throughRouter),
        configuration: .init(address: .hostname("127.0.0.1", port: port)),
        services: [FunctionHostService(host: host)],
        logger: logger
    )
    try await app.runService()

case "decode":
    try DecodeBenchmark.run(arguments)

case "process": try await ProcessBenchmark.run(arguments)

case "speak":
    try await SpeechBenchmark.run(arguments)

case "ocr":
    try await OCRBenchmark.run(arguments)

case "vision":
    try await VisionBenchmark.run(arguments)

default:
    FileHandle.standardError.write(Data("unknown mode \(mode)\n".utf8))
    exit(2)
}
