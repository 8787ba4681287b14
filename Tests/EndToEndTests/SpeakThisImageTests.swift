import DescriberServer
import DescriberTesting
import Describing
import Foundation
import HummingbirdTesting
import NIOCore
import ServerTestSupport
import TestSupport
import Testing

/// `speak-this-image`, run as its users run it: the built executable, its
/// output streams and its documented exit codes.
@Suite struct SpeakThisImageTests {
    static var executable: String { Executables.path(of: "speak-this-image") }

    static let images = TestSupport.fixtures + "/images"

    /// A functions folder with the real caption and speak functions, built from source.
    static func functions() throws -> String {
        try TestSupport.functionsDirectory([
            "caption": try BundledFunctions.caption(),
            "speak": try BundledFunctions.speak(),
        ])
    }

    /// Runs the program with its own cache folder and, unless `environment`
    /// provides one, no audio output.
    static func run(_ arguments: [String], cache: String? = nil, environment extra: [String: String] = [:]) throws -> Executables.Run {
        var environment = ["XDG_CACHE_HOME": cache ?? TestSupport.scratch + "/cache-\(UUID().uuidString)"]
        // No sound server and no PATH to a player: the program must say so and fall back.
        environment["XDG_RUNTIME_DIR"] = TestSupport.scratch + "/no-runtime"
        environment["PATH"] = "/nonexistent"
        environment.merge(extra) { $1 }
        return try Executables.run(
            executable, arguments + ["--functions", try functions(), "--voices", TestSupport.packageRoot + "/voices"], environment: environment,
            unset: ["PULSE_SERVER"]
        )
    }

