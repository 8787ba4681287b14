import CDescriberWorkerProtocol
import DescriberImaging
import NIOCore

/// The frame types and limits of `describer_worker_protocol.h`, typed for Swift.
enum WorkerFrame {
    static let version = UInt8(DWP_VERSION)
    static let headerSize = MemoryLayout<dwp_frame_header>.size
    static let maxFrame = Int(DWP_MAX_FRAME)
    static let maxLog = Int(DWP_MAX_LOG)

    static let create = UInt8(DWP_FRAME_CREATE)
    static let process = UInt8(DWP_FRAME_PROCESS)
    static let destroy = UInt8(DWP_FRAME_DESTROY)
    static let info = UInt8(DWP_FRAME_INFO)
    static let loadFailed = UInt8(DWP_FRAME_LOAD_FAILED)
    static let created = UInt8(DWP_FRAME_CREATED)
    static let createFailed = UInt8(DWP_FRAME_CREATE_FAILED)
    static let results = UInt8(DWP_FRAME_RESULTS)
    static let log = UInt8(DWP_FRAME_LOG)
    static let destroyed = UInt8(DWP_FRAME_DESTROYED)

    static let itemNone = UInt8(DWP_ITEM_NONE)
    static let itemOutput = UInt8(DWP_ITEM_OUTPUT)
    static let itemFailure = UInt8(DWP_ITEM_FAILURE)

    /// The longest control frame the host accepts (INFO, LOAD_FAILED, CREATE_FAILED, LOG).
    static let controlLimit = 64 * 1024

    /// The protocol's name for a frame type, for messages about it.
    static func name(of type: UInt8) -> String {
        switch type {
        case create: "CREATE"
        case process: "PROCESS"
        case destroy: "DESTROY"
        case info: "INFO"
        case loadFailed: "LOAD_FAILED"
        case created: "CREATED"
        case createFailed: "CREATE_FAILED"
        case results: "RESULTS"
        case log: "LOG"
        case destroyed: "DESTROYED"
        default: "0x\(String(type, radix: 16))"
        }
    }

    /// The header at the front of `bytes`, which holds at least ``headerSize`` readable bytes.
    static func header(of bytes: ByteBuffer) -> dwp_frame_header {
        bytes.withUnsafeReadableBytes { $0.loadUnaligned(as: dwp_frame_header.self) }
    }

    // MARK: What the host sends

    /// The CREATE frame that hands the instance its options.
    static func encodeCreate(options: String) -> ByteBuffer {
        let size = MemoryLayout<dwp_create>.size + options.utf8.count
        var frame = begin(create, payloadSize: size)
        append(dwp_create(options_size: UInt32(options.utf8.count)), to: &frame)
        frame.writeString(options)
        return frame
    }

    /// The DESTROY frame.
    static func encodeDestroy() -> ByteBuffer {
        begin(destroy, payloadSize: 0)
    }

    /// The payload size of the PROCESS frame for `batch`, known before it is
    /// built so that a batch too large for the worker costs no copy.
    static func processPayloadSize(_ batch: [Invocation], images: [RGBImage]?) -> Int {
        var size = MemoryLayout<dwp_process>.size
        for (index, invocation) in batch.enumerated() {
            let contentType = images == nil ? invocation.contentType : FunctionInstance.rgb8ContentType
            let data = images?[index].pixels.readableBytes ?? invocation.body.readableBytes
            size += MemoryLayout<dwp_process_item>.size + contentType.utf8.count + 1 + invocation.optionsJSON.utf8.count + data
        }
        return size
    }

