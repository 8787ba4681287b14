import CDescriberFunction
import CDescriberWorkerProtocol
import DescriberImaging
import Foundation
import NIOCore
import Testing

@testable import DescriberHost

/// The worker protocol's frames as the host decodes and encodes them. The
/// expected bytes are written out field by field from the layout the header
/// documents, not through its structs, so that a struct drifting from the
/// wire format fails here.
@Suite struct WorkerMessageTests {
    /// A payload written field by field.
    static func payload(_ write: (inout ByteBuffer) -> Void) -> ByteBuffer {
        var buffer = ByteBuffer()
        write(&buffer)
        return buffer
    }

    /// Why the decoder refuses a frame; nil when it accepts it.
    static func refusal(_ type: UInt8, _ payload: ByteBuffer) -> WorkerProtocolError? {
        do {
            _ = try WorkerMessage(frameType: type, payload: payload)
            return nil
        } catch {
            return error
        }
    }

    static func info(name: String = "echo", version: String = "1.2.3", nameSize: UInt32? = nil) -> ByteBuffer {
        payload { buffer in
            buffer.writeInteger(UInt32(64), endianness: .little)  // struct_size
            buffer.writeInteger(UInt16(1), endianness: .little)  // abi_major
            buffer.writeInteger(UInt16(1), endianness: .little)  // abi_minor
            buffer.writeInteger(UInt32(0b101), endianness: .little)  // capabilities
            buffer.writeInteger(UInt32(1), endianness: .little)  // input_kind
            buffer.writeInteger(UInt32(640), endianness: .little)  // max_width
            buffer.writeInteger(UInt32(480), endianness: .little)  // max_height
            buffer.writeInteger(UInt32(8), endianness: .little)  // max_batch_size
            buffer.writeInteger(UInt8(1))  // has_name
            buffer.writeInteger(UInt8(0))  // has_version
            buffer.writeInteger(UInt16(0), endianness: .little)
            buffer.writeInteger(nameSize ?? UInt32(name.utf8.count), endianness: .little)
            buffer.writeInteger(UInt32(version.utf8.count), endianness: .little)
            buffer.writeString(name)
            buffer.writeString(version)
        }
    }

    static func loadFailed(messageSize: UInt32? = nil) -> ByteBuffer {
        payload { buffer in
            buffer.writeInteger(UInt32(DWP_LOAD_MISSING_SYMBOL), endianness: .little)
            buffer.writeInteger(messageSize ?? 7, endianness: .little)
            buffer.writeString("no info")
        }
    }

    static let created = payload { $0.writeInteger(UInt64(1_234_567_890_123), endianness: .little) }

    static func createFailed(messageSize: UInt32? = nil) -> ByteBuffer {
        payload { buffer in
            buffer.writeInteger(Int32(-3), endianness: .little)
            buffer.writeInteger(UInt32(5), endianness: .little)
            buffer.writeInteger(messageSize ?? 9, endianness: .little)
            buffer.writeString("bad model")
        }
    }

    /// RESULTS for three requests: an output, a failure and no answer.
    static func results(count: UInt32 = 3, dataSize: UInt64? = nil, typeSize: UInt32? = nil, failureSize: UInt32? = nil, kind: UInt8 = 0) -> ByteBuffer {
        payload { buffer in
            buffer.writeInteger(Int32(-1), endianness: .little)
            buffer.writeInteger(count, endianness: .little)
            buffer.writeBytes([1, 0, 0, 0])
            buffer.writeInteger(typeSize ?? 10, endianness: .little)
            buffer.writeInteger(dataSize ?? 5, endianness: .little)
            buffer.writeString("text/plain")
            buffer.writeString("hello")
            buffer.writeBytes([2, 0, 0, 0])
            buffer.writeInteger(UInt32(4), endianness: .little)
            buffer.writeInteger(failureSize ?? 4, endianness: .little)
            buffer.writeString("oops")
            buffer.writeBytes([kind, 0, 0, 0])
        }
    }

    static let log = payload { buffer in
        buffer.writeInteger(UInt32(2), endianness: .little)
        buffer.writeString("a warning")
    }

