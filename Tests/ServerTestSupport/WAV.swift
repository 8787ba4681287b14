import DescriberTesting
import Foundation
import NIOCore
import TestSupport

/// The parts of a RIFF WAV header a client relies on, checked strictly.
package struct WAV {
    package var format: UInt16
    package var channels: UInt16
    package var sampleRate: UInt32
    package var bitsPerSample: UInt16
    package var samples: Int
    package var duration: Double { Double(samples) / Double(sampleRate) }

    package init(_ buffer: ByteBuffer) throws {
        let bytes = Array(buffer.readableBytesView)
        func u32(_ offset: Int) -> UInt32 {
            UInt32(bytes[offset]) | UInt32(bytes[offset + 1]) << 8 | UInt32(bytes[offset + 2]) << 16 | UInt32(bytes[offset + 3]) << 24
        }
        func u16(_ offset: Int) -> UInt16 { UInt16(bytes[offset]) | UInt16(bytes[offset + 1]) << 8 }
        func tag(_ offset: Int) -> String { String(decoding: bytes[offset..<offset + 4], as: UTF8.self) }
        guard bytes.count >= 44, tag(0) == "RIFF", tag(8) == "WAVE", tag(12) == "fmt ", tag(36) == "data" else {
            throw TestError("not a canonical WAV header")
        }
        guard Int(u32(4)) == bytes.count - 8, Int(u32(40)) == bytes.count - 44, u32(16) == 16 else {
            throw TestError("WAV sizes do not match the file: riff \(u32(4)), data \(u32(40)), file \(bytes.count)")
        }
        format = u16(20)
        channels = u16(22)
        sampleRate = u32(24)
        bitsPerSample = u16(34)
        guard u32(28) == sampleRate * UInt32(channels) * UInt32(bitsPerSample) / 8, u16(32) == channels * bitsPerSample / 8 else {
            throw TestError("WAV byte rate or block align is inconsistent")
        }
        samples = (bytes.count - 44) / Int(u16(32))
    }
}

extension Data {
    package init(buffer: ByteBuffer) { self.init(buffer.readableBytesView) }
}
