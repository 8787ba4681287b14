import Foundation
import ServerTestSupport
import TestSupport
import Testing

@testable import Cameras
@testable import DescriberHost

/// Incidents, not frames; alert text in both forms.
@Suite struct AlertTests {
    static let utc = TimeZone(identifier: "UTC")!
    static let frontDoor = AlertCamera(name: "Front Door", timeZone: utc)
    /// 2026-11-25 14:02:00 UTC.
    static let start = Date(timeIntervalSince1970: 1_795_615_320)

    static func person(_ zones: [String] = [], score: Double = 0.9) -> Sighting {
        Sighting(label: "person", score: score, area: 0.05, zones: zones)
    }

    static let parkedCar = Sighting(label: "car", score: 0.8, area: 0.1, zones: ["Driveway"], stationary: true)

    /// Runs `frames` one second apart from `start`; returns every alert.
    static func run(
        _ frames: [[Sighting]], tracker: inout IncidentTracker, policy: AlertPolicy = AlertPolicy(), from: Date = start, every: TimeInterval = 1
    ) -> [Alert] {
        frames.enumerated().compactMap { index, sightings in
            tracker.observe(sightings, at: from.addingTimeInterval(Double(index) * every), policy: policy, camera: frontDoor).alert
        }
    }

    @Test func onePersonWalkingThroughIsOneAlertNotOnePerFrame() {
        var tracker = IncidentTracker()
        let alerts = Self.run(Array(repeating: [Self.person(), Self.parkedCar], count: 20), tracker: &tracker)
        #expect(alerts.count == 1)
        #expect(alerts.first?.text == "Person at Front Door, 14:02")
        #expect(alerts.first?.speech == "A person is at the front door.")
        #expect(alerts.first?.opensIncident == true)
        #expect(alerts.first?.suppressed == nil)
        #expect(alerts.first?.objects == [Alert.Object(label: "person", count: 1, topScore: 0.9)], "the parked car is not part of it")
    }

    @Test func parkedVehiclesAloneNeverAlert() {
        var tracker = IncidentTracker()
        let alerts = Self.run(Array(repeating: [Self.parkedCar, Self.parkedCar], count: 50), tracker: &tracker)
        #expect(alerts.isEmpty)
        #expect(tracker.incident == nil)
    }

    @Test func onlyMaterialChangesUpdateAnIncident() {
        var tracker = IncidentTracker()
        let frames: [[Sighting]] = [
            [Self.person(["Driveway"])],
            [Self.person(["Driveway"]), Self.person(["Driveway"])],  // more people: update
            [Self.person(["Driveway"])],  // fewer: nothing
            [Self.person(["Driveway"]), Self.person(["Driveway"])],  // back to the peak: nothing
            [Self.person(["Driveway"]), Sighting(label: "dog", score: 0.7, area: 0.02, zones: ["Driveway"])],  // new label, but dogs do not alert
            [Self.person(["Garden"])],  // new zone: update
        ]
        let alerts = Self.run(frames, tracker: &tracker)
        #expect(alerts.map(\.text) == ["Person in Driveway, 14:02", "2 people in Driveway, 14:02", "Person in Garden, 14:02"])
        #expect(alerts.map(\.changes) == [["arrived"], ["more person: 2"], ["new zone: Garden"]])
        #expect(alerts[1].speech == "Two people are in the driveway.")
        #expect(Set(alerts.map(\.incidentID)).count == 1, "one incident")
        #expect(tracker.incident?.alertsSent == 3)
    }

    @Test func aNewKindOfObjectIsAnUpdate() {
        var tracker = IncidentTracker()
        let car = Sighting(label: "car", score: 0.8, area: 0.1, zones: ["Driveway"])
        let alerts = Self.run([[Self.person(["Driveway"])], [Self.person(["Driveway"]), car]], tracker: &tracker)
        #expect(alerts.last?.changes == ["new label: car"])
        #expect(alerts.last?.text == "Person and a car in Driveway, 14:02")
        #expect(alerts.last?.speech == "A person and a car are in the driveway.")
    }

    @Test func vehiclesArrive() {
        var tracker = IncidentTracker()
        let car = Sighting(label: "car", score: 0.8, area: 0.1, zones: ["Driveway"])
        let alert = Self.run([[car]], tracker: &tracker, from: Self.start.addingTimeInterval(60)).first
        #expect(alert?.text == "Car arrived in Driveway, 14:03")
        #expect(alert?.speech == "A car arrived in the driveway.")
    }