    @Test func textPrintsTheDescriptionOnly() throws {
        let result = try Self.run(["--text", Self.images + "/dog.jpg"])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stdout.hasPrefix("A well-lit, sharp photo in landscape format."))
        #expect(result.stdout.hasSuffix("\n") && result.stdout.split(separator: "\n").count == 1)
        #expect(result.stderr.isEmpty, "nothing but the description: \(result.stderr)")
        #expect(!result.stdout.contains("\u{1B}"), "no escape sequences for screen readers")
    }

    @Test func anUnusablePhotoExits4WithTheAdvice() throws {
        let result = try Self.run(["--text", Self.images + "/text_motion.jpg"])
        #expect(result.status == 4)
        #expect(result.stdout.hasPrefix("The photo is too blurry to describe reliably. Hold the camera steady"))
    }

    @Test func outputWritesAWAVOfTheDescription() throws {
        let path = TestSupport.scratch + "/described-\(UUID().uuidString).wav"
        let result = try Self.run(["--output", path, "--voice", "fast", Self.images + "/dog.jpg"])
        #expect(result.status == 0, "\(result.stderr)")
        let wav = try WAV(ByteBuffer(bytes: try Data(contentsOf: URL(fileURLWithPath: path))))
        #expect(wav.sampleRate == 22_050 && wav.channels == 1)
        #expect(wav.duration > 1)
    }

    @Test func withoutAnAudioDeviceItSaysSoOnceSavesTheSpeechAndPrintsTheText() throws {
        let cache = TestSupport.scratch + "/cache-\(UUID().uuidString)"
        let result = try Self.run([Self.images + "/dog.jpg"], cache: cache)
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stderr == "No audio output was found, so the speech was saved to \(cache)/describer/last.wav.\n")
        #expect(result.stdout.hasPrefix("A well-lit, sharp photo"))
        #expect(try WAV(ByteBuffer(bytes: try Data(contentsOf: URL(fileURLWithPath: cache + "/describer/last.wav")))).samples > 0)
    }

    @Test func withASoundServerItPlaysTheSpeech() throws {
        // A PulseAudio session as the program sees one: the server's socket
        // in the runtime folder, and `paplay` on the PATH. This paplay keeps
        // what it was asked to play.
        let root = TestSupport.scratch + "/sound-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: root + "/runtime/pulse", withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: root + "/bin", withIntermediateDirectories: true)
        _ = FileManager.default.createFile(atPath: root + "/runtime/pulse/native", contents: nil)
        try "#!/bin/sh\ncp \"$1\" \"\(root)/played.wav\"\n".write(toFile: root + "/bin/paplay", atomically: true, encoding: .utf8)
        try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: root + "/bin/paplay")
        let environment = ["XDG_RUNTIME_DIR": root + "/runtime", "PATH": root + "/bin:/usr/bin:/bin"]
        let result = try Self.run([Self.images + "/dog.jpg"], environment: environment)
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stdout.isEmpty && result.stderr.isEmpty, "speech only: \(result.stdout) \(result.stderr)")
        let played = try WAV(ByteBuffer(bytes: try Data(contentsOf: URL(fileURLWithPath: root + "/played.wav"))))
        #expect(played.duration > 1)
    }

    @Test func repeatAndHistoryUseTheLocalCache() throws {
        let cache = TestSupport.scratch + "/cache-\(UUID().uuidString)"
        let first = try Self.run(["--text", Self.images + "/page.png"], cache: cache)
        #expect(first.status == 0, "\(first.stderr)")
        let again = try Self.run(["--repeat", "--text"], cache: cache)
        #expect(again.status == 0)
        #expect(again.stdout == first.stdout)
        let history = try Self.run(["--history"], cache: cache)
        #expect(history.stdout.contains("page.png: " + first.stdout.trimmingCharacters(in: .newlines)))
    }

    @Test func jsonCarriesThePartsAndTheVerdict() throws {
        let result = try Self.run(["--json", Self.images + "/person.jpg"])
        #expect(result.status == 0, "\(result.stderr)")
        let object = try #require(try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any])
        #expect(object["usable"] as? Bool == true)
        #expect((object["parts"] as? [[String: Any]])?.first?["function"] as? String == "caption")
    }

    @Test(arguments: [
        (["/nonexistent/photo.jpg"], Int32(3), "There is no file called /nonexistent/photo.jpg."),
        ([TestSupport.packageRoot + "/README.md"], 3, "The file is text, not a picture."),
        ([], 2, "Name a photo to describe"),
        (["--text", "--json", "x.jpg"], 2, "Choose one of --text and --json."),
        (["--rate", "2000", "x.jpg"], 2, "between 80 and 900"),
        (
            ["--voice", "robot", "--output", "/dev/null", TestSupport.fixtures + "/images/dog.jpg"], 6,
            "there is no voice 'robot'; the voices are: default, fast"
        ),
    ])
    func failuresArePlainSentencesWithTheirExitCodes(_ arguments: [String], _ status: Int32, _ message: String) throws {
        let result = try Self.run(arguments)
        #expect(result.status == status, "\(result.stderr)")
        #expect(result.stderr.contains(message), "\(result.stderr)")
        #expect(result.stdout.isEmpty)
    }

    @Test func speakThisImageUsesARunningServiceWithServer() async throws {
        let host = try TestSupport.host(["speak": try BundledFunctions.speak(), "caption": try BundledFunctions.caption()])
        let voices = try VoiceLibrary.load(directory: TestSupport.packageRoot + "/voices")
        try await buildApplication(host: host, voices: voices, logger: TestSupport.logger).test(.live) { client in
            let server = "http://127.0.0.1:\(try #require(client.port))"
            let photo = (TestSupport.fixtures + "/images") + "/dog.jpg"
            let text = try Self.run(["--server", server, "--text", photo])
            #expect(text.status == 0, "\(text.stderr)")
            #expect(text.stdout.hasPrefix("A well-lit, sharp photo"))
            let wavPath = TestSupport.scratch + "/remote-\(UUID().uuidString).wav"
            let spoken = try Self.run(["--server", server, "--output", wavPath, photo])
            #expect(spoken.status == 0, "\(spoken.stderr)")
            let wav = try WAV(ByteBuffer(bytes: try Data(contentsOf: URL(fileURLWithPath: wavPath))))
            #expect(wav.duration > 1)
            let notAPhoto = try Self.run(["--server", server, "--text", TestSupport.packageRoot + "/Package.swift"])
            #expect(notAPhoto.status == 3)
        }
        let unreachable = try Self.run(["--server", "http://127.0.0.1:9", "--text", (TestSupport.fixtures + "/images") + "/dog.jpg"])
        #expect(unreachable.status == 5)
        #expect(unreachable.stderr.contains("cannot be reached"))
    }
}
