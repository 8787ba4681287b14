import Foundation
import Synchronization
import TestSupport
import Testing

@testable import DescriberHost

/// Scaling per invocation, the bounded queue, scale to zero, batching and deadlines.
@Suite struct SchedulerTests {
    static func good() throws -> String { try TestSupport.library("good") }
    static func plain() throws -> String { try TestSupport.library("plain", defines: ["TESTFN_CAPS=0"]) }

    @Test func scalesUpToMaxInstancesUnderConcurrentLoadAndNoFurther() async throws {
        let host = try TestSupport.host([
            "fn": TestSupport.manifest(library: try Self.plain(), "scaling: { max_instances: 3 }\nqueue: { max_depth: 100 }")
        ])
        await host.start()
        #expect(host.snapshot(of: "fn")?.idle == 0, "min_instances 0 starts nothing")
        let outputs = try await withThrowingTaskGroup(of: InvocationOutput.self) { group in
            for _ in 0..<12 {
                group.addTask { try await host.invoke("fn", TestSupport.request(options: [("sleep_ms", "100")])) }
            }
            return try await group.reduce(into: []) { $0.append($1) }
        }
        let instances = Set(outputs.compactMap { $0.fields["instance"] })
        #expect(instances.count == 3, "12 slow requests on max_instances 3 use exactly 3 instances, got \(instances)")
        #expect(outputs.filter(\.coldStart).count == 3, "each new instance's first request is a cold start")
        // Callers are answered just before their instance is marked free.
        try await waitUntil { host.snapshot(of: "fn")?.busy == 0 }
        let snapshot = try #require(host.snapshot(of: "fn"))
        #expect(snapshot.idle == 3 && snapshot.queueDepth == 0)
        await host.shutdown()
    }

    @Test func aWarmInstanceIsReusedWithoutAColdStart() async throws {
        let host = try TestSupport.host(["fn": TestSupport.manifest(library: try Self.plain())])
        await host.start()
        let first = try await host.invoke("fn", TestSupport.request())
        let second = try await host.invoke("fn", TestSupport.request())
        #expect(first.coldStart)
        #expect(first.timings.initialization > .zero)
        #expect(!second.coldStart)
        #expect(second.timings.initialization == .zero)
        #expect(first.fields["instance"] == second.fields["instance"])
        await host.shutdown()
    }

    @Test func instanceThreadsCarryTheirNameToTheKernel() async throws {
        let host = try TestSupport.host(["fn": TestSupport.manifest(library: try Self.plain())])
        await host.start()
        _ = try await host.invoke("fn", TestSupport.request())
        // What top, perf and gdb show: Foundation's Thread.name alone leaves
        // the name of the thread that created it.
        let names = try FileManager.default.contentsOfDirectory(atPath: "/proc/self/task").compactMap { task in
            try? String(contentsOfFile: "/proc/self/task/\(task)/comm", encoding: .utf8)
        }
        #expect(names.contains { $0.hasPrefix("describer-fn-") }, "\(names)")
        await host.shutdown()
    }

    @Test func refusesAtOnceWhenTheQueueIsFull() async throws {
        let host = try TestSupport.host([
            "fn": TestSupport.manifest(library: try Self.plain(), "scaling: { max_instances: 1, min_instances: 1 }\nqueue: { max_depth: 2 }")
        ])
        await host.start()
        let results = await withTaskGroup(of: Result<InvocationOutput, InvocationError>.self) { group in
            for _ in 0..<6 {
                group.addTask { await host.result("fn", TestSupport.request(options: [("sleep_ms", "300")])) }
            }
            return await group.reduce(into: []) { $0.append($1) }
        }
        let refused = results.compactMap(\.failure)
        #expect(results.filter { $0.success != nil }.count == 3, "one running plus two queued")
        #expect(refused.count == 3)
        for error in refused {
            #expect(error.code == .queueFull)
            #expect(error.httpStatus == 429)
            #expect(error.retryAfterSeconds == 1)
        }
        await host.shutdown()
    }