    @Test func anIncidentEndsAfterQuietAndTheCooldownHoldsTheNextOne() {
        var tracker = IncidentTracker()
        let policy = AlertPolicy(cooldown: .seconds(300), clearAfter: .seconds(30))
        var alerts = Self.run([[Self.person()], [Self.person()]], tracker: &tracker, policy: policy)
        #expect(alerts.count == 1)
        // 2 minutes later, someone again: a new incident, inside the cooldown.
        let later = tracker.observe([Self.person()], at: Self.start.addingTimeInterval(120), policy: policy, camera: Self.frontDoor)
        #expect(later.ended?.id == alerts[0].incidentID)
        #expect(later.alert?.opensIncident == true)
        #expect(later.alert?.suppressed?.hasPrefix("cooldown of 300 s for person") == true, "\(String(describing: later.alert?.suppressed))")
        // 10 minutes after the first alert: past the cooldown, it is sent.
        alerts = Self.run([[Self.person()]], tracker: &tracker, policy: policy, from: Self.start.addingTimeInterval(600))
        #expect(alerts.count == 1 && alerts[0].suppressed == nil)
    }

    @Test func quietHoursRecordButDoNotSendOrStartACooldown() throws {
        var tracker = IncidentTracker()
        let policy = AlertPolicy(cooldown: .seconds(3600), clearAfter: .seconds(10), quietHours: [try #require(QuietHours("13:00-14:30"))])
        let quiet = tracker.observe([Self.person()], at: Self.start, policy: policy, camera: Self.frontDoor)
        #expect(quiet.alert?.suppressed == "quiet hours 13:00-14:30")
        let after = tracker.observe([Self.person()], at: Self.start.addingTimeInterval(3600), policy: policy, camera: Self.frontDoor)
        #expect(after.alert?.suppressed == nil, "a suppressed alert started no cooldown")
        #expect(QuietHours("23:00-06:30")?.contains(minuteOfDay: 60) == true)
        #expect(QuietHours("23:00-06:30")?.contains(minuteOfDay: 12 * 60) == false)
        #expect(QuietHours("25:00-06:30") == nil)
    }

    @Test func zonesAndThresholdsDecideWhatAlerts() {
        var tracker = IncidentTracker()
        let policy = AlertPolicy(labels: ["person"], minScore: 0.6, minArea: 0.01, zones: ["Driveway"])
        let ignored: [[Sighting]] = [
            [Self.person(["Street"])],
            [Self.person([])],
            [Self.person(["Driveway"], score: 0.5)],
            [Sighting(label: "person", score: 0.9, area: 0.001, zones: ["Driveway"])],
            [Sighting(label: "car", score: 0.9, area: 0.1, zones: ["Driveway"])],
        ]
        #expect(Self.run(ignored, tracker: &tracker, policy: policy).isEmpty)
        let alert = Self.run([[Self.person(["Driveway", "Street"])]], tracker: &tracker, policy: policy).first
        #expect(alert?.zone == "Driveway")
        #expect(alert?.rule == "person with score ≥ 0.6, area ≥ 0.01, in Driveway")
    }

    @Test func anHourlyLimitCapsFloods() {
        var tracker = IncidentTracker()
        let policy = AlertPolicy(cooldown: .zero, clearAfter: .seconds(1), maxAlertsPerHour: 2)
        // A new incident every 10 s.
        let alerts = Self.run(Array(repeating: [Self.person()], count: 5), tracker: &tracker, policy: policy, every: 10)
        #expect(alerts.count == 5)
        #expect(alerts.filter { $0.suppressed == nil }.count == 2)
        #expect(alerts.last?.suppressed == "limit of 2 alerts per hour")
    }

    @Test func trackerStateSurvivesARestart() throws {
        var tracker = IncidentTracker()
        _ = Self.run([[Self.person()]], tracker: &tracker)
        var restored = try JSONDecoder().decode(IncidentTracker.self, from: try JSONEncoder().encode(tracker))
        #expect(restored == tracker)
        let next = restored.observe([Self.person()], at: Self.start.addingTimeInterval(2), policy: AlertPolicy(), camera: Self.frontDoor)
        #expect(next.alert == nil, "the same incident goes on")
    }

    @Test func timesFollowTheCamerasZoneAndLocale() {
        let newYork = TimeZone(identifier: "America/New_York")!
        #expect(AlertText.time(Self.start, camera: AlertCamera(name: "x", timeZone: newYork)) == "09:02")
        let us = AlertText.time(Self.start, camera: AlertCamera(name: "x", timeZone: Self.utc, locale: Locale(identifier: "en_US")))
        #expect(us.hasPrefix("2:02") && us.hasSuffix("PM"), "\(us)")
        var tracker = IncidentTracker()
        let many = Array(repeating: Self.person(["Driveway"]), count: 3) + [Sighting(label: "dog", score: 0.8, area: 0.02, zones: ["Driveway"])]
        let alert = Self.run([many], tracker: &tracker, policy: AlertPolicy(labels: ["person", "animal"])).first
        #expect(alert?.text == "3 people and a dog in Driveway, 14:02")
        #expect(alert?.speech == "Three people and a dog are in the driveway.")
    }
}
