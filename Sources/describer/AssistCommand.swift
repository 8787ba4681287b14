import ArgumentParser
import Assist
import DescriberServer
import Foundation

struct AssistCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "assist",
        abstract: "Asking a person: make a helper's token, export the answers kept as data.",
        subcommands: [Token.self, Export.self]
    )

    struct Token: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Make a token for a helper and print it with the lines for describer.yaml.",
            discussion: """
                The file keeps only the token's SHA-256, so whoever reads the file cannot answer as the helper. \
                Give the token itself to the helper, who enters it once on /review.
                """
        )

        @Argument(help: "The helper's id: lower-case letters, digits and '-'.") var helper: String
        @Option(help: "The name the asker hears with the answer (default: the id).") var name: String?

        func validate() throws {
            guard !helper.isEmpty, helper.count <= 64, helper.allSatisfy({ ($0.isLetter && $0.isLowercase) || $0.isNumber || $0 == "-" }) else {
                throw ValidationError("a helper's id is lower-case letters, digits and '-', at most 64")
            }
        }

        func run() throws {
            var generator = SystemRandomNumberGenerator()
            let bytes = (0..<24).map { _ in UInt8.random(in: 0...255, using: &generator) }
            let token = Data(bytes).base64EncodedString().replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
            let digest = AssistConfig.Helper.digest(of: token).map { String(format: "%02x", $0) }.joined()
            print(
                """
                Token for \(helper) (give it to them; it is not shown again):
                  \(token)

                In describer.yaml:
                assist:
                  helpers:
                    \(helper):
                      name: \(name ?? helper)
                      token_sha256: "\(digest)"
                """)
        }
    }

    struct Export: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Write the answered questions kept as data (assist.keep_answers) as an evaluation set.",
            discussion: """
                FOLDER gets each photo, expected.json (what the helpers marked: labels there and not there, the text, \
                the quality) and answers.jsonl (question, machine's draft, answer, helper, times). Then \
                `describer eval FOLDER` measures the describer against what people said. \
                Exit codes: 0 written, 1 it could not be (the reason is on stderr).
                """
        )

        @OptionGroup var options: ConfigOptions
        @Argument(help: "A new or empty folder.") var folder: String

        func run() async throws {
            let deployment = try options.loadDeployment()
            do {
                let summary = try await AssistExport.export(databasePath: deployment.assist.databasePath, to: folder)
                print("\(summary.photos) answered photos written to \(folder), \(summary.labelled) with labels eval can score")
            } catch let error as AssistExport.ExportError {
                FileHandle.standardError.write(Data("describer: \(error.description)\n".utf8))
                throw ExitCode(1)
            }
        }
    }
}