    @Test func scalesToZeroAfterTheIdleTimeout() async throws {
        let host = try TestSupport.host([
            "fn": TestSupport.manifest(library: try Self.plain(), "scaling: { max_instances: 2, idle_timeout: 150ms }")
        ])
        await host.start()
        _ = try await host.invoke("fn", TestSupport.request())
        // The caller is answered before the pool books the batch as finished,
        // so the instance shows as idle a moment later, then goes.
        try await waitUntil { host.snapshot(of: "fn")?.idle == 1 }
        try await waitUntil { host.snapshot(of: "fn")?.idle == 0 && host.snapshot(of: "fn")?.busy == 0 }
        let again = try await host.invoke("fn", TestSupport.request())
        #expect(again.coldStart, "after scaling to zero the next request starts a new instance")
        await host.shutdown()
    }

    @Test func prewarmsAndNeverScalesBelowMinInstances() async throws {
        let host = try TestSupport.host([
            "fn": TestSupport.manifest(library: try Self.good(), "scaling: { min_instances: 2, max_instances: 4, idle_timeout: 50ms, concurrency: 1 }")
        ])
        await host.start()
        #expect(host.snapshot(of: "fn")?.idle == 2, "pre-warmed before ready")
        let first = try await host.invoke("fn", TestSupport.request())
        #expect(!first.coldStart, "a pre-warmed instance is warm")
        // Burst to four instances, then wait for the extra two to be reclaimed.
        _ = try await withThrowingTaskGroup(of: InvocationOutput.self) { group in
            for _ in 0..<8 { group.addTask { try await host.invoke("fn", TestSupport.request(options: [("sleep_ms", "50")])) } }
            return try await group.reduce(into: []) { $0.append($1) }
        }
        try await waitUntil { host.snapshot(of: "fn")?.idle == 2 }
        try await Task.sleep(for: .milliseconds(200))
        #expect(host.snapshot(of: "fn")?.idle == 2)
        await host.shutdown()
    }

    @Test func batchingCoalescesConcurrentRequestsAndAnswersEachCaller() async throws {
        let host = try TestSupport.host([
            "fn": TestSupport.manifest(
                library: try Self.good(), "scaling: { min_instances: 1, max_instances: 1 }\nbatching: { max_batch_size: 8, max_batch_delay: 2s }")
        ])
        await host.start()
        let outputs = try await withThrowingTaskGroup(of: (Int, InvocationOutput).self) { group in
            for index in 0..<8 {
                group.addTask { (index, try await host.invoke("fn", TestSupport.request(String(repeating: "x", count: index + 1)))) }
            }
            return try await group.reduce(into: []) { $0.append($1) }
        }
        for (index, output) in outputs {
            #expect(output.fields["batch"] == 8, "a full batch closes without waiting for the delay")
            #expect(output.fields["size"] == index + 1, "each caller gets the answer to its own input")
            #expect(output.timings.batchSize == 8)
        }
        #expect(Set(outputs.compactMap { $0.1.fields["index"] }) == Set(0..<8))
        await host.shutdown()
    }

    @Test func aPartialBatchIsNotHeldPastItsEarliestDeadline() async throws {
        // The batch delay (10 s) is far longer than the request's deadline
        // (300 ms): the batch must go early enough for the request to succeed.
        let host = try TestSupport.host([
            "fn": TestSupport.manifest(library: try Self.good(), "scaling: { min_instances: 1 }\nbatching: { max_batch_size: 8, max_batch_delay: 10s }")
        ])
        await host.start()
        let output = try await host.invoke("fn", TestSupport.request(timeout: .milliseconds(300)))
        #expect(output.fields["batch"] == 1)
        await host.shutdown()
    }

