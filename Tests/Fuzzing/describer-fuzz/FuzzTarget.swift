import CDescriberFuzz

/// A fuzz target: a name for the command line and the corpus directory, and
/// what it does with one input.
struct FuzzTarget: Sendable {
    var name: String
    var run: @Sendable (UnsafeRawBufferPointer) -> Void

    static let all: [FuzzTarget] = [
        FuzzTarget(name: "image", run: ImageFuzzer.run),
        FuzzTarget(name: "multipart", run: MultipartFuzzer.run),
        FuzzTarget(name: "hikvision", run: HikvisionFuzzer.run),
        FuzzTarget(name: "worker-messages", run: WorkerMessageFuzzer.run),
        FuzzTarget(
            name: "worker-frames",
            run: { bytes in
                describer_fuzz_worker_frames(bytes.baseAddress?.assumingMemoryBound(to: UInt8.self), bytes.count)
            }),
    ]

    static func named(_ name: String) -> FuzzTarget? { all.first { $0.name == name } }

    /// Read by libFuzzer's callback, which is a C function and cannot capture.
    /// Set once, before libFuzzer starts, and libFuzzer runs inputs on one thread.
    nonisolated(unsafe) static var selected: FuzzTarget?
}
