import DescriberConfiguration
import Foundation

/// A Hikvision ISAPI `EventNotificationAlert`, as cameras and NVRs post it
/// to an "HTTP listening" alarm server.
///
/// Read with a tolerant element scanner rather than a strict XML parser:
/// some firmware sends an unescaped `&` (in channel names, for one), and a
/// strict parser would throw the whole event away. Only the leaf elements
/// below are read; everything else is ignored.
struct HikvisionAlert: Sendable, Equatable {
    var eventType: String?
    var eventState: String?
    var eventDescription: String?
    var dateTime: String?
    var channelID: String?
    var channelName: String?
    var macAddress: String?
    var ipAddress: String?
    var activePostCount: String?
    /// `human`, `vehicle`… from `DetectionRegionList`.
    var detectionTargets: [String]

    static let maxBytes = 256 << 10
    static let maxTargets = 64

    /// Nil when `text` is not an `EventNotificationAlert`.
    init?(xml text: String) {
        guard text.utf8.count <= Self.maxBytes, text.contains("<EventNotificationAlert") else { return nil }
        eventType = Self.first("eventType", in: text)
        eventState = Self.first("eventState", in: text)
        eventDescription = Self.first("eventDescription", in: text)
        dateTime = Self.first("dateTime", in: text)
        channelID = Self.first("channelID", in: text) ?? Self.first("dynChannelID", in: text)
        channelName = Self.first("channelName", in: text)
        macAddress = Self.first("macAddress", in: text)
        ipAddress = Self.first("ipAddress", in: text) ?? Self.first("ipv6Address", in: text)
        activePostCount = Self.first("activePostCount", in: text)
        detectionTargets = Array(Self.all("detectionTarget", in: text).prefix(Self.maxTargets))
        guard eventType != nil else { return nil }
    }

    /// The keep-alive Hikvision devices send every few seconds: video loss, inactive.
    var isHeartbeat: Bool {
        eventType?.lowercased() == "videoloss" && eventState?.lowercased() == "inactive"
    }

    /// The camera's identity for this event: the same alert posted twice
    /// (a retransmission) has the same key.
    var vendorEventKey: String? {
        guard let dateTime else { return nil }
        return [macAddress ?? ipAddress ?? "", channelID ?? "", eventType ?? "", dateTime, activePostCount ?? ""].joined(separator: "|")
    }

    var json: [String: JSONValue] {
        var members: [String: JSONValue] = ["vendor": .string("hikvision")]
        let fields: [(String, String?)] = [
            ("event_type", eventType), ("event_state", eventState), ("event_description", eventDescription), ("date_time", dateTime),
            ("channel_id", channelID), ("channel_name", channelName), ("mac_address", macAddress), ("ip_address", ipAddress),
            ("active_post_count", activePostCount),
        ]
        for (key, value) in fields { if let value { members[key] = .string(value) } }
        if !detectionTargets.isEmpty { members["detection_targets"] = .array(detectionTargets.map(JSONValue.string)) }
        return members
    }

    /// What the camera itself reported, as detections without boxes, for
    /// events that carry no picture to run a detector on.
    var reportedDetections: [CameraDetection] { Self.reportedDetections(eventType: eventType, targets: detectionTargets) }

    static func reportedDetections(eventType: String?, targets: [String]) -> [CameraDetection] {
        var kinds = targets.compactMap(SecurityClass.of(label:)).map(\.rawValue)
        if kinds.isEmpty, let eventType, ["vmd", "motiondetection"].contains(eventType.lowercased()) { kinds = ["motion"] }
        return kinds.map { CameraDetection(kind: $0, label: eventType, score: nil, box: nil, zones: [], stationary: false) }
    }

    // MARK: Scanning

    static func first(_ element: String, in text: String) -> String? {
        var found: String?
        scan(element, in: text) {
            found = $0; return false
        }
        return found
    }

    static func all(_ element: String, in text: String) -> [String] {
        var found: [String] = []
        scan(element, in: text) {
            found.append($0); return found.count < maxTargets
        }
        return found
    }

    /// Calls `body` with the decoded text of each `<element …>text</element>`
    /// until it returns false.
    private static func scan(_ element: String, in text: String, _ body: (String) -> Bool) {
        let open = "<" + element
        let close = "</" + element + ">"
        var rest = text[...]
        while let start = rest.firstRange(of: open) {
            let afterName = rest[start.upperBound...]
            // `<channelIDs>` is another element; only `>`, `/` or whitespace may follow the name.
            guard let next = afterName.first, next == ">" || next == " " || next == "\t" || next == "\n" || next == "\r" else {
                rest = afterName
                continue
            }
            guard let tagEnd = afterName.firstIndex(of: ">") else { return }
            if afterName[..<tagEnd].hasSuffix("/") {
                rest = afterName[afterName.index(after: tagEnd)...]
                continue
            }
            let content = afterName[afterName.index(after: tagEnd)...]
            guard let end = content.firstRange(of: close) else { return }
            let value = decodeEntities(String(content[..<end.lowerBound])).trimmingWhitespace()
            if !value.isEmpty, value.count <= 1024, !body(value) { return }
            rest = content[end.upperBound...]
        }
    }

    private static func decodeEntities(_ text: String) -> String {
        guard text.contains("&") || text.contains("<![CDATA[") else { return text }
        var result = text
        if result.hasPrefix("<![CDATA["), result.hasSuffix("]]>") { return String(result.dropFirst(9).dropLast(3)) }
        for (entity, character) in [("&lt;", "<"), ("&gt;", ">"), ("&quot;", "\""), ("&apos;", "'"), ("&amp;", "&")] {
            result = result.split(separator: entity, omittingEmptySubsequences: false).joined(separator: character)
        }
        return result
    }
}

/// The classes the camera service reasons about, and which detector labels
/// (COCO names as `detect` answers them) belong to each.
enum SecurityClass: String, Sendable, CaseIterable {
    case person, vehicle, animal

    static func of(label: String) -> SecurityClass? {
        switch label.lowercased() {
        case "person", "human", "people", "face": .person
        case "car", "truck", "bus", "motorbike", "motorcycle", "bicycle", "train", "boat", "vehicle": .vehicle
        case "bird", "cat", "dog", "horse", "sheep", "cow", "bear", "elephant", "zebra", "giraffe", "animal", "dog_cat": .animal
        default: nil
        }
    }
}