    /// A well-formed frame of every kind a worker sends.
    static let wellFormed: [(type: UInt8, payload: ByteBuffer)] = [
        (WorkerFrame.info, info()), (WorkerFrame.loadFailed, loadFailed()), (WorkerFrame.created, created),
        (WorkerFrame.createFailed, createFailed()), (WorkerFrame.results, results()), (WorkerFrame.log, log),
        (WorkerFrame.destroyed, ByteBuffer()),
    ]

    @Test func theStructsHaveTheDocumentedSizes() {
        #expect(WorkerFrame.headerSize == 8)
        #expect(MemoryLayout<dwp_create>.size == 4)
        #expect(MemoryLayout<dwp_process>.size == 4)
        #expect(MemoryLayout<dwp_process_item>.size == 44)
        #expect(MemoryLayout<dwp_info>.size == 40)
        #expect(MemoryLayout<dwp_load_failed>.size == 8)
        #expect(MemoryLayout<dwp_created>.size == 8)
        #expect(MemoryLayout<dwp_create_failed>.size == 12)
        #expect(MemoryLayout<dwp_results>.size == 8)
        #expect(MemoryLayout<dwp_results_item>.size == 4)
        #expect(MemoryLayout<dwp_output>.size == 12)
        #expect(MemoryLayout<dwp_failure>.size == 8)
        #expect(MemoryLayout<dwp_log>.size == 4)
    }

    @Test func anInfoFrameDecodes() throws {
        guard case .info(let info) = try WorkerMessage(frameType: WorkerFrame.info, payload: Self.info()) else {
            Issue.record("not decoded as INFO")
            return
        }
        let fields = info.fields
        #expect(fields.struct_size == 64 && fields.abi_major == 1 && fields.abi_minor == 1)
        #expect(fields.capabilities == 0b101 && fields.input_kind == 1)
        #expect(fields.max_width == 640 && fields.max_height == 480 && fields.max_batch_size == 8)
        #expect(fields.has_name == 1 && fields.has_version == 0)
        #expect(info.name == "echo" && info.version == "1.2.3")
    }

