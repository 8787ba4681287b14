import Foundation

/// Plays a WAV through the machine's sound system, when it has one.
///
/// Uses the player of whichever sound server is running: PipeWire
/// (`pw-play`), PulseAudio (`paplay`), or bare ALSA (`aplay`) when a sound
/// card exists. A server or headless machine has none of these, which is
/// reported rather than failing.
enum AudioOutput {
    enum Outcome: Equatable {
        case played
        case noDevice
        case failed(String)
    }

    static func play(_ wav: Data) -> Outcome {
        guard let player = availablePlayer() else { return .noDevice }
        // An unguessable name, created exclusively: never follows a planted symlink.
        let path = NSTemporaryDirectory() + "speak-this-image-\(UUID().uuidString).wav"
        do { try wav.write(to: URL(fileURLWithPath: path), options: .withoutOverwriting) } catch {
            return .failed("cannot write a temporary file: \(error.localizedDescription)")
        }
        defer { try? FileManager.default.removeItem(atPath: path) }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: player.path)
        process.arguments = player.arguments + [path]
        let errors = Pipe()
        process.standardError = errors
        process.standardOutput = FileHandle.nullDevice
        do { try process.run() } catch { return .failed("\(player.path) could not start: \(error.localizedDescription)") }
        // Read before waiting: a player that writes more than a pipe holds would otherwise never exit.
        let output = errors.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            let message = String(decoding: output, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
            return .failed(
                "\((player.path as NSString).lastPathComponent) exited with status \(process.terminationStatus)\(message.isEmpty ? "" : ": " + message)")
        }
        return .played
    }

    static func availablePlayer() -> (path: String, arguments: [String])? {
        let environment = ProcessInfo.processInfo.environment
        let runtime = environment["XDG_RUNTIME_DIR"] ?? "/run/user/\(getuid())"
        let fileManager = FileManager.default
        if fileManager.fileExists(atPath: runtime + "/pipewire-0"), let path = executable("pw-play") { return (path, []) }
        if environment["PULSE_SERVER"] != nil || fileManager.fileExists(atPath: runtime + "/pulse/native"), let path = executable("paplay") {
            return (path, [])
        }
        let cards = (try? fileManager.contentsOfDirectory(atPath: "/dev/snd")) ?? []
        if cards.contains(where: { $0.hasPrefix("pcmC") && $0.hasSuffix("p") }), let path = executable("aplay") { return (path, ["-q"]) }
        return nil
    }

    static func executable(_ name: String) -> String? {
        let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"
        for directory in path.split(separator: ":") {
            let candidate = "\(directory)/\(name)"
            if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
        }
        return nil
    }
}
