import DescriberHost
import Glibc
import MultipartKit
import NIOCore

/// A `multipart/form-data` body as DeepStack clients send it: an image file
/// part and a few text fields.
package struct FormData {
    package struct Part {
        package var name: String?
        package var filename: String?
        package var contentType: String?
        package var body: ByteBuffer
    }

    package var parts: [Part]

    /// Parses `body` with the boundary from `contentType`; nil when the
    /// request is not multipart or the body is malformed.
    package init?(contentType: String, body: ByteBuffer) {
        guard MediaType.essence(of: contentType) == "multipart/form-data",
            let boundary = Self.parameter("boundary", in: contentType), !boundary.isEmpty
        else { return nil }
        // A byte outside ASCII in a part's header name makes MultipartKit's
        // parser trap (it looks the byte up in a table of ASCII characters),
        // which would take the whole server down. A header name is an ASCII
        // token, so such a body is malformed anyway.
        guard !Self.hasNonASCIIHeaderName(body, boundary: boundary) else { return nil }
        var parts: [Part] = []
        var headers: [(String, String)] = []
        var current = ByteBuffer()
        let parser = MultipartParser(boundary: boundary)
        parser.onHeader = { name, value in headers.append((name.lowercased(), value)) }
        parser.onBody = { chunk in current.writeBuffer(&chunk) }
        parser.onPartComplete = {
            let disposition = headers.first { $0.0 == "content-disposition" }?.1 ?? ""
            parts.append(
                Part(
                    name: Self.parameter("name", in: disposition),
                    filename: Self.parameter("filename", in: disposition),
                    contentType: headers.first { $0.0 == "content-type" }?.1,
                    body: current
                ))
            headers = []
            current = ByteBuffer()
        }
        do { try parser.execute(body) } catch { return nil }
        self.parts = parts
    }

    /// Whether MultipartKit's parser could read a byte outside ASCII as part
    /// of a header name. Its header block follows a delimiter and CR LF; each
    /// line is a name, a colon and a value up to CR LF (a bare LF belongs to
    /// the value), and an empty line ends the block. One pass follows every
    /// occurrence of the delimiter, also those the parser takes for data,
    /// with each state a block can be in at a byte as a bit.
    static func hasNonASCIIHeaderName(_ body: ByteBuffer, boundary: String) -> Bool {
        let delimiter = Array("--\(boundary)".utf8)
        let cr = UInt8(ascii: "\r")
        let lf = UInt8(ascii: "\n")
        let colon = UInt8(ascii: ":")
        let delimiterEnd: UInt8 = 1, delimiterLineEnd: UInt8 = 2, nameStart: UInt8 = 4, name: UInt8 = 8, value: UInt8 = 16, valueEnd: UInt8 = 32
        // Knuth-Morris-Pratt, so that overlapping occurrences cost one pass too.
        var fallback = [Int](repeating: 0, count: delimiter.count)
        var length = 0
        for index in delimiter.indices.dropFirst() {
            while length > 0 && delimiter[index] != delimiter[length] { length = fallback[length - 1] }
            if delimiter[index] == delimiter[length] { length += 1 }
            fallback[index] = length
        }
        return body.withUnsafeReadableBytes { bytes in
            guard let base = bytes.baseAddress else { return false }
            var states: UInt8 = 0
            var matched = 0
            var index = 0
            while index < bytes.count {
                if states == 0 && matched == 0 {
                    // Nothing under way: on to the next byte that can start a delimiter.
                    guard let hit = memchr(base + index, Int32(delimiter[0]), bytes.count - index) else { return false }
                    index = base.distance(to: UnsafeRawPointer(hit))
                }
                let byte = bytes[index]
                index += 1
                var following: UInt8 = 0
                if states & delimiterEnd != 0 && byte == cr { following |= delimiterLineEnd }
                if states & delimiterLineEnd != 0 && byte == lf { following |= nameStart }
                if states & (nameStart | name) != 0 {
                    if byte >= 0x80 { return true }
                    if byte == colon && states & name != 0 { following |= value }
                    if byte != cr && byte != lf && byte != colon { following |= name }
                }
                if states & value != 0 { following |= byte == cr ? valueEnd : value }
                if states & valueEnd != 0 && byte == lf { following |= nameStart }
                while matched > 0 && byte != delimiter[matched] { matched = fallback[matched - 1] }
                if byte == delimiter[matched] { matched += 1 }
                if matched == delimiter.count {
                    following |= delimiterEnd
                    matched = fallback[matched - 1]
                }
                states = following
            }
            return false
        }
    }

    /// The image: the part named `image` (DeepStack), else the first file
    /// part (CodeProject.AI reads files by position, whatever their name).
    package var image: ByteBuffer? {
        if let named = parts.first(where: { $0.name == "image" }) { return named.body }
        return parts.first { $0.filename != nil || $0.contentType?.hasPrefix("image/") == true }?.body
    }

    /// A text field's value.
    package func field(_ name: String) -> String? {
        parts.first { $0.name == name && $0.filename == nil }.map { String(buffer: $0.body) }
    }

    /// `key=value` or `key="value"` from a header value's parameters.
    package static func parameter(_ key: String, in header: String) -> String? {
        for piece in header.split(separator: ";").dropFirst() {
            let pair = piece.split(separator: "=", maxSplits: 1).map { $0.trimmingCharacters(in: .whitespaces) }
            guard pair.count == 2, pair[0].lowercased() == key else { continue }
            var value = pair[1]
            if value.hasPrefix("\""), value.hasSuffix("\""), value.count >= 2 { value = String(value.dropFirst().dropLast()) }
            return value
        }
        return nil
    }
}
