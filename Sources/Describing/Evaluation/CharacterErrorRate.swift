/// The character error rate of text read from a photo against the text it
/// shows: the edit distance (insertions, deletions, substitutions) between
/// them, divided by the reference's length.
///
/// Both are compared after every run of whitespace (spaces, line breaks,
/// the blank line between blocks) becomes one space and the ends are
/// trimmed, so layout does not count; case, punctuation and every other
/// character do.
public enum CharacterErrorRate {
    /// Longer texts are not scored: the distance takes time proportional to
    /// the product of the two lengths.
    public static let maxCharacters = 20_000

    /// The rate (0 when identical; it can exceed 1 when much extra text was
    /// read), or nil when either text is longer than ``maxCharacters``.
    public static func of(_ hypothesis: String, reference: String) -> Double? {
        let read = normalised(hypothesis), expected = normalised(reference)
        guard read.count <= maxCharacters, expected.count <= maxCharacters else { return nil }
        guard !expected.isEmpty else { return read.isEmpty ? 0 : 1 }
        return Double(editDistance(read, expected)) / Double(expected.count)
    }

    static func normalised(_ text: String) -> [Character] {
        Array(text.split(whereSeparator: \.isWhitespace).joined(separator: " "))
    }

    /// Levenshtein distance, one row at a time.
    static func editDistance(_ a: [Character], _ b: [Character]) -> Int {
        guard !a.isEmpty else { return b.count }
        guard !b.isEmpty else { return a.count }
        var previous = Array(0...b.count)
        var current = [Int](repeating: 0, count: b.count + 1)
        for i in 1...a.count {
            current[0] = i
            for j in 1...b.count {
                current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1))
            }
            swap(&previous, &current)
        }
        return previous[b.count]
    }
}
