import DescriberTesting
import Foundation
import ServerTestSupport
import TestSupport
import Testing

@testable import Assist

/// The web app at `/` in a real browser: Debian's headless chromium, driven
/// by Selenium (Tests/Browser/webapp.py), checked with axe-core 4.12 at
/// WCAG 2.2 AA, against `describer serve` run as a user runs it.
///
/// Screenshots go to the scratch folder, or to `DESCRIBER_WEBAPP_SCREENSHOTS`
/// when set, to look at them or refresh the committed ones (Tests/Browser/screenshots).
@Suite struct WebAppBrowserTests {
    static let script = TestSupport.packageRoot + "/Tests/Browser/webapp.py"
    static let packages = TestSupport.packageRoot + "/.cache/python"

    static func screenshots() throws -> String {
        if let folder = ProcessInfo.processInfo.environment["DESCRIBER_WEBAPP_SCREENSHOTS"] { return folder }
        return try TestScratch.folder("webapp-screenshots")
    }

    /// Runs webapp.py; fails with its output when it does not succeed.
    @discardableResult
    static func browser(_ arguments: [String]) throws -> String {
        for (path, what) in [
            ("/usr/bin/chromium", "Debian's chromium"), ("/usr/bin/chromedriver", "Debian's chromium-driver"),
            (packages + "/selenium", "Selenium"), (packages + "/axe_playwright_python/axe.min.js", "axe-core"),
        ] where !FileManager.default.fileExists(atPath: path) {
            throw TestError("\(what) is not installed (\(path)); run scripts/setup test")
        }
        let run = try Executables.run("/usr/bin/env", ["python3", script] + arguments, environment: ["PYTHONPATH": packages])
        guard run.reason == .exit, run.status == 0 else {
            throw TestError("webapp.py \(arguments.first ?? "") failed: \(run.stdout)\(run.stderr)")
        }
        return run.stdout
    }

    @Test func everyStatePassesAxeAndReflowsAtPhoneWidths() async throws {
        let server = try await LiveServer.start()
        defer { server.stop() }
        let output = try Self.browser(["states", server.baseURL, try Self.screenshots()])
        // Each state in light and dark, at 390 and 320 CSS pixels.
        for state in ["empty", "described", "text", "refused", "error"] {
            #expect(output.contains("\"\(state)-320-dark\""), "\(output)")
        }
    }

    @Test func theKeyboardAloneWalksTheWholeFlow() async throws {
        let server = try await LiveServer.start()
        defer { server.stop() }
        let output = try Self.browser(["keyboard", server.baseURL])
        #expect(output.contains(#""take-photo", "take-photo", "choose-photo", "speak", "repeat", "more-detail""#), "\(output)")
    }

    @Test func theTokenIsAskedForOnceAndKeptOnTheDevice() async throws {
        let token = "web-app-token-0123456789abcdef"
        let server = try await LiveServer.start(environment: ["DESCRIBER_SERVER__API_TOKEN": token])
        defer { server.stop() }
        let output = try Self.browser(["token", server.baseURL, token, try Self.screenshots()])
        #expect(output.contains("token-refused-while-describing"), "\(output)")
    }

    // ---- Asking a person (issue 18, item 2) ----

    static let helperToken = "helper-mum-0123456789abcdef"

    /// One helper, Mum, configured as a user would in the environment; and
    /// a data folder of the server's own, so that the questions of the
    /// servers these tests run side by side never mix.
    static func helpers(answerTimeout: String? = nil) throws -> [String: String] {
        var environment = [
            "DESCRIBER_ASSIST__HELPERS__MUM__TOKEN": helperToken, "DESCRIBER_ASSIST__HELPERS__MUM__NAME": "Mum",
            "DESCRIBER_DATA_DIRECTORY": try TestScratch.folder("webapp-assist"),
        ]
        if let answerTimeout { environment["DESCRIBER_ASSIST__ANSWER_TIMEOUT"] = answerTimeout }
        return environment
    }

