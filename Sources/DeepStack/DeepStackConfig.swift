import DescriberConfiguration

/// The DeepStack API's section of a deployment's configuration.
///
/// ```yaml
/// deepstack:
///   api_key: ""      # DESCRIBER_DEEPSTACK__API_KEY; when set, /v1/vision/* requires it
///   ports: [32168]   # also serve the DeepStack API alone on these ports
/// ```
public struct DeepStackConfig: Sendable, Equatable {
    /// The `api_key` DeepStack clients must send; nil or empty: none needed.
    public var apiKey: String?
    /// Further ports serving only the DeepStack API, for clients that
    /// assume CodeProject.AI's 32168 or DeepStack's 5000.
    public var ports: [Int]

    /// The top-level key the DeepStack API decodes.
    public static let section = "deepstack"

    public init(apiKey: String? = nil, ports: [Int] = []) {
        self.apiKey = apiKey
        self.ports = ports
    }

    public init(document: ConfigDocument) throws(ConfigError) {
        let deepstack = try document.rootMapping().mapping(Self.section)
        try deepstack.rejectUnknownKeys(["api_key", "ports"])
        apiKey = try deepstack.string("api_key")
        var ports: [Int] = []
        for text in try deepstack.stringList("ports") ?? [] {
            guard let port = Int(text), (1...65535).contains(port) else {
                throw deepstack.error("ports", "must be a list of port numbers between 1 and 65535, got '\(text)'")
            }
            ports.append(port)
        }
        self.ports = ports
    }
}
