import DescriberTesting
import Foundation

/// The committed test photos, and the JPEG surgery the decoding suites do on them.
package enum TestImages {
    package static let directory = TestSupport.fixtures + "/images"

    package static func bytes(_ name: String) throws -> [UInt8] {
        [UInt8](try Data(contentsOf: URL(fileURLWithPath: "\(directory)/\(name)")))
    }

    /// The offset of the first marker `matching` in a JPEG's header segments.
    package static func markerOffset(in jpeg: [UInt8], matching: (UInt8) -> Bool) throws -> Int {
        var offset = 2
        while offset + 4 <= jpeg.count, jpeg[offset] == 0xFF {
            if matching(jpeg[offset + 1]) { return offset }
            offset += 2 + Int(jpeg[offset + 2]) << 8 + Int(jpeg[offset + 3])
        }
        throw TestError("marker not found")
    }

    package static func startOfFrame(in jpeg: [UInt8]) throws -> Int {
        try markerOffset(in: jpeg) { [0xC0, 0xC1, 0xC2].contains($0) }
    }

    /// A JPEG with a new APP1 Exif segment right after SOI, holding a TIFF
    /// header and an IFD0 with the orientation tag alone. Readers honour the
    /// first Exif segment, so it overrides the fixture's own (which says 1).
    package static func withOrientation(_ orientation: UInt16, _ jpeg: [UInt8], littleEndian: Bool = false) -> [UInt8] {
        func u16(_ value: UInt16) -> [UInt8] { littleEndian ? [UInt8(value & 0xFF), UInt8(value >> 8)] : [UInt8(value >> 8), UInt8(value & 0xFF)] }
        func u32(_ value: UInt32) -> [UInt8] {
            littleEndian ? u16(UInt16(value & 0xFFFF)) + u16(UInt16(value >> 16)) : u16(UInt16(value >> 16)) + u16(UInt16(value & 0xFFFF))
        }
        var tiff: [UInt8] = littleEndian ? Array("II".utf8) : Array("MM".utf8)
        tiff += u16(42) + u32(8)  // IFD0 right after the header
        tiff += u16(1)  // one entry
        tiff += u16(0x0112) + u16(3) + u32(1) + u16(orientation) + [0, 0]  // SHORT, count 1, value inline
        tiff += u32(0)  // no next IFD
        return segment(app1: Array("Exif".utf8) + [0, 0] + tiff, into: jpeg)
    }

    package static func segment(app1 payload: [UInt8], into jpeg: [UInt8]) -> [UInt8] {
        let length = payload.count + 2
        return [0xFF, 0xD8, 0xFF, 0xE1, UInt8(length >> 8), UInt8(length & 0xFF)] + payload + jpeg[2...]
    }

    /// A PNG whose IHDR claims `width` x `height`, with a valid CRC so that
    /// only the size can be refused.
    package static func pngClaiming(width: UInt32, height: UInt32, _ png: [UInt8]) -> [UInt8] {
        var bytes = png
        func put(_ value: UInt32, at offset: Int) {
            for index in 0..<4 { bytes[offset + index] = UInt8(truncatingIfNeeded: value >> (24 - 8 * UInt32(index))) }
        }
        put(width, at: 16)
        put(height, at: 20)
        put(crc32(bytes[12..<29]), at: 29)  // over "IHDR" and its 13 data bytes
        return bytes
    }

    package static func crc32(_ bytes: ArraySlice<UInt8>) -> UInt32 {
        var crc: UInt32 = 0xFFFF_FFFF
        for byte in bytes {
            crc ^= UInt32(byte)
            for _ in 0..<8 { crc = crc & 1 == 1 ? (crc >> 1) ^ 0xEDB8_8320 : crc >> 1 }
        }
        return ~crc
    }
}
