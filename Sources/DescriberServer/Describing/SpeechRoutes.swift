import DescriberConfiguration
import DescriberHTTP
import DescriberHost
import Describing
import HTTPTypes
import Hummingbird
import NIOCore

extension HTTPField.Name {
    static let voice = Self("X-Describer-Voice")!
}

/// `POST /v1/speak` and `GET /v1/voices`.
struct SpeechRoutes: Sendable {
    let speaker: Speaker

    /// Text in (UTF-8, `text/plain`), WAV out. Query: `voice` (a profile
    /// name), `rate` (words per minute, overriding the profile's),
    /// `format=json` (word timings with the WAV in base64; also chosen by
    /// `Accept: application/json`).
    @Sendable func speak(_ request: Request, context: BasicRequestContext) async throws -> Response {
        if let contentType = request.headers[.contentType], !MediaType.matches(contentType, patterns: ["text/plain"]) {
            throw APIError(InvocationError(.unsupportedMediaType, "/v1/speak takes text/plain (UTF-8), not \(MediaType.essence(of: contentType))"))
        }
        try request.uri.refuseUnknownOptions(allowed: ["voice", "rate", "format"], route: "/v1/speak")
        let limit = speaker.host.entries[Speaker.functionName]?.pool?.limits.maxInputBytes ?? speaker.host.config.maxBodySize
        let text = try await request.collectInput(upTo: limit, for: Speaker.functionName)
        let query = request.uri.queryParameters
        var rate: Int?
        if let value = query["rate"] {
            guard let parsed = Int(value) else {
                throw APIError(InvocationError(.badOption, "rate must be a whole number of words per minute, got '\(value)'"))
            }
            rate = parsed
        }
        let format: Speaker.Format
        switch query["format"].map(String.init) {
        case nil: format = Self.prefersJSON(request.headers[.accept]) ? .json : .wav
        case "wav": format = .wav
        case "json": format = .json
        case let other?: throw APIError(InvocationError(.badOption, "format must be wav or json, got '\(other)'"))
        }
        let voice = query["voice"].map(String.init)
        let timeout = try request.requestedTimeout()
        let output: InvocationOutput
        do throws(InvocationError) {
            output = try await speaker.speak(text, voice: voice, rate: rate, format: format, timeout: timeout)
        } catch {
            throw APIError(error)
        }
        return Response(output, extraHeaders: [.voice: voice ?? VoiceLibrary.defaultName])
    }

    /// True when the first media type an `Accept` header lists is JSON.
    static func prefersJSON(_ accept: String?) -> Bool {
        guard let first = accept?.split(separator: ",").first else { return false }
        return MediaType.essence(of: String(first)) == "application/json"
    }

    @Sendable func voices(_ request: Request, context: BasicRequestContext) async throws -> Response {
        let library = speaker.voices
        return Response(
            json: .object([
                "default": .string(VoiceLibrary.defaultName),
                "voices": .array(library.names.compactMap { library.profiles[$0]?.json }),
            ]))
    }
}
