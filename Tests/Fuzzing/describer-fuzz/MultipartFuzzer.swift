import DescriberHTTP
import NIOCore

@testable import Cameras

/// The `multipart/form-data` parser (MultipartKit under ``FormData``) as the
/// DeepStack routes and the camera webhook read a request.
enum MultipartFuzzer {
    static func run(_ bytes: UnsafeRawBufferPointer) {
        // The first line is the Content-Type header and the rest the body:
        // the boundary is the client's to choose, so it is input too.
        let newline = bytes.firstIndex(of: UInt8(ascii: "\n")) ?? bytes.count
        let contentType = String(decoding: bytes[..<newline], as: UTF8.self)
        let body = ByteBuffer(bytes: bytes[min(newline + 1, bytes.count)...])
        if let form = FormData(contentType: contentType, body: body) {
            _ = form.image
            _ = form.field("min_confidence")
            for part in form.parts {
                if let name = part.name { _ = form.field(name) }
                precondition(part.body.readableBytes <= body.readableBytes, "a part larger than the body")
            }
        }
        // The camera webhook: forms, multipart/mixed, XML or a bare picture.
        _ = CameraPayload.parse(contentType: contentType, body: body)
    }
}
