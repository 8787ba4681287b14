import HTTPTypes
import Hummingbird
import HummingbirdTesting
import NIOCore
import ServerTestSupport
import TestSupport
import Testing

/// Functions that take decoded pixels, over HTTP: a picture the host cannot
/// decode is refused with the status and code its error names.
@Suite struct ImageHTTPTests {
    struct HTTPCase: Sendable, CustomTestStringConvertible {
        var name: String
        var contentType = "image/jpeg"
        var status: HTTPResponse.Status
        var code: String
        var body: @Sendable () throws -> [UInt8]
        var testDescription: String { "\(name) -> \(status.code) \(code)" }
    }

    static let httpCases: [HTTPCase] = [
        HTTPCase(name: "truncated JPEG", status: .badRequest, code: "truncated_image") {
            let jpeg = try TestImages.bytes("dog.jpg")
            return Array(jpeg[..<(jpeg.count / 2)])
        },
        HTTPCase(name: "text sent as a JPEG", status: .badRequest, code: "not_an_image") { Array("not a picture".utf8) },
        HTTPCase(name: "GIF sent as a PNG", contentType: "image/png", status: .unsupportedMediaType, code: "unsupported_format") {
            Array("GIF89a".utf8) + [1, 0, 1, 0, 0, 0, 0]
        },
        HTTPCase(name: "header bomb", status: .contentTooLarge, code: "image_too_large") {
            var jpeg = try TestImages.bytes("dog.jpg")
            let sof = try TestImages.startOfFrame(in: jpeg)
            jpeg.replaceSubrange((sof + 5)..<(sof + 9), with: [0xFF, 0xFF, 0xFF, 0xFF])
            return jpeg
        },
        HTTPCase(name: "plain text", contentType: "text/plain", status: .unsupportedMediaType, code: "unsupported_media_type") { Array("hello".utf8) },
    ]

    @Test(arguments: httpCases)
    func imageErrorsAnswerOverHTTP(_ httpCase: HTTPCase) async throws {
        let app = try HTTPTests.application(["pixels": try TestSupport.rgbManifest()])
        let body = try httpCase.body()
        try await app.test(.router) { client in
            try await client.execute(
                uri: "/v1/functions/pixels/invoke", method: .post, headers: [.contentType: httpCase.contentType], body: ByteBuffer(bytes: body)
            ) { response in
                #expect(response.status == httpCase.status)
                #expect(response.headers[.contentType] == "application/json")
                let text = String(buffer: response.body)
                #expect(text.contains("\"code\":\"\(httpCase.code)\""), "\(text)")
            }
        }
    }

    @Test func aJPEGGetsItsGeometryOverHTTP() async throws {
        let app = try HTTPTests.application(["pixels": try TestSupport.rgbManifest()])
        let jpeg = try TestImages.bytes("person.jpg")  // 640 x 424 into 256 x 256
        try await app.test(.router) { client in
            try await client.execute(
                uri: "/v1/functions/pixels/invoke", method: .post, headers: [.contentType: "image/jpeg"], body: ByteBuffer(bytes: jpeg)
            ) { response in
                #expect(response.status == .ok)
                #expect(String(buffer: response.body).hasPrefix("256x170 stride=768 size=\(768 * 170) type=application/x-describer-rgb8"))
            }
        }
    }
}
