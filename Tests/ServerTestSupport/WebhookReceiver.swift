import Foundation
import HTTPTypes
import Hummingbird
import Synchronization

/// A receiver that answers each POST with the next of `statuses` (the
/// last one repeating) and keeps what it received.
package final class WebhookReceiver: Sendable {
    package struct Received: Sendable {
        package var headers: [String: String]
        package var body: Data
    }

    package let statuses: [(Int, [String: String])]
    package let received = Mutex<[Received]>([])

    package init(_ statuses: [(Int, [String: String])]) { self.statuses = statuses }

    package var application: some ApplicationProtocol {
        let router = Router()
        router.post("/hook") { request, _ -> Response in
            let body = try await request.body.collect(upTo: 1 << 20)
            var headers: [String: String] = [:]
            for field in request.headers { headers[field.name.canonicalName] = field.value }
            let index = self.received.withLock { received in
                received.append(Received(headers: headers, body: Data(buffer: body)))
                return received.count - 1
            }
            let (status, extra) = self.statuses[min(index, self.statuses.count - 1)]
            var fields = HTTPFields()
            for (name, value) in extra { fields[HTTPField.Name(name)!] = value }
            return Response(status: .init(code: status), headers: fields)
        }
        return Application(router: router, configuration: .init(address: .hostname("127.0.0.1", port: 0)))
    }
}
