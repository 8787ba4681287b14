import Crypto
import Foundation
import GRDB
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import NIOCore
import ServerTestSupport
import TestSupport
import Testing

@testable import Cameras
@testable import DescriberConfiguration
@testable import DescriberHost
@testable import DescriberServer
@testable import DescriberTesting

/// Camera events processed with the real detector: zones by where objects
/// stand, failures confined to their event, and nothing lost across a
/// restart or a SIGKILL of the server that acknowledged the event.
@Suite struct CameraProcessingTests {
    static func detectManifests() throws -> [String: String] { ["detect": try BundledFunctions.detect()] }

    @Test func processesWithTheDetectorAndRecordsZonesByTheBottomCentre() async throws {
        let database = CameraFixture.databasePath()
        let (host, system) = try CameraFixture.system(try Self.detectManifests(), database: database)
        let app = buildApplication(host: host, cameras: system, logger: TestSupport.logger)
        try await app.test(.router) { client in
            let street = try await CameraFixture.post(client, ByteBuffer(bytes: try CameraFixture.file("vtest_050.jpg")), contentType: "image/jpeg")
            let empty = try await CameraFixture.post(client, ByteBuffer(bytes: try CameraFixture.file("vtest_background.jpg")), contentType: "image/jpeg")
            let xmlOnly = try await CameraFixture.post(
                client, ByteBuffer(bytes: try CameraFixture.file("hikvision_fielddetection.xml")), contentType: "text/xml")
            await host.start()
            #expect(await system.service.processPending() == 3)
            // Nothing is processed twice.
            #expect(await system.service.processPending() == 0)
            await host.shutdown()

            let events = try await CameraFixture.page(client).events
            #expect(events.map(\.id) == [street.event_id, empty.event_id, xmlOnly.event_id])
            #expect(events.allSatisfy { $0.status == "processed" })
            #expect(events.map(\.detector) == ["detect", "detect", "camera"])

            let people = events[0].detections.filter { $0.kind == "person" }
            #expect(people.count >= 2, "\(events[0].detections)")
            for detection in events[0].detections {
                let box = try #require(detection.box)
                #expect(["person", "vehicle", "animal"].contains(detection.kind) && detection.label != nil)
                // The zones split the frame at x = 0.5 below y = 0.1: the bottom centre alone decides.
                let x = box.x + box.width / 2, y = box.y + box.height
                let expected = y < 0.1 ? ["sky"] : [x < 0.5 ? "left" : "right"]
                #expect(detection.zones == expected, "\(detection)")
            }
            #expect(!events[1].detections.contains { $0.kind == "person" }, "\(events[1].detections)")
            #expect(events[1].detections.contains { $0.kind == "vehicle" }, "\(events[1].detections)")
            #expect(events[2].detections.map(\.kind) == ["person"] && events[2].detections[0].box == nil)
        }
    }

    @Test func anUndecodablePictureFailsItsEventOnly() async throws {
        let (host, system) = try CameraFixture.system(try Self.detectManifests(), database: CameraFixture.databasePath())
        try await buildApplication(host: host, cameras: system, logger: TestSupport.logger).test(.router) { client in
            var truncated = try CameraFixture.file("vtest_050.jpg")
            truncated = truncated.prefix(600)
            try await CameraFixture.post(client, ByteBuffer(bytes: truncated), contentType: "image/jpeg")
            try await CameraFixture.post(client, ByteBuffer(bytes: try CameraFixture.file("vtest_050.jpg")), contentType: "image/jpeg")
            await host.start()
            await system.service.processPending()
            await host.shutdown()
            let events = try await CameraFixture.page(client).events
            #expect(events.map(\.status) == ["failed", "processed"])
            #expect(events[0].error?.isEmpty == false)
        }
    }

    /// The camera service runs as the application's service: an event
    /// accepted by a service that stopped before processing it (here one
    /// that only ingests) is processed by the next service to open the
    /// same database, and a repeat delivery is still recognised.
    @Test func anAcknowledgedEventIsProcessedAfterARestart() async throws {
        let database = CameraFixture.databasePath()
        let jpeg = try CameraFixture.file("vtest_050.jpg")
        let accepted = try await CameraFixture.application(try Self.detectManifests(), database: database, processing: false).test(.router) { client in
            let accepted = try await CameraFixture.post(client, ByteBuffer(bytes: jpeg), contentType: "image/jpeg")
            #expect(try await CameraFixture.page(client).events.map(\.status) == ["pending"])
            return accepted
        }
        try await CameraFixture.application(try Self.detectManifests(), database: database, processing: true).test(.router) { client in
            var events: [CameraFixture.EventPage.Event] = []
            for _ in 0..<600 {
                events = try await CameraFixture.page(client).events
                if events.first?.status != "pending" { break }
                try await Task.sleep(for: .milliseconds(100))
            }
            #expect(events.map(\.id) == [accepted.event_id])
            #expect(events.first?.status == "processed" && events.first?.detector == "detect")
            #expect(events.first?.detections.contains { $0.kind == "person" } == true)
            let again = try await CameraFixture.post(client, ByteBuffer(bytes: jpeg), contentType: "image/jpeg", expect: .ok)
            #expect(again.event_id == accepted.event_id)
        }
    }