    @Test func aDeadlinePassedWhileQueuedFailsAtOnceNotAfterTheRunningBatch() async throws {
        let host = try TestSupport.host([
            "fn": TestSupport.manifest(library: try Self.plain(), "scaling: { min_instances: 1, max_instances: 1 }\ntimeout: { default: 10s }")
        ])
        await host.start()
        let slowFinished = Atomic<Bool>(false)
        async let slow: Void = {
            _ = await host.result("fn", TestSupport.request(options: [("sleep_ms", "1500")]))
            slowFinished.store(true, ordering: .sequentiallyConsistent)
        }()
        try await waitUntil { host.snapshot(of: "fn")?.busy == 1 }
        let queued = await host.result("fn", TestSupport.request(timeout: .milliseconds(100)))
        #expect(queued.failure?.code == .deadlineExceeded)
        #expect(queued.failure?.httpStatus == 504)
        #expect(queued.failure?.message.contains("waiting in the queue") == true)
        let finishedBeforeAnswer = slowFinished.load(ordering: .sequentiallyConsistent)
        #expect(!finishedBeforeAnswer, "answered while the running batch still ran")
        await slow
        await host.shutdown()
    }

    @Test func aDeadlinePassedWhileRunningAnswersAtTheDeadline() async throws {
        let host = try TestSupport.host(["fn": TestSupport.manifest(library: try Self.plain())])
        await host.start()
        let result = await host.result("fn", TestSupport.request(options: [("sleep_ms", "5000")], timeout: .milliseconds(100)))
        #expect(result.failure?.code == .deadlineExceeded)
        #expect(result.failure?.message.contains("still running") == true)
        // The function polls host->expired and stops, so the instance frees up.
        try await waitUntil { host.snapshot(of: "fn")?.busy == 0 }
        let next = await host.result("fn", TestSupport.request())
        #expect(next.success != nil)
        await host.shutdown()
    }

    @Test func requestOptionsAndTimeoutsStayWithinTheManifestsBounds() async throws {
        let host = try TestSupport.host([
            "fn": TestSupport.manifest(library: try Self.plain(), "timeout: { default: 1s, maximum: 2s }")
        ])
        await host.start()
        let tooSlow = await host.result("fn", TestSupport.request(options: [("sleep_ms", "60001")]))
        #expect(tooSlow.failure?.code == .badOption)
        #expect(tooSlow.failure?.message == "option 'sleep_ms' must be at most 60000, got 60001")
        let unknown = await host.result("fn", TestSupport.request(options: [("colour", "red")]))
        #expect(unknown.failure?.message == "unknown option 'colour' for 'fn'; it takes: fail, silent, sleep_ms, stubborn")
        let notAllowed = await host.result("fn", TestSupport.request(options: [("fail", "sometimes")]))
        #expect(notAllowed.failure?.message == "option 'fail' must be one of invalid, unsupported, failed, got 'sometimes'")
        let notABool = await host.result("fn", TestSupport.request(options: [("silent", "maybe")]))
        #expect(notABool.failure?.httpStatus == 400)
        let raised = await host.result("fn", TestSupport.request(timeout: .seconds(3)))
        #expect(raised.failure?.code == .badOption)
        #expect(raised.failure?.message.contains("exceeds the maximum of 2000.000 ms") == true)
        let withinMaximum = await host.result("fn", TestSupport.request(options: [("sleep_ms", "1200")], timeout: .milliseconds(1900)))
        #expect(withinMaximum.success != nil, "a request may raise its deadline up to the maximum")
        // The margin between the deadline and the call's end is wide, so a
        // loaded machine (the suites run in parallel) cannot blur it.
        let lowered = await host.result("fn", TestSupport.request(options: [("sleep_ms", "1500")], timeout: .milliseconds(50)))
        #expect(lowered.failure?.code == .deadlineExceeded, "and lower it")
        await host.shutdown()
    }

    @Test func cancellationRemovesAQueuedInvocation() async throws {
        let host = try TestSupport.host([
            "fn": TestSupport.manifest(library: try Self.plain(), "scaling: { min_instances: 1, max_instances: 1 }")
        ])
        await host.start()
        // Long enough that the second request is still queued when cancelled, even on a loaded machine.
        async let slow = host.result("fn", TestSupport.request(options: [("sleep_ms", "1500")]))
        try await waitUntil { host.snapshot(of: "fn")?.busy == 1 }
        let waiting = Task { await host.result("fn", TestSupport.request()) }
        try await waitUntil { host.snapshot(of: "fn")?.queueDepth == 1 }
        waiting.cancel()
        #expect(await waiting.value.failure?.code == .cancelled)
        #expect(host.snapshot(of: "fn")?.queueDepth == 0)
        _ = await slow
        await host.shutdown()
    }