    /// Found by the worker-messages fuzzer (Tests/Fuzzing): the host made
    /// room for the struct_size a worker's INFO declares before validating
    /// it, so a library declaring the largest one had the host allocate and
    /// clear gigabytes. Checked in a process of its own whose address space
    /// has no room for that.
    @Test func anInfoDeclaringAHugeStructIsValidatedWithoutRoomForIt() async {
        await #expect(processExitsWith: .success) {
            var fields = dwp_info()
            fields.struct_size = .max
            fields.abi_major = UInt16(DESCRIBER_ABI_VERSION_MAJOR)
            fields.abi_minor = UInt16(DESCRIBER_ABI_VERSION_MINOR)
            fields.has_name = 1
            fields.has_version = 1
            let statm = try String(contentsOfFile: "/proc/self/statm", encoding: .utf8)
            let mapped = rlim_t(statm.split(separator: " ")[0])! * rlim_t(sysconf(Int32(_SC_PAGESIZE)))
            var limit = rlimit(rlim_cur: mapped + (1 << 30), rlim_max: mapped + (1 << 30))
            guard setrlimit(__rlimit_resource_t(RLIMIT_AS.rawValue), &limit) == 0 else { exit(2) }
            let info = WorkerMessage.Info(fields: fields, name: "echo", version: "1.0")
            let capabilities = try WorkerLauncher.capabilities(from: info, path: "echo.so")
            guard capabilities.name == "echo", capabilities.version == "1.0" else { exit(3) }
        }
    }

    @Test func theControlFramesDecode() throws {
        guard case .loadFailed(let code, let message) = try WorkerMessage(frameType: WorkerFrame.loadFailed, payload: Self.loadFailed()) else {
            Issue.record("not decoded as LOAD_FAILED")
            return
        }
        #expect(code == UInt32(DWP_LOAD_MISSING_SYMBOL) && message == "no info")

        guard case .created(let nanoseconds) = try WorkerMessage(frameType: WorkerFrame.created, payload: Self.created) else {
            Issue.record("not decoded as CREATED")
            return
        }
        #expect(nanoseconds == 1_234_567_890_123)

        guard case .createFailed(let returnCode, let status, let reason) = try WorkerMessage(frameType: WorkerFrame.createFailed, payload: Self.createFailed())
        else {
            Issue.record("not decoded as CREATE_FAILED")
            return
        }
        #expect(returnCode == -3 && status == 5 && reason == "bad model")

        guard case .log(let level, let line) = try WorkerMessage(frameType: WorkerFrame.log, payload: Self.log) else {
            Issue.record("not decoded as LOG")
            return
        }
        #expect(level == 2 && line == "a warning")

        guard case .destroyed = try WorkerMessage(frameType: WorkerFrame.destroyed, payload: ByteBuffer()) else {
            Issue.record("not decoded as DESTROYED")
            return
        }
    }

    @Test func aResultsFrameDecodesEveryKindOfItem() throws {
        guard case .results(let returnCode, let items) = try WorkerMessage(frameType: WorkerFrame.results, payload: Self.results()) else {
            Issue.record("not decoded as RESULTS")
            return
        }
        #expect(returnCode == -1)
        #expect(items.count == 3)
        if case .output(let contentType, let body) = items[0] {
            #expect(contentType == "text/plain" && body == ByteBuffer(string: "hello"))
        } else {
            Issue.record("the first item is not an output: \(items[0])")
        }
        if case .failure(let status, let message) = items[1] {
            #expect(status == 4 && message == "oops")
        } else {
            Issue.record("the second item is not a failure: \(items[1])")
        }
        if case .unanswered = items[2] {} else { Issue.record("the third item is answered: \(items[2])") }
    }

    @Test func everyTruncationIsRefused() {
        for (type, payload) in Self.wellFormed {
            // A LOG's line is the rest of its payload, so only its level can be cut short.
            let cuts = type == WorkerFrame.log ? 0..<MemoryLayout<dwp_log>.size : 0..<payload.readableBytes
            for length in cuts {
                let refusal = Self.refusal(type, payload.getSlice(at: payload.readerIndex, length: length)!)
                #expect(refusal == .truncated(frameType: type), "\(WorkerFrame.name(of: type)) cut to \(length) bytes")
            }
        }
    }

    @Test func lengthsBeyondTheFrameAreRefused() {
        let cases: [(String, UInt8, ByteBuffer)] = [
            ("an INFO name", WorkerFrame.info, Self.info(nameSize: .max)),
            ("an INFO name one byte past the end", WorkerFrame.info, Self.info(nameSize: UInt32("echo1.2.3".utf8.count + 1))),
            ("a LOAD_FAILED message", WorkerFrame.loadFailed, Self.loadFailed(messageSize: .max)),
            ("a CREATE_FAILED message", WorkerFrame.createFailed, Self.createFailed(messageSize: 10)),
            ("a RESULTS count", WorkerFrame.results, Self.results(count: .max)),
            ("a RESULTS count one too many", WorkerFrame.results, Self.results(count: 4)),
            ("an output's data", WorkerFrame.results, Self.results(dataSize: .max)),
            ("an output's data past the end", WorkerFrame.results, Self.results(dataSize: UInt64(Int.max) + 1)),
            ("an output's content type", WorkerFrame.results, Self.results(typeSize: .max)),
            ("a failure's message", WorkerFrame.results, Self.results(failureSize: .max)),
        ]
        for (what, type, payload) in cases {
            #expect(Self.refusal(type, payload) == .truncated(frameType: type), "\(what)")
        }
    }

    @Test func bytesBeyondWhatTheFrameDeclaresAreRefused() {
        for (type, payload) in Self.wellFormed where type != WorkerFrame.log {
            var longer = payload
            longer.writeInteger(UInt8(0))
            #expect(Self.refusal(type, longer) == .trailingBytes(frameType: type), "\(WorkerFrame.name(of: type))")
        }
        #expect(Self.refusal(WorkerFrame.results, Self.results(count: 2)) == .trailingBytes(frameType: WorkerFrame.results))
    }

    @Test func unknownFrameTypesAndItemKindsAreRefused() {
        for type: UInt8 in [0x00, WorkerFrame.create, WorkerFrame.process, WorkerFrame.destroy, 0x04, 0x80, 0x88, 0xFF] {
            #expect(Self.refusal(type, Self.created) == .unknownFrameType(type))
        }
        #expect(Self.refusal(WorkerFrame.results, Self.results(kind: 3)) == .unknownItemKind(3))
        #expect(WorkerProtocolError.unknownFrameType(0x88).description == "a frame of unknown type 0x88")
        #expect(WorkerProtocolError.truncated(frameType: WorkerFrame.results).description == "a truncated RESULTS frame")
    }

    @Test func theHostsFramesHaveTheDocumentedLayout() {
        let options = #"{"a":1}"#
        #expect(Array(buffer: WorkerFrame.encodeCreate(options: options)) == [11, 0, 0, 0, 1, 0x01, 0, 0, 7, 0, 0, 0] + Array(options.utf8))
        #expect(Array(buffer: WorkerFrame.encodeDestroy()) == [0, 0, 0, 0, 1, 0x03, 0, 0])

        let first = Invocation(body: ByteBuffer(string: "hi"), contentType: "text/plain", optionsJSON: "{}", admittedAt: 0, deadline: 0x0102_0304_0506_0708)
        let second = Invocation(body: ByteBuffer(), contentType: "a/b", optionsJSON: "{}", admittedAt: 0, deadline: 9)
        let size = WorkerFrame.processPayloadSize([first, second], images: nil)
        let expected = Self.payload { buffer in
            buffer.writeInteger(UInt32(2), endianness: .little)
            for (invocation, deadline) in [(first, UInt64(0x0102_0304_0506_0708)), (second, 9)] {
                buffer.writeInteger(deadline, endianness: .little)
                for _ in 0..<5 { buffer.writeInteger(UInt32(0), endianness: .little) }  // no image
                buffer.writeInteger(UInt32(invocation.contentType.utf8.count + 1), endianness: .little)
                buffer.writeInteger(UInt32(2), endianness: .little)
                buffer.writeInteger(UInt64(invocation.body.readableBytes), endianness: .little)
                buffer.writeString(invocation.contentType)
                buffer.writeInteger(UInt8(0))
                buffer.writeString("{}")
                buffer.writeImmutableBuffer(invocation.body)
            }
        }
        #expect(size == expected.readableBytes)
        var frame = WorkerFrame.encodeProcess([first, second], images: nil, payloadSize: size)
        #expect(frame.readBytes(length: 8) == [UInt8(size), 0, 0, 0, 1, 0x02, 0, 0])
        #expect(frame == expected)
    }

    @Test func aProcessFrameCarriesAnImagesGeometry() {
        let invocation = Invocation(body: ByteBuffer(string: "jpeg"), contentType: "image/jpeg", optionsJSON: "{}", admittedAt: 0, deadline: 1)
        let image = RGBImage(width: 1, height: 2, stride: 4, pixels: ByteBuffer(bytes: [1, 2, 3, 0, 4, 5, 6, 0]), sourceWidth: 10, sourceHeight: 20)
        let size = WorkerFrame.processPayloadSize([invocation], images: [image])
        var frame = WorkerFrame.encodeProcess([invocation], images: [image], payloadSize: size)
        #expect(frame.readableBytes == WorkerFrame.headerSize + size)
        frame.moveReaderIndex(forwardBy: WorkerFrame.headerSize + 4 + 8)
        let geometry = (0..<7).map { _ in frame.readInteger(endianness: .little, as: UInt32.self)! }
        let rgb8 = FunctionInstance.rgb8ContentType
        #expect(geometry == [1, 2, 4, 10, 20, UInt32(rgb8.utf8.count + 1), 2])
        #expect(frame.readInteger(endianness: .little, as: UInt64.self) == 8)
        #expect(frame.readString(length: rgb8.utf8.count) == rgb8)
        #expect(frame.readInteger(as: UInt8.self) == 0)
        #expect(frame.readString(length: 2) == "{}")
        #expect(frame.readBytes(length: 8) == [1, 2, 3, 0, 4, 5, 6, 0])
        #expect(frame.readableBytes == 0)
    }
}