    /// The PROCESS frame for `batch`, whose payload is `payloadSize` bytes
    /// (``processPayloadSize(_:images:)``, at most ``maxFrame``).
    static func encodeProcess(_ batch: [Invocation], images: [RGBImage]?, payloadSize: Int) -> ByteBuffer {
        var frame = begin(process, payloadSize: payloadSize)
        append(dwp_process(count: UInt32(batch.count)), to: &frame)
        for (index, invocation) in batch.enumerated() {
            let image = images?[index]
            let data = image?.pixels ?? invocation.body
            let contentType = image == nil ? invocation.contentType : FunctionInstance.rgb8ContentType
            let item = dwp_process_item(
                deadline_ns: invocation.deadline,
                width: UInt32(image?.width ?? 0),
                height: UInt32(image?.height ?? 0),
                stride: UInt32(image?.stride ?? 0),
                source_width: UInt32(clamping: image?.sourceWidth ?? 0),
                source_height: UInt32(clamping: image?.sourceHeight ?? 0),
                content_type_size: UInt32(contentType.utf8.count + 1),
                options_size: UInt32(invocation.optionsJSON.utf8.count),
                data_size: UInt64(data.readableBytes)
            )
            append(item, to: &frame)
            frame.writeString(contentType)
            frame.writeInteger(UInt8(0))
            frame.writeString(invocation.optionsJSON)
            frame.writeImmutableBuffer(data)
        }
        assert(frame.readableBytes == headerSize + payloadSize, "the PROCESS frame's size was computed wrongly")
        return frame
    }

    /// A buffer of exactly one frame's capacity, holding its header.
    private static func begin(_ type: UInt8, payloadSize: Int) -> ByteBuffer {
        var buffer = ByteBufferAllocator().buffer(capacity: headerSize + payloadSize)
        append(dwp_frame_header(length: UInt32(payloadSize), version: version, type: type, reserved: 0), to: &buffer)
        return buffer
    }

    /// Writes one of the protocol's structs as it travels: the header makes
    /// sure its memory is the little-endian wire layout.
    private static func append<Fields: BitwiseCopyable>(_ fields: Fields, to buffer: inout ByteBuffer) {
        withUnsafeBytes(of: fields) { _ = buffer.writeBytes($0) }
    }
}

/// A frame the host refuses from a worker, which is then stopped.
enum WorkerProtocolError: Error, Equatable, CustomStringConvertible {
    /// Not a type a worker sends.
    case unknownFrameType(UInt8)
    /// A fixed part, or a length inside the frame, runs past its end.
    case truncated(frameType: UInt8)
    /// Bytes left over after everything the frame declares.
    case trailingBytes(frameType: UInt8)
    /// A RESULTS item of a kind the protocol does not have.
    case unknownItemKind(UInt8)

    // Phrased to follow "the worker sent", as the host reports it.
    var description: String {
        switch self {
        case .unknownFrameType(let type): "a frame of unknown type 0x\(String(type, radix: 16))"
        case .truncated(let type): "a truncated \(WorkerFrame.name(of: type)) frame"
        case .trailingBytes(let type): "a \(WorkerFrame.name(of: type)) frame with trailing bytes"
        case .unknownItemKind(let kind): "a RESULTS item of unknown kind \(kind)"
        }
    }
}

/// What a worker sends the host, decoded from one frame.
enum WorkerMessage {
    /// The library's self-description, read in the worker.
    case info(Info)
    /// The library could not be loaded; the worker exits.
    case loadFailed(code: UInt32, message: String)
    /// The instance exists.
    case created(createNanoseconds: UInt64)
    /// `describer_instance_create` failed; the worker exits.
    case createFailed(returnCode: Int32, status: UInt32, message: String)
    /// The answers to the batch in flight, one per request and in its order.
    case results(returnCode: Int32, items: [ResultItem])
    /// A line the function logged.
    case log(level: UInt32, message: String)
    /// The instance is destroyed; the worker exits.
    case destroyed

    /// An INFO frame: the fixed fields as the worker read them, and the strings.
    struct Info {
        var fields: dwp_info
        var name: String
        var version: String
    }

    /// One request's part of a RESULTS frame.
    enum ResultItem {
        /// The function responded: the body is a slice of the frame, not a copy.
        case output(contentType: String, body: ByteBuffer)
        case failure(status: UInt32, message: String)
        /// The function neither responded nor failed the request.
        case unanswered
    }

    /// The frame type this message arrived as.
    var frameType: UInt8 {
        switch self {
        case .info: WorkerFrame.info
        case .loadFailed: WorkerFrame.loadFailed
        case .created: WorkerFrame.created
        case .createFailed: WorkerFrame.createFailed
        case .results: WorkerFrame.results
        case .log: WorkerFrame.log
        case .destroyed: WorkerFrame.destroyed
        }
    }

