import Foundation
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
@testable import DescriberTesting
@testable import Describing

/// The `speak` function on the real libespeak-ng, the voice profiles and `/v1/speak`.
///
/// Serialized: espeak-ng keeps its state in process globals, so a process
/// holds one speak instance at a time; the in-process test below relies on
/// that, and each test shuts its host down.
@Suite(.serialized) struct SpeechTests {
    static func withHost<T>(_ extra: String = "", _ body: (FunctionHost) async throws -> T) async throws -> T {
        let host = try TestSupport.host(["speak": try BundledFunctions.speak(extra)])
        return try await host.run(body)
    }

    static func speak(_ host: FunctionHost, _ text: String, _ options: [(String, String)] = []) async -> Result<InvocationOutput, InvocationError> {
        await host.result("speak", InvocationRequest(body: ByteBuffer(string: text), contentType: "text/plain", options: options))
    }

    static let sentence = "The photo shows a brown dog sitting on a bench in a park, next to a red bicycle."

    @Test func answersAValidWAVWhoseDurationMatchesTheText() async throws {
        try await Self.withHost { host in
            let output = try #require(await Self.speak(host, Self.sentence).success)
            #expect(output.contentType == "audio/wav")
            let wav = try WAV(output.body)
            #expect(wav.format == 1 && wav.channels == 1 && wav.bitsPerSample == 16)
            #expect(wav.sampleRate == 22_050)
            // 18 words at 175 wpm with espeak-ng 1.51's pauses lasted 4.70 s
            // when this test was written (Debian 12); its samples vary by a
            // fraction of a percent between runs, hence a tolerance.
            #expect(abs(wav.duration - 4.70) <= 4.70 * 0.05, "duration \(wav.duration) s")
        }
    }

    @Test func aFasterRateGivesShorterSpeech() async throws {
        try await Self.withHost { host in
            var durations: [Double] = []
            for rate in ["175", "350", "900"] {
                let output = try #require(await Self.speak(host, Self.sentence, [("rate", rate)]).success)
                durations.append(try WAV(output.body).duration)
            }
            let (normal, fast, fastest) = (durations[0], durations[1], durations[2])
            #expect(fast < normal * 0.75)
            #expect(fastest < fast)
        }
    }

    @Test func jsonCarriesWordTimingsAndTheAudio() async throws {
        try await Self.withHost { host in
            let output = try #require(await Self.speak(host, "One two three four.", [("format", "json")]).success)
            #expect(output.contentType == "application/json")
            let object = try #require(try JSONSerialization.jsonObject(with: Data(buffer: output.body)) as? [String: Any])
            let text = try #require(object["text"] as? String)
            let words = try #require(object["words"] as? [[String: Int]])
            let spoken = words.map { word in
                let bytes = Array(text.utf8)[word["offset"]!..<(word["offset"]! + word["length"]!)]
                return String(decoding: bytes, as: UTF8.self)
            }
            #expect(spoken == ["One", "two", "three", "four"])
            let starts = words.map { $0["start_ms"]! }
            #expect(starts == starts.sorted() && Set(starts).count == starts.count)
            let base64 = try #require(object["wav_base64"] as? String)
            let audio = try #require(Data(base64Encoded: base64))
            let wav = try WAV(ByteBuffer(bytes: audio))
            #expect(abs(Double(object["duration_ms"] as! Int) / 1000 - wav.duration) < 0.01)
            #expect(Double(starts.last!) / 1000 < wav.duration)
        }
    }

    @Test func refusesInvalidUTF8EmptyTextAndOverlongText() async throws {
        try await Self.withHost { host in
            var bytes = ByteBuffer(string: "caf")
            bytes.writeBytes([0xC3, 0x28])  // a lead byte followed by a non-continuation
            let invalid = await host.result("speak", InvocationRequest(body: bytes, contentType: "text/plain"))
            #expect(invalid.failure?.code == .invalidInput)
            #expect(invalid.failure?.message.contains("not valid UTF-8 (at byte 3)") == true)

            let empty = await Self.speak(host, " \n\t ")
            #expect(empty.failure?.code == .invalidInput)
            #expect(empty.failure?.message == "there is no text to speak")

            let long = await Self.speak(host, String(repeating: "word ", count: 20_000))
            #expect(long.failure?.code == .payloadTooLarge)
            #expect(long.failure?.message == "the text is 100000 characters long; the limit is 20000")

            // The instance keeps serving after refusals.
            #expect(await Self.speak(host, "still here").success != nil)
        }
    }

