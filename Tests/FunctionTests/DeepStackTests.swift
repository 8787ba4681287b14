import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import NIOCore
import ServerTestSupport
import TestSupport
import Testing

@testable import DeepStack
@testable import DescriberHost
@testable import DescriberServer
@testable import DescriberTesting

#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// The DeepStack / CodeProject.AI API as NVR clients call it: multipart
/// uploads, DeepStack's and CodeProject.AI's answer fields, and JSON errors
/// with `predictions` on every failure.
@Suite struct DeepStackTests {
    static let boundary = "----describer-test-boundary"

    /// A multipart/form-data body with `files` (field name, file name, bytes) and text `fields`.
    static func form(files: [(String, String, ByteBuffer)], fields: [(String, String)] = []) -> ByteBuffer {
        var body = ByteBuffer()
        for (name, value) in fields {
            body.writeString("--\(boundary)\r\nContent-Disposition: form-data; name=\"\(name)\"\r\n\r\n\(value)\r\n")
        }
        for (name, filename, bytes) in files {
            body.writeString("--\(boundary)\r\nContent-Disposition: form-data; name=\"\(name)\"; filename=\"\(filename)\"\r\nContent-Type: image/jpeg\r\n\r\n")
            var copy = bytes
            body.writeBuffer(&copy)
            body.writeString("\r\n")
        }
        body.writeString("--\(boundary)--\r\n")
        return body
    }

    static let headers: HTTPFields = [.contentType: "multipart/form-data; boundary=\(boundary)"]

    static func application(config: String? = nil) throws -> some ApplicationProtocol {
        let (host, deployment) = try TestSupport.deployment(["detect": try BundledFunctions.detect()], config: config)
        return buildApplication(host: host, deepStack: deployment.deepStack, logger: TestSupport.logger)
    }

    static func json(_ response: TestResponse) throws -> [String: Any] {
        try #require(try JSONSerialization.jsonObject(with: Data(response.body.readableBytesView)) as? [String: Any])
    }

    @Test func detectionAnswersInThePixelsOfTheSubmittedImage() async throws {
        let dog = try TestSupport.buffer(TestSupport.fixtures + "/images/dog.jpg")  // 768 x 576
        try await Self.application().test(.router) { client in
            try await client.execute(
                uri: "/v1/vision/detection", method: .post, headers: Self.headers,
                body: Self.form(files: [("image", "dog.jpg", dog)], fields: [("api_key", "")])
            ) { response in
                #expect(response.status == .ok)
                #expect(response.headers[.contentType] == "application/json")
                #expect(response.headers[.contentLength] != nil, "Blue Iris cannot read chunked answers")
                let object = try Self.json(response)
                #expect(object["success"] as? Bool == true)
                let predictions = try #require(object["predictions"] as? [[String: Any]])
                let confidences = predictions.compactMap { $0["confidence"] as? Double }
                #expect(confidences == confidences.sorted(by: >) && confidences.allSatisfy { $0 >= 0.4 })
                let dogBox = try #require(predictions.first { $0["label"] as? String == "dog" })
                let (xMin, yMin, xMax, yMax) = (dogBox["x_min"] as! Int, dogBox["y_min"] as! Int, dogBox["x_max"] as! Int, dogBox["y_max"] as! Int)
                #expect(0 <= xMin && xMin < xMax && xMax <= 768 && 0 <= yMin && yMin < yMax && yMax <= 576)
                // The dog sits in the lower left of the photo.
                #expect(xMin < 384 && yMax > 288)
                #expect((object["message"] as? String)?.hasPrefix("Found dog") == true)
                #expect(object["count"] as? Int == predictions.count && object["duration"] != nil)
            }
            // CodeProject.AI clients: any file name, custom model routes, a threshold in the query.
            try await client.execute(
                uri: "/v1/vision/custom/ipcam-general?min_confidence=0.7", method: .post, headers: Self.headers,
                body: Self.form(files: [("upload", "frame.jpg", dog)])
            ) { response in
                #expect(response.status == .ok)
                let answer = try Self.json(response)
                let predictions = try #require(answer["predictions"] as? [[String: Any]])
                #expect(predictions.map { $0["label"] as? String } == ["dog", "car"])
            }
            try await client.execute(uri: "/v1/vision/custom/list", method: .post) { response in
                let answer = try Self.json(response)
                #expect((answer["models"] as? [String])?.contains("ipcam-general") == true)
            }
            try await client.execute(uri: "/v1/status/ping", method: .get) { response in
                let answer = try Self.json(response)
                #expect(answer["success"] as? Bool == true)
            }
        }
    }

