import Testing

@testable import DescriberHost

/// The one back-off policy of the retry loops.
@Suite struct BackoffTests {
    @Test func doublesFromTheFirstDelayUpToTheMaximum() {
        let backoff = Backoff(first: .milliseconds(100), maximum: .seconds(5))
        #expect((1...8).map { backoff.delay(retry: $0) } == [100, 200, 400, 800, 1600, 3200, 5000, 5000].map { .milliseconds($0) })
        #expect(backoff.delay(retry: 0) == .milliseconds(100), "a retry number below 1 is the first")
        #expect(backoff.delay(retry: .max) == .seconds(5), "no overflow however many retries")
    }

    @Test func jitterTakesOffAtMostItsShare() {
        let backoff = Backoff(first: .seconds(30), maximum: .seconds(3600), jitter: 0.5)
        #expect(backoff.delay(retry: 1, random: 1) == .seconds(30))
        #expect(backoff.delay(retry: 1, random: 0) == .seconds(15))
        #expect(backoff.delay(retry: 3, random: 0.5) == .seconds(90))
        for _ in 0..<100 {
            let delay = backoff.delay(retry: 2)
            #expect(delay >= .seconds(30) && delay <= .seconds(60))
        }
    }

    @Test func eachLoopKeepsItsPolicy() {
        #expect(WorkerLauncher.crashBackoff.delay(retry: 1) == .milliseconds(100))
        #expect(FunctionPool.startBackoff.delay(retry: 1) == .seconds(1))
        #expect(FunctionPool.startBackoff.delay(retry: 10) == .seconds(30))
        #expect(WorkerLauncher.crashBackoff.delay(retry: 10) == .seconds(5))
    }
}

extension BackoffTests {
    @Test func settingsOutOfRangeAreClampedNotFatal() {
        let backoff = Backoff(first: .seconds(10), maximum: .seconds(1), jitter: 3)
        #expect(backoff.delay(retry: 3, random: 1) == .seconds(10), "the maximum never undercuts the first delay")
        #expect(backoff.delay(retry: 1, random: 0) == .zero, "jitter clamped to 1 takes at most everything off")
    }
}
