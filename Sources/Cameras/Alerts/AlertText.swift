import Foundation

/// The words of an alert, in two forms:
/// - text, short for a notification: "Person at Front Door, 14:02",
///   "2 people in Driveway, 14:02", "Car arrived in Driveway, 14:03";
/// - speech, for a screen reader or a loudspeaker, without symbols, times
///   or small numbers in digits: "A person is at the front door.", "Two people are in the
///   driveway.", "A car arrived in the driveway."
///
/// The time follows the camera's time zone and, when it has one, its locale
/// ("14:02" or "2:02 PM"). The wording is English: the phrasing lives here,
/// in one place, so another language is one more table, not a rewrite.
enum AlertText {
    static func compose(_ alert: Alert, camera: AlertCamera) -> (text: String, speech: String) {
        let objects = alert.objects
        guard !objects.isEmpty else { return ("", "") }
        let arrived = objects.allSatisfy { Sighting.Kind(label: $0.label) == .vehicle }
        let place = alert.zone ?? camera.name
        let preposition = alert.zone == nil ? "at" : "in"

        let written = objects.enumerated().map { index, object in
            if object.count == 1 { return index == 0 ? capitalized(object.label) : "\(article(object.label)) \(object.label)" }
            return "\(object.count) \(plural(object.label))"
        }
        let text = "\(list(written)) \(arrived ? "arrived " : "")\(preposition) \(place), \(time(alert.time, camera: camera))"

        let spokenObjects = objects.map { object in
            object.count == 1 ? "\(article(object.label)) \(object.label)" : "\(spokenNumber(object.count)) \(plural(object.label))"
        }
        let verb = arrived ? "arrived" : (objects.count == 1 && objects[0].count == 1 ? "is" : "are")
        let speech = capitalized("\(list(spokenObjects)) \(verb) \(preposition) \(spokenPlace(place))") + "."
        return (text, speech)
    }

    static func time(_ date: Date, camera: AlertCamera) -> String {
        let formatter = DateFormatter()
        formatter.timeZone = camera.timeZone
        if let locale = camera.locale {
            formatter.locale = locale
            formatter.setLocalizedDateFormatFromTemplate("jm")
        } else {
            formatter.locale = Locale(identifier: "en_US_POSIX")
            formatter.dateFormat = "HH:mm"
        }
        return formatter.string(from: date)
    }

    /// "the front door" for a place called "Front Door".
    static func spokenPlace(_ name: String) -> String {
        let lower = name.lowercased()
        return lower.hasPrefix("the ") ? lower : "the " + lower
    }

    static func plural(_ label: String) -> String {
        switch label {
        case "person": "people"
        case "sheep": "sheep"
        case "bus": "buses"
        default: label + "s"
        }
    }

    static func article(_ label: String) -> String {
        "aeiou".contains(label.first ?? "x") ? "an" : "a"
    }

    static func capitalized(_ text: String) -> String {
        text.prefix(1).uppercased() + text.dropFirst()
    }

    /// "a", "a and b", "a, b and c".
    static func list(_ items: [String]) -> String {
        items.count <= 1 ? items.joined() : items.dropLast().joined(separator: ", ") + " and " + items.last!
    }

    /// Small counts as words: speech engines read "2" well, but "two" reads
    /// the same in every voice and never as a date or a digit string.
    static func spokenNumber(_ count: Int) -> String {
        let words = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "eleven", "twelve"]
        return count < words.count ? words[count] : "\(count)"
    }
}
