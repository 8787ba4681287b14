import DescriberHost
import Foundation
import Logging
import NIOCore

/// `describer-bench speak FUNCTIONS_DIRECTORY`
///
/// The speech real-time factor (wall time / audio duration) of the `speak`
/// function through the host, for about a minute of speech at 175, 450 and
/// 900 words per minute. It also reports the function's own execution time
/// (`timings.execution`), so the host's share is the difference.
enum SpeechBenchmark {
    /// About 175 words: a minute of speech at the default rate.
    static let text = """
        The photo shows a kitchen in the morning. A wooden table stands in the middle of the room, with two chairs \
        pushed under it and a third pulled out as if someone has just stood up. On the table there is a blue mug, a \
        plate with half a slice of toast, and a folded newspaper. Sunlight comes in through a window on the left and \
        falls across the floor in long bright stripes. Behind the table, a white refrigerator is covered with \
        magnets, a calendar and a child's drawing of a house with a red roof. The counter along the back wall holds \
        a kettle, a bowl of apples and a radio. A grey cat sits on the windowsill, looking out at the garden. The \
        garden is green, with a small tree and a washing line. There is text on the calendar: it reads November, \
        and the twenty-fifth is circled in red. The photo is sharp and well lit, and nothing in it is moving. \
        Nobody else is in the room.
        """

    static func run(_ arguments: [String]) async throws {
        guard arguments.count >= 3 else { throw BenchError("usage: describer-bench speak FUNCTIONS_DIRECTORY") }
        var logger = Logger(label: "bench")
        logger.logLevel = .error
        var config = HostConfig(port: 0, functionsDirectory: arguments[2])
        config.shutdownGrace = .seconds(5)
        let host = try FunctionHost(config: config, logger: logger)
        await host.start()
        let body = ByteBuffer(string: text)
        print("text: \(text.split(separator: " ").count) words, \(text.count) characters")
        for rate in [175, 450, 900] {
            let request = InvocationRequest(body: body, contentType: "text/plain", options: [("rate", String(rate))])
            _ = try await host.invoke("speak", request)  // warm the voice and the rate's code path
            var ratios: [Double] = []
            var executionRatios: [Double] = []
            var audioSeconds = 0.0
            for _ in 0..<15 {
                let start = monotonicNanoseconds()
                let output = try await host.invoke("speak", request)
                let wall = Double(monotonicNanoseconds() - start) / 1e9
                audioSeconds = Double(output.body.readableBytes - 44) / 2 / 22_050
                ratios.append(wall / audioSeconds)
                let execution = output.timings.execution.components
                executionRatios.append((Double(execution.seconds) + Double(execution.attoseconds) / 1e18) / audioSeconds)
            }
            ratios.sort()
            executionRatios.sort()
            print(
                String(
                    format: "%3d wpm: %.1f s of audio; real-time factor %.5f end to end, %.5f inside the function (medians of 15)",
                    rate, audioSeconds, ratios[ratios.count / 2], executionRatios[executionRatios.count / 2]
                ))
        }
        await host.shutdown()
    }
}

struct BenchError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}
