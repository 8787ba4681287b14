import Crypto
import DescriberConfiguration
import DescriberHost
import Foundation

/// Asking a person, from the `assist:` mapping of the deployment file.
///
/// ```yaml
/// assist:
///   helpers:                        # the people the owner trusts to answer
///     mum:
///       name: Mum                   # shown to the asker with the answer
///       token_sha256: "9f86d0…"     # or token: "long random string"
///   answer_timeout: 5m              # a question nobody answers expires then
///   retention: 24h                  # photos and answers are deleted this long after the question ends
///   keep_answers: false             # true: answered questions are kept as labelled data
///   database: assist.sqlite         # relative to data_directory
///   max_waiting: 100                # questions waiting at once
///   rate_limit: { questions_per_minute: 10, answers_per_minute: 60 }
/// ```
///
/// A helper's token is kept only as its SHA-256 digest; `describer assist
/// token` makes one and prints the line for this file, so the file need not
/// hold the token itself. Secrets can come from the environment instead:
/// `DESCRIBER_ASSIST__HELPERS__MUM__TOKEN`.
public struct AssistConfig: Sendable, Equatable {
    public var helpers: [Helper]
    public var answerTimeout: Duration
    public var retention: Duration
    public var keepAnswers: Bool
    public var databasePath: String
    public var maxWaiting: Int
    public var questionsPerMinute: Double
    public var answersPerMinute: Double

    /// Someone the owner trusts to answer, known by their token.
    public struct Helper: Sendable, Equatable {
        public var id: String
        public var name: String
        /// The SHA-256 of the token: the token itself is never kept.
        public var tokenDigest: [UInt8]

        public init(id: String, name: String, token: String) {
            self.init(id: id, name: name, tokenDigest: Self.digest(of: token))
        }

        public init(id: String, name: String, tokenDigest: [UInt8]) {
            self.id = id
            self.name = name
            self.tokenDigest = tokenDigest
        }

        public static func digest(of token: String) -> [UInt8] { Array(SHA256.hash(data: Data(token.utf8))) }
    }

    /// The top-level key assisting decodes.
    public static let section = "assist"
    /// A question and an answer are short: these bound what is stored and shown.
    public static let maxQuestionLength = 500
    public static let maxAnswerLength = 2000
    /// A token shorter than this is guessable.
    public static let minTokenLength = 16

    public init(helpers: [Helper] = [], databasePath: String) {
        self.helpers = helpers
        self.answerTimeout = .seconds(300)
        self.retention = .seconds(86_400)
        self.keepAnswers = false
        self.databasePath = databasePath
        self.maxWaiting = 100
        self.questionsPerMinute = 10
        self.answersPerMinute = 60
    }

    /// Decodes `assist`.
    /// - Parameter dataDirectory: the host's data folder, where a relative database path is.
    public init(document: ConfigDocument, dataDirectory: String) throws(ConfigError) {
        let mapping = try document.rootMapping().mapping(Self.section)
        try mapping.rejectUnknownKeys(["helpers", "answer_timeout", "retention", "keep_answers", "database", "max_waiting", "rate_limit"])
        let database = try mapping.string("database") ?? "assist.sqlite"
        self.init(databasePath: database.hasPrefix("/") ? database : dataDirectory + "/" + database)

        let helpers = try mapping.mapping("helpers")
        for id in helpers.keys {
            guard FunctionHost.isValidName(id) else {
                throw helpers.error(id, "is not a valid helper id: use lower-case letters, digits and '-' (at most 64)")
            }
            let helper = try helpers.mapping(id)
            try helper.rejectUnknownKeys(["name", "token", "token_sha256"])
            let name = try helper.string("name") ?? id
            guard !name.isEmpty, name.count <= 100 else { throw helper.error("name", "must be 1 to 100 characters") }
            switch (try helper.string("token"), try helper.string("token_sha256")) {
            case (let token?, nil):
                guard token.utf8.count >= Self.minTokenLength else {
                    throw helper.error("token", "must be at least \(Self.minTokenLength) characters long (`describer assist token` makes one)")
                }
                self.helpers.append(Helper(id: id, name: name, token: token))
            case (nil, let hex?):
                guard let digest = Self.digest(hex: hex) else {
                    throw helper.error("token_sha256", "must be 64 hexadecimal digits, the SHA-256 of the token (`describer assist token` prints it)")
                }
                self.helpers.append(Helper(id: id, name: name, tokenDigest: digest))
            case (nil, nil):
                throw helpers.error(id, "needs token or token_sha256: a helper is known by their token")
            case (_?, _?):
                throw helper.error("token", "and token_sha256 are both set; keep one")
            }
        }

        let day = Duration.seconds(86_400)
        answerTimeout = try mapping.duration("answer_timeout", default: answerTimeout, in: .seconds(1)...day)
        retention = try mapping.duration("retention", default: retention, in: .seconds(60)...(day * 3660))
        keepAnswers = try mapping.bool("keep_answers", default: false)
        maxWaiting = try mapping.int("max_waiting", default: maxWaiting, in: 1...100_000)
        let rate = try mapping.mapping("rate_limit")
        try rate.rejectUnknownKeys(["questions_per_minute", "answers_per_minute"])
        for (key, value) in [("questions_per_minute", \Self.questionsPerMinute), ("answers_per_minute", \Self.answersPerMinute)] {
            guard let given = try rate.double(key) else { continue }
            guard given > 0, given <= 100_000 else { throw rate.error(key, "must be more than 0 and at most 100000, got \(given)") }
            self[keyPath: value] = given
        }
    }

    /// Whether anyone can answer: without helpers, asking is refused.
    public var isEnabled: Bool { !helpers.isEmpty }

    static func digest(hex: String) -> [UInt8]? {
        let digits = Array(hex.lowercased().utf8)
        guard digits.count == 64 else { return nil }
        var bytes: [UInt8] = []
        for index in stride(from: 0, to: 64, by: 2) {
            guard let byte = UInt8(String(decoding: digits[index..<index + 2], as: UTF8.self), radix: 16) else { return nil }
            bytes.append(byte)
        }
        return bytes
    }
}
