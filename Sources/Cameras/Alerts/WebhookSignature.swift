import Crypto
import Foundation

/// Signs outgoing webhooks as the Standard Webhooks specification says
/// (https://www.standardwebhooks.com), which its libraries in every
/// language verify:
///
///     webhook-id: msg_…
///     webhook-timestamp: <unix seconds>
///     webhook-signature: v1,<base64 of HMAC-SHA256(key, "<id>.<timestamp>.<body>")>
///
/// The secret is the base64 of the key, usually written `whsec_<base64>`;
/// as in the specification's reference libraries, the prefix is optional.
/// A secret that is not base64 at all is used as raw key bytes.
public struct WebhookSignature: Sendable {
    let key: SymmetricKey

    public init(secret: String) {
        let encoded = secret.hasPrefix("whsec_") ? String(secret.dropFirst("whsec_".count)) : secret
        // Unpadded base64 is accepted too, as the reference libraries do.
        let padded = encoded + String(repeating: "=", count: (4 - encoded.count % 4) % 4)
        if let key = Data(base64Encoded: padded), !key.isEmpty {
            self.key = SymmetricKey(data: key)
        } else {
            self.key = SymmetricKey(data: Data(secret.utf8))
        }
    }

    /// The value of the `webhook-signature` header.
    public func sign(id: String, timestamp: Int64, body: Data) -> String {
        var message = Data("\(id).\(timestamp).".utf8)
        message.append(body)
        let mac = HMAC<SHA256>.authenticationCode(for: message, using: key)
        return "v1," + Data(mac).base64EncodedString()
    }

    /// The three headers for one delivery.
    public func headers(id: String, timestamp: Int64, body: Data) -> [(String, String)] {
        [("webhook-id", id), ("webhook-timestamp", "\(timestamp)"), ("webhook-signature", sign(id: id, timestamp: timestamp, body: body))]
    }
}
