import DescriberConfiguration
import DescriberHost

/// The voice profiles of a `voices/` folder, by name (the file name without `.yaml`).
public struct VoiceLibrary: Sendable {
    public let profiles: [String: VoiceProfile]
    /// The profile used when a request names none.
    public static let defaultName = "default"

    public init(profiles: [VoiceProfile]) {
        self.profiles = Dictionary(profiles.map { ($0.name, $0) }, uniquingKeysWith: { _, last in last })
    }

    /// Reads every `*.yaml` file in `directory`. A missing folder is an empty
    /// library; an invalid file is an error naming the file, line and key.
    public static func load(directory: String) throws(ConfigError) -> VoiceLibrary {
        guard FileSystem.isDirectory(directory) else { return VoiceLibrary(profiles: []) }
        let names: [String]
        do {
            names = try FileSystem.files(in: directory, withExtension: "yaml")
        } catch {
            throw ConfigError(origin: ConfigOrigin(source: directory, line: nil), key: nil, reason: "cannot be read: \(error)")
        }
        var profiles: [VoiceProfile] = []
        for file in names {
            let path = directory + "/" + file
            let text: String
            do {
                text = try FileSystem.readText(path)
            } catch {
                throw ConfigError(origin: ConfigOrigin(source: path, line: nil), key: nil, reason: "cannot be read: \(error)")
            }
            let name = String(file.dropLast(".yaml".count))
            guard VoiceProfile.isEspeakVoiceName(name) else {
                throw ConfigError(
                    origin: ConfigOrigin(source: path, line: nil), key: nil, reason: "a voice profile's file name must be letters, digits, '-' and '_'")
            }
            profiles.append(try VoiceProfile(name: name, node: ConfigNode.parseYAML(text, source: path)))
        }
        return VoiceLibrary(profiles: profiles)
    }

    public var names: [String] { profiles.keys.sorted() }

    /// The profile called `name` (the default when nil), or a `bad_option`
    /// error that lists the profiles there are.
    public func profile(named name: String?) throws(InvocationError) -> VoiceProfile {
        let wanted = name ?? Self.defaultName
        if let profile = profiles[wanted] { return profile }
        if profiles.isEmpty {
            throw InvocationError(.badOption, "no voice profiles are installed (the voices folder is empty or missing)")
        }
        throw InvocationError(.badOption, "there is no voice '\(wanted)'; the voices are: \(names.joined(separator: ", "))")
    }
}
