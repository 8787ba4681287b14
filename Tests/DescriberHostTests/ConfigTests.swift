import TestSupport
import Testing

@testable import DescriberConfiguration
@testable import DescriberHost

/// Manifests, the deployment file and environment overrides, and their errors.
@Suite struct ConfigTests {
    static let manifestPath = "functions/fn/function.yaml"

    func decode(_ yaml: String, override: String? = nil, environment: [String: String] = [:]) throws -> FunctionConfig {
        var node = try ConfigNode.parseYAML(yaml, source: Self.manifestPath)
        if let override {
            let deployment = try ConfigNode.parseYAML(override, source: "describer.yaml")
            if let functionOverride = deployment["functions"]?["fn"] { node = node.overlaid(by: functionOverride) }
        }
        if let fromEnvironment = ConfigNode.environmentOverlay(environment)["functions"]?["fn"] {
            node = node.overlaid(by: fromEnvironment)
        }
        return try FunctionConfig(node: node, name: "fn", directory: "functions/fn", manifestPath: Self.manifestPath, serverBodyLimit: 1000)
    }

    @Test func defaultsAreThoseDocumented() throws {
        let config = try decode("library: libfn.so")
        #expect(config.libraryPath == "functions/fn/libfn.so")
        #expect(config.isolation == .inProcess)
        #expect(config.minInstances == 0 && config.maxInstances == 1 && config.concurrency == 1)
        #expect(config.idleTimeout == .seconds(300))
        #expect(config.maxBatchSize == 1 && config.maxBatchDelay == .zero)
        #expect(config.defaultTimeout == .seconds(30) && config.maximumTimeout == .seconds(30))
        #expect(config.maxQueueDepth == 64)
        #expect(config.maxInputBytes == 1000, "the server's body limit")
        #expect(config.acceptedContentTypes == ["*/*"])
        #expect(config.options == .object([:]))
    }

    @Test func readsEveryKey() throws {
        let config = try decode(
            """
            description: test
            library: /opt/lib/libfn.so
            isolation: process
            input: { content_types: [image/jpeg, "image/*"], max_bytes: 2MiB }
            output: { max_bytes: 512KiB }
            scaling: { min_instances: 1, max_instances: 4, concurrency: 2, idle_timeout: 90s }
            batching: { max_batch_size: 8, max_batch_delay: 5ms }
            timeout: { default: 2s, maximum: 1m }
            queue: { max_depth: 10 }
            environment: { OMP_NUM_THREADS: "1" }
            options: { model: yolo, size: 416, nested: { list: [1, 2.5, true, null, "x"] } }
            """)
        #expect(config.libraryPath == "/opt/lib/libfn.so")
        #expect(config.isolation == .process)
        #expect(config.acceptedContentTypes == ["image/jpeg", "image/*"])
        #expect(config.maxInputBytes == 2 * 1024 * 1024)
        #expect(config.maxOutputBytes == 512 * 1024)
        #expect(config.minInstances == 1 && config.maxInstances == 4 && config.concurrency == 2)
        #expect(config.idleTimeout == .seconds(90))
        #expect(config.maxBatchSize == 8 && config.maxBatchDelay == .milliseconds(5))
        #expect(config.defaultTimeout == .seconds(2) && config.maximumTimeout == .seconds(60))
        #expect(config.maxQueueDepth == 10)
        #expect(config.environment.map(\.0) == ["OMP_NUM_THREADS"])
        #expect(config.options.serialized == #"{"model":"yolo","nested":{"list":[1,2.5,true,null,"x"]},"size":416}"#)
    }

    @Test func deploymentFileAndEnvironmentOverrideTheManifestInThatOrder() throws {
        let config = try decode(
            "library: libfn.so\nscaling: { max_instances: 2, min_instances: 1 }\noptions: { a: 1, b: 2 }",
            override: "functions:\n  fn:\n    scaling: { max_instances: 6 }\n    options: { b: 3 }",
            environment: [
                "DESCRIBER_FUNCTIONS__FN__SCALING__MAX_INSTANCES": "8",
                "DESCRIBER_FUNCTIONS__FN__OPTIONS__C": "true",
                "UNRELATED": "x",
            ]
        )
        #expect(config.maxInstances == 8, "environment beats the file")
        #expect(config.minInstances == 1, "untouched keys keep the manifest's value")
        #expect(config.options.serialized == #"{"a":1,"b":3,"c":true}"#)
    }

    @Test func environmentNamesMapHyphenatedFunctions() {
        let overlay = ConfigNode.environmentOverlay(["DESCRIBER_FUNCTIONS__SECURITY_EVENTS__QUEUE__MAX_DEPTH": "5", "DESCRIBER_SERVER__PORT": "9000"])
        #expect(overlay["functions"]?["security-events"]?["queue"]?["max_depth"] != nil)
        #expect(overlay["server"]?["port"] != nil)
    }

