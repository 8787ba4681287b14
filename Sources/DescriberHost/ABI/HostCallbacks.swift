import CDescriberFunction
import Logging
import NIOCore
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// The state behind one `describer_call *`: one create call or one batch
/// call. The C side sees it only as an opaque pointer that it hands back to
/// the callbacks in ``HostCallbacks/table``.
final class CallContext: Sendable {
    enum ItemResult: Sendable {
        case output(ByteBuffer, contentType: String)
        case failure(describer_status, String)
    }

    let logger: Logger
    let count: Int
    private let invocations: Batch?
    private let maxOutputBytes: Int
    private let isShuttingDown: @Sendable () -> Bool
    private let results: Mutex<[ItemResult?]>

    /// A batch call over `invocations`.
    init(logger: Logger, invocations: Batch, maxOutputBytes: Int) {
        self.logger = logger
        self.count = invocations.count
        self.invocations = invocations
        self.maxOutputBytes = maxOutputBytes
        self.isShuttingDown = { false }
        self.results = Mutex(Array(repeating: nil, count: invocations.count))
    }

    /// A create call: one result slot, which only `fail` uses.
    init(logger: Logger, isShuttingDown: @escaping @Sendable () -> Bool) {
        self.logger = logger
        self.count = 1
        self.invocations = nil
        self.maxOutputBytes = 0
        self.isShuttingDown = isShuttingDown
        self.results = Mutex([nil])
    }

    /// Runs `body` with the pointer the C side sees; the context outlives it.
    func withOpaquePointer<R>(_ body: (OpaquePointer) -> R) -> R {
        withExtendedLifetime(self) {
            body(OpaquePointer(Unmanaged.passUnretained(self).toOpaque()))
        }
    }

    static func from(_ pointer: OpaquePointer?) -> CallContext? {
        guard let pointer else { return nil }
        return Unmanaged<CallContext>.fromOpaque(UnsafeRawPointer(pointer)).takeUnretainedValue()
    }

    func takeResults() -> [ItemResult?] { results.withLock { $0 } }

    func expired(_ index: Int) -> Bool {
        guard index >= 0, index < count else { return true }
        guard let invocations else { return isShuttingDown() }
        return MonotonicClock.now() >= invocations[index].deadline || invocations[index].isCompleted
    }

    func respond(_ index: Int, contentType: String, bytes: UnsafeRawBufferPointer) -> Int32 {
        guard index >= 0, index < count, invocations != nil else { return -1 }
        guard bytes.count <= maxOutputBytes else {
            results.withLock {
                $0[index] = .failure(DESCRIBER_STATUS_FAILED, "output of \(bytes.count) bytes exceeds output.max_bytes (\(maxOutputBytes))")
            }
            return -1
        }
        let buffer = ByteBuffer(bytes: bytes)
        results.withLock { $0[index] = .output(buffer, contentType: contentType) }
        return 0
    }

    func fail(_ index: Int, status: describer_status, message: String) -> Int32 {
        guard index >= 0, index < count else { return -1 }
        let status = status == DESCRIBER_STATUS_OK ? DESCRIBER_STATUS_FAILED : status
        results.withLock { $0[index] = .failure(status, message) }
        return 0
    }
}

/// The `describer_host` table given to every function. Its callbacks only
/// find their way back to Swift through the `describer_call` pointer.
enum HostCallbacks {
    /// Allocated once and never freed: the header promises functions that
    /// the table stays valid for the life of the process. It is immutable
    /// after initialisation, which makes sharing it across threads sound.
    nonisolated(unsafe) static let table: UnsafePointer<describer_host> = {
        let table = UnsafeMutablePointer<describer_host>.allocate(capacity: 1)
        var host = describer_host()
        host.struct_size = UInt32(MemoryLayout<describer_host>.size)
        host.abi_major = UInt16(DESCRIBER_ABI_VERSION_MAJOR)
        host.abi_minor = UInt16(DESCRIBER_ABI_VERSION_MINOR)
        host.log = { call, level, message, size in
            guard let context = CallContext.from(call) else { return }
            let text = HostCallbacks.string(message, min(size, Int(DESCRIBER_MAX_MESSAGE)))  // cut as in a worker process
            let swiftLevel: Logger.Level =
                switch level {
                case DESCRIBER_LOG_DEBUG: .debug
                case DESCRIBER_LOG_INFO: .info
                case DESCRIBER_LOG_WARNING: .warning
                default: .error
                }
            context.logger.log(level: swiftLevel, "\(text)")
        }
        host.expired = { call, index in
            guard let context = CallContext.from(call) else { return 1 }
            return context.expired(index) ? 1 : 0
        }
        host.now_ns = { MonotonicClock.now() }
        host.respond = { call, index, contentType, data, size in
            guard let context = CallContext.from(call) else { return -1 }
            // size_t arrives as Int: SIZE_MAX-style garbage is negative here.
            guard size >= 0 else { return -1 }
            var type = "application/octet-stream"
            if let contentType {
                // As in a worker process: a longer type fails the item.
                guard strnlen(contentType, Int(DESCRIBER_MAX_CONTENT_TYPE) + 1) <= Int(DESCRIBER_MAX_CONTENT_TYPE) else {
                    _ = context.fail(
                        index, status: DESCRIBER_STATUS_FAILED, message: "the output's content type is longer than \(DESCRIBER_MAX_CONTENT_TYPE) bytes")
                    return -1
                }
                type = String(cString: contentType)
            }
            if size == 0 || data == nil {
                return context.respond(index, contentType: type, bytes: UnsafeRawBufferPointer(start: nil, count: 0))
            }
            return context.respond(index, contentType: type, bytes: UnsafeRawBufferPointer(start: data, count: size))
        }
        host.fail = { call, index, status, message, size in
            guard let context = CallContext.from(call) else { return -1 }
            // As in a worker process: a longer message is cut.
            return context.fail(index, status: status, message: HostCallbacks.string(message, min(size, Int(DESCRIBER_MAX_MESSAGE))))
        }
        table.initialize(to: host)
        return UnsafePointer(table)
    }()

    static func string(_ pointer: UnsafePointer<CChar>?, _ size: Int) -> String {
        guard let pointer, size > 0 else { return "" }
        let bytes = UnsafeRawBufferPointer(start: pointer, count: size)
        return String(decoding: bytes, as: UTF8.self)
    }
}
