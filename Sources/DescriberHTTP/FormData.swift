import DescriberHost
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
