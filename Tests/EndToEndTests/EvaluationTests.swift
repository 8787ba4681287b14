import Foundation
import ServerTestSupport
import TestSupport
import Testing

@testable import DescriberHost
@testable import DescriberTesting
@testable import Describing

/// `describer eval`: scoring rules, its input checks, and the real functions
/// on the committed fixtures (Fixtures/images/expected.json).
@Suite struct EvaluationTests {
    @Test(arguments: [
        ("the same text", "the same text", 0.0),
        ("the same\n\ntext ", "the  same text", 0.0),  // layout does not count
        ("The same text", "the same text", 1.0 / 13),  // case does
        ("the sane text", "the same text", 1.0 / 13),
        ("the same", "the same text", 5.0 / 13),
        ("", "the same text", 1.0),
        ("extra", "", 1.0),
    ])
    func characterErrorRateIsEditsPerReferenceCharacter(_ read: String, _ reference: String, _ rate: Double) {
        #expect(CharacterErrorRate.of(read, reference: reference) == rate)
    }

    @Test func unusableExpectationsAreClearErrors() throws {
        func written(_ text: String) throws -> String {
            let path = TestSupport.scratch + "/expected-\(UUID().uuidString).json"
            try text.write(toFile: path, atomically: true, encoding: .utf8)
            return path
        }
        #expect(throws: EvaluationError(.unreadableExpectations, "There is no expectations file at /nonexistent/expected.json.")) {
            try Expectations.load(path: "/nonexistent/expected.json")
        }
        let outside = try written(#"{"images": {"../secret.jpg": {"must": ["dog"]}}}"#)
        #expect(
            throws: EvaluationError(
                .unreadableExpectations, "\(outside) names '../secret.jpg'; photos are named by their file name in the folder, without any path.")
        ) {
            try Expectations.load(path: outside)
        }
        let wrongType = try written(#"{"images": {"dog.jpg": {"must": "dog"}}}"#)
        do {
            _ = try Expectations.load(path: wrongType)
            Issue.record("a string where a list belongs was accepted")
        } catch {
            #expect(error.code == .unreadableExpectations && error.message.contains("at images.dog.jpg.must"), "\(error.message)")
        }
        let parsed = try Expectations.load(path: try written(#"{"images": {"a.jpg": {"quality": "blurry"}}, "camera": {}}"#))
        #expect(parsed.images["a.jpg"]?.quality == "blurry" && parsed.images["a.jpg"]?.must == [])
    }

    struct Report: Decodable {
        var images: [Image]
        var overall: Overall
        struct Image: Decodable {
            var name: String
            var mustMissed: [String]
            var mustNotClaimed: [String]
            var quality: Quality
            var ocr: OCR?
            var latencyMs: Double?
        }
        struct Quality: Decodable { var verdict: String; var matches: Bool }
        struct OCR: Decodable { var status: String }
        struct Overall: Decodable { var mustMentioned: Int; var mustTotal: Int; var mustNotClaimed: Int; var failures: Int }
    }

    /// The real detect and caption on the committed fixtures, through the
    /// built `describer eval`: floors, not exact figures.
    @Test func evalOnTheFixturesMeetsItsFloors() throws {
        let functions = try TestSupport.functionsDirectory(["detect": try BundledFunctions.detect(), "caption": try BundledFunctions.caption()])
        let run = try Executables.run(["eval", (TestSupport.fixtures + "/images"), "--functions", functions, "--runs", "1", "--json"])
        #expect(run.status == 0, "\(run.stderr)")
        let decoder = JSONDecoder()
        decoder.keyDecodingStrategy = .convertFromSnakeCase
        let report = try decoder.decode(Report.self, from: Data(run.stdout.utf8))
        let byName = Dictionary(uniqueKeysWithValues: report.images.map { ($0.name, $0) })
        #expect(Set(byName.keys) == ["dog.jpg", "person.jpg", "page.png", "text_motion.jpg"])
        #expect(byName["dog.jpg"]?.mustMissed == [], "dog.jpg names a dog and a bicycle")
        #expect(byName["text_motion.jpg"]?.quality.verdict == "too blurry" && byName["text_motion.jpg"]?.quality.matches == true)
        #expect(byName["page.png"]?.ocr?.status == "ocr not installed")
        #expect(report.overall.mustNotClaimed == 0, "no forbidden object is claimed on the fixtures")
        #expect(report.overall.failures == 0)
        #expect(Double(report.overall.mustMentioned) >= 0.6 * Double(report.overall.mustTotal))
        #expect(report.images.allSatisfy { $0.latencyMs != nil })

        let text = try Executables.run(["eval", (TestSupport.fixtures + "/images"), "--functions", functions, "--runs", "1"])
        #expect(text.stdout.contains("must_not claimed:     0/"), "\(text.stdout)")
        #expect(text.stdout.contains("ocr not installed"))
    }

    @Test func evalExplainsWhatItCannotRun() throws {
        let noFunctions = TestSupport.scratch + "/no-functions-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: noFunctions, withIntermediateDirectories: true)
        let missing = try Executables.run(["eval", noFunctions, "--functions", noFunctions])
        #expect(missing.status == 1)
        #expect(missing.stderr == "describer: There is no expectations file at \(noFunctions)/expected.json.\n")
        let empty = try Executables.run(["eval", (TestSupport.fixtures + "/images"), "--functions", noFunctions])
        #expect(empty.status == 1)
        #expect(empty.stderr.contains("No describing functions are installed"))
    }
}