    struct Invalid: Sendable, CustomTestStringConvertible {
        var yaml: String
        var message: String
        var testDescription: String { message }
    }

    static let invalid: [Invalid] = [
        Invalid(yaml: "description: x", message: "functions/fn/function.yaml:1: library is required: the shared library to load, relative to functions/fn"),
        Invalid(
            yaml: "library: l.so\nscalling: {}",
            message:
                "functions/fn/function.yaml:2: scalling is not a known key (expected one of: description, enabled, library, isolation, input, output, scaling, batching, timeout, queue, environment, request_options, options, process)"
        ),
        Invalid(
            yaml: "library: l.so\nscaling:\n  max_instances: many",
            message: "functions/fn/function.yaml:3: scaling.max_instances must be a whole number, got 'many'"),
        Invalid(yaml: "library: l.so\nscaling: { max_instances: 0 }", message: "scaling.max_instances must be between 1 and 1024, got 0"),
        Invalid(
            yaml: "library: l.so\nscaling: { min_instances: 3, max_instances: 2 }", message: "scaling.min_instances must not exceed max_instances (2), got 3"),
        Invalid(
            yaml: "library: l.so\nscaling: { idle_timeout: 10 }",
            message: "scaling.idle_timeout must be a duration with a unit such as 500ms, 5s or 2m, got '10'"),
        Invalid(yaml: "library: l.so\ntimeout: { default: 10s, maximum: 5s }", message: "timeout.maximum must not be shorter than timeout.default (10s)"),
        Invalid(yaml: "library: l.so\nisolation: container", message: "isolation must be in-process or process, got 'container'"),
        Invalid(yaml: "library: l.so\ninput: { content_types: [jpeg] }", message: "input.content_types holds 'jpeg', which is not a media type"),
        Invalid(yaml: "library: l.so\ninput: { max_bytes: lots }", message: "input.max_bytes must be a size such as 1048576, 512KiB or 20MB, got 'lots'"),
        Invalid(yaml: "library: l.so\nbatching: { max_batch_delay: 1h }", message: "batching.max_batch_delay must be between 0s and 10s, got 1h"),
        Invalid(yaml: "library: l.so\noptions: [1, 2]", message: "options must be a mapping"),
        Invalid(yaml: "library: l.so\nenvironment: { 1BAD: x }", message: "environment.1BAD is not a valid environment variable name"),
        Invalid(
            yaml: "library: l.so\nrequest_options: { x: { type: colour } }",
            message: "request_options.x.type must be bool, integer, number or string, got 'colour'"),
        Invalid(
            yaml: "library: l.so\nrequest_options: { x: { type: integer, min: 5, max: 1 } }", message: "request_options.x.min must not be greater than max"),
        Invalid(yaml: "library: l.so\nqueue: { max_depth: -1 }", message: "queue.max_depth must be between 0 and 1000000, got -1"),
        Invalid(
            yaml: "library: l.so\nlibrary: other.so",
            message: "functions/fn/function.yaml:1: is not valid YAML: 'library' appears more than once in a mapping"),
        Invalid(yaml: "library: [l.so", message: "functions/fn/function.yaml:2: is not valid YAML: while parsing a flow sequence: did not find expected ','"),
        Invalid(yaml: "library: l.so\nenabled: perhaps", message: "enabled must be true or false, got 'perhaps'"),
    ]

    @Test(arguments: invalid)
    func invalidManifestsNameFileKeyAndReason(_ case: Invalid) {
        let error = #expect(throws: ConfigError.self) { try decode(`case`.yaml) }
        #expect(error?.description.contains(`case`.message) == true, "got: \(String(describing: error))")
    }

