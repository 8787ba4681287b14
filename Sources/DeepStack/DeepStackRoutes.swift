import Crypto
import DescriberHTTP
import DescriberHost
import DescriberImaging
import Foundation
import HTTPTypes
import Hummingbird
import NIOCore

/// The DeepStack / CodeProject.AI object-detection API, so NVRs and hubs
/// that already call such a server (Blue Iris, Agent DVR, Home Assistant's
/// deepstack integrations, Frigate's deepstack detector) work unchanged.
///
/// - `POST /v1/vision/detection` and `POST /v1/vision/custom/{model}`:
///   multipart form with the image (`image`, else the first file) and
///   optional `min_confidence` and `api_key` (form or query). Answers
///   DeepStack's and CodeProject.AI's fields together, predictions in
///   integer pixels of the submitted image, most confident first.
/// - `POST /v1/vision/custom/list`: the custom model names this server answers.
/// - `GET /v1/server/status/ping`, `GET /v1/status/ping`: a cheap health check.
///
/// Every answer, errors included, is JSON with `success` and `predictions`
/// and a Content-Length (Blue Iris cannot read chunked responses).
package struct DeepStackRoutes: Sendable {
    let host: FunctionHost
    /// When set, requests must carry this `api_key`.
    let apiKey: String?

    package init(host: FunctionHost, apiKey: String?) {
        self.host = host
        self.apiKey = apiKey
    }

    /// Custom model names that map onto the detector: the names Blue Iris
    /// and Agent DVR users configure, all served by the COCO model.
    static let customModels = ["general", "combined", "ipcam-general", "ipcam-combined"]
    static let defaultMinConfidence = 0.4
    /// What the version endpoints report, in CodeProject.AI's shape.
    static var version: [String: Any] { ["major": 1, "minor": 0, "patch": 0, "preRelease": "", "file": "describer"] }

    package func register(on router: Router<BasicRequestContext>) {
        router.post("/v1/vision/detection") { request, _ in try await detection(request, command: "detect") }
        router.post("/v1/vision/custom/list") { _, _ in
            Self.answer(["success": true, "models": Self.customModels, "code": 200, "command": "list-custom", "moduleId": "describer-detect"])
        }
        router.post("/v1/vision/custom/:model") { request, context in
            let model = try context.parameters.require("model")
            guard Self.customModels.contains(model) else {
                return Self.failure(.notFound, "Custom model '\(model)' not found (available: \(Self.customModels.joined(separator: ", ")))")
            }
            return try await detection(request, command: "custom")
        }
        for path in ["/v1/server/status/ping", "/v1/status/ping", "/v1/server/status/version", "/v1/status/version"] {
            router.get(RouterPath(path)) { _, _ in Self.answer(["success": true, "message": "describer", "version": Self.version, "code": 200]) }
        }
        // Blue Iris asks whether the AI server has an update; it never has:
        // updates come with the Describer release.
        for path in ["/v1/status/updateavailable", "/v1/server/status/updateavailable"] {
            router.get(RouterPath(path)) { _, _ in
                Self.answer([
                    "success": true, "message": "No update available", "version": Self.version, "current": Self.version,
                    "latest": Self.version, "updateAvailable": false,
                ])
            }
        }
        // Faces, scenes and plates are not recognised here. Clients that try
        // get DeepStack's error shape and a 501 they can tell apart from a
        // fault. (The router takes "/v1/vision/face/" for "/v1/vision/face".)
        for path in [
            "/v1/vision/face", "/v1/vision/face/recognize", "/v1/vision/face/register", "/v1/vision/face/list",
            "/v1/vision/face/delete", "/v1/vision/face/match", "/v1/vision/scene", "/v1/vision/alpr", "/v1/image/alpr",
        ] {
            router.post(RouterPath(path)) { _, _ in
                Self.failure(.notImplemented, "This server detects objects only; \(path) is not available")
            }
        }
    }

    /// Compares digests, whose comparison takes the same time wherever they
    /// differ, so the key cannot be guessed byte by byte from response times.
    static func keyMatches(_ given: String, _ expected: String) -> Bool {
        SHA256.hash(data: Data(given.utf8)) == SHA256.hash(data: Data(expected.utf8))
    }

    func detection(_ request: Request, command: String) async throws -> Response {
        let started = ContinuousClock.now
        let limit = host.entries["detect"]?.pool?.limits.maxInputBytes ?? host.config.maxBodySize
        let body: ByteBuffer
        do {
            body = try await request.collectInput(upTo: limit, for: "detect")
        } catch let error as APIError {
            return Self.failure(
                error.status, error.status == .contentTooLarge ? "The image is larger than the \(limit) bytes this server accepts" : error.message)
        } catch {
            return Self.failure(.badRequest, "The request's body could not be read")
        }
        let form = FormData(contentType: request.headers[.contentType] ?? "", body: body)
        let query = request.uri.queryParameters
        func value(_ name: String) -> String? { form?.field(name) ?? query[Substring(name)].map(String.init) }

        if let apiKey, !apiKey.isEmpty, !Self.keyMatches(value("api_key") ?? "", apiKey) {
            return Self.failure(.unauthorized, "Incorrect api key")
        }
        guard let image = form?.image, image.readableBytes > 0 else {
            return Self.failure(.badRequest, "No valid image file found")
        }
        var minConfidence = Self.defaultMinConfidence
        if let text = value("min_confidence"), !text.isEmpty {
            guard let parsed = Double(text), parsed.isFinite, parsed >= 0 else {
                return Self.failure(.badRequest, "Invalid value for min_confidence")
            }
            guard parsed <= 1 else { return Self.failure(.badRequest, "min_confidence cannot be greater than 1") }
            minConfidence = parsed
        }
        let size: (width: Int, height: Int)
        do {
            size = try ImageDecoder.displayedSize(of: image)
        } catch {
            // As the detector's own refusal would be: 413 past the pixel limit, 400 otherwise.
            return Self.failure(InvocationError(error))
        }
        let output: InvocationOutput
        do throws(InvocationError) {
            // The detector's own floor is 0.05; lower requests get what it finds.
            let options = [("min_confidence", String(max(0.05, minConfidence)))]
            output = try await host.invoke("detect", InvocationRequest(body: image, contentType: "image/jpeg", options: options))
        } catch {
            return Self.failure(error)
        }
        struct Detections: Decodable {
            var objects: [Object]
            struct Object: Decodable {
                var label: String
                var confidence: Double
                var box: Box
            }
            struct Box: Decodable { var x, y, width, height: Double }
        }
        guard let detections = try? JSONDecoder().decode(Detections.self, from: Data(output.body.readableBytesView)) else {
            return Self.failure(.internalServerError, "The detector answered something unexpected")
        }
        let predictions: [[String: Any]] = detections.objects
            .filter { $0.confidence >= minConfidence }
            .sorted { $0.confidence > $1.confidence }
            .map { object in
                let width = Double(size.width), height = Double(size.height)
                return [
                    "label": object.label,
                    "confidence": (object.confidence * 10000).rounded() / 10000,
                    "x_min": Int((object.box.x * width).rounded()),
                    "y_min": Int((object.box.y * height).rounded()),
                    "x_max": Int(((object.box.x + object.box.width) * width).rounded()),
                    "y_max": Int(((object.box.y + object.box.height) * height).rounded()),
                ]
            }
        let labels = predictions.compactMap { $0["label"] as? String }
        let elapsed = ContinuousClock.now - started
        let milliseconds = Int(elapsed.components.seconds * 1000) + Int(elapsed.components.attoseconds / 1_000_000_000_000_000)
        let execution = output.timings.execution.components
        return Self.answer([
            "success": true,
            "predictions": predictions,
            "count": predictions.count,
            "message": labels.isEmpty ? "No objects found" : "Found " + labels.prefix(3).joined(separator: ", ") + (labels.count > 3 ? "..." : ""),
            "duration": Double(milliseconds) / 1000,
            "processMs": milliseconds,
            "inferenceMs": Int(execution.seconds * 1000) + Int(execution.attoseconds / 1_000_000_000_000_000),
            "analysisRoundTripMs": milliseconds,
            "moduleId": "describer-detect",
            "moduleName": "Describer object detection (YOLOv3-tiny)",
            "code": 200,
            "command": command,
            "inferenceDevice": "CPU",
            "processedBy": "describer",
        ])
    }

    static func answer(_ object: [String: Any], status: HTTPResponse.Status = .ok) -> Response {
        let data = (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])) ?? Data("{\"success\":false}".utf8)
        return Response(status: status, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(bytes: data)))
    }

    /// The error shape every client tolerates: a non-2xx status and a full
    /// JSON body, `predictions` included.
    static func failure(_ status: HTTPResponse.Status, _ message: String) -> Response {
        var response = answer(["success": false, "error": message, "predictions": [Any](), "code": status.code, "duration": 0], status: status)
        if status == .serviceUnavailable { response.headers[.retryAfter] = "1" }
        return response
    }

    static func failure(_ error: InvocationError) -> Response {
        switch error.code {
        case .queueFull, .unavailable: failure(.serviceUnavailable, error.message)
        case .unknownFunction: failure(.serviceUnavailable, "No object detector is installed on this server (the function 'detect')")
        case .deadlineExceeded: failure(.gatewayTimeout, error.message)
        case .notAnImage, .truncatedImage, .unsupportedFormat, .invalidInput, .unsupportedMediaType:
            failure(.badRequest, "invalid image file: \(error.message)")
        case .payloadTooLarge, .imageTooLarge: failure(.contentTooLarge, error.message)
        default: failure(.internalServerError, error.message)
        }
    }
}
