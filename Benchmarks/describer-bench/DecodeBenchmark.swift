import CJPEGBaseline
import DescriberHost
import DescriberImaging
import Foundation

/// `describer-bench decode JPEG [SOURCE_JPEG]`
///
/// (a) Full-size decode of JPEG: our ``ImageDecoder`` against libjpeg's bare
///     decode loop in the same process (the honest baseline: same library,
///     same settings, none of our extras) and against `djpeg -outfile
///     /dev/null` (whose process start-up is measured on an 8 x 8 JPEG and
///     subtracted).
/// (b) With SOURCE_JPEG: a ~13-megapixel JPEG made from it at run time with
///     djpeg/cjpeg (2x, then 13/8x), decoded for a 1024-pixel box with DCT
///     scaling, without it (full decode + area resize), and at full size.
///
/// Needs djpeg and cjpeg (Debian: libjpeg-turbo-progs); `DJPEG`/`CJPEG` override their paths.
enum DecodeBenchmark {
    static let environment = ProcessInfo.processInfo.environment
    static let djpeg = environment["DJPEG"] ?? "/usr/bin/djpeg"
    static let cjpeg = environment["CJPEG"] ?? "/usr/bin/cjpeg"

    static func run(_ arguments: [String]) throws {
        let path = arguments[2]
        let bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))
        let full = try ImageDecoder.decode(bytes)
        let megapixels = Double(full.width * full.height) / 1e6
        print("(a) full decode of \(path): \(full.width) x \(full.height), \(bytes.count) bytes")
        var pixels = [UInt8](repeating: 0, count: full.width * full.height * 3)

        // Alternate the two in-process decoders round by round, so that any
        // drift in the machine's speed hits both alike.
        let iterations = max(5, Int(200 / megapixels))
        var ours: [Double] = []
        var baseline: [Double] = []
        var baselineFresh: [Double] = []
        for _ in 0..<7 {
            ours.append(perIteration(iterations) { _ = try? ImageDecoder.decode(bytes) })
            baseline.append(perIteration(iterations) { libjpeg(bytes, into: &pixels) })
            baselineFresh.append(perIteration(iterations) { libjpegFresh(bytes, count: pixels.count) })
        }
        let tiny = try tinyJPEG()
        let djpegRuns = 40
        var djpegFile: [Double] = []
        var djpegTiny: [Double] = []
        for _ in 0..<djpegRuns {
            djpegFile.append(try spawnNanoseconds(djpeg, ["-outfile", "/dev/null", path]))
            djpegTiny.append(try spawnNanoseconds(djpeg, ["-outfile", "/dev/null", tiny]))
        }
        let o = median(ours), b = median(baseline), bf = median(baselineFresh)
        let d = median(djpegFile), dt = median(djpegTiny), dNet = d - dt
        report("ours (ImageDecoder.decode, new buffer)", o, megapixels)
        report("libjpeg loop, in-process, reused buffer", b, megapixels)
        report("libjpeg loop, in-process, new buffer", bf, megapixels)
        report("djpeg, whole process (posix_spawn)", d, megapixels)
        report("djpeg minus its start-up (\(format(dt / 1e6)) ms)", dNet, megapixels)
        print("    ours / libjpeg loop, new buffer:      \(format(bf / o))x throughput")
        print("    ours / libjpeg loop, reused buffer:   \(format(b / o))x")
        print("    ours / djpeg (start-up subtracted):   \(format(dNet / o))x")
        print("    ours / djpeg (whole process):         \(format(d / o))x")

        guard arguments.count > 3 else { return }
        let big = try upscaledJPEG(from: arguments[3])
        let bigBytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: big)))
        let bigImage = try ImageDecoder.decode(bigBytes, limits: ImageLimits(maxPixels: 100_000_000))
        let bigMegapixels = Double(bigImage.width * bigImage.height) / 1e6
        print("")
        print("(b) \(bigImage.width) x \(bigImage.height) (\(format(bigMegapixels)) MP, \(bigBytes.count) bytes) into a 1024 x 1024 box")
        var bigPixels = [UInt8](repeating: 0, count: bigImage.width * bigImage.height * 3)
        var scaled: [Double] = []
        var resized: [Double] = []
        var fullSize: [Double] = []
        var bare: [Double] = []
        var bareFresh: [Double] = []
        var djpegBig: [Double] = []
        var box = (0, 0)
        for _ in 0..<7 {
            scaled.append(
                perIteration(5) {
                    let image = try? ImageDecoder.decode(bigBytes, maxWidth: 1024, maxHeight: 1024)
                    box = (image?.width ?? 0, image?.height ?? 0)
                })
            resized.append(perIteration(5) { _ = try? ImageDecoder.decode(bigBytes, maxWidth: 1024, maxHeight: 1024, dctScaling: false) })
            fullSize.append(perIteration(5) { _ = try? ImageDecoder.decode(bigBytes) })
            bare.append(perIteration(5) { libjpeg(bigBytes, into: &bigPixels) })
            bareFresh.append(perIteration(5) { libjpegFresh(bigBytes, count: bigPixels.count) })
            djpegBig.append(try spawnNanoseconds(djpeg, ["-outfile", "/dev/null", big]) - dt)
        }
        print("    output \(box.0) x \(box.1)")
        print("    box, DCT scaling + area resize:        \(format(median(scaled) / 1e6)) ms")
        print("    box, full decode + area resize:        \(format(median(resized) / 1e6)) ms")
        print("    full size, ours:                       \(format(median(fullSize) / 1e6)) ms")
        print("    full size, libjpeg loop, new buffer:   \(format(median(bareFresh) / 1e6)) ms")
        print("    full size, libjpeg loop, reused buffer:\(format(median(bare) / 1e6)) ms")
        print("    full size, djpeg minus start-up:       \(format(median(djpegBig) / 1e6)) ms")
        print("    DCT scaling speed-up for the box:      \(format(median(resized) / median(scaled)))x")
        try? FileManager.default.removeItem(atPath: big)
    }

    static func libjpeg(_ bytes: [UInt8], into pixels: inout [UInt8]) {
        let count = bytes.withUnsafeBufferPointer { input in
            pixels.withUnsafeMutableBufferPointer { output in
                describer_bench_libjpeg_decode(input.baseAddress, input.count, 1, output.baseAddress, output.count)
            }
        }
        precondition(count > 0, "libjpeg failed on the benchmark image")
    }

    /// The same, into memory allocated for this decode alone, which is what
    /// ``ImageDecoder`` returns: large allocations come fresh from mmap, and
    /// the kernel's page faults are part of the cost of delivering an image.
    static func libjpegFresh(_ bytes: [UInt8], count: Int) {
        let output = UnsafeMutableRawBufferPointer.allocate(byteCount: count, alignment: 16)
        defer { output.deallocate() }
        let written = bytes.withUnsafeBufferPointer { input in
            describer_bench_libjpeg_decode(input.baseAddress, input.count, 1, output.baseAddress!.assumingMemoryBound(to: UInt8.self), count)
        }
        precondition(written > 0, "libjpeg failed on the benchmark image")
    }

    /// Nanoseconds per call of `body`, over `iterations` calls.
    static func perIteration(_ iterations: Int, _ body: () -> Void) -> Double {
        let start = monotonicNanoseconds()
        for _ in 0..<iterations { body() }
        return Double(monotonicNanoseconds() - start) / Double(iterations)
    }

    /// Wall time of one run, spawned with posix_spawn: Foundation's Process
    /// adds tens of milliseconds of its own per launch on Linux.
    static func spawnNanoseconds(_ executable: String, _ arguments: [String]) throws -> Double {
        let argv: [UnsafeMutablePointer<CChar>?] = ([executable] + arguments).map { strdup($0) } + [nil]
        defer { for pointer in argv { free(pointer) } }
        var pid: pid_t = 0
        let start = monotonicNanoseconds()
        let spawned = posix_spawn(&pid, executable, nil, nil, argv, environ)
        guard spawned == 0 else { throw BenchError("cannot run \(executable): \(String(cString: strerror(spawned)))") }
        var status: Int32 = 0
        while waitpid(pid, &status, 0) == -1 && errno == EINTR {}
        let elapsed = monotonicNanoseconds() - start
        guard status == 0 else { throw BenchError("\(executable) \(arguments) exited with status \(status)") }
        return Double(elapsed)
    }

    static func shell(_ command: String) throws {
        _ = try spawnNanoseconds("/bin/sh", ["-c", "set -e; " + command])
    }

    static func temporary(_ name: String) -> String { NSTemporaryDirectory() + "describer-bench-\(getpid())-\(name)" }

    /// An 8 x 8 JPEG: what djpeg costs when there is almost nothing to decode.
    static func tinyJPEG() throws -> String {
        let ppm = temporary("tiny.ppm"), jpeg = temporary("tiny.jpg")
        try Data(Array("P6\n8 8\n255\n".utf8) + [UInt8](repeating: 128, count: 8 * 8 * 3)).write(to: URL(fileURLWithPath: ppm))
        try shell("\(cjpeg) -outfile \(jpeg) \(ppm)")
        return jpeg
    }

    /// libjpeg-turbo scales by at most 2x per pass, so two passes:
    /// 1352 x 900 (kite.jpg) -> 2704 x 1800 -> 4394 x 2925 (12.9 MP).
    static func upscaledJPEG(from source: String) throws -> String {
        let output = temporary("12mp.jpg")
        try shell("\(djpeg) -scale 2/1 \(source) | \(cjpeg) -quality 95 | \(djpeg) -scale 13/8 | \(cjpeg) -quality 90 -outfile \(output)")
        return output
    }

    static func report(_ name: String, _ nanoseconds: Double, _ megapixels: Double) {
        let padded = name.padding(toLength: 48, withPad: " ", startingAt: 0)
        print("    \(padded) \(format(nanoseconds / 1e6)) ms  \(format(megapixels / (nanoseconds / 1e9))) MP/s")
    }

    static func format(_ value: Double) -> String { String(format: "%.2f", value) }

    struct BenchError: Error, CustomStringConvertible {
        var description: String
        init(_ description: String) { self.description = description }
    }
}
