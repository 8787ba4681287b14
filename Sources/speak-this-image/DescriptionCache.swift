import DescriberHost
import Describing
import Foundation

/// The last description (and its speech) and a short history, kept in
/// `$XDG_CACHE_HOME/describer` (or `~/.cache/describer`), so `--repeat`
/// answers at once and `--history` can list what was said. Nothing leaves
/// the machine.
struct DescriptionCache {
    struct Entry: Codable {
        var date: String
        var photo: String
        var description: Description
    }

    static let historyLength = 50
    let directory: String

    init() {
        let environment = ProcessInfo.processInfo.environment
        let base = environment["XDG_CACHE_HOME"].flatMap { $0.isEmpty ? nil : $0 } ?? (NSHomeDirectory() + "/.cache")
        directory = base + "/describer"
    }

    var lastSpeech: String { directory + "/last.wav" }
    private var lastEntry: String { directory + "/last.json" }
    private var historyFile: String { directory + "/history.jsonl" }

    /// Saves `description` as the last one, appends it to the history, and
    /// keeps its speech; returns where the speech was written. A cache that
    /// cannot be written never fails the description itself.
    @discardableResult
    func remember(_ description: Description, photo: String, speech: Data?) -> String? {
        try? FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withFullDate, .withTime, .withColonSeparatorInTime, .withSpaceBetweenDateAndTime]
        formatter.timeZone = .current
        let entry = Entry(date: formatter.string(from: Date()), photo: URL(fileURLWithPath: photo).path, description: description)
        guard let data = try? JSONEncoder().encode(entry) else { return nil }
        try? data.write(to: URL(fileURLWithPath: lastEntry), options: .atomic)
        var lines = (try? String(contentsOfFile: historyFile, encoding: .utf8))?.split(separator: "\n").map(String.init) ?? []
        lines.append(String(decoding: data, as: UTF8.self))
        try? (lines.suffix(Self.historyLength).joined(separator: "\n") + "\n").write(toFile: historyFile, atomically: true, encoding: .utf8)
        if let speech {
            if (try? speech.write(to: URL(fileURLWithPath: lastSpeech), options: .atomic)) != nil { return lastSpeech }
        } else {
            try? FileManager.default.removeItem(atPath: lastSpeech)
        }
        return nil
    }

    func last() -> Entry? {
        FileManager.default.contents(atPath: lastEntry).flatMap { try? JSONDecoder().decode(Entry.self, from: $0) }
    }

    func history() -> [Entry] {
        let text = (try? String(contentsOfFile: historyFile, encoding: .utf8)) ?? ""
        return text.split(separator: "\n").compactMap { try? JSONDecoder().decode(Entry.self, from: Data($0.utf8)) }
    }
}
