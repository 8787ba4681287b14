import DescriberHTTP
import DescriberHost
import Describing
import Foundation
import HTTPTypes
import Hummingbird
import NIOCore

/// `POST /v1/describe`: a photo in; its description out, as JSON, or with
/// `Accept: audio/wav` as speech.
struct DescribeRoutes: Sendable {
    let describer: ImageDescriber
    let speaker: Speaker

    /// Query: `verbosity` (brief, normal, detailed), and for speech `voice` and `rate`.
    @Sendable func describe(_ request: Request, context: BasicRequestContext) async throws -> Response {
        try request.uri.refuseUnknownOptions(allowed: ["verbosity", "voice", "rate"], route: "/v1/describe")
        let image = try await request.collectInput(upTo: describer.host.config.maxBodySize, for: "describe")
        let query = request.uri.queryParameters
        var verbosity = Verbosity.normal
        if let value = query["verbosity"] {
            guard let parsed = Verbosity(rawValue: String(value)) else {
                throw APIError(InvocationError(.badOption, "verbosity must be brief, normal or detailed, got '\(value)'"))
            }
            verbosity = parsed
        }
        // Checked whether or not speech is asked for, as `verbosity` is: a
        // wrong value is refused, not ignored, and before the photo is described.
        var rate: Int?
        if let value = query["rate"] {
            guard let parsed = Int(value), VoiceProfile.rates.contains(parsed) else {
                throw APIError(
                    InvocationError(
                        .badOption,
                        "rate must be a whole number of words per minute from \(VoiceProfile.rates.lowerBound) to \(VoiceProfile.rates.upperBound), got '\(value)'"
                    ))
            }
            rate = parsed
        }
        let wantsSpeech =
            request.headers[.accept].map { accept in
                accept.split(separator: ",").first.map { MediaType.essence(of: String($0)) == "audio/wav" } ?? false
            } ?? false
        let timeout = try request.requestedTimeout()
        let description: Description
        do throws(DescribeError) {
            description = try await describer.describe(image, verbosity: verbosity, timeout: timeout)
        } catch {
            throw APIError(error)
        }
        guard wantsSpeech else {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys]
            let body = try encoder.encode(description)
            return Response(status: .ok, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(bytes: body)))
        }
        do throws(InvocationError) {
            let speech = try await speaker.speak(ByteBuffer(string: description.spokenText), voice: query["voice"].map(String.init), rate: rate)
            return Response(speech)
        } catch {
            throw APIError(error)
        }
    }
}

extension APIError {
    /// A describing failure: an unusable file answers as the image error
    /// behind it (400, 413, 415); anything else is 502 `describing_failed`,
    /// unless the function was out of time, overloaded or stopping, or the
    /// request's own options were wrong (400 `bad_option`).
    init(_ error: DescribeError) {
        switch error.code {
        case .notAnImage:
            if let underlying = error.underlying {
                self.init(InvocationError(underlying.code, error.message))
            } else {
                self.init(InvocationError(.notAnImage, error.message))
            }
        case .describingFailed:
            if let underlying = error.underlying, [.deadlineExceeded, .queueFull, .unavailable, .badOption].contains(underlying.code) {
                self.init(underlying)
            } else {
                self.init(status: .badGateway, code: error.code.rawValue, message: error.message)
            }
        }
    }
}
