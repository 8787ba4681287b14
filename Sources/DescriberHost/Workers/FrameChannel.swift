import CDescriberWorkerProtocol
import CLibUV
import NIOCore

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Reads and writes frames on the host's end of a worker's socket.
///
/// Unchecked Sendable: it is handed once to the thread that supervises the
/// worker and used only by that thread from then on, so its buffer is never
/// touched concurrently.
final class FrameChannel: @unchecked Sendable {
    enum Event {
        /// A whole frame, decoded.
        case message(WorkerMessage)
        /// The worker closed its end: it exited or is exiting.
        case endOfFile
        /// `until` passed first.
        case timedOut
        /// The wake-up descriptor became readable (and was drained).
        case woken
        /// A frame the host refuses (oversized, of another version, or
        /// malformed); the worker must be stopped.
        case malformed(String)
    }

    let fd: Int32
    private var buffer = ByteBufferAllocator().buffer(capacity: 64 * 1024)

    init(fd: Int32) { self.fd = fd }

    /// Writes one whole frame; false when the worker has gone.
    func send(_ frame: ByteBuffer) -> Bool {
        frame.withUnsafeReadableBytes { bytes in
            var offset = 0
            while offset < bytes.count {
                #if canImport(Glibc)
                let flags = Int32(MSG_NOSIGNAL)
                #else
                let flags: Int32 = 0
                #endif
                let written = systemSend(fd, bytes.baseAddress! + offset, bytes.count - offset, flags)
                if written < 0 {
                    if errno == EINTR { continue }
                    return false
                }
                offset += written
            }
            return true
        }
    }

    /// The next event: the message in a frame no longer than `limit` bytes,
    /// end of file, a wake-up on `wake`, or `until` (monotonic ns; `.max`
    /// waits forever) passing. Until `spinUntil` it polls without blocking,
    /// which saves the wake-up of a thread that waits for a fast answer.
    func next(limit: Int, until: UInt64 = .max, wake: Int32 = -1, spinUntil: UInt64 = 0) -> Event {
        if buffer.readableBytes == 0 { buffer.clear() }
        while true {
            // A whole frame already buffered?
            var wanted = WorkerFrame.headerSize
            if buffer.readableBytes >= WorkerFrame.headerSize {
                let header = WorkerFrame.header(of: buffer)
                let length = Int(header.length)
                guard header.version == WorkerFrame.version else {
                    return .malformed("a frame of protocol version \(header.version), expected \(WorkerFrame.version)")
                }
                guard length <= limit else {
                    return .malformed("a frame of type 0x\(String(header.type, radix: 16)) and \(length) bytes, more than the \(limit) allowed here")
                }
                if buffer.readableBytes >= WorkerFrame.headerSize + length {
                    buffer.moveReaderIndex(forwardBy: WorkerFrame.headerSize)
                    let payload = buffer.readSlice(length: length)!
                    do {
                        return .message(try WorkerMessage(frameType: header.type, payload: payload))
                    } catch {
                        return .malformed(error.description)
                    }
                }
                wanted = WorkerFrame.headerSize + length
            }
            let missing = wanted - buffer.readableBytes
            let now = MonotonicClock.now()
            if now < spinUntil {
                switch receive(missing, blocking: false) {
                case .some(0): return .endOfFile
                case .some: continue
                case nil:
                    sched_yield()
                    continue
                }
            }
            if until != .max && now >= until { return .timedOut }
            var fds = [pollfd(fd: fd, events: Int16(POLLIN), revents: 0), pollfd(fd: wake, events: Int16(POLLIN), revents: 0)]
            let timeout: Int32 = until == .max ? -1 : Int32(clamping: (until - now + 999_999) / 1_000_000)
            let ready = poll(&fds, wake >= 0 ? 2 : 1, timeout)
            if ready < 0 {
                if errno == EINTR { continue }
                return .endOfFile
            }
            if ready == 0 { continue }
            if fds[0].revents != 0 {
                switch receive(missing, blocking: false) {
                case .some(0): return .endOfFile
                default: continue
                }
            }
            if wake >= 0 && fds[1].revents != 0 {
                var drain = [UInt8](repeating: 0, count: 64)
                while read(wake, &drain, drain.count) > 0 {}
                return .woken
            }
        }
    }

    /// Reads what is available into the buffer (room for at least `missing`
    /// bytes). Returns the byte count, 0 at end of file (or on an error, which
    /// ends the conversation the same way), nil when nothing is available.
    private func receive(_ missing: Int, blocking: Bool) -> Int? {
        var result = 0
        var code: Int32 = 0
        buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: max(missing, 64 * 1024)) { bytes in
            let got = recv(fd, bytes.baseAddress, bytes.count, blocking ? 0 : Int32(MSG_DONTWAIT))
            if got < 0 {
                code = errno
                result = -1
                return 0
            }
            result = got
            return got
        }
        if result >= 0 { return result }
        if code == EAGAIN || code == EWOULDBLOCK || code == EINTR { return nil }
        return 0
    }
}

/// `send(2)`, named apart from ``FrameChannel/send(_:)``.
private func systemSend(_ fd: Int32, _ bytes: UnsafeRawPointer, _ count: Int, _ flags: Int32) -> Int {
    send(fd, bytes, count, flags)
}
