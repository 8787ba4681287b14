import Assist
import DescriberConfiguration
import DescriberHost
import Foundation
import GRDB
import Logging
import ServiceLifecycle

/// Processes accepted camera events, oldest first, after they were
/// acknowledged.
///
/// The queue is the database: at start the service takes whatever is still
/// pending (events accepted before a crash or `kill -9` included), then
/// wakes whenever ingestion accepts one. An event is marked processed in the
/// transaction that stores its results, so a crash mid-way processes it again
/// rather than losing it (at-least-once; storing results is idempotent).
/// Events are processed one at a time so that each camera's detector state
/// passes from one frame to the next in order.
///
/// Failures the detector may recover from (overloaded, timed out, crashed)
/// are retried with backoff up to `camera_events.processing.max_attempts`;
/// a picture that cannot be decoded fails its event at once.
public final class CameraService: Service, Sendable {
    let store: CameraEventStore
    let processor: CameraEventProcessor
    let cameras: [String: CameraConfig]
    /// The wait before an event that failed is tried again.
    static let retryBackoff = Backoff(first: .milliseconds(500), maximum: .seconds(30))
    let config: CameraStoreConfig
    let metrics: CameraMetrics
    /// Sends the alerts processing raises; woken after each event.
    let forwarder: WebhookForwarder?
    /// Asks helpers about the alerts processing holds; woken after each event.
    let checker: AlertChecker?
    let logger: Logger
    private let wakeups: AsyncStream<Void>
    private let wakeup: AsyncStream<Void>.Continuation

    static let batchSize = 64
    static let pruneInterval: Duration = .seconds(60)

    init(
        store: CameraEventStore, processor: CameraEventProcessor, cameras: [CameraConfig], config: CameraStoreConfig, metrics: CameraMetrics,
        forwarder: WebhookForwarder? = nil, checker: AlertChecker? = nil, logger: Logger
    ) {
        self.store = store
        self.forwarder = forwarder
        self.checker = checker
        self.processor = processor
        self.cameras = Dictionary(cameras.map { ($0.id, $0) }, uniquingKeysWith: { first, _ in first })
        self.config = config
        self.metrics = metrics
        self.logger = logger
        (wakeups, wakeup) = AsyncStream.makeStream(bufferingPolicy: .bufferingNewest(1))
    }

    /// Tells the service an event is waiting.
    func eventAccepted() { wakeup.yield() }

    public func run() async throws {
        logger.info("Camera service started", metadata: ["database": "\(store.path)", "cameras": "\(cameras.keys.sorted())"])
        await withTaskGroup(of: Void.self) { group in
            // Wakes the loop for retention even when no event arrives.
            group.addTask { [wakeup] in
                while (try? await Task.sleep(for: Self.pruneInterval)) != nil { wakeup.yield() }
            }
            var lastPrune = ContinuousClock.now - Self.pruneInterval
            await processPending()
            for await _ in wakeups.cancelOnGracefulShutdown() {
                await processPending()
                if ContinuousClock.now - lastPrune >= Self.pruneInterval {
                    lastPrune = .now
                    await prune()
                }
            }
            group.cancelAll()
        }
        logger.info("Camera service stopped")
    }

    /// Processes pending events until none is left (or shutdown begins);
    /// answers how many were finished.
    @discardableResult
    func processPending() async -> Int {
        var finished = 0
        while !Task.isShuttingDownGracefully, !Task.isCancelled {
            let batch: [CameraEventStore.PendingEvent]
            do {
                batch = try await store.pendingEvents(limit: Self.batchSize)
            } catch {
                logger.error("Cannot read pending camera events", metadata: ["error": "\(error)"])
                guard (try? await Task.sleep(for: .seconds(1))) != nil else { return finished }
                continue
            }
            if batch.isEmpty { return finished }
            for event in batch {
                guard !Task.isShuttingDownGracefully, !Task.isCancelled else { return finished }
                // A retry of the same event comes back in the next batch, still first in line.
                guard await process(event) else { break }
                finished += 1
            }
        }
        return finished
    }

    /// True when the event is finished (processed or failed for good).
    private func process(_ event: CameraEventStore.PendingEvent) async -> Bool {
        var logger = logger
        logger[metadataKey: "camera"] = "\(event.cameraID)"
        logger[metadataKey: "event"] = "\(event.id)"
        do {
            let state = try await store.state(of: event.cameraID)
            let result: ProcessingResult
            do throws(InvocationError) {
                result = try await processor.process(event, camera: cameras[event.cameraID], state: state)
            } catch {
                return await recordFailure(event, error, logger: logger)
            }
            let camera = cameras[event.cameraID]
            try await store.complete(event.id, cameraID: event.cameraID, result: result, at: Date()) { db in
                guard let camera else { return }
                try AlertLedger.record(db, camera: camera, eventID: event.id, time: event.receivedAt, detections: result.detections)
            }
            forwarder?.wake()
            checker?.wake()
            metrics.recordProcessing(camera: event.cameraID, outcome: "processed", detector: result.detector)
            logger.debug("Camera event processed", metadata: ["detector": "\(result.detector)", "detections": "\(result.detections.count)"])
            return true
        } catch {
            logger.error("Cannot store camera event results", metadata: ["error": "\(error)"])
            try? await Task.sleep(for: .seconds(1))
            return false
        }
    }

