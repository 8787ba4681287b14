import ArgumentParser
import DescriberHost
import Describing
import Foundation

struct Eval: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Describe a folder of photos with known contents and score the descriptions.",
        discussion: """
            Runs the installed describing functions (detect, caption, ocr) with the host embedded, exactly as \
            speak-this-image does, on every photo that the expectations file names, and prints per photo and \
            overall: required objects mentioned (must), forbidden objects claimed (must_not), the character error \
            rate of the text read (text), the quality verdict against the expected one (quality), and latency. \
            Exit codes: 0 evaluated, 1 the evaluation could not run (the reason is on stderr).
            """
    )

    @OptionGroup var options: ConfigOptions
    @Argument(help: "Folder holding the photos.") var folder: String
    @Option(help: "The expectations file (default: FOLDER/expected.json).") var expected: String?
    @Option(help: "Timed descriptions per photo, 1–\(Evaluator.maxRuns); latency is their median.") var runs = 3
    @Flag(help: "Print the results as JSON.") var json = false

    func validate() throws {
        guard (1...Evaluator.maxRuns).contains(runs) else { throw ValidationError("--runs must be between 1 and \(Evaluator.maxRuns)") }
    }

    func run() async throws {
        let expectations: Expectations
        do throws(EvaluationError) {
            expectations = try Expectations.load(path: expected ?? folder + "/expected.json")
        } catch {
            throw Self.failure(error)
        }
        let host = try FunctionHost(config: try options.loadHostConfig(), logger: options.makeLogger())
        let evaluator = Evaluator(describer: ImageDescriber(host: host), runs: runs)
        let result = try await host.run { _ in
            do throws(EvaluationError) {
                return Result<Evaluation, EvaluationError>.success(try await evaluator.evaluate(folder: folder, expectations: expectations))
            } catch {
                return .failure(error)
            }
        }
        let evaluation = try result.mapError(Self.failure).get()
        if json {
            let encoder = JSONEncoder()
            encoder.keyEncodingStrategy = .convertToSnakeCase
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
            FileHandle.standardOutput.write(try encoder.encode(evaluation) + Data("\n".utf8))
        } else {
            print(evaluation.report)
        }
    }

    /// Says why on stderr, as a sentence, and exits with 1.
    static func failure(_ error: EvaluationError) -> ExitCode {
        FileHandle.standardError.write(Data("describer: \(error.message)\n".utf8))
        return ExitCode(1)
    }
}
