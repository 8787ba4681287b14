import Crypto
import DescriberHTTP
import Foundation

/// Checks that an event comes from its camera.
///
/// Two ways, either of which a camera may be configured for:
/// - **a token**, for cameras that cannot sign: `Authorization: Bearer TOKEN`,
///   the path `/v1/cameras/{id}/events/{TOKEN}`, or `?token=TOKEN`;
/// - **an HMAC-SHA256 signature**, for software senders:
///   `X-Describer-Timestamp: UNIX_SECONDS` and
///   `X-Describer-Signature: sha256=HEX(HMAC(secret, "TIMESTAMP." + body))`,
///   accepted while the timestamp is within ±5 minutes of the server's clock.
///
/// Every comparison takes the same time whatever the bytes: tokens are
/// compared as SHA-256 digests with a loop that never exits early, and
/// signatures through swift-crypto's constant-time check. A failure says
/// only that authentication failed.
struct CameraAuthenticator: Sendable {
    static let replayWindow: TimeInterval = 300

    struct Credentials: Sendable {
        var token: String?
        var timestamp: String?
        var signature: String?

        /// True when the request carries no credential at all (refused before its body is read).
        var isEmpty: Bool { token == nil && signature == nil }
    }

    private let tokenDigests: [SHA256.Digest]
    private let secrets: [SymmetricKey]
    private let required: Bool

    init(camera: CameraConfig) {
        tokenDigests = camera.tokens.map { SHA256.hash(data: Data($0.utf8)) }
        secrets = camera.hmacSecrets.map { SymmetricKey(data: Data($0.utf8)) }
        required = camera.authentication == .required
    }

    var requiresCredentials: Bool { required }

    func isAuthentic(_ credentials: Credentials, body: Data, now: Date) -> Bool {
        guard required else { return true }
        if let token = credentials.token, !tokenDigests.isEmpty {
            let digest = SHA256.hash(data: Data(token.utf8))
            var matched = false
            for expected in tokenDigests where Self.constantTimeEqual(digest, expected) { matched = true }
            if matched { return true }
        }
        guard !secrets.isEmpty, let timestampText = credentials.timestamp, let signatureText = credentials.signature,
            timestampText.utf8.count <= 12, let timestamp = Int64(timestampText),
            abs(now.timeIntervalSince1970 - TimeInterval(timestamp)) <= Self.replayWindow,
            let signature = Self.hexBytes(signatureText.hasPrefix("sha256=") ? String(signatureText.dropFirst(7)) : signatureText),
            signature.count == SHA256.byteCount
        else { return false }
        var signed = Data(timestampText.utf8)
        signed.append(UInt8(ascii: "."))
        signed.append(body)
        var matched = false
        for secret in secrets where HMAC<SHA256>.isValidAuthenticationCode(signature, authenticating: signed, using: secret) { matched = true }
        return matched
    }

    /// The signature headers' value for `body` at `timestamp`: what a sender computes.
    static func signature(body: Data, timestamp: Int64, secret: String) -> String {
        var signed = Data(String(timestamp).utf8)
        signed.append(UInt8(ascii: "."))
        signed.append(body)
        let code = HMAC<SHA256>.authenticationCode(for: signed, using: SymmetricKey(data: Data(secret.utf8)))
        return "sha256=" + code.hexString
    }

    private static func constantTimeEqual(_ a: SHA256.Digest, _ b: SHA256.Digest) -> Bool {
        var difference: UInt8 = 0
        for (x, y) in zip(a, b) { difference |= x ^ y }
        return difference == 0
    }

    private static func hexBytes(_ text: String) -> Data? {
        guard text.utf8.count == SHA256.byteCount * 2 else { return nil }
        var bytes = Data(capacity: SHA256.byteCount)
        var iterator = text.utf8.makeIterator()
        while let high = iterator.next(), let low = iterator.next() {
            guard let h = String.hexValue(high), let l = String.hexValue(low) else { return nil }
            bytes.append(h << 4 | l)
        }
        return bytes
    }
}

extension Sequence<UInt8> {
    /// Lower-case hexadecimal, two digits a byte.
    var hexString: String {
        var text = ""
        for byte in self {
            let digits = Array("0123456789abcdef".utf8)
            text.unicodeScalars.append(Unicode.Scalar(digits[Int(byte >> 4)]))
            text.unicodeScalars.append(Unicode.Scalar(digits[Int(byte & 0x0F)]))
        }
        return text
    }
}
