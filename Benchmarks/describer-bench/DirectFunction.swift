import CDescriberFunction

#if canImport(Glibc)
import Glibc
#endif

/// Where the direct host table copies answers to.
nonisolated(unsafe) var sink = [UInt8](repeating: 0, count: 256)
nonisolated(unsafe) var sinkCount = 0

/// A function library driven straight through the C ABI, with no host in
/// between: the baseline the host's figures are compared with. Its host
/// table does the minimum a host must: it copies the start of each answer.
final class DirectFunction {
    typealias Create =
        @convention(c) (UnsafePointer<describer_host>?, OpaquePointer?, UnsafePointer<CChar>?, Int, UnsafeMutablePointer<UnsafeMutableRawPointer?>?) -> Int32
    typealias Process = @convention(c) (UnsafeMutableRawPointer?, OpaquePointer?, UnsafePointer<describer_request>?, Int) -> Int32

    private let instance: UnsafeMutableRawPointer?
    private let processFunction: Process

    /// Loads `library` and creates one instance with `options` (JSON).
    init(library: String, options: String = "{}") throws {
        guard let handle = dlopen(library, RTLD_NOW | RTLD_LOCAL) else { throw BenchError("cannot load \(library)") }
        let create = dlsym(handle, "describer_instance_create")
        let process = dlsym(handle, "describer_instance_process")
        guard let create, let process else { throw BenchError("\(library) lacks the describer hooks") }
        processFunction = unsafeBitCast(process, to: Process.self)
        // Never freed: the instance keeps the table for as long as it lives,
        // and a benchmark's instances live until the process ends.
        let host = UnsafeMutablePointer<describer_host>.allocate(capacity: 1)
        host.initialize(to: describer_host())
        host.pointee.struct_size = UInt32(MemoryLayout<describer_host>.size)
        host.pointee.log = { _, _, _, _ in }
        host.pointee.expired = { _, _ in 0 }
        host.pointee.now_ns = { monotonicNanoseconds() }
        host.pointee.respond = { _, _, _, data, size in
            sink.withUnsafeMutableBytes { $0.copyMemory(from: UnsafeRawBufferPointer(start: data, count: min(size, 256))) }
            sinkCount += size
            return 0
        }
        host.pointee.fail = { _, _, _, _, _ in 0 }
        var instance: UnsafeMutableRawPointer?
        guard unsafeBitCast(create, to: Create.self)(host, nil, options, options.utf8.count, &instance) == 0 else {
            throw BenchError("\(library) did not start with \(options)")
        }
        self.instance = instance
    }

    /// One call of `describer_instance_process` with `request` alone.
    func process(_ request: inout describer_request) {
        _ = processFunction(instance, nil, &request, 1)
    }
}