    @Test func hostileTextIsSanitisedNotCrashedOn() async throws {
        try await Self.withHost { host in
            let inputs = [
                String(repeating: "s'", count: 220),  // espeak-ng #2495: a stack overflow upstream
                "Wait" + String(repeating: ".", count: 5000) + " done",
                "Wait" + String(repeating: "!?", count: 500) + " ok",
                String(repeating: "a", count: 5000),
                "bell\u{07}and\u{1B}[31mescape\u{0}nul",
                String(repeating: "١٢٣٤٥٦٧٨٩", count: 100),
            ]
            for input in inputs {
                let result = await Self.speak(host, input, [("format", "json")])
                let output = try #require(result.success, "\(input.prefix(20))…: \(String(describing: result.failure))")
                let object = try #require(try JSONSerialization.jsonObject(with: Data(buffer: output.body)) as? [String: Any])
                let spoken = try #require(object["text"] as? String)
                for token in spoken.split(whereSeparator: \.isWhitespace) {
                    #expect(token.unicodeScalars.count <= 32, "token of \(token.unicodeScalars.count) code points")
                }
                #expect(!spoken.unicodeScalars.contains { $0.value < 0x20 && $0 != "\n" && $0 != "\t" && $0 != "\r" })
                #expect(!spoken.contains("...."))
            }
        }
    }

    @Test func anUnknownEspeakVoiceIsAClearError() async throws {
        try await Self.withHost { host in
            let result = await Self.speak(host, "hello", [("voice", "xx-nonexistent")])
            #expect(result.failure?.code == .invalidInput)
            #expect(result.failure?.message == "espeak-ng has no voice 'xx-nonexistent'")
            let path = await Self.speak(host, "hello", [("voice", "../../etc/passwd")])
            #expect(path.failure?.code == .invalidInput)
            // The previous voice still works.
            #expect(await Self.speak(host, "hello").success != nil)
        }
    }

    @Test func concurrentRequestsAreSerialisedAndNeverCrash() async throws {
        try await Self.withHost { host in
            try await withThrowingTaskGroup(of: Int.self) { group in
                for index in 0..<24 {
                    group.addTask {
                        let rate = ["175", "450", "900"][index % 3]
                        let output = try await host.invoke(
                            "speak",
                            InvocationRequest(body: ByteBuffer(string: "Request number \(index)."), contentType: "text/plain", options: [("rate", rate)]))
                        return try WAV(output.body).samples
                    }
                }
                var answers = 0
                for try await samples in group {
                    #expect(samples > 0)
                    answers += 1
                }
                #expect(answers == 24)
            }
        }
    }

    @Test func aSecondInstanceInOneProcessIsRefusedWithTheReason() async throws {
        // In-process with max_instances 2, the pool tries a second instance
        // under load; espeak-ng's global state forbids it, and the function
        // says so while the first instance keeps serving. (The manifest's
        // process tier gives each instance a worker of its own instead.)
        // The manifest without its process tier: isolation in-process, no `process:` limits.
        var inProcess: [Substring] = []
        var inProcessBlock = false
        for line in try BundledFunctions.speak().split(separator: "\n", omittingEmptySubsequences: false) {
            if line == "process:" { inProcessBlock = true; continue }
            if inProcessBlock && line.hasPrefix("  ") { continue }
            inProcessBlock = false
            inProcess.append(line == "isolation: process" ? "isolation: in-process" : line)
        }
        let host = try TestSupport.host(
            ["speak": inProcess.joined(separator: "\n")], config: "functions: { speak: { scaling: { min_instances: 2, max_instances: 2 } } }")
        await host.start()
        let results = await withTaskGroup(of: Result<InvocationOutput, InvocationError>.self) { group in
            for _ in 0..<4 { group.addTask { await Self.speak(host, "Two instances?") } }
            return await group.reduce(into: []) { $0.append($1) }
        }
        await host.shutdown()
        #expect(results.contains { $0.success != nil })
        for failure in results.compactMap(\.failure) {
            #expect(failure.message.contains("one speak instance"))
        }
    }
}

/// The voice profiles in `voices/` and their loader.
@Suite struct VoiceProfileTests {
    @Test func theBundledProfilesLoadAndIncludeAFastOne() throws {
        let library = try VoiceLibrary.load(directory: TestSupport.packageRoot + "/voices")
        let standard = try library.profile(named: nil)
        #expect(standard.name == "default")
        #expect(library.profiles.values.contains { $0.rate >= 450 })
        #expect(try library.profile(named: "fast").rate >= 450)
    }

    @Test func anUnknownProfileListsTheAvailableOnes() throws {
        let library = try VoiceLibrary.load(directory: TestSupport.packageRoot + "/voices")
        #expect(throws: InvocationError(.badOption, "there is no voice 'robot'; the voices are: \(library.names.joined(separator: ", "))")) {
            try library.profile(named: "robot")
        }
    }

    @Test(arguments: [
        ("espeak_voice: en-us\nrate: 2000\n", "rate", "between 80 and 900"),
        ("rate: 175\n", "espeak_voice", "is required"),
        ("espeak_voice: en-us\npunctuation: loud\n", "punctuation", "must be none, some or all"),
        ("espeak_voice: \"../x\"\n", "espeak_voice", "letters, digits"),
        ("espeak_voice: en-us\nspeed: 3\n", "speed", "is not a known key"),
    ])
    func anInvalidProfileNamesTheFileTheKeyAndTheReason(_ yaml: String, _ key: String, _ reason: String) throws {
        let directory = TestSupport.scratch + "/voices-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        try yaml.write(toFile: directory + "/bad.yaml", atomically: true, encoding: .utf8)
        do {
            _ = try VoiceLibrary.load(directory: directory)
            Issue.record("loaded an invalid profile")
        } catch {
            #expect(error.origin.source.hasSuffix("/bad.yaml"))
            #expect(error.origin.line != nil)
            #expect(error.key == key)
            #expect(error.reason.contains(reason), "\(error.reason)")
        }
    }
}