    @Test(arguments: [
        ("image", "plain text", "0.5", HTTPResponse.Status.badRequest, "invalid image file"),
        ("none", "", "0.5", .badRequest, "No valid image file found"),
        ("image", "jpeg", "lots", .badRequest, "Invalid value for min_confidence"),
        ("image", "jpeg", "1.5", .badRequest, "min_confidence cannot be greater than 1"),
    ])
    func errorsAreJSONWithEmptyPredictions(
        _ part: String, _ content: String, _ minConfidence: String, _ status: HTTPResponse.Status, _ message: String
    ) async throws {
        let dog = try TestSupport.buffer(TestSupport.fixtures + "/images/dog.jpg")
        let files = part == "none" ? [] : [(part, "x.jpg", content == "jpeg" ? dog : ByteBuffer(string: content))]
        try await Self.application().test(.router) { client in
            try await client.execute(
                uri: "/v1/vision/detection", method: .post, headers: Self.headers,
                body: Self.form(files: files, fields: [("min_confidence", minConfidence)])
            ) { response in
                #expect(response.status == status)
                let object = try Self.json(response)
                #expect(object["success"] as? Bool == false)
                #expect((object["predictions"] as? [Any])?.isEmpty == true)
                #expect((object["error"] as? String)?.contains(message) == true, "\(object)")
            }
            try await client.execute(
                uri: "/v1/vision/custom/license-plate", method: .post, headers: Self.headers,
                body: Self.form(files: [("image", "x.jpg", dog)])
            ) { response in
                #expect(response.status == .notFound)
                let answer = try Self.json(response)
                #expect(answer["predictions"] != nil)
            }
        }
    }

    /// A picture over 50 megapixels is 413 whatever its format, as on the
    /// other routes (issue 19: a JPEG was 400, a PNG 413).
    @Test(arguments: ["jpeg", "png"])
    func aPictureOverThePixelLimitIs413(_ format: String) async throws {
        var bytes: [UInt8]
        if format == "jpeg" {
            bytes = try TestImages.bytes("dog.jpg")
            let sof = try TestImages.startOfFrame(in: bytes)
            bytes.replaceSubrange((sof + 5)..<(sof + 9), with: [0xFF, 0xFF, 0xFF, 0xFF])
        } else {
            bytes = TestImages.pngClaiming(width: 20_000, height: 20_000, try TestImages.bytes("page.png"))
        }
        let picture = ByteBuffer(bytes: bytes)
        try await Self.application().test(.router) { client in
            try await client.execute(
                uri: "/v1/vision/detection", method: .post, headers: Self.headers,
                body: Self.form(files: [("image", "big.\(format)", picture)])
            ) { response in
                #expect(response.status == .contentTooLarge, "\(String(buffer: response.body))")
                let object = try Self.json(response)
                #expect(object["success"] as? Bool == false && (object["predictions"] as? [Any])?.isEmpty == true)
            }
        }
    }

