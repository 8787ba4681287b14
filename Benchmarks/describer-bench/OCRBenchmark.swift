import DescriberHost
import Foundation
import Logging
import NIOCore

/// `describer-bench ocr FUNCTIONS_DIRECTORY IMAGE [ITERATIONS]`
///
/// The `ocr` function on IMAGE through the host, as its manifest runs it
/// (deployment overrides apply, e.g. `DESCRIBER_FUNCTIONS__OCR__ISOLATION=in-process`):
/// the cold start, then warm invocations end to end and inside the function
/// (`timings.execution`), so the host's share is the difference; and the
/// peak resident memory (VmHWM) of each worker process, or of this process
/// when the function runs in-process.
enum OCRBenchmark {
    static func run(_ arguments: [String]) async throws {
        guard arguments.count >= 4 else { throw BenchError("usage: describer-bench ocr FUNCTIONS_DIRECTORY IMAGE [ITERATIONS]") }
        let iterations = arguments.count > 4 ? Int(arguments[4]) ?? 20 : 20
        var logger = Logger(label: "bench")
        logger.logLevel = .error
        var config = try HostConfig.load(path: nil, environment: ProcessInfo.processInfo.environment)
        config.functionsDirectory = arguments[2]
        config.port = 0
        let host = try FunctionHost(config: config, logger: logger)
        await host.start()
        let body = ByteBuffer(bytes: try Data(contentsOf: URL(fileURLWithPath: arguments[3])))
        let request = InvocationRequest(
            body: body, contentType: arguments[3].hasSuffix(".png") ? "image/png" : "image/jpeg", timeout: .seconds(60)
        )
        let coldStart = monotonicNanoseconds()
        let first = try await host.invoke("ocr", request)
        let coldMilliseconds = Double(monotonicNanoseconds() - coldStart) / 1e6
        var endToEnd: [Double] = []
        var inside: [Double] = []
        // The function's own workers: their command line names its library (others, like speak's, may be warm too).
        let readers = childProcesses(named: "describer-worke").map(String.init).filter { pid in  // /proc's comm is cut to 15 bytes
            let commandLine = (try? Data(contentsOf: URL(fileURLWithPath: "/proc/\(pid)/cmdline"))) ?? Data()
            return String(decoding: commandLine, as: UTF8.self).contains("libocr.so")
        }
        let measured = readers.isEmpty ? ["self"] : readers
        let cpuBefore = measured.map(cpuSeconds(of:)).reduce(0, +)
        for _ in 0..<iterations {
            let start = monotonicNanoseconds()
            let output = try await host.invoke("ocr", request)
            endToEnd.append(Double(monotonicNanoseconds() - start) / 1e6)
            let execution = output.timings.execution.components
            inside.append(Double(execution.seconds) * 1e3 + Double(execution.attoseconds) / 1e15)
        }
        let cpuPerInvocation = (measured.map(cpuSeconds(of:)).reduce(0, +) - cpuBefore) / Double(iterations) * 1e3
        let peaks = measured.map(peakResidentKiB(of:))
        await host.shutdown()

        endToEnd.sort()
        inside.sort()
        func percentile(_ values: [Double], _ fraction: Double) -> Double { values[min(values.count - 1, Int(Double(values.count) * fraction))] }
        let text = String(buffer: first.body).prefix(160).replacingOccurrences(of: "\n", with: " ")
        print("answer: \(text)…")
        print(String(format: "cold start (first invocation, instance creation included): %.0f ms", coldMilliseconds))
        print(
            String(
                format: "warm, %d invocations: end to end p50 %.1f ms, p90 %.1f ms, min %.1f ms; inside the function p50 %.1f ms",
                iterations, percentile(endToEnd, 0.5), percentile(endToEnd, 0.9), endToEnd[0], percentile(inside, 0.5)
            ))
        print(
            String(format: "CPU time per warm invocation: %.0f ms", cpuPerInvocation)
                + (readers.isEmpty ? " (this whole process)" : " (in the worker process)"))
        print(
            "peak resident memory: " + peaks.map { String(format: "%.0f MiB", Double($0) / 1024) }.joined(separator: ", ")
                + (readers.isEmpty ? " (this process, function in-process)" : " (per worker process)"))
    }

    /// Live children of this process whose command name is `name`.
    static func childProcesses(named name: String) -> [Int] {
        let parent = getpid()
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
        return entries.compactMap(Int.init).filter { pid in
            guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
                let close = stat.range(of: ")", options: .backwards)
            else { return false }
            let command = stat[stat.index(after: stat.firstIndex(of: "(")!)..<close.lowerBound]
            let fields = stat[close.upperBound...].split(separator: " ")
            return command == name && fields.count > 2 && Int32(fields[1]) == parent
        }
    }

    /// User and system CPU time of /proc/`pid` so far, in seconds.
    static func cpuSeconds(of pid: String) -> Double {
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
            let close = stat.range(of: ")", options: .backwards)
        else { return 0 }
        // After the command: state is field 3; utime and stime are fields 14 and 15.
        let fields = stat[close.upperBound...].split(separator: " ")
        guard fields.count > 12, let user = Double(fields[11]), let system = Double(fields[12]) else { return 0 }
        return (user + system) / Double(sysconf(Int32(_SC_CLK_TCK)))
    }

    /// VmHWM of /proc/`pid`, in KiB.
    static func peakResidentKiB(of pid: String) -> Int {
        let status = (try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8)) ?? ""
        let line = status.split(separator: "\n").first { $0.hasPrefix("VmHWM:") } ?? ""
        return Int(line.split(separator: " ").dropFirst().first ?? "") ?? 0
    }
}