    /// Two browsers, the asker's `/` and the helper's `/review`: the offer
    /// after an unusable photo, the question waiting (and picked up again
    /// after a reload), seen live by the helper with its photo, draft and
    /// detections, answered with labels, the answer in the asker's live
    /// region, spoken and in Recent; then a question cancelled, dropped from
    /// the helper's list with a note; a wrong helper token refused. axe in
    /// every state, light and dark, at 390 and 320 CSS pixels.
    @Test func askingAPersonRoundTripsBetweenTwoBrowsers() async throws {
        let server = try await LiveServer.start(environment: try Self.helpers())
        defer { server.stop() }
        let output = try Self.browser(["assist", server.baseURL, Self.helperToken, try Self.screenshots()])
        for state in ["review-token-refused", "review-empty", "offer", "waiting", "review-question", "review-sent", "answered", "cancelled"] {
            #expect(output.contains("\"\(state)-320-dark\""), "\(output)")
        }
        #expect(output.contains("is no longer waiting: someone else answered it, or it was withdrawn."), "\(output)")
    }

    /// Nobody answers within a short `answer_timeout`: the asker is told in
    /// words, the helper's list drops it, and the same question is asked again.
    @Test func aQuestionNobodyAnswersExpiresAndCanBeAskedAgain() async throws {
        let server = try await LiveServer.start(environment: try Self.helpers(answerTimeout: "10s"))
        defer { server.stop() }
        let output = try Self.browser(["expiry", server.baseURL, Self.helperToken, try Self.screenshots()])
        #expect(output.contains(#""expired": "Nobody answered within 10 seconds. You can ask again.""#), "\(output)")
        #expect(output.contains("expired-320-dark"), "\(output)")
    }

    /// A camera's unsure alert asks yes or no (AlertChecker): `/review`
    /// offers the two as buttons, and one press answers. The question is
    /// put in the server's store as the camera's checker puts it there.
    @Test func aYesOrNoQuestionIsAnsweredWithOnePress() async throws {
        let environment = try Self.helpers()
        let data = try #require(environment["DESCRIBER_DATA_DIRECTORY"])
        let server = try await LiveServer.start(environment: environment)
        defer { server.stop() }
        let store = try AssistStore(path: data + "/assist.sqlite")
        let id = AssistQueue.newID()
        let photo = try Data(contentsOf: URL(fileURLWithPath: TestImages.directory + "/person.jpg"))
        try await store.insert(
            AssistQuestion(
                id: id, status: .waiting, kind: .yesNo, question: "Is there a person at Front Door? Answer yes or no.", askedAt: Date(),
                expiresAt: Date().addingTimeInterval(300), draft: nil, answer: nil, labels: nil, hasPhoto: true),
            photo: photo, photoType: "image/jpeg")
        let output = try Self.browser(["yes-no", server.baseURL, Self.helperToken, id, try Self.screenshots()])
        #expect(output.contains("review-yes-no-320-dark") && output.contains(#""answer": "Yes""#), "\(output)")
    }

    @Test func theKeyboardAloneAsksAndAnswers() async throws {
        let server = try await LiveServer.start(environment: try Self.helpers())
        defer { server.stop() }
        let output = try Self.browser(["assist-keyboard", server.baseURL, Self.helperToken])
        #expect(output.contains(#""ask-person", "ask-question", "ask-heading", "ask-time-left""#), "\(output)")
        #expect(output.contains(#""BUTTON:Send the answer", "questions-heading""#), "\(output)")
    }

    @Test func aPhotoOverTheLimitIsMadeSmallerOrRefusedClearly() async throws {
        let limit = 300 * 1024
        let server = try await LiveServer.start(environment: ["DESCRIBER_SERVER__MAX_BODY_SIZE": "\(limit)"])
        defer { server.stop() }
        let output = try Self.browser(["limits", server.baseURL, "\(limit)", try Self.screenshots()])
        #expect(output.contains("the server takes photos up to 300 KB"), "\(output)")
    }
}
