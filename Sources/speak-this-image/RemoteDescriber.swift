import DescriberHost
import Describing
import Foundation
import NIOCore

#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// Describes and speaks through a running Describer service (`--server`).
struct RemoteDescriber {
    let server: String

    func describe(_ image: ByteBuffer, verbosity: Verbosity) async throws -> Description {
        let data = try await post(
            "/v1/describe?verbosity=\(verbosity.rawValue)", body: Data(image.readableBytesView), contentType: "application/octet-stream",
            accept: "application/json", failure: Failure.describing)
        do {
            return try JSONDecoder().decode(Description.self, from: data)
        } catch {
            throw Failure.describing("The service at \(server) answered something that is not a description.")
        }
    }

    func speak(_ text: String, voice: String?, rate: Int?) async throws -> Data {
        var query: [String] = []
        if let voice { query.append("voice=\(voice.addingPercentEncoding(withAllowedCharacters: .urlQueryAllowed) ?? voice)") }
        if let rate { query.append("rate=\(rate)") }
        return try await post(
            "/v1/speak" + (query.isEmpty ? "" : "?" + query.joined(separator: "&")), body: Data(text.utf8), contentType: "text/plain; charset=utf-8",
            accept: "audio/wav", failure: Failure.speech)
    }

    private func post(_ path: String, body: Data, contentType: String, accept: String, failure: (String) -> Failure) async throws -> Data {
        let base = server.hasSuffix("/") ? String(server.dropLast()) : server
        guard let url = URL(string: base + path), url.scheme == "http" || url.scheme == "https" else {
            throw Failure.usage("--server must be an http:// or https:// address, got \(server).")
        }
        var request = URLRequest(url: url)
        request.httpMethod = "POST"
        request.httpBody = body
        request.setValue(contentType, forHTTPHeaderField: "Content-Type")
        request.setValue(accept, forHTTPHeaderField: "Accept")
        let (data, response): (Data, URLResponse)
        do {
            (data, response) = try await URLSession.shared.data(for: request)
        } catch {
            throw failure("The service at \(server) cannot be reached: \(error.localizedDescription).")
        }
        let status = (response as? HTTPURLResponse)?.statusCode ?? 0
        guard status == 200 else {
            // The service's JSON error carries a sentence worth passing on.
            struct ErrorBody: Decodable { struct Inner: Decodable { var code: String; var message: String }; var error: Inner }
            let parsed = try? JSONDecoder().decode(ErrorBody.self, from: data)
            let message = parsed?.error.message ?? "status \(status)"
            if ["not_an_image", "truncated_image", "unsupported_format", "image_too_large"].contains(parsed?.error.code ?? "") {
                throw Failure.unreadable("The file could not be read as a picture: \(message).")
            }
            throw failure("The service at \(server) could not do it: \(message).")
        }
        return data
    }
}
