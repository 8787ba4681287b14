import DescriberHost
import NIOCore

/// Text to speech: resolves a voice profile and runs the `speak` function.
///
/// Every front end that talks (`POST /v1/speak`, `POST /v1/describe` with
/// `Accept: audio/wav`, `speak-this-image`) goes through here, so a voice
/// name means the same everywhere and an unknown one gets the same answer.
public struct Speaker: Sendable {
    /// The function that synthesises speech.
    public static let functionName = "speak"

    public enum Format: String, Sendable { case wav, json }

    public let host: FunctionHost
    public let voices: VoiceLibrary

    public init(host: FunctionHost, voices: VoiceLibrary) {
        self.host = host
        self.voices = voices
    }

    /// Speaks UTF-8 `text` with the profile `voice` (the default when nil),
    /// optionally at another `rate` in words per minute.
    public func speak(
        _ text: ByteBuffer, voice: String? = nil, rate: Int? = nil, format: Format = .wav, timeout: Duration? = nil
    ) async throws(InvocationError) -> InvocationOutput {
        let profile = try voices.profile(named: voice)
        if let rate, !VoiceProfile.rates.contains(rate) {
            throw InvocationError(
                .badOption,
                "the rate must be between \(VoiceProfile.rates.lowerBound) and \(VoiceProfile.rates.upperBound) words per minute, got \(rate)"
            )
        }
        var options = profile.requestOptions(rate: rate)
        if format == .json { options.append(("format", "json")) }
        let request = InvocationRequest(body: text, contentType: "text/plain; charset=utf-8", options: options, timeout: timeout)
        return try await host.invoke(Self.functionName, request)
    }
}