    @Test func anInvalidOverrideNamesTheEnvironmentVariable() {
        let error = #expect(throws: ConfigError.self) {
            try decode("library: l.so", environment: ["DESCRIBER_FUNCTIONS__FN__SCALING__MAX_INSTANCES": "lots"])
        }
        #expect(
            error?.description
                == "environment variable DESCRIBER_FUNCTIONS__FN__SCALING__MAX_INSTANCES: scaling.max_instances must be a whole number, got 'lots'")
    }

    @Test func hostConfigReadsServerSettingsAndRejectsUnknownKeys() throws {
        let node = try ConfigNode.parseYAML("server:\n  port: 9001\n  max_body_size: 1MB\nfunctions_directory: fns", source: "/etc/describer.yaml")
            .overlaid(by: ConfigNode.environmentOverlay(["DESCRIBER_SERVER__HOST": "0.0.0.0"]))
        let config = try HostConfig(node: node, baseDirectory: "/etc")
        #expect(config.port == 9001 && config.host == "0.0.0.0" && config.maxBodySize == 1_000_000)
        #expect(config.functionsDirectory == "/etc/fns", "relative to the config file")
        #expect(config.connections == ConnectionLimits(), "the defaults")
        let limits = try HostConfig(
            node: ConfigNode.parseYAML(
                "server: { header_timeout: 5s, body_timeout: 1m, body_min_rate: 1KiB, idle_timeout: 2m, max_connections: 64 }", source: "describer.yaml"),
            baseDirectory: nil)
        #expect(
            limits.connections
                == ConnectionLimits(
                    headerTimeout: .seconds(5), bodyTimeout: .seconds(60), bodyMinimumRate: 1024, idleTimeout: .seconds(120), maxConnections: 64))
        let bad = try ConfigNode.parseYAML("server:\n  prot: 9001", source: "describer.yaml")
        let error = #expect(throws: ConfigError.self) { try HostConfig(node: bad, baseDirectory: nil) }
        #expect(
            error?.description
                == "describer.yaml:2: server.prot is not a known key (expected one of: host, port, max_body_size, shutdown_grace, api_token, header_timeout, body_timeout, body_min_rate, idle_timeout, max_connections)"
        )
    }

    @Test func theAPITokenComesFromTheFileOrTheEnvironmentAndMustNotBeShort() throws {
        let file = try ConfigNode.parseYAML("server:\n  api_token: from-the-file-0123456789", source: "describer.yaml")
        #expect(try HostConfig(node: file, baseDirectory: nil).apiToken == "from-the-file-0123456789")
        let environment = file.overlaid(by: ConfigNode.environmentOverlay(["DESCRIBER_SERVER__API_TOKEN": "from-the-environment-0123"]))
        #expect(try HostConfig(node: environment, baseDirectory: nil).apiToken == "from-the-environment-0123")
        // Empty switches it off, so a deployment can drop the file's token.
        let off = file.overlaid(by: ConfigNode.environmentOverlay(["DESCRIBER_SERVER__API_TOKEN": ""]))
        #expect(try HostConfig(node: off, baseDirectory: nil).apiToken == nil)
        #expect(try HostConfig(node: ConfigNode.parseYAML("server: {}", source: "describer.yaml"), baseDirectory: nil).apiToken == nil)
        let short = try ConfigNode.parseYAML("server:\n  api_token: secret", source: "describer.yaml")
        let error = #expect(throws: ConfigError.self) { try HostConfig(node: short, baseDirectory: nil) }
        #expect(error?.description.hasPrefix("describer.yaml:2: server.api_token must be at least 16 characters") == true, "\(String(describing: error))")
    }

    @Test func overridesForAFunctionThatDoesNotExistAreRefused() throws {
        let error = #expect(throws: ConfigError.self) {
            try TestSupport.host(["fn": "library: l.so"], config: "functions:\n  nope:\n    scaling: { max_instances: 2 }")
        }
        #expect(error?.description.contains("functions.nope overrides a function that does not exist") == true)
        #expect(error?.description.contains("(found: fn)") == true)
    }

    @Test func anInvalidManifestMakesOnlyThatFunctionUnavailable() async throws {
        let host = try TestSupport.host([
            "bad": "library: l.so\nscaling: { max_instances: zero }",
            "good": TestSupport.manifest(library: try TestSupport.library("good")),
        ])
        #expect(host.entries["bad"]?.problem?.hasSuffix("function.yaml:2: scaling.max_instances must be a whole number, got 'zero'") == true)
        await host.start()
        #expect(await host.result("good", TestSupport.request()).success != nil)
        #expect(await host.result("bad", TestSupport.request()).failure?.code == .unavailable)
        await host.shutdown()
    }

    @Test(arguments: [
        ("250ms", Duration.milliseconds(250)), ("5s", .seconds(5)), ("1.5s", .milliseconds(1500)), ("2m", .seconds(120)),
        ("100us", .microseconds(100)), ("0", .zero),
    ])
    func parsesDurations(_ text: String, _ expected: Duration) {
        #expect(ConfigMapping.parseDuration(text) == expected)
    }

    @Test func matchesMediaTypes() {
        #expect(MediaType.matches("image/jpeg", patterns: ["image/*"]))
        #expect(MediaType.matches("Text/Plain; charset=utf-8", patterns: ["text/plain"]))
        #expect(!MediaType.matches("text/plain", patterns: ["image/*", "application/json"]))
        #expect(MediaType.matches("anything/else", patterns: ["*/*"]))
    }
}
