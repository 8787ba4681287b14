import Hummingbird
import NIOCore

/// `GET /openapi.yaml`: the OpenAPI 3.1 document of the whole HTTP API
/// (`OpenAPI/openapi.yaml`, embedded in the binary at build time).
///
/// It is open whatever `server.api_token` says: it describes the API, holds
/// no secret, and a client needs it before it has a token.
public enum OpenAPIDocument {
    /// The document's bytes, as committed.
    public static var yaml: [UInt8] { PackageResources.openapi_yaml }

    static func register(on router: Router<BasicRequestContext>) {
        // One buffer for every answer: the document never changes while the process runs.
        let body = ByteBuffer(bytes: yaml)
        router.get("/openapi.yaml") { _, _ in
            Response(status: .ok, headers: [.contentType: "application/yaml"], body: .init(byteBuffer: body))
        }
    }
}
