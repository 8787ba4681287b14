import DescriberConfiguration
import DescriberHost
import HTTPTypes
import Hummingbird
import Logging
import NIOCore
import Prometheus

/// The handlers behind the routes listed on ``buildApplication(host:logger:)``.
package struct FunctionRoutes: Sendable {
    let host: FunctionHost

    package init(host: FunctionHost) { self.host = host }

    @Sendable package func invoke(_ request: Request, context: BasicRequestContext) async throws -> Response {
        let name = try context.parameters.require("name")
        guard let entry = host.entry(named: name) else {
            throw APIError(InvocationError(.unknownFunction, "no function named '\(name)' (available: \(host.entries.keys.sorted().joined(separator: ", ")))"))
        }
        let limit = entry.pool?.limits.maxInputBytes ?? host.config.maxBodySize
        let body = try await request.collectInput(upTo: limit, for: name)
        let timeout = try request.requestedTimeout()
        let invocation = InvocationRequest(
            body: body,
            contentType: request.headers.firstValue(.contentType) ?? "application/octet-stream",
            options: request.invocationOptions,
            timeout: timeout
        )
        let output: InvocationOutput
        do throws(InvocationError) {
            output = try await host.invoke(entry, invocation)
        } catch {
            throw APIError(error)
        }
        return Response(output)
    }

    @Sendable package func list(_ request: Request, context: BasicRequestContext) async throws -> Response {
        let functions = host.entries.keys.sorted().map { host.describe($0) ?? .null }
        return json(.object(["functions": .array(functions)]))
    }

    @Sendable package func show(_ request: Request, context: BasicRequestContext) async throws -> Response {
        let name = try context.parameters.require("name")
        guard let description = host.describe(name) else {
            throw APIError(InvocationError(.unknownFunction, "no function named '\(name)'"))
        }
        return json(description)
    }

    @Sendable package func metrics(_ request: Request, context: BasicRequestContext) async throws -> Response {
        var buffer: [UInt8] = []
        buffer.reserveCapacity(16_384)
        host.emitMetrics(into: &buffer)
        return Response(
            status: .ok,
            headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
            body: .init(byteBuffer: ByteBuffer(bytes: buffer))
        )
    }

    @Sendable package func health(_ request: Request, context: BasicRequestContext) async throws -> Response {
        json(.object(["status": .string("ok")]))
    }

    @Sendable package func ready(_ request: Request, context: BasicRequestContext) async throws -> Response {
        var functions: [String: JSONValue] = [:]
        var stuck = false
        for name in host.entries.keys {
            let state = host.state(of: name)
            functions[name] = .string(state)
            stuck = stuck || state == "stuck"
        }
        // A function whose every instance is stuck refuses all its work.
        let ready = host.isReady && !stuck
        return json(.object(["status": .string(ready ? "ready" : "not_ready"), "functions": .object(functions)]), status: ready ? .ok : .serviceUnavailable)
    }

    private func json(_ value: JSONValue, status: HTTPResponse.Status = .ok) -> Response {
        Response(json: value, status: status)
    }
}

extension String {
    /// Decodes `%XX` escapes (as Hummingbird does for values; `+` stays `+`);
    /// nil when an escape is malformed.
    var percentDecoded: String? {
        var bytes: [UInt8] = []
        var iterator = utf8.makeIterator()
        while let byte = iterator.next() {
            if byte == UInt8(ascii: "%") {
                guard let high = iterator.next().flatMap(Self.hexValue), let low = iterator.next().flatMap(Self.hexValue) else { return nil }
                bytes.append(high << 4 | low)
            } else {
                bytes.append(byte)
            }
        }
        return String(validating: bytes, as: UTF8.self)
    }

    /// The value of one hexadecimal digit (either case).
    package static func hexValue(_ byte: UInt8) -> UInt8? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): byte - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): byte - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): byte - UInt8(ascii: "A") + 10
        default: nil
        }
    }
}
