// describer-bench vision FUNCTIONS_DIR IMAGES_DIR
//
// The vision functions through the host, warm, on the installed functions
// (make -C functions) and a folder of photos (dog.jpg among them):
//   (a) detect end to end for a 640 x 480 JPEG made from dog.jpg (target p50 <= 60 ms):
//       decode, scaling, the forward pass, NMS and the JSON, one caller;
//   (b) the whole describe pipeline on every photo in the folder (target p50 <= 500 ms);
//   (c) detect's throughput under 16 concurrent callers, with the manifest's
//       batching against max_batch_size 1, alternating in the same run;
//   (d) peak memory (VmHWM) of one instance of detect and of caption, each
//       alone in a worker process (isolation: process), against an echo
//       worker as the baseline.
//
// Needs cjpeg (Debian: libjpeg-turbo-progs) and, for (d), describer-worker next to describer-bench:
//   swift build -c release --product describer-worker
//   swift build -c release --product describer-bench
import CDescriberFunction
import DescriberConfiguration
import DescriberHost
import DescriberImaging
import Describing
import Foundation
import Logging
import NIOCore

enum VisionBenchmark {
    static func run(_ arguments: [String]) async throws {
        guard arguments.count >= 4 else { throw BenchError("usage: describer-bench vision FUNCTIONS_DIRECTORY IMAGES_DIRECTORY") }
        let functions = arguments[2], images = arguments[3]
        let jpeg = try vgaJPEG(from: images + "/dog.jpg")
        say("(a) detect, end to end, one caller, warm: \(jpeg.readableBytes)-byte 640 x 480 JPEG")
        try await detectLatency(functions, jpeg)
        say("")
        say("(b) the describe pipeline, warm, one caller")
        try await describeLatency(functions, images)
        say("")
        say("(c) detect throughput, 16 concurrent callers, the 640 x 480 JPEG")
        try await batchingThroughput(functions, jpeg)
        say("")
        say("(d) peak memory of one instance alone in a worker process (VmHWM)")
        try await memory(functions, images)
    }

    /// Each line as it comes, unbuffered: a run takes minutes.
    static func say(_ line: String) {
        FileHandle.standardOutput.write(Data((line + "\n").utf8))
    }

    static let logger: Logger = {
        var logger = Logger(label: "bench")
        logger.logLevel = .error
        return logger
    }()

    /// A host over FUNCTIONS_DIR with `overrides`, entries of describer.yaml's
    /// `functions:` mapping. `speak` is left out: its warm worker process
    /// would share the two cores and be counted among the workers in (d).
    static func host(_ functions: String, overrides: String = "") throws -> FunctionHost {
        let yaml = "functions_directory: \(functions)\nfunctions: { speak: { enabled: false }\(overrides.isEmpty ? "" : ", " + overrides) }\n"
        let node = try ConfigNode.parseYAML(yaml, source: "describer-bench")
        var config = try HostConfig(node: node, baseDirectory: nil)
        config.port = 0
        config.shutdownGrace = .seconds(10)
        return try FunctionHost(config: config, logger: logger)
    }

    static func require(_ host: FunctionHost, _ names: [String]) throws {
        for name in names where host.entries[name] == nil || host.entries[name]?.problem != nil {
            throw BenchError("\(name) is not available: \(host.entries[name]?.problem ?? "not installed") (run make -C functions)")
        }
    }

    /// dog.jpg (768 x 576) scaled to 640 x 480 and encoded by cjpeg at quality 90.
    static func vgaJPEG(from source: String) throws -> ByteBuffer {
        let image = try ImageDecoder.decode(ByteBuffer(bytes: try Data(contentsOf: URL(fileURLWithPath: source))), maxWidth: 640, maxHeight: 480)
        guard image.width == 640, image.height == 480 else { throw BenchError("\(source) does not scale to 640 x 480") }
        var ppm = Data("P6\n640 480\n255\n".utf8)
        for row in 0..<image.height {
            ppm.append(contentsOf: image.pixels.getBytes(at: row * image.stride, length: image.width * 3)!)
        }
        let ppmPath = DecodeBenchmark.temporary("vga.ppm"), jpegPath = DecodeBenchmark.temporary("vga.jpg")
        try ppm.write(to: URL(fileURLWithPath: ppmPath))
        try DecodeBenchmark.shell("\(DecodeBenchmark.cjpeg) -quality 90 -outfile \(jpegPath) \(ppmPath)")
        defer { for path in [ppmPath, jpegPath] { try? FileManager.default.removeItem(atPath: path) } }
        return ByteBuffer(bytes: try Data(contentsOf: URL(fileURLWithPath: jpegPath)))
    }

    static func milliseconds(_ duration: Duration) -> Double {
        Double(duration.components.seconds) * 1000 + Double(duration.components.attoseconds) / 1e15
    }