    /// A real `describer serve` killed with SIGKILL right after it
    /// acknowledged an event: the next server on the same data folder
    /// processes it. The first one only ingests, so the kill certainly falls
    /// between the acknowledgement and the processing.
    @Test func anEventSurvivesSIGKILLOfTheServerThatAcceptedIt() async throws {
        let data = "\(TestSupport.scratch)/kill-\(UUID().uuidString)"
        let config = "\(data).yaml"
        try """
        data_directory: \(data)
        cameras:
          front-door:
            credentials: { token: \(CameraFixture.token) }
        camera_events:
          processing: { enabled: false }
        """.write(toFile: config, atomically: true, encoding: .utf8)
        let functions = try TestSupport.functionsDirectory(try Self.detectManifests())
        let jpeg = try CameraFixture.file("vtest_050.jpg")

        let first = try await Server.start(config: config, functions: functions)
        let accepted = try await TestClient.withClient(host: "127.0.0.1", port: first.port) { client in
            let response = try await client.post(
                CameraFixture.events, headers: [.contentType: "image/jpeg", .authorization: "Bearer \(CameraFixture.token)"], body: ByteBuffer(bytes: jpeg))
            #expect(response.head.status == .accepted)
            return try JSONDecoder().decode(CameraFixture.Accepted.self, from: Data((response.body ?? ByteBuffer()).readableBytesView))
        }
        kill(first.process.processIdentifier, SIGKILL)
        first.process.waitUntilExit()
        #expect(first.process.terminationReason == .uncaughtSignal && first.process.terminationStatus == SIGKILL)

        let second = try await Server.start(config: config, functions: functions, environment: ["DESCRIBER_CAMERA_EVENTS__PROCESSING__ENABLED": "true"])
        defer {
            second.process.terminate()
            second.process.waitUntilExit()
        }
        let events = try await TestClient.withClient(host: "127.0.0.1", port: second.port) { client in
            var events: [CameraFixture.EventPage.Event] = []
            for _ in 0..<600 {
                let response = try await client.get(CameraFixture.events)
                events = try JSONDecoder().decode(CameraFixture.EventPage.self, from: Data((response.body ?? ByteBuffer()).readableBytesView)).events
                if events.first?.status != "pending" { break }
                try await Task.sleep(for: .milliseconds(100))
            }
            return events
        }
        #expect(events.map(\.id) == [accepted.event_id])
        #expect(events.first?.status == "processed" && events.first?.detector == "detect", "\(events)")
    }

    /// A `describer serve` child process and the port it listens on.
    struct Server {
        var process: Process
        var port: Int

        static func start(config: String, functions: String, environment: [String: String] = [:]) async throws -> Server {
            let process = Process()
            process.executableURL = URL(fileURLWithPath: Executables.executable)
            process.arguments = ["serve", "--config", config, "--functions", functions, "--port", "0"]
            process.environment = ProcessInfo.processInfo.environment.filter { !$0.key.hasPrefix("DESCRIBER_") }.merging(environment) { $1 }
            let log = "\(config)-\(UUID().uuidString).log"
            _ = FileManager.default.createFile(atPath: log, contents: nil)
            let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: log))
            process.standardError = handle
            process.standardOutput = handle
            try process.run()
            var port: Int?
            for _ in 0..<1000 where port == nil {
                port = Self.listeningPort(in: (try? String(contentsOfFile: log, encoding: .utf8)) ?? "")
                if port == nil { try await Task.sleep(for: .milliseconds(10)) }
            }
            guard let port else {
                process.terminate()
                throw TestError("describer serve did not start: \((try? String(contentsOfFile: log, encoding: .utf8)) ?? "")")
            }
            return Server(process: process, port: port)
        }

        /// The port from Hummingbird's "Server started and listening" line.
        static func listeningPort(in log: String) -> Int? {
            guard let line = log.split(separator: "\n").first(where: { $0.contains("Server started and listening") }),
                let colon = line.range(of: "127.0.0.1:", options: .backwards)
            else { return nil }
            return Int(line[colon.upperBound...].prefix { $0.isNumber })
        }
    }
}
