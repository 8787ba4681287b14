import CDescriberFunction
import Logging
import NIOCore

@testable import DescriberHost

#if canImport(Glibc)
import Glibc
#endif

/// The host's frame reader on a worker's socket, and what the host does with
/// each message: a worker process runs a function's code, so it may be
/// hostile or broken and send anything.
enum WorkerMessageFuzzer {
    static let logger = Logger(label: "describer-fuzz") { _ in SwiftLogNoOpLogHandler() }
    /// During a batch of one whose function may answer 64 KiB; elsewhere the
    /// host reads with the smaller control limit.
    static let batchLimit = WorkerInstance.resultLimit(count: 1, maxOutputBytes: 64 << 10)

    static func run(_ bytes: UnsafeRawBufferPointer) {
        var fds: [Int32] = [0, 0]
        precondition(socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0, &fds) == 0, "socketpair failed")
        defer { close(fds[0]) }
        // The input is everything the worker wrote before it exited. It fits
        // the socket's buffer (libFuzzer's -max_len keeps it small), so the
        // write does not wait for the reader.
        var offset = 0
        while offset < bytes.count {
            let written = write(fds[1], bytes.baseAddress! + offset, bytes.count - offset)
            precondition(written > 0, "the fuzz input does not fit the socket's buffer")
            offset += written
        }
        close(fds[1])
        let channel = FrameChannel(fd: fds[0])
        var limit = WorkerFrame.controlLimit
        while true {
            switch channel.next(limit: limit) {
            case .message(let message):
                use(message)
                if case .created = message { limit = batchLimit }
            case .endOfFile, .malformed:
                return
            case .timedOut, .woken:
                preconditionFailure("the reader waited although the worker had gone")
            }
        }
    }

    /// What the launcher and the instance do with each message.
    static func use(_ message: WorkerMessage) {
        switch message {
        case .info(let info):
            _ = try? WorkerLauncher.capabilities(from: info, path: "fuzz.so")
        case .results(_, let items):
            for item in items {
                switch item {
                case .output(let contentType, let body): _ = (contentType.count, body.readableBytes)
                case .failure(let status, let text): _ = FunctionInstance.error(for: describer_status(rawValue: status), text)
                case .unanswered: break
                }
            }
        case .log(let level, let text):
            WorkerInstance.log(level: level, text, to: logger)
        case .loadFailed, .created, .createFailed, .destroyed:
            break
        }
    }
}
