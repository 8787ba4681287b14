import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import NIOCore
import ServerTestSupport
import TestSupport
import Testing
import Yams

@testable import DescriberServer

/// The OpenAPI document (`Sources/DescriberServer/OpenAPI/openapi.yaml`):
/// served as built in, and in step with the README's error table.
/// Whether the server answers as it says is EndToEndTests'
/// OpenAPIConformanceTests (Schemathesis against a live server).
@Suite struct OpenAPIDocumentTests {
    /// The parsed document, anchors resolved.
    static func document() throws -> [String: Any] {
        try #require(try Yams.load(yaml: String(decoding: OpenAPIDocument.yaml, as: UTF8.self)) as? [String: Any])
    }

    /// The error codes of each status, as the document's `ErrorNNN` schemas list them.
    static func documentedCodes(_ document: [String: Any]) throws -> [Int: Set<String>] {
        let components = try #require(document["components"] as? [String: Any])
        let schemas = try #require(components["schemas"] as? [String: Any])
        var codes: [Int: Set<String>] = [:]
        for (name, schema) in schemas {
            guard name.hasPrefix("Error"), let status = Int(name.dropFirst("Error".count)) else { continue }
            let parts = try #require((schema as? [String: Any])?["allOf"] as? [[String: Any]], "\(name) is not allOf Error and its codes")
            #expect(parts.first?["$ref"] as? String == "#/components/schemas/Error", "\(name) does not extend Error")
            let code = (((parts.last?["properties"] as? [String: Any])?["error"] as? [String: Any])?["properties"] as? [String: Any])?["code"]
            let values = try #require((code as? [String: Any])?["enum"] as? [String], "\(name) lists no codes")
            codes[status] = Set(values)
        }
        return codes
    }

    /// The README's table under "Every error is JSON": each status's codes,
    /// the snake_case words in backticks of its row (not `Retry-After`).
    static func readmeCodes() throws -> [Int: Set<String>] {
        let readme = try String(contentsOfFile: TestSupport.packageRoot + "/README.md", encoding: .utf8)
        let lines = readme.split(separator: "\n", omittingEmptySubsequences: false)
        let header = try #require(lines.firstIndex { $0.hasPrefix("| status | codes |") }, "README.md has no '| status | codes |' table")
        var codes: [Int: Set<String>] = [:]
        for line in lines[(header + 2)...] {
            guard line.hasPrefix("|") else { break }
            let cells = line.split(separator: "|").map { $0.trimmingCharacters(in: .whitespaces) }
            let status = try #require(cells.first.flatMap { Int($0) }, "not a status: \(line)")
            let words = cells.dropFirst().joined().split(separator: "`", omittingEmptySubsequences: false).enumerated()
                .filter { $0.offset % 2 == 1 }.map { String($0.element) }
            codes[status] = Set(words.filter { $0.allSatisfy { $0.isLowercase || $0 == "_" } })
        }
        return codes
    }

    @Test func theReadmesErrorTableAndTheDocumentListTheSameCodesUnderTheSameStatuses() throws {
        let documented = try Self.documentedCodes(try Self.document())
        let readme = try Self.readmeCodes()
        #expect(!readme.isEmpty)
        for status in Set(documented.keys).union(readme.keys).sorted() {
            let inDocument = documented[status] ?? []
            let inReadme = readme[status] ?? []
            #expect(
                inDocument.subtracting(inReadme).isEmpty, "\(status): in openapi.yaml, not in the README: \(inDocument.subtracting(inReadme).sorted())")
            #expect(
                inReadme.subtracting(inDocument).isEmpty, "\(status): in the README, not in openapi.yaml: \(inReadme.subtracting(inDocument).sorted())")
        }
    }

    /// Each error answer the document lists refers to the codes of its own
    /// status, so a code cannot be listed under one status and answered with another.
    @Test func everyErrorResponseUsesTheCodesOfItsStatus() throws {
        let document = try Self.document()
        let components = try #require(document["components"] as? [String: Any])
        let sharedResponses = try #require(components["responses"] as? [String: Any])
        let paths = try #require(document["paths"] as? [String: Any])
        var checked = 0
        for (path, item) in paths {
            for (method, operation) in try #require(item as? [String: Any]) {
                let responses = try #require((operation as? [String: Any])?["responses"] as? [String: Any], "\(method) \(path) has no responses")
                for (status, response) in responses {
                    var response = try #require(response as? [String: Any])
                    if let reference = response["$ref"] as? String {
                        response = try #require(sharedResponses[String(reference.split(separator: "/").last!)] as? [String: Any], "\(reference)")
                    }
                    let content = response["content"] as? [String: Any] ?? [:]
                    let schema = (content["application/json"] as? [String: Any])?["schema"] as? [String: Any]
                    guard let reference = schema?["$ref"] as? String, reference.hasPrefix("#/components/schemas/Error") else { continue }
                    #expect(reference == "#/components/schemas/Error\(status)", "\(method) \(path) answers \(status) with \(reference)")
                    checked += 1
                }
            }
        }
        #expect(checked > 50)
    }

    @Test func theServerServesTheDocumentWithoutTheToken() async throws {
        let host = try TestSupport.host([:], config: "server: { api_token: openapi-test-token-0123456789 }")
        try await buildApplication(host: host, logger: TestSupport.logger).test(.router) { client in
            try await client.execute(uri: "/openapi.yaml", method: .get) { response in
                #expect(response.status == .ok)
                #expect(response.headers[.contentType] == "application/yaml")
                #expect(Array(response.body.readableBytesView) == OpenAPIDocument.yaml)
            }
            // What is built in is the committed file, which Schemathesis reads.
            let committed = try Data(contentsOf: URL(fileURLWithPath: TestSupport.packageRoot + "/Sources/DescriberServer/OpenAPI/openapi.yaml"))
            #expect(Array(committed) == OpenAPIDocument.yaml)
            // The token still guards the API itself.
            try await client.execute(uri: "/v1/functions", method: .get) { response in
                #expect(response.status == .unauthorized)
            }
        }
    }

    @Test func theDocumentIsOpenAPI31AndDescribesEveryRouteOfTheReadme() throws {
        let document = try Self.document()
        #expect(document["openapi"] as? String == "3.1.0")
        let paths = try #require(document["paths"] as? [String: Any])
        // The README's routes table: `METHOD /path` in its first column.
        let readme = try String(contentsOfFile: TestSupport.packageRoot + "/README.md", encoding: .utf8)
        var routes = 0
        for line in readme.split(separator: "\n") where line.hasPrefix("| `") {
            let firstCell = line.split(separator: "|").first ?? ""
            for route in firstCell.split(separator: "`").enumerated().filter({ $0.offset % 2 == 1 }).map(\.element) {
                let parts = route.split(separator: " ")
                guard parts.count == 2, ["GET", "POST"].contains(parts[0]) else { continue }
                let operations = paths[String(parts[1])] as? [String: Any]
                #expect(operations?[parts[0].lowercased()] != nil, "the README's \(route) is not in openapi.yaml")
                routes += 1
            }
        }
        #expect(routes > 15)
    }
}