    private func recordFailure(_ event: CameraEventStore.PendingEvent, _ error: InvocationError, logger: Logger) async -> Bool {
        let permanent: Set<InvocationError.Code> = [
            .notAnImage, .truncatedImage, .unsupportedFormat, .imageTooLarge, .payloadTooLarge, .unsupportedMediaType, .invalidInput, .badOption,
        ]
        let attempts = event.attempts + 1
        let final = permanent.contains(error.code) || attempts >= config.maxAttempts
        let reason = "\(error.code.rawValue): \(error.message)"
        do {
            try await store.recordFailure(event.id, reason: reason, final: final, at: Date())
        } catch {
            logger.error("Cannot record a camera event failure", metadata: ["error": "\(error)"])
        }
        metrics.recordProcessing(camera: event.cameraID, outcome: final ? "failed" : "retried", detector: "none")
        if final {
            logger.warning("Camera event failed", metadata: ["reason": "\(reason)", "attempts": "\(attempts)"])
            return true
        }
        let backoff = Self.retryBackoff.delay(retry: attempts)
        logger.notice(
            "Camera event will be retried",
            metadata: [
                "reason": "\(reason)", "attempt": "\(attempts)",
                "after_ms": "\(backoff.components.seconds * 1000 + backoff.components.attoseconds / 1_000_000_000_000_000)",
            ])
        try? await Task.sleep(for: backoff)
        return false
    }

    private func prune() async {
        do {
            let (snapshots, events) = try await store.prune(config, now: Date())
            if snapshots + events > 0 {
                logger.info("Camera retention applied", metadata: ["snapshots_deleted": "\(snapshots)", "events_deleted": "\(events)"])
            }
        } catch {
            logger.error("Camera retention failed", metadata: ["error": "\(error)"])
        }
    }
}

/// Everything the camera webhook needs, built once from the deployment
/// configuration: the cameras, their authenticators and rate limits, the
/// event store and the processing service.
public final class CameraSystem: Sendable {
    public let cameras: [CameraConfig]
    let camerasByID: [String: CameraConfig]
    let authenticators: [String: CameraAuthenticator]
    let rateLimiter: CameraRateLimiter
    let store: CameraEventStore
    let writer: CameraEventWriter
    package let config: CameraStoreConfig
    let metrics: CameraMetrics
    public let service: CameraService
    let outbox: WebhookOutbox
    /// Sends alerts to the cameras' alert targets (a service of its own).
    public let forwarder: WebhookForwarder
    /// Asks helpers about the alerts of cameras with `ask_helpers` (a
    /// service of its own); nil when no camera asks.
    public let checker: AlertChecker?

    /// Opens the event database (creating it and its folder if needed).
    /// - Parameter assist: the helpers that cameras with `ask_helpers` ask;
    ///   such a camera without it is a configuration error.
    public init(settings: CameraSettings, host: FunctionHost, assist: AssistQueue? = nil, logger: Logger) throws(ConfigError) {
        cameras = settings.cameras
        camerasByID = Dictionary(cameras.map { ($0.id, $0) }, uniquingKeysWith: { first, _ in first })
        authenticators = camerasByID.mapValues(CameraAuthenticator.init(camera:))
        rateLimiter = CameraRateLimiter(cameras: cameras)
        config = settings.store
        metrics = CameraMetrics(registry: host.metrics)
        do {
            store = try CameraEventStore(path: config.databasePath)
        } catch {
            throw ConfigError(
                origin: ConfigOrigin(source: "camera_events.database", line: nil), key: nil,
                reason: "'\(config.databasePath)' cannot be opened as the camera event database: \(error)"
            )
        }
        writer = CameraEventWriter(store: store, idempotencyWindow: config.idempotencyWindow)
        var logger = logger
        logger[metadataKey: "component"] = "cameras"
        let targets = camerasByID
        outbox = WebhookOutbox(database: store.database)
        forwarder = WebhookForwarder(
            outbox: outbox,
            lookup: { cameraID, url in
                guard let target = targets[cameraID]?.alertTargets.first(where: { $0.url == url }) else { return nil }
                return .some(target.secret)
            },
            metrics: host.metrics, logger: logger
        )
        if let asking = cameras.first(where: { $0.askHelpers != nil }) {
            guard let assist, assist.config.isEnabled else {
                throw ConfigError(
                    origin: ConfigOrigin(source: "cameras.\(asking.id).ask_helpers", line: nil), key: nil,
                    reason: "asks helpers, and there are none: add them under assist.helpers, or remove ask_helpers")
            }
            checker = AlertChecker(database: store.database, assist: assist, forwarder: forwarder, cameras: cameras, logger: logger)
        } else {
            checker = nil
            do {
                let configured = settings.cameras
                try store.database.write { db in try AlertChecker.releaseAll(db, cameras: configured) }
            } catch {
                throw ConfigError(
                    origin: ConfigOrigin(source: "camera_events.database", line: nil), key: nil,
                    reason: "the alerts held for helpers could not be released: \(error)")
            }
        }
        service = CameraService(
            store: store, processor: CameraEventProcessor(host: host), cameras: cameras, config: config, metrics: metrics, forwarder: forwarder,
            checker: checker, logger: logger
        )
    }
}
