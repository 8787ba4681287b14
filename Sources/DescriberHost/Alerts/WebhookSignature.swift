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
/// The secret is written `whsec_<base64 key>`; a secret without that prefix
/// is used as raw key bytes.
public struct WebhookSignature: Sendable {
    let key: SymmetricKey

    public init(secret: String) {
        if secret.hasPrefix("whsec_"), let key = Data(base64Encoded: String(secret.dropFirst("whsec_".count))) {
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