    @Test func aConfiguredAPIKeyIsRequired() async throws {
        let dog = try TestSupport.buffer(TestSupport.fixtures + "/images/dog.jpg")
        try await Self.application(config: "deepstack: { api_key: s3cret }").test(.router) { client in
            try await client.execute(
                uri: "/v1/vision/detection", method: .post, headers: Self.headers,
                body: Self.form(files: [("image", "dog.jpg", dog)], fields: [("api_key", "wrong")])
            ) { response in
                #expect(response.status == .unauthorized)
                let answer = try Self.json(response)
                #expect(answer["error"] as? String == "Incorrect api key")
            }
            try await client.execute(
                uri: "/v1/vision/detection", method: .post, headers: Self.headers,
                body: Self.form(files: [("image", "dog.jpg", dog)], fields: [("api_key", "s3cret")])
            ) { response in
                #expect(response.status == .ok)
            }
        }
    }

    @Test func statusFaceAndSceneRoutesAnswerInDeepStacksShape() async throws {
        try await Self.application().test(.router) { client in
            try await client.execute(uri: "/v1/status/updateavailable", method: .get) { response in
                #expect(response.status == .ok)
                let answer = try Self.json(response)
                #expect(answer["updateAvailable"] as? Bool == false)
            }
            for path in ["/v1/vision/face", "/v1/vision/face/", "/v1/vision/scene"] {
                try await client.execute(uri: path, method: .post) { response in
                    #expect(response.status == .notImplemented, "\(path)")
                    let answer = try Self.json(response)
                    #expect(answer["success"] as? Bool == false)
                    #expect((answer["predictions"] as? [Any])?.isEmpty == true)
                }
            }
        }
    }

    /// Without a detector the API is unavailable (503), not failing (500).
    @Test func aMissingDetectorIs503() async throws {
        let (host, deployment) = try TestSupport.deployment([:])
        try await buildApplication(host: host, deepStack: deployment.deepStack, logger: TestSupport.logger).test(.router) { client in
            let photo = try TestSupport.buffer(TestSupport.fixtures + "/images/dog.jpg")
            try await client.execute(uri: "/v1/vision/detection", method: .post, headers: Self.headers, body: Self.form(files: [("image", "dog.jpg", photo)])) {
                response in
                #expect(response.status == .serviceUnavailable)
                let answer = try Self.json(response)
                #expect(answer["error"] as? String == "No object detector is installed on this server (the function 'detect')")
            }
        }
    }

    /// `deepstack.ports`: clients that assume CodeProject.AI's port get the
    /// DeepStack API there, and only that.
    @Test func theAPIIsAlsoServedOnTheConfiguredPorts() async throws {
        let extra = try TestSupport.freePort()
        let (host, deployment) = try TestSupport.deployment(["detect": try BundledFunctions.detect()], config: "deepstack: { ports: [\(extra)] }")
        #expect(deployment.deepStack.ports == [extra])
        let dog = try TestSupport.buffer(TestSupport.fixtures + "/images/dog.jpg")
        try await buildApplication(host: host, deepStack: deployment.deepStack, logger: TestSupport.logger).test(.live) { _ in
            var request = URLRequest(url: URL(string: "http://127.0.0.1:\(extra)/v1/vision/detection")!)
            request.httpMethod = "POST"
            request.setValue("multipart/form-data; boundary=\(Self.boundary)", forHTTPHeaderField: "Content-Type")
            request.httpBody = Data(Self.form(files: [("image", "dog.jpg", dog)]).readableBytesView)
            var answer: (Data, URLResponse)?
            for _ in 0..<50 where answer == nil {
                answer = try? await URLSession.shared.data(for: request)
                if answer == nil { try await Task.sleep(for: .milliseconds(100)) }
            }
            let (data, response) = try #require(answer)
            #expect((response as? HTTPURLResponse)?.statusCode == 200)
            let json = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
            #expect((json["predictions"] as? [[String: Any]])?.contains { $0["label"] as? String == "dog" } == true)
            let (_, other) = try await URLSession.shared.data(from: URL(string: "http://127.0.0.1:\(extra)/v1/functions")!)
            #expect((other as? HTTPURLResponse)?.statusCode == 404, "only the DeepStack API is on that port")
        }
    }
}
