import ArgumentParser
import DescriberHost
import Describing
import Foundation
import Logging
import NIOCore

/// `speak-this-image PHOTO`: says what is in a photo, for people who cannot see it.
///
/// Built for screen-reader users: no colour, no spinner, at most one static
/// "Describing PHOTO…" line, errors as plain sentences on stderr, and exit
/// codes a script can act on.
@main
struct SpeakThisImage: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "speak-this-image",
        abstract: "Describe a photo — the scene and any text in it — and speak the description.",
        discussion: """
            Everything runs on this machine. The description is spoken through the default audio output; \
            without one it is saved as a WAV file and printed.

            Exit codes: 0 described, 2 usage error, 3 unreadable file or not a picture, \
            4 the photo is unusable (too dark, too blurry…; the advice is still spoken), \
            5 describing failed, 6 speech failed.
            """
    )

    @Argument(help: "The photo (JPEG or PNG).") var photo: String?

    @Option(name: .shortAndLong, help: "Write the speech to this WAV file instead of playing it.") var output: String?
    @Flag(help: "Print the description only; do not speak it (for your own screen reader).") var text = false
    @Flag(help: "Print the description as JSON, with its parts, quality verdict and timings.") var json = false
    @Option(help: "Voice profile (see --list-voices).") var voice: String?
    @Option(help: "Speech rate in words per minute, 80–900, instead of the voice's own.") var rate: Int?
    @Option(help: "How much to say: brief, normal or detailed.") var verbosity: Verbosity = .normal
    @Option(help: "Use a running Describer service at this URL instead of describing here.") var server: String?
    @Flag(help: "Say the last description again, at once, from the local cache.") var `repeat` = false
    @Flag(help: "Print the recent descriptions, newest last.") var history = false
    @Flag(help: "List the voice profiles.") var listVoices = false
    @Option(help: "Folder holding the functions (default: the installation's functions/).") var functions: String?
    @Option(help: "Folder holding the voice profiles (default: the installation's voices/).") var voices: String?

    func validate() throws {
        let modes = [`repeat`, history, listVoices, photo != nil].filter { $0 }.count
        guard modes == 1 else {
            throw ValidationError(
                modes == 0
                    ? "Name a photo to describe, or use --repeat, --history or --list-voices."
                    : "Give either a photo or one of --repeat, --history, --list-voices.")
        }
        if text && json { throw ValidationError("Choose one of --text and --json.") }
        if let rate, !(80...900).contains(rate) { throw ValidationError("--rate must be between 80 and 900 words per minute.") }
    }

    func run() async throws {
        let cache = DescriptionCache()
        if history {
            for entry in cache.history() { print("\(entry.date)  \(entry.photo): \(entry.description.spokenText)") }
            return
        }
        let installation = Installation(functions: functions, voices: voices)
        if listVoices {
            let library = try installation.voiceLibrary()
            for name in library.names { print("\(name)\t\(library.profiles[name]!.description)") }
            return
        }
        if `repeat` {
            guard let last = cache.last() else { throw Failure.usage("There is no earlier description to repeat yet.") }
            try await present(
                last.description, photo: last.photo, cachedSpeech: voice == nil && rate == nil ? cache.lastSpeech : nil, installation: installation, cache: nil)
            if !last.description.usable { throw ExitCode(4) }
            return
        }
        let photo = photo!
        let image = try Self.read(photo)
        if !text && !json, isatty(STDERR_FILENO) == 1 {
            // One static line: no spinner, nothing redrawn.
            FileHandle.standardError.write(Data("Describing \((photo as NSString).lastPathComponent)…\n".utf8))
        }
        let description: Description
        if let server {
            description = try await RemoteDescriber(server: server).describe(image, verbosity: verbosity)
        } else {
            description = try await installation.withHost { host in
                do throws(DescribeError) {
                    return try await ImageDescriber(host: host).describe(image, verbosity: verbosity)
                } catch {
                    throw Failure(error)
                }
            }
        }
        try await present(description, photo: photo, cachedSpeech: nil, installation: installation, cache: cache)
        if !description.usable { throw ExitCode(4) }
    }

    /// Prints or speaks `description`, and remembers it.
    private func present(_ description: Description, photo: String, cachedSpeech: String?, installation: Installation, cache: DescriptionCache?) async throws {
        if json {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys, .prettyPrinted]
            FileHandle.standardOutput.write(try encoder.encode(description) + Data("\n".utf8))
        } else if text {
            print(description.spokenText)
        }
        if text || json {
            cache?.remember(description, photo: photo, speech: nil)
            return
        }
        let wav: Data
        if let cachedSpeech, let data = FileManager.default.contents(atPath: cachedSpeech) {
            wav = data
        } else if let server {
            wav = try await RemoteDescriber(server: server).speak(description.spokenText, voice: voice, rate: rate)
        } else {
            wav = try await installation.withHost { host in
                let speaker = Speaker(host: host, voices: try installation.voiceLibrary())
                do throws(InvocationError) {
                    let output = try await speaker.speak(ByteBuffer(string: description.spokenText), voice: voice, rate: rate)
                    return Data(output.body.readableBytesView)
                } catch {
                    throw Failure.speech(error.message)
                }
            }
        }
        let saved = cache?.remember(description, photo: photo, speech: wav)
        if let output {
            do { try wav.write(to: URL(fileURLWithPath: output)) } catch {
                throw Failure.speech("Could not write \(output): \(error.localizedDescription).")
            }
            return
        }
        switch AudioOutput.play(wav) {
        case .played:
            break
        case .noDevice:
            // Said once, then the words themselves, so nothing is lost.
            let path = saved ?? cache?.lastSpeech ?? DescriptionCache().lastSpeech
            let written = saved != nil || (try? wav.write(to: URL(fileURLWithPath: path))) != nil
            FileHandle.standardError.write(
                Data(
                    (written
                        ? "No audio output was found, so the speech was saved to \(path).\n"
                        : "No audio output was found, and the speech could not be saved to \(path).\n").utf8))
            print(description.spokenText)
        case .failed(let reason):
            throw Failure.speech("Playing the speech failed: \(reason).")
        }
    }

    static func read(_ path: String) throws -> ByteBuffer {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
            throw Failure.unreadable("There is no file called \(path).")
        }
        guard !isDirectory.boolValue else { throw Failure.unreadable("\(path) is a folder, not a photo.") }
        let limit = HostConfig.defaultBodyLimit
        if let size = (try? FileManager.default.attributesOfItem(atPath: path))?[.size] as? Int, size > limit {
            throw Failure.unreadable("\(path) is \(size / 1_000_000) MB; photos up to \(limit / 1_000_000) MB can be described.")
        }
        guard let data = FileManager.default.contents(atPath: path) else {
            throw Failure.unreadable("\(path) cannot be read (check its permissions).")
        }
        return ByteBuffer(bytes: data)
    }
}

