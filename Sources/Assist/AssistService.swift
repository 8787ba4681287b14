import Foundation
import Logging
import ServiceLifecycle

/// Expires questions nobody answered, on time, and deletes what is past
/// the retention period; when the server stops, ends the event streams
/// still open.
public struct AssistService: Service {
    let queue: AssistQueue
    /// The longest sleep: retention is checked at least this often.
    static let maxSleep: Duration = .seconds(60)

    public init(queue: AssistQueue) { self.queue = queue }

    public func run() async throws {
        try? await withGracefulShutdownHandler {
            try await cancelWhenGracefulShutdown {
                var lastPrune = ContinuousClock.now - Self.maxSleep
                while !Task.isCancelled {
                    var next: Date?
                    do {
                        next = try await queue.expireDue()
                        if ContinuousClock.now - lastPrune >= Self.maxSleep {
                            lastPrune = .now
                            try await queue.prune()
                        }
                    } catch {
                        queue.logger.error("Expiring or deleting questions failed", metadata: ["error": "\(error)"])
                    }
                    try await Task.sleep(for: Self.sleep(until: next, answerTimeout: queue.config.answerTimeout))
                }
            }
        } onGracefulShutdown: {
            queue.changes.close()
        }
    }

    /// Until the next question is due; with none waiting, no longer than
    /// the answer timeout, since every question waits exactly that long: one
    /// asked meanwhile is then seen before it is due.
    static func sleep(until next: Date?, answerTimeout: Duration) -> Duration {
        guard let next else { return min(maxSleep, answerTimeout) }
        return min(maxSleep, .milliseconds(Int64(max(0, next.timeIntervalSinceNow) * 1000) + 1))
    }
}
