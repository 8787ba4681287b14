import NIOCore
import Testing

@testable import DescriberHTTP

/// `multipart/form-data` as DeepStack clients and cameras send it.
@Suite struct FormDataTests {
    static let boundary = "describer-test-boundary"
    static let contentType = "multipart/form-data; boundary=\(boundary)"

    /// A body of parts, each its header lines and its content.
    static func body(_ parts: [([String], [UInt8])]) -> ByteBuffer {
        var body = ByteBuffer()
        for (headers, content) in parts {
            body.writeString("--\(boundary)\r\n" + headers.map { $0 + "\r\n" }.joined() + "\r\n")
            body.writeBytes(content)
            body.writeString("\r\n")
        }
        body.writeString("--\(boundary)--\r\n")
        return body
    }

    @Test func readsTheImageAndTheFields() throws {
        let body = Self.body([
            (["Content-Disposition: form-data; name=\"min_confidence\""], Array("0.45".utf8)),
            (["Content-Disposition: form-data; name=\"image\"; filename=\"photo.jpg\"", "Content-Type: image/jpeg"], [0xFF, 0xD8, 0xFF, 0x0D, 0x0A]),
        ])
        let form = try #require(FormData(contentType: Self.contentType, body: body))
        #expect(form.field("min_confidence") == "0.45")
        #expect(form.image == ByteBuffer(bytes: [0xFF, 0xD8, 0xFF, 0x0D, 0x0A]))
    }

    /// Browsers send a file's name as it is, in UTF-8.
    @Test func headerValuesMayBeUTF8() throws {
        let body = Self.body([(["Content-Disposition: form-data; name=\"image\"; filename=\"phôto Ω.jpg\""], [1, 2, 3])])
        let form = try #require(FormData(contentType: Self.contentType, body: body))
        #expect(form.parts.first?.filename == "phôto Ω.jpg")
        #expect(form.image == ByteBuffer(bytes: [1, 2, 3]))
    }

    /// Found by the multipart fuzzer (Tests/Fuzzing): MultipartKit's parser
    /// trapped on a byte outside ASCII in a header name, which took the
    /// server down with it. Such a name is malformed, and the form is refused.
    @Test(arguments: [
        [(["Con\u{FF}tent-Disposition: form-data; name=\"image\""], [UInt8](repeating: 0xFF, count: 3))],
        [(["Content-Disposition: form-data; name=\"a\"", "Content-Typ\u{E9}: image/png"], [])],
        [(["Content-Disposition: form-data; name=\"a\""], Array("x".utf8)), (["\u{E9}: y"], [])],
    ])
    func aHeaderNameOutsideASCIIIsRefused(_ parts: [([String], [UInt8])]) {
        #expect(FormData(contentType: Self.contentType, body: Self.body(parts)) == nil)
    }

    /// What the fuzzer found, byte for byte, minimised.
    @Test func theFuzzersInputIsRefused() {
        var body = ByteBuffer(string: "--\(Self.boundary)\r\nCon")
        body.writeBytes([0xFF, 0xFF, 0xFF, 0xFF])
        body.writeString("tent-Disposition: form-data; name=\"image\"\r\n\r\n0.45\r\n--\(Self.boundary)--\r\n")
        #expect(FormData(contentType: Self.contentType, body: body) == nil)
    }
}
