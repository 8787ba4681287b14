import Foundation
import Synchronization

/// Tells whoever follows a question, or the waiting list, that it changed.
///
/// A follower is told only *that* something changed and reads the current
/// state itself, so changes that come faster than a page reads them
/// coalesce into one, and nothing is ever shown out of order.
package final class ChangeFeed: Sendable {
    package enum Topic: Hashable, Sendable {
        case question(String)
        /// Any question started or stopped waiting.
        case waitingList
    }

    private struct Follower {
        var topic: Topic
        var continuation: AsyncStream<Void>.Continuation
    }

    private let followers = Mutex<(next: Int, all: [Int: Follower], closed: Bool)>((0, [:], false))

    /// A stream that yields at once (so the follower sends the current
    /// state) and after every change of `topic`; it finishes when the
    /// follower's task is cancelled or the feed closes.
    package func follow(_ topic: Topic) -> AsyncStream<Void> {
        let (stream, continuation) = AsyncStream<Void>.makeStream(bufferingPolicy: .bufferingNewest(1))
        continuation.yield()
        let key: Int? = followers.withLock { state in
            guard !state.closed else { return nil }
            state.next += 1
            state.all[state.next] = Follower(topic: topic, continuation: continuation)
            return state.next
        }
        guard let key else {
            continuation.finish()
            return stream
        }
        continuation.onTermination = { [weak self] _ in
            _ = self?.followers.withLock { $0.all.removeValue(forKey: key) }
        }
        return stream
    }

    func publish(_ topic: Topic) {
        let continuations = followers.withLock { state in state.all.values.filter { $0.topic == topic }.map(\.continuation) }
        for continuation in continuations { continuation.yield() }
    }

    /// Ends every stream, now and later: the server is stopping.
    func close() {
        let continuations = followers.withLock { state in
            state.closed = true
            defer { state.all = [:] }
            return state.all.values.map(\.continuation)
        }
        for continuation in continuations { continuation.finish() }
    }

    var followerCount: Int { followers.withLock { $0.all.count } }
}