    static func percentile(_ values: [Double], _ fraction: Double) -> Double {
        let sorted = values.sorted()
        return sorted[min(sorted.count - 1, Int(Double(sorted.count) * fraction))]
    }

    static func detectLatency(_ functions: String, _ jpeg: ByteBuffer) async throws {
        let host = try host(functions)
        try require(host, ["detect"])
        try await host.run { host in
            let request = InvocationRequest(body: jpeg, contentType: "image/jpeg")
            // On the cooperative pool, like an HTTP handler (see "overhead").
            let (wall, execution) = try await Task.detached {
                var wall: [Double] = []
                var execution: [Double] = []
                for round in 0..<65 {
                    let start = monotonicNanoseconds()
                    let output = try await host.invoke("detect", request)
                    if round < 5 { continue }  // the cold start and OpenCV's first passes
                    wall.append(Double(monotonicNanoseconds() - start) / 1e6)
                    execution.append(milliseconds(output.timings.execution))
                }
                return (wall, execution)
            }.value
            say(
                String(format: "    end to end:        p50 %6.1f ms, p90 %6.1f ms (60 runs; target p50 <= 60 ms)", percentile(wall, 0.5), percentile(wall, 0.9))
            )
            say(String(format: "    inside the call:   p50 %6.1f ms (decode on the instance's thread + detect's own work)", percentile(execution, 0.5)))
        }
        // The baseline, right after: libdetect.so called directly on pixels
        // decoded beforehand, with no host, decode or queue.
        // OpenCV's DNN module on the same files, one thread, is the engine
        // detect ran on before OpenVINO: the ratio against it is this run's.
        let pixels = try ImageDecoder.decode(jpeg, maxWidth: 832, maxHeight: 832)
        let library = functions + "/detect/libdetect.so"
        let engines = [
            ("OpenVINO, 1 thread (the manifest's)", #"{"model_directory":"model","threads":1}"#),
            ("OpenVINO, 2 threads", #"{"model_directory":"model","threads":2}"#),
            ("OpenCV, 1 thread (the old engine)", #"{"model_directory":"model","threads":1,"backend":"opencv"}"#),
            ("OpenCV, 2 threads", #"{"model_directory":"model","threads":2,"backend":"opencv"}"#),
        ]
        var medians: [Double] = []
        for (name, options) in engines {
            let direct = try directCalls(library, pixels, options: options, count: 30)
            medians.append(percentile(direct, 0.5))
            say(
                "    direct C call, \(name): "
                    + String(format: "p50 %6.1f ms, p90 %6.1f ms (decoded pixels, no host)", percentile(direct, 0.5), percentile(direct, 0.9)))
        }
        say(String(format: "    OpenCV / OpenVINO, same run: %.2fx at 1 thread, %.2fx at 2 threads", medians[2] / medians[0], medians[3] / medians[1]))
    }

    /// Milliseconds per call of a library's `describer_instance_process` on
    /// `image`, after one untimed call.
    static func directCalls(_ library: String, _ image: RGBImage, options: String, count: Int) throws -> [Double] {
        let direct = try DirectFunction(library: library, options: options)
        return image.pixels.withUnsafeReadableBytes { bytes in
            "application/x-describer-rgb8".withCString { type in
                "{}".withCString { json in
                    var request = describer_request()
                    request.data = bytes.baseAddress?.assumingMemoryBound(to: UInt8.self)
                    request.size = bytes.count
                    request.width = UInt32(image.width)
                    request.height = UInt32(image.height)
                    request.stride = UInt32(image.stride)
                    request.content_type = type
                    request.options_json = json
                    request.options_size = 2
                    request.deadline_ns = UInt64.max
                    var times: [Double] = []
                    for round in 0...count {
                        let start = monotonicNanoseconds()
                        direct.process(&request)
                        if round > 0 { times.append(Double(monotonicNanoseconds() - start) / 1e6) }
                    }
                    return times
                }
            }
        }
    }

    static func describeLatency(_ functions: String, _ images: String) async throws {
        let host = try host(functions)
        try require(host, ["detect", "caption"])
        let photos = try FileManager.default.contentsOfDirectory(atPath: images)
            .filter { ["jpg", "jpeg", "png"].contains(URL(fileURLWithPath: $0).pathExtension.lowercased()) }.sorted()
        try await host.run { host in
            let describer = ImageDescriber(host: host)
            say("    functions: \(describer.installedFunctions.joined(separator: ", "))")
            var medians: [Double] = []
            for photo in photos {
                let bytes = ByteBuffer(bytes: try Data(contentsOf: URL(fileURLWithPath: images + "/" + photo)))
                let (times, usable) = try await Task.detached {
                    var times: [Double] = []
                    var usable = true
                    for round in 0..<16 {
                        let start = monotonicNanoseconds()
                        usable = try await describer.describe(bytes).usable
                        if round > 0 { times.append(Double(monotonicNanoseconds() - start) / 1e6) }
                    }
                    return (times, usable)
                }.value
                medians.append(percentile(times, 0.5))
                let name = photo.padding(toLength: 16, withPad: " ", startingAt: 0)
                say(
                    "    \(name)" + String(format: "p50 %6.1f ms, p90 %6.1f ms", percentile(times, 0.5), percentile(times, 0.9))
                        + (usable ? "" : "  (judged unusable)"))
            }
            say(String(format: "    worst p50 %.1f ms over %d photos (15 runs each; target p50 <= 500 ms)", medians.max() ?? 0, photos.count))
        }
    }

    static func batchingThroughput(_ functions: String, _ jpeg: ByteBuffer) async throws {
        let batched = try host(functions)
        let unbatched = try host(functions, overrides: "detect: { batching: { max_batch_size: 1 } }")
        try require(batched, ["detect"])
        try require(unbatched, ["detect"])
        let manifestBatch = batched.entries["detect"]?.config?.maxBatchSize ?? 1
        let batchLimit = min(manifestBatch, batched.entries["detect"]?.capabilities?.maxBatchSize ?? manifestBatch)
        let request = InvocationRequest(body: jpeg, contentType: "image/jpeg", timeout: .seconds(60))
        await batched.start()
        await unbatched.start()
        let callers = 16, perCaller = 8
        var rates: [String: [Double]] = [:]
        for round in 0..<4 {
            for (host, name) in [(batched, "batched"), (unbatched, "unbatched")] {
                let start = monotonicNanoseconds()
                try await withThrowingTaskGroup(of: Void.self) { group in
                    for _ in 0..<callers {
                        group.addTask { for _ in 0..<perCaller { _ = try await host.invoke("detect", request) } }
                    }
                    try await group.waitForAll()
                }
                let perSecond = Double(callers * perCaller) / (Double(monotonicNanoseconds() - start) / 1e9)
                if round > 0 { rates[name, default: []].append(perSecond) }  // the first round starts the instances
            }
        }
        let b = percentile(rates["batched"]!, 0.5), u = percentile(rates["unbatched"]!, 0.5)
        say(String(format: "    batches of up to %d:  %6.1f images/s (median of 3 rounds of %d)", batchLimit, b, callers * perCaller))
        say(String(format: "    max_batch_size 1:     %6.1f images/s", u))
        say(String(format: "    ratio batched / unbatched: %.2f", b / u))
        await batched.shutdown()
        await unbatched.shutdown()
    }

    static func memory(_ functions: String, _ images: String) async throws {
        let photo = ByteBuffer(bytes: try Data(contentsOf: URL(fileURLWithPath: images + "/dog.jpg")))
        for name in ["echo", "detect", "caption"] {
            let host = try host(functions, overrides: "\(name): { isolation: process, scaling: { min_instances: 1, max_instances: 1, concurrency: 1 } }")
            try require(host, [name])
            try await host.run { host in
                let request =
                    name == "echo"
                    ? InvocationRequest(body: ByteBuffer(string: "hello"), contentType: "text/plain")
                    : InvocationRequest(body: photo, contentType: "image/jpeg")
                for _ in 0..<10 { _ = try await host.invoke(name, request) }
                let workers = childProcesses(named: "describer-worke")
                guard workers.count == 1, let status = try? String(contentsOfFile: "/proc/\(workers[0])/status", encoding: .utf8) else {
                    throw BenchError("expected one worker process for \(name), found \(workers.count)")
                }
                func field(_ key: String) -> String {
                    status.split(separator: "\n").first { $0.hasPrefix(key + ":") }.map { $0.dropFirst(key.count + 1).trimmingCharacters(in: .whitespaces) }
                        ?? "?"
                }
                say(
                    "    \(name.padding(toLength: 8, withPad: " ", startingAt: 0)) peak \(field("VmHWM")), now \(field("VmRSS")) (10 invocations\(name == "echo" ? ", the worker's own baseline" : " on dog.jpg"))"
                )
            }
        }
    }

    /// The pids of this process's children whose command name is `name`
    /// (the kernel keeps 15 characters of it).
    static func childProcesses(named name: String) -> [Int32] {
        let me = getpid()
        return ((try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []).compactMap { entry in
            guard let pid = Int32(entry), let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
                let open = stat.firstIndex(of: "("), let close = stat.lastIndex(of: ")")
            else { return nil }
            let command = stat[stat.index(after: open)..<close]
            let fields = stat[stat.index(close, offsetBy: 2)...].split(separator: " ")
            return command == name && fields.count > 1 && Int32(fields[1]) == me ? pid : nil
        }
    }
}
