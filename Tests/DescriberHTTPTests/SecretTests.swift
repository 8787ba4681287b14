import HTTPTypes
import Hummingbird
import HummingbirdTesting
import NIOCore
import ServerTestSupport
import TestSupport
import Testing

@testable import DescriberConfiguration
@testable import DescriberHost
@testable import DescriberServer

/// Values marked `!secret` reach the function but are never shown: not by
/// `GET /v1/functions*`, not in configuration errors.
@Suite struct SecretTests {
    static let manifest = """
        options: { prefix: !secret "hunter2> ", colour: blue }
        environment: { ECHO_TOKEN: !secret "env-secret-value", ECHO_PLAIN: visible }
        """

    static func application(environment: [String: String] = [:]) throws -> some ApplicationProtocol {
        let library = try TestSupport.library("echo", source: TestSupport.echoSource)
        let host = try TestSupport.host(["echo": "library: \(library)\n\(manifest)"], environment: environment)
        return buildApplication(host: host, logger: TestSupport.logger)
    }

    @Test func listingsRedactSecretsWhileTheFunctionGetsThem() async throws {
        try await Self.application().test(.router) { client in
            for uri in ["/v1/functions/echo", "/v1/functions"] {
                try await client.execute(uri: uri, method: .get) { response in
                    let body = String(buffer: response.body)
                    #expect(response.status == .ok)
                    #expect(!body.contains("hunter2") && !body.contains("env-secret-value"), "\(body)")
                    if uri == "/v1/functions/echo" {
                        #expect(body.contains(#""prefix":"(secret)""#), "\(body)")
                        #expect(body.contains(#""colour":"blue""#) && body.contains(#""ECHO_PLAIN":"visible""#), "\(body)")
                        #expect(body.contains(#""ECHO_TOKEN":"(secret)""#), "\(body)")
                    }
                }
            }
            try await client.execute(
                uri: "/v1/functions/echo/invoke", method: .post, headers: [.contentType: "text/plain"], body: ByteBuffer(string: "hi")
            ) { response in
                #expect(String(buffer: response.body) == "hunter2> hi", "the function has the real value")
            }
        }
    }

    /// The manifest marks the key; a deployment fills it from the environment.
    @Test func aValueLaidOverASecretIsSecretToo() async throws {
        let environment = ["DESCRIBER_FUNCTIONS__ECHO__OPTIONS__PREFIX": "from-the-environment> "]
        try await Self.application(environment: environment).test(.router) { client in
            try await client.execute(uri: "/v1/functions/echo", method: .get) { response in
                let body = String(buffer: response.body)
                #expect(!body.contains("from-the-environment"), "\(body)")
                #expect(body.contains(#""prefix":"(secret)""#), "\(body)")
            }
            try await client.execute(
                uri: "/v1/functions/echo/invoke", method: .post, headers: [.contentType: "text/plain"], body: ByteBuffer(string: "hi")
            ) { response in
                #expect(String(buffer: response.body) == "from-the-environment> hi")
            }
        }
    }

    @Test func aSecretIsTypedAsItWouldBeUntaggedAndNeverQuotedInErrors() throws {
        let typed = try ConfigNode.parseYAML("count: !secret 4\nlist: !secret [a, b]", source: "describer.yaml")
        #expect(typed["count"]?.json == .int(4) && typed["count"]?.isSecret == true)
        #expect(typed["list"]?.redactedJSON == .array([.string("(secret)"), .string("(secret)")]))
        let node = try ConfigNode.parseYAML("server: { port: !secret not-a-port }", source: "describer.yaml")
        let error = #expect(throws: ConfigError.self) { try HostConfig(node: node, baseDirectory: nil) }
        #expect(error?.description.contains("server.port must be a whole number, got '(secret)'") == true, "\(String(describing: error))")
        #expect(error?.description.contains("not-a-port") == false)
    }

    @Test func aYAMLSyntaxErrorNamesTheLineButNotItsText() throws {
        let error = #expect(throws: ConfigError.self) {
            try ConfigNode.parseYAML("options:\n  api_key: !secret hunter2: oops\n", source: "function.yaml")
        }
        #expect(error?.description.hasPrefix("function.yaml:2: is not valid YAML") == true, "\(String(describing: error))")
        #expect(error?.description.contains("hunter2") == false, "\(String(describing: error))")
    }

    @Test func keysAddedUnderASecretMappingAreSecret() throws {
        let manifest = try ConfigNode.parseYAML("environment: !secret {}", source: "function.yaml")
        let filled = manifest.overlaid(by: ConfigNode.environmentOverlay(["DESCRIBER_ENVIRONMENT__TOKEN": "filled-in"]))
        #expect(filled["environment"]?["token"]?.isSecret == true)
        #expect(filled.redactedJSON == .object(["environment": .object(["token": .string("(secret)")])]))
    }
}
