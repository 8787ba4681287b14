import Foundation
import TestSupport
import Testing

@testable import DescriberHost

/// The handshake between host and library, and every way a library is refused.
@Suite struct ABITests {
    @Test func acceptsAWellFormedLibraryAndReadsItsCapabilities() throws {
        let library = try FunctionLibrary.load(path: try TestSupport.library("good"))
        #expect(library.capabilities.abiMajor == 1)
        #expect(library.capabilities.abiMinor == 2)
        #expect(library.capabilities.name == "testfn")
        #expect(library.capabilities.version == "0.0.1-test")
        #expect(library.capabilities.batch)
        #expect(library.capabilities.reentrant)
        #expect(library.capabilities.input == .bytes)
        #expect(library.capabilities.maxBatchSize == nil)
    }

    @Test func readsNonBatchNonReentrantDeclarations() throws {
        let path = try TestSupport.library("plain", defines: ["TESTFN_CAPS=0"])
        let capabilities = try FunctionLibrary.load(path: path).capabilities
        #expect(!capabilities.batch)
        #expect(!capabilities.reentrant)
    }

    struct Refusal: Sendable, CustomTestStringConvertible {
        var variant: String
        var defines: [String]
        var code: LibraryLoadError.Code
        var mentions: String
        var testDescription: String { variant }
    }

    /// A library built against ABI 1.0 (before requests said the picture's
    /// source size) still loads: minor versions only add.
    @Test func acceptsALibraryOfAnOlderMinorVersion() throws {
        let library = try FunctionLibrary.load(path: try TestSupport.library("minor0", defines: ["TESTFN_ABI_MINOR=0"]))
        #expect(library.capabilities.abiMajor == 1 && library.capabilities.abiMinor == 0)
    }

    static let refusals: [Refusal] = [
        Refusal(
            variant: "major2", defines: ["TESTFN_ABI_MAJOR=2"], code: .abiMismatch, mentions: "was built for function ABI 2.2, but this host speaks ABI 1.2"),
        Refusal(variant: "major0", defines: ["TESTFN_ABI_MAJOR=0"], code: .abiMismatch, mentions: "ABI 0.2"),
        Refusal(variant: "minor9", defines: ["TESTFN_ABI_MINOR=9"], code: .abiMismatch, mentions: "needs function ABI 1.9, newer than this host's 1.2"),
        Refusal(variant: "noprocess", defines: ["TESTFN_OMIT_PROCESS"], code: .missingSymbol, mentions: "does not export describer_instance_process"),
        Refusal(variant: "unknowncap", defines: ["TESTFN_CAPS=0x11"], code: .badCapability, mentions: "unknown capability bits 0x10"),
        Refusal(
            variant: "rgbzero", defines: ["TESTFN_INPUT_KIND=1"], code: .badCapability, mentions: "wants RGB8 input but declares max_width 0 x max_height 0"),
        Refusal(variant: "inputkind", defines: ["TESTFN_INPUT_KIND=7"], code: .badCapability, mentions: "declares input_kind 7"),
        Refusal(variant: "tinystruct", defines: ["TESTFN_STRUCT_SIZE=8"], code: .badInfo, mentions: "struct_size 8"),
        Refusal(variant: "nullinfo", defines: ["TESTFN_NULL_INFO"], code: .badInfo, mentions: "returned NULL"),
    ]

    @Test(arguments: refusals)
    func refusesWithAPreciseMessage(_ refusal: Refusal) throws {
        let path = try TestSupport.library(refusal.variant, defines: refusal.defines)
        let error = #expect(throws: LibraryLoadError.self) { try FunctionLibrary.load(path: path) }
        #expect(error?.code == refusal.code)
        #expect(error?.description.contains(path) == true)
        #expect(error?.description.contains(refusal.mentions) == true, "\(String(describing: error))")
    }

    @Test func refusesAFileThatIsNotASharedLibrary() throws {
        let path = TestSupport.scratch + "/not-a-library.so"
        try "just text".write(toFile: path, atomically: true, encoding: .utf8)
        let error = #expect(throws: LibraryLoadError.self) { try FunctionLibrary.load(path: path) }
        #expect(error?.code == .cannotOpen)
        #expect(error?.description.contains("cannot be loaded") == true)
    }

    @Test func refusesAMissingFile() {
        let error = #expect(throws: LibraryLoadError.self) { try FunctionLibrary.load(path: "/nonexistent/libnothing.so") }
        #expect(error?.code == .cannotOpen)
    }

    @Test func refusesSettingsTheLibraryCannotHonour() async throws {
        let plain = try TestSupport.library("plain", defines: ["TESTFN_CAPS=0"])
        let rgb = try TestSupport.library("rgb", defines: ["TESTFN_INPUT_KIND=1", "TESTFN_MAX_W=640", "TESTFN_MAX_H=480"])
        let host = try TestSupport.host([
            "concurrent": TestSupport.manifest(library: plain, "scaling: { concurrency: 2 }"),
            "batched": TestSupport.manifest(library: plain, "batching: { max_batch_size: 4 }"),
            "pixels": TestSupport.manifest(library: rgb, "input: { content_types: [text/plain] }"),
        ])
        #expect(host.entries["concurrent"]?.problem?.contains("is not reentrant (no DESCRIBER_CAP_REENTRANT), so scaling.concurrency must be 1, not 2") == true)
        #expect(host.entries["batched"]?.problem?.contains("does not process batches (no DESCRIBER_CAP_BATCH)") == true)
        #expect(host.entries["pixels"]?.problem?.contains("wants decoded RGB8 pixels, but input.content_types (text/plain) admits none") == true)
    }

