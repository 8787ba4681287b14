import NIOCore

@testable import Cameras

/// The Hikvision `EventNotificationAlert` scanner, on a body as the camera
/// webhook receives it.
enum HikvisionFuzzer {
    static func run(_ bytes: UnsafeRawBufferPointer) {
        guard let alert = HikvisionAlert(xml: String(buffer: ByteBuffer(bytes: bytes))) else { return }
        precondition(alert.eventType != nil, "an alert without an eventType")
        precondition(alert.detectionTargets.count <= HikvisionAlert.maxTargets, "more detection targets than the limit")
        for value in [alert.eventType, alert.eventState, alert.channelID, alert.dateTime].compactMap({ $0 }) + alert.detectionTargets {
            precondition(!value.isEmpty && value.count <= 1024, "an element's text outside the accepted lengths")
        }
        _ = alert.isHeartbeat
        _ = alert.vendorEventKey
        _ = alert.json
        _ = alert.reportedDetections
    }
}
