import DescriberHTTP
import DescriberHost
import DescriberImaging
import Foundation
import NIOCore

/// What a camera's request body holds, in the three shapes cameras send:
/// a bare image, a form with an `image` part, or a Hikvision alert (XML
/// alone, or XML with JPEG parts).
struct CameraPayload: Sendable {
    var source: IncomingCameraEvent.Source
    var snapshot: Data?
    var snapshotContentType: String?
    var hikvision: HikvisionAlert?

    struct Refusal: Error, Equatable {
        var status: Int
        var code: String
        var message: String
    }

    static func parse(contentType header: String?, body: ByteBuffer) -> Result<CameraPayload, Refusal> {
        let contentType = header ?? "application/octet-stream"
        let essence = MediaType.essence(of: contentType)
        switch essence {
        case "multipart/form-data", "multipart/mixed":
            return parseMultipart(contentType: contentType, body: body)
        case "application/xml", "text/xml":
            guard let alert = HikvisionAlert(xml: String(buffer: body)) else {
                return .failure(
                    Refusal(status: 400, code: "invalid_event", message: "the XML body is not a Hikvision EventNotificationAlert with an eventType"))
            }
            return .success(CameraPayload(source: .hikvision, hikvision: alert))
        default:
            let bytes = Data(body.readableBytesView)
            guard let imageType = imageType(of: bytes) else {
                if essence.hasPrefix("image/") || essence == "application/octet-stream" {
                    return .failure(Refusal(status: 400, code: "not_an_image", message: "the body is not a JPEG or PNG picture"))
                }
                return .failure(unsupported(essence))
            }
            return .success(CameraPayload(source: .image, snapshot: bytes, snapshotContentType: imageType))
        }
    }

    private static func parseMultipart(contentType: String, body: ByteBuffer) -> Result<CameraPayload, Refusal> {
        // Hikvision sends multipart/mixed at times; the parts look the same.
        let formType = "multipart/form-data" + contentType.drop(while: { $0 != ";" })
        guard let form = FormData(contentType: formType, body: body) else {
            return .failure(Refusal(status: 400, code: "invalid_event", message: "the multipart body cannot be parsed (check the boundary)"))
        }
        let xmlPart = form.parts.first { part in
            let type = part.contentType.map(MediaType.essence(of:)) ?? ""
            return type.hasSuffix("/xml") || part.filename?.lowercased().hasSuffix(".xml") == true
                || (part.filename == nil && part.body.readableBytes <= HikvisionAlert.maxBytes && String(buffer: part.body).contains("<EventNotificationAlert"))
        }
        // The picture: the part named `image`, else the first part that is one.
        let namedImage = form.parts.first { $0.name == "image" }
        let picture = namedImage ?? form.parts.first { imageType(of: Data($0.body.readableBytesView)) != nil }
        var snapshot: Data?
        var snapshotType: String?
        if let picture {
            let bytes = Data(picture.body.readableBytesView)
            guard let type = imageType(of: bytes) else {
                return .failure(Refusal(status: 400, code: "not_an_image", message: "the image part is not a JPEG or PNG picture"))
            }
            snapshot = bytes
            snapshotType = type
        }
        if let xmlPart {
            guard let alert = HikvisionAlert(xml: String(buffer: xmlPart.body)) else {
                return .failure(
                    Refusal(status: 400, code: "invalid_event", message: "the XML part is not a Hikvision EventNotificationAlert with an eventType"))
            }
            return .success(CameraPayload(source: .hikvision, snapshot: snapshot, snapshotContentType: snapshotType, hikvision: alert))
        }
        guard let snapshot else {
            return .failure(Refusal(status: 400, code: "not_an_image", message: "the form has no image part (send the picture as a part named 'image')"))
        }
        return .success(CameraPayload(source: .multipart, snapshot: snapshot, snapshotContentType: snapshotType))
    }

    private static func unsupported(_ essence: String) -> Refusal {
        Refusal(
            status: 415, code: "unsupported_media_type",
            message: "camera events are image/jpeg or image/png bodies, multipart/form-data with an image part, or Hikvision XML; not \(essence)"
        )
    }

    /// The media type of a picture the host can decode, by its signature
    /// (not by what the sender claims); nil for anything else.
    static func imageType(of bytes: Data) -> String? {
        switch bytes.withUnsafeBytes(ImageFormat.sniff) {
        case .jpeg: "image/jpeg"
        case .png: "image/png"
        default: nil
        }
    }
}