extension Verbosity: ExpressibleByArgument {}

/// A failure told to the user as one plain sentence, with its exit code.
struct Failure: Error, CustomStringConvertible {
    var description: String
    var exitCode: Int32

    static func usage(_ message: String) -> Failure { Failure(description: message, exitCode: 2) }
    static func unreadable(_ message: String) -> Failure { Failure(description: message, exitCode: 3) }
    static func describing(_ message: String) -> Failure { Failure(description: message, exitCode: 5) }
    static func speech(_ message: String) -> Failure { Failure(description: message, exitCode: 6) }

    init(description: String, exitCode: Int32) {
        self.description = description
        self.exitCode = exitCode
    }

    init(_ error: DescribeError) {
        self.init(description: error.message, exitCode: error.code == .notAnImage ? 3 : 5)
    }
}

extension SpeakThisImage {
    /// Runs the command, turning a ``Failure`` into its sentence and exit code.
    static func main() async {
        do {
            var command = try parseAsRoot()
            if var asyncCommand = command as? any AsyncParsableCommand {
                try await asyncCommand.run()
            } else {
                try command.run()
            }
        } catch let failure as Failure {
            FileHandle.standardError.write(Data((failure.description + "\n").utf8))
            Foundation.exit(failure.exitCode)
        } catch {
            // Usage mistakes exit 2, as documented (ArgumentParser's own code is 64).
            if exitCode(for: error) == .validationFailure {
                FileHandle.standardError.write(Data((fullMessage(for: error) + "\n").utf8))
                Foundation.exit(2)
            }
            exit(withError: error)
        }
    }
}