    /// Decodes the payload of a frame of `frameType`, checking every length
    /// it declares against what the frame holds before using it.
    init(frameType: UInt8, payload: ByteBuffer) throws(WorkerProtocolError) {
        var reader = PayloadReader(payload: payload, frameType: frameType)
        switch frameType {
        case WorkerFrame.info:
            let fields = try reader.read(dwp_info.self)
            let name = try reader.string(UInt64(fields.name_size))
            let version = try reader.string(UInt64(fields.version_size))
            self = .info(Info(fields: fields, name: name, version: version))
        case WorkerFrame.loadFailed:
            let fields = try reader.read(dwp_load_failed.self)
            self = .loadFailed(code: fields.code, message: try reader.string(UInt64(fields.message_size)))
        case WorkerFrame.created:
            self = .created(createNanoseconds: try reader.read(dwp_created.self).create_ns)
        case WorkerFrame.createFailed:
            let fields = try reader.read(dwp_create_failed.self)
            let message = try reader.string(UInt64(fields.message_size))
            self = .createFailed(returnCode: fields.return_code, status: fields.status, message: message)
        case WorkerFrame.results:
            self = try Self.results(&reader)
        case WorkerFrame.log:
            let fields = try reader.read(dwp_log.self)
            self = .log(level: fields.level, message: try reader.string(UInt64(reader.remaining)))
        case WorkerFrame.destroyed:
            self = .destroyed
        default:
            throw .unknownFrameType(frameType)
        }
        try reader.finish()
    }

    private static func results(_ reader: inout PayloadReader) throws(WorkerProtocolError) -> WorkerMessage {
        let fields = try reader.read(dwp_results.self)
        // Every item takes at least its kind, which bounds the count by the
        // frame before anything is reserved for it.
        guard UInt64(fields.count) * UInt64(MemoryLayout<dwp_results_item>.size) <= UInt64(reader.remaining) else {
            throw .truncated(frameType: WorkerFrame.results)
        }
        var items: [ResultItem] = []
        items.reserveCapacity(Int(fields.count))
        for _ in 0..<fields.count {
            let kind = try reader.read(dwp_results_item.self).kind
            switch kind {
            case WorkerFrame.itemOutput:
                let output = try reader.read(dwp_output.self)
                let contentType = try reader.string(UInt64(output.content_type_size))
                items.append(.output(contentType: contentType, body: try reader.slice(output.data_size)))
            case WorkerFrame.itemFailure:
                let failure = try reader.read(dwp_failure.self)
                items.append(.failure(status: failure.status, message: try reader.string(UInt64(failure.message_size))))
            case WorkerFrame.itemNone:
                items.append(.unanswered)
            default:
                throw .unknownItemKind(kind)
            }
        }
        return .results(returnCode: fields.return_code, items: items)
    }
}

/// A cursor over one frame's payload that refuses to read past its end.
private struct PayloadReader {
    var payload: ByteBuffer
    let frameType: UInt8

    var remaining: Int { payload.readableBytes }

    /// The next protocol struct, copied out of the frame.
    mutating func read<Fields: BitwiseCopyable>(_: Fields.Type) throws(WorkerProtocolError) -> Fields {
        let size = MemoryLayout<Fields>.size
        guard size <= payload.readableBytes else { throw .truncated(frameType: frameType) }
        let fields = payload.withUnsafeReadableBytes { $0.loadUnaligned(as: Fields.self) }
        payload.moveReaderIndex(forwardBy: size)
        return fields
    }

    /// The next `size` bytes as text; invalid UTF-8 is repaired, not refused.
    mutating func string(_ size: UInt64) throws(WorkerProtocolError) -> String {
        guard size <= UInt64(payload.readableBytes) else { throw .truncated(frameType: frameType) }
        return payload.readString(length: Int(size))!
    }

    /// The next `size` bytes, sharing the frame's storage.
    mutating func slice(_ size: UInt64) throws(WorkerProtocolError) -> ByteBuffer {
        guard size <= UInt64(payload.readableBytes) else { throw .truncated(frameType: frameType) }
        return payload.readSlice(length: Int(size))!
    }

    /// Refuses bytes the frame did not account for.
    func finish() throws(WorkerProtocolError) {
        guard payload.readableBytes == 0 else { throw .trailingBytes(frameType: frameType) }
    }
}