    @Test func shutdownDrainsRunningWorkAndRefusesNewWork() async throws {
        let host = try TestSupport.host(["fn": TestSupport.manifest(library: try Self.plain(), "scaling: { min_instances: 1 }")])
        await host.start()
        // Long enough to be seen running on a busy machine, short enough for the 2 s grace.
        async let running = host.result("fn", TestSupport.request(options: [("sleep_ms", "1000")]))
        try await waitUntil { host.snapshot(of: "fn")?.busy == 1 }
        await host.shutdown()
        #expect(await running.success != nil, "in-flight work finished during the grace period")
        #expect(!host.isReady)
        let after = await host.result("fn", TestSupport.request())
        #expect(after.failure?.code == .unavailable)
    }
}

extension SchedulerTests {
    @Test func aReentrantInstanceRunsShortWorkBesideALongCall() async throws {
        let host = try TestSupport.host([
            "fn": TestSupport.manifest(library: try Self.good(), "scaling: { min_instances: 1, max_instances: 1, concurrency: 2 }")
        ])
        await host.start()
        let longFinished = Atomic<Bool>(false)
        async let long: Void = {
            _ = await host.result("fn", TestSupport.request(options: [("sleep_ms", "1500")]))
            longFinished.store(true, ordering: .sequentiallyConsistent)
        }()
        try await waitUntil { host.snapshot(of: "fn")?.busy == 1 }
        for _ in 0..<3 {
            #expect(await host.result("fn", TestSupport.request()).success != nil)
        }
        let finishedFirst = longFinished.load(ordering: .sequentiallyConsistent)
        #expect(!finishedFirst, "short requests were served by the instance's second thread")
        await long
        await host.shutdown()
    }

    @Test func requestsWaitingForAColdStartDoNotCountAgainstTheQueue() async throws {
        // One instance that takes four batches at once, no queue at all: the
        // four requests that arrive during its cold start are all taken by it.
        let host = try TestSupport.host([
            "fn": TestSupport.manifest(
                library: try Self.good(), "scaling: { max_instances: 1, concurrency: 4 }\nqueue: { max_depth: 0 }\noptions: { create_sleep_ms: 100 }")
        ])
        await host.start()
        let results = await withTaskGroup(of: Result<InvocationOutput, InvocationError>.self) { group in
            for _ in 0..<4 { group.addTask { await host.result("fn", TestSupport.request()) } }
            return await group.reduce(into: []) { $0.append($1) }
        }
        #expect(results.allSatisfy { $0.success != nil }, "\(results.compactMap(\.failure))")
        await host.shutdown()
    }

    @Test func aTaskCancelledBeforeAdmissionNeverReachesTheQueue() async throws {
        let host = try TestSupport.host(["fn": TestSupport.manifest(library: try Self.plain(), "scaling: { min_instances: 1 }")])
        await host.start()
        let task = Task {
            withUnsafeCurrentTask { $0?.cancel() }
            return await host.result("fn", TestSupport.request())
        }
        #expect(await task.value.failure?.code == .cancelled)
        #expect(host.snapshot(of: "fn")?.queueDepth == 0)
        #expect(host.snapshot(of: "fn")?.starting == 0)
        await host.shutdown()
    }

    @Test func shutdownLetsARequestWaitingForAColdStartFinish() async throws {
        let host = try TestSupport.host([
            "fn": TestSupport.manifest(library: try Self.good(), "options: { create_sleep_ms: 200 }")
        ])
        await host.start()
        async let waiting = host.result("fn", TestSupport.request())
        try await waitUntil { host.snapshot(of: "fn")?.starting == 1 }
        await host.shutdown()
        #expect(await waiting.success != nil, "the instance started during the drain served it")
    }
}
