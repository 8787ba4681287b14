import DescriberConfiguration
import Foundation
import Testing

@testable import Assist

@Suite struct AssistConfigTests {
    static func config(_ yaml: String, environment: [String: String] = [:]) throws -> AssistConfig {
        var node = try ConfigNode.parseYAML(yaml, source: "describer.yaml")
        node = node.overlaid(by: ConfigNode.environmentOverlay(environment))
        return try AssistConfig(document: ConfigDocument(root: node), dataDirectory: "/srv/describer")
    }

    @Test func helpersAreKnownByTheirTokensDigestsOnly() throws {
        let digest = AssistConfig.Helper.digest(of: "sam-helper-token-9876543210").map { String(format: "%02x", $0) }.joined()
        let config = try Self.config(
            """
            assist:
              helpers:
                mum: { name: Mum, token: mum-helper-token-0123456789 }
                sam: { token_sha256: "\(digest.uppercased())" }
              answer_timeout: 2m
              retention: 7d
              keep_answers: true
            """)
        #expect(config.helpers.map(\.id) == ["mum", "sam"])
        #expect(config.helpers.map(\.name) == ["Mum", "sam"])
        #expect(config.helpers[1].tokenDigest == AssistConfig.Helper.digest(of: "sam-helper-token-9876543210"))
        #expect(config.answerTimeout == .seconds(120))
        #expect(config.retention == .seconds(7 * 86_400))
        #expect(config.keepAnswers)
        #expect(config.databasePath == "/srv/describer/assist.sqlite")
        #expect(config.isEnabled)
    }

    @Test func theDefaultsAndTheEnvironment() throws {
        let config = try Self.config("{}", environment: ["DESCRIBER_ASSIST__HELPERS__MUM__TOKEN": "mum-helper-token-0123456789"])
        #expect(config.helpers.map(\.id) == ["mum"])
        #expect(config.answerTimeout == .seconds(300))
        #expect(config.retention == .seconds(86_400))
        #expect(!config.keepAnswers)
        #expect(!(try Self.config("{}").isEnabled), "no helpers: nobody can answer")
    }

    @Test(arguments: [
        ("assist: { helpers: { mum: { token: short } } }", "at least 16 characters"),
        ("assist: { helpers: { mum: { name: Mum } } }", "needs token or token_sha256"),
        ("assist: { helpers: { mum: { token_sha256: abc } } }", "64 hexadecimal digits"),
        ("assist: { helpers: { mum: { token: mum-helper-token-0123456789, token_sha256: \(String(repeating: "a", count: 64)) } } }", "keep one"),
        ("assist: { helpers: { Mum!: { token: mum-helper-token-0123456789 } } }", "not a valid helper id"),
        ("assist: { answer_timeout: 0s }", "answer_timeout"),
        ("assist: { retention: forever }", "retention"),
        ("assist: { rate_limit: { questions_per_minute: 0 } }", "more than 0"),
        ("assist: { helper: {} }", "helper"),
    ])
    func mistakesAreNamedWithTheirLine(yaml: String, reason: String) throws {
        let error = try #require(throws: ConfigError.self) { try Self.config(yaml) }
        #expect("\(error)".contains(reason), "\(error)")
        #expect("\(error)".contains("describer.yaml"), "\(error)")
    }
}