    @Test func aRefusedLibraryDoesNotStopTheOthers() async throws {
        let host = try TestSupport.host([
            "broken": TestSupport.manifest(library: try TestSupport.library("major2", defines: ["TESTFN_ABI_MAJOR=2"])),
            "missing": TestSupport.manifest(library: try TestSupport.library("noprocess", defines: ["TESTFN_OMIT_PROCESS"])),
            "good": TestSupport.manifest(library: try TestSupport.library("good")),
        ])
        await host.start()
        let broken = await host.result("broken", TestSupport.request())
        #expect(broken.failure?.code == .unavailable)
        #expect(broken.failure?.message.contains("ABI 2.2") == true)
        let missing = await host.result("missing", TestSupport.request())
        #expect(missing.failure?.message.contains("describer_instance_process") == true)
        let good = await host.result("good", TestSupport.request("abc"))
        #expect(good.success?.fields["size"] == 3)
        await host.shutdown()
    }

    @Test func theExampleFunctionEchoesThroughTheRealHost() async throws {
        let echo = try TestSupport.library("echo", source: TestSupport.echoSource)
        let host = try TestSupport.host([
            "echo": """
            library: \(echo)
            batching: { max_batch_size: 8 }
            request_options:
              upper: { type: bool }
              repeat: { type: integer, min: 1, max: 8 }
            options: { prefix: "> " }
            """
        ])
        await host.start()
        let output = try await host.invoke("echo", TestSupport.request("hi", options: [("upper", "true"), ("repeat", "3")]))
        #expect(output.text == "> HIHIHI")
        #expect(output.contentType == "text/plain")
        await host.shutdown()
    }

    @Test func instanceCreationFailureIsReportedWithTheFunctionsReason() async throws {
        let host = try TestSupport.host([
            "failing": TestSupport.manifest(library: try TestSupport.library("good"), "options: { create_fail: true }")
        ])
        await host.start()
        let result = await host.result("failing", TestSupport.request())
        #expect(result.failure?.code == .initFailed)
        #expect(result.failure?.message.contains("create_fail was set") == true)
        #expect(result.failure?.httpStatus == 502)
        await host.shutdown()
    }

    @Test(arguments: [
        ("invalid", InvocationError.Code.invalidInput, 400),
        ("unsupported", .unsupportedMediaType, 415),
        ("failed", .functionFailed, 502),
    ])
    func perItemStatusesMapToErrors(_ fail: String, _ code: InvocationError.Code, _ status: Int) async throws {
        let host = try TestSupport.host(["fn": TestSupport.manifest(library: try TestSupport.library("good"))])
        await host.start()
        let result = await host.result("fn", TestSupport.request(options: [("fail", fail)]))
        #expect(result.failure?.code == code)
        #expect(result.failure?.httpStatus == status)
        #expect(result.failure?.message == "asked to fail: \(fail)")
        await host.shutdown()
    }

    @Test func anUnansweredItemFailsClearly() async throws {
        let host = try TestSupport.host(["fn": TestSupport.manifest(library: try TestSupport.library("good"))])
        await host.start()
        let result = await host.result("fn", TestSupport.request(options: [("silent", "true")]))
        #expect(result.failure?.code == .functionFailed)
        #expect(result.failure?.message == "the function returned no result for this request")
        await host.shutdown()
    }
}

/// What `expired` means during create, the same on both isolation tiers.
@Suite struct CreateExpiryTests {
    /// A create that waits on `expired` learns when shutdown gave up on it,
    /// and stops by itself: in a worker process too, which is then not killed.
    @Test(arguments: ["in-process", "process"])
    func aCreateWaitingOnExpiredStopsWhenShutdownGivesUp(_ isolation: String) async throws {
        let library = try TestSupport.library("good")
        let marker = "\(TestSupport.scratch)/expired-\(isolation)-\(UUID().uuidString)"
        let host = try TestSupport.host([
            "fn": TestSupport.manifest(
                library: library, "isolation: \(isolation)\noptions: { create_until_expired: true, expired_marker: \"\(marker)\" }")
        ])
        await host.start()
        let waiting = Task { await host.result("fn", TestSupport.request(timeout: .seconds(30))) }
        try await waitUntil { host.snapshot(of: "fn")?.starting == 1 }
        await host.shutdown()
        #expect(await waiting.value.failure != nil, "nothing could answer it")
        try await waitUntil { FileManager.default.fileExists(atPath: marker) }
        #expect(FileManager.default.fileExists(atPath: marker), "the create saw expired become 1")
    }
}

/// What a function hands back is checked the same way on both tiers.
@Suite struct OutputCheckTests {
    static func manifest(_ isolation: String) throws -> String {
        TestSupport.manifest(
            library: try TestSupport.library("good"),
            "  misbehave: { type: string, values: [long_type, long_error] }\nisolation: \(isolation)")
    }

    @Test(arguments: ["in-process", "process"])
    func aContentTypeOverTheLimitFailsItsItem(_ isolation: String) async throws {
        try await TestSupport.host(["fn": try Self.manifest(isolation)]).run { host in
            let failure = try #require(await host.result("fn", TestSupport.request(options: [("misbehave", "long_type")])).failure)
            #expect(failure.code == .functionFailed && failure.message.contains("content type is longer than 1024 bytes"), "\(failure)")
        }
    }

    @Test(arguments: ["in-process", "process"])
    func aFailureMessageIsCutToTheLimit(_ isolation: String) async throws {
        try await TestSupport.host(["fn": try Self.manifest(isolation)]).run { host in
            let failure = try #require(await host.result("fn", TestSupport.request(options: [("misbehave", "long_error")])).failure)
            #expect(failure.code == .functionFailed)
            #expect(failure.message.utf8.count <= 8192 && failure.message.hasPrefix("eeee"), "\(failure.message.utf8.count) bytes")
        }
    }
}
