import Foundation
import GRDB
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import ServerTestSupport
import TestSupport
import Testing

@testable import Cameras
@testable import DescriberServer
@testable import Describing

/// `GET /v1/alerts/{id}/speech` when speaking fails: the error openapi.yaml
/// lists for it, as `/v1/speak` would answer, never 500 `internal_error`.
@Suite struct AlertSpeechErrorTests {
    @Test func anAlertThatCannotBeSpokenAnswersWhySpeakingFailed() async throws {
        // No `speak` function: speaking the alert fails with unknown_function.
        let (host, cameras) = try CameraFixture.system(database: CameraFixture.databasePath())
        let camera = try #require(cameras.camerasByID["front-door"])
        let person = CameraDetection(
            kind: "person", label: "person", score: 0.9, box: .init(x: 0.1, y: 0.3, width: 0.2, height: 0.6), zones: ["left"], stationary: false)
        let alert = try await cameras.store.database.write { db in
            try AlertLedger.record(db, camera: camera, eventID: 1, time: Date(), detections: [person])
        }
        #expect(alert != nil)
        let voices = try VoiceLibrary.load(directory: TestSupport.packageRoot + "/voices")
        try await buildApplication(host: host, voices: voices, cameras: cameras, logger: TestSupport.logger).test(.router) { client in
            try await client.execute(uri: "/v1/alerts/1/speech", method: .get) { response in
                #expect(response.status == .notFound)
                #expect(String(buffer: response.body).contains(#""code":"unknown_function""#), "\(String(buffer: response.body))")
            }
        }
    }
}