extension SpeechTests {
    /// `POST /v1/speak` and `GET /v1/voices` through the real application.
    /// Nested in ``SpeechTests`` so that it never runs beside another speak instance.
    @Suite struct HTTP {
        static func application() throws -> some ApplicationProtocol {
            let host = try TestSupport.host(["speak": try BundledFunctions.speak()])
            let voices = try VoiceLibrary.load(directory: TestSupport.packageRoot + "/voices")
            return buildApplication(host: host, voices: voices, logger: TestSupport.logger)
        }

        @Test func speaksWithAProfileAndARate() async throws {
            try await Self.application().test(.router) { client in
                var durations: [Double] = []
                for query in ["voice=default", "voice=fast", "voice=default&rate=600"] {
                    try await client.execute(
                        uri: "/v1/speak?" + query, method: .post, headers: [.contentType: "text/plain; charset=utf-8"],
                        body: ByteBuffer(string: SpeechTests.sentence)
                    ) { response in
                        #expect(response.status == .ok)
                        #expect(response.headers[.contentType] == "audio/wav")
                        durations.append(try WAV(response.body).duration)
                    }
                }
                #expect(durations[1] < durations[0] * 0.6)
                #expect(durations[2] < durations[0] * 0.6)
            }
        }

        @Test(arguments: [
            ("/v1/speak?voice=robot", "text/plain", "hello", HTTPResponse.Status.badRequest, "bad_option", "the voices are: default, fast"),
            ("/v1/speak?rate=fast", "text/plain", "hello", .badRequest, "bad_option", "whole number"),
            ("/v1/speak?rate=1000", "text/plain", "hello", .badRequest, "bad_option", "between 80 and 900"),
            ("/v1/speak?format=mp3", "text/plain", "hello", .badRequest, "bad_option", "wav or json"),
            ("/v1/speak?voice=fast&speed=2", "text/plain", "hello", .badRequest, "bad_option", "no option 'speed'; it takes format, rate, voice"),
            ("/v1/speak", "image/png", "hello", .unsupportedMediaType, "unsupported_media_type", "text/plain"),
            ("/v1/speak", "text/plain", "", .badRequest, "invalid_input", "no text to speak"),
        ])
        func refusesBadRequestsWithJSONErrors(
            _ uri: String, _ contentType: String, _ body: String, _ status: HTTPResponse.Status, _ code: String, _ fragment: String
        ) async throws {
            try await Self.application().test(.router) { client in
                try await client.execute(uri: uri, method: .post, headers: [.contentType: contentType], body: ByteBuffer(string: body)) { response in
                    #expect(response.status == status)
                    let text = String(buffer: response.body)
                    #expect(text.contains("\"code\":\"\(code)\""), "\(text)")
                    #expect(text.contains(fragment), "\(text)")
                }
            }
        }

        @Test func describeAnswersSpeechWhenAskedForWAV() async throws {
            let host = try TestSupport.host(["speak": try BundledFunctions.speak(), "caption": try BundledFunctions.caption()])
            let voices = try VoiceLibrary.load(directory: TestSupport.packageRoot + "/voices")
            try await buildApplication(host: host, voices: voices, logger: TestSupport.logger).test(.router) { client in
                let photo = try TestSupport.buffer((TestSupport.fixtures + "/images") + "/dog.jpg")
                try await client.execute(uri: "/v1/describe?voice=fast", method: .post, headers: [.accept: "audio/wav"], body: photo) { response in
                    #expect(response.status == .ok)
                    #expect(response.headers[.contentType] == "audio/wav")
                    let wav = try WAV(response.body)
                    #expect(wav.duration > 1)
                }
            }
        }

        @Test func listsTheVoices() async throws {
            try await Self.application().test(.router) { client in
                try await client.execute(uri: "/v1/voices", method: .get) { response in
                    #expect(response.status == .ok)
                    let object = try #require(try JSONSerialization.jsonObject(with: Data(buffer: response.body)) as? [String: Any])
                    let names = (object["voices"] as? [[String: Any]])?.compactMap { $0["name"] as? String }
                    #expect(names?.contains("default") == true && names?.contains("fast") == true)
                }
            }
        }
    }
}
