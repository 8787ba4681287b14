// swift-tools-version:6.1
import PackageDescription

let swiftSettings: [SwiftSetting] = [
    .enableUpcomingFeature("ExistentialAny"),
    .enableUpcomingFeature("MemberImportVisibility"),
]

let package = Package(
    name: "describer",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "describer", targets: ["describer"]),
        .executable(name: "speak-this-image", targets: ["speak-this-image"]),
        // The function host, for embedders and for testing plugins against it.
        .library(name: "DescriberHost", targets: ["DescriberHost"]),
        .library(name: "DescriberConfiguration", targets: ["DescriberConfiguration"]),
        .library(name: "DescriberImaging", targets: ["DescriberImaging"]),
        .library(name: "Describing", targets: ["Describing"]),
        // The C ABI header, for functions built outside this package.
        .library(name: "CDescriberFunction", targets: ["CDescriberFunction"]),
        .library(name: "DescriberHTTP", targets: ["DescriberHTTP"]),
        .library(name: "DescriberServer", targets: ["DescriberServer"]),
        .library(name: "DescriberTesting", targets: ["DescriberTesting"]),
    ],
    dependencies: [
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.1"),
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-http-types", from: "1.8.0"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-nio-extras", from: "1.35.2"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
        .package(url: "https://github.com/jpsim/Yams", from: "6.2.2"),
        .package(url: "https://github.com/vapor/multipart-kit", from: "4.7.1"),
        .package(url: "https://github.com/groue/GRDB.swift", from: "7.10.0"),
        .package(url: "https://github.com/apple/swift-crypto", from: "4.5.2"),
        .package(url: "https://github.com/swift-server/async-http-client", from: "1.37.0"),
    ],
    targets: [
        // Configuration: the YAML and environment layer, its errors with file
        // and line, JSON values, duration and size parsers.
        .target(
            name: "DescriberConfiguration",
            dependencies: [
                "CLibUV",
                .product(name: "Yams", package: "Yams"),
            ],
            swiftSettings: swiftSettings
        ),
        // Imaging: JPEG and PNG decoding with limits and typed errors.
        .target(
            name: "DescriberImaging",
            dependencies: [
                "CImageDecode",
                .product(name: "NIOCore", package: "swift-nio"),
            ],
            swiftSettings: swiftSettings
        ),
        // The function host: the C ABI, scheduling, worker processes,
        // lifecycle, function configuration and metrics. No HTTP, no storage.
        .target(
            name: "DescriberHost",
            dependencies: [
                "DescriberConfiguration", "DescriberImaging",
                "CCrashGuard", "CDescriberFunction", "CDescriberWorkerProtocol", "CLibUV",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Prometheus", package: "swift-prometheus"),
            ],
            swiftSettings: swiftSettings
        ),
        // HTTP for functions: the invoke fast path, the function routes, API
        // errors, the token middleware and form data, which the applications' routes share.
        .target(
            name: "DescriberHTTP",
            dependencies: [
                "DescriberHost", "DescriberConfiguration", "DescriberImaging",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdCore", package: "hummingbird"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOHTTPTypes", package: "swift-nio-extras"),
                .product(name: "NIOHTTPTypesHTTP1", package: "swift-nio-extras"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "MultipartKit", package: "multipart-kit"),
                .product(name: "Crypto", package: "swift-crypto"),
            ],
            swiftSettings: swiftSettings
        ),
        // Describing photos and speaking: the describer over detect, caption
        // and ocr, voice profiles, and the evaluation. No HTTP.
        .target(
            name: "Describing",
            dependencies: [
                "DescriberHost", "DescriberConfiguration", "DescriberImaging",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
            ],
            swiftSettings: swiftSettings
        ),
        // Cameras: the webhook, durable events, incidents, alerts and their
        // signed deliveries.
        .target(
            name: "Cameras",
            dependencies: [
                "DescriberHTTP", "DescriberHost", "DescriberConfiguration", "DescriberImaging", "Describing", "Assist",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
            ],
            exclude: ["Events/SECURITY-EVENTS.md"],
            swiftSettings: swiftSettings
        ),
        // Asking a person: the review queue, helpers, answers kept as data.
        .target(
            name: "Assist",
            dependencies: [
                "DescriberHTTP", "DescriberHost", "DescriberConfiguration", "DescriberImaging", "Describing",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Prometheus", package: "swift-prometheus"),
            ],
            swiftSettings: swiftSettings
        ),
        // The DeepStack / CodeProject.AI detection API.
        .target(
            name: "DeepStack",
            dependencies: [
                "DescriberHTTP", "DescriberHost", "DescriberConfiguration", "DescriberImaging",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "Crypto", package: "swift-crypto"),
            ],
            swiftSettings: swiftSettings
        ),
        // The server: the deployment's configuration and the application
        // factory that composes every application's routes and services.
        .target(
            name: "DescriberServer",
            dependencies: [
                "DescriberHTTP", "DescriberHost", "DescriberConfiguration", "DescriberImaging", "Describing", "Cameras", "DeepStack", "Assist",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            // Embedded rather than copied beside the binary: the server serves the
            // document of the code it runs, and the web app's files, wherever
            // the executable is installed, with no bundle beside it.
            resources: [
                .embedInCode("OpenAPI/openapi.yaml"),
                .embedInCode("WebApp/Static/index.html"),
                .embedInCode("WebApp/Static/app.css"),
                .embedInCode("WebApp/Static/app.js"),
                .embedInCode("WebApp/Static/common.js"),
                .embedInCode("WebApp/Static/review.html"),
                .embedInCode("WebApp/Static/review.js"),
                .embedInCode("WebApp/Static/icon.svg"),
                .embedInCode("WebApp/Static/manifest.webmanifest"),
            ],
            swiftSettings: swiftSettings
        ),
        .target(name: "CDescriberFunction"),
        // The signal handler that remembers which in-process function crashed
        // the host. C, because a signal handler may only do async-signal-safe work.
        .target(name: "CCrashGuard"),
        // The framed protocol between the host and describer-worker: constants shared by both sides.
        .target(name: "CDescriberWorkerProtocol"),
        // The worker process of the `isolation: process` tier. C with libuv, so it
        // starts in a millisecond or two; the only Swift in it is the shared
        // runtime SwiftPM links every executable against, which a Swift
        // function loaded into it shares.
        .executableTarget(
            name: "describer-worker",
            dependencies: [
                "CDescriberFunction", "CDescriberWorkerProtocol",
            ], linkerSettings: [.linkedLibrary("uv"), .linkedLibrary("pthread")]),
        // JPEG and PNG decoding. C, not Swift, because libjpeg and libpng report
        // errors with setjmp/longjmp, which must never cross Swift frames.
        // Debian: libjpeg-dev (libjpeg-turbo) and libpng-dev.
        .target(
            name: "CImageDecode",
            linkerSettings: [
                .linkedLibrary("jpeg"), .linkedLibrary("png16"),
            ]),
        .systemLibrary(name: "CLibUV", pkgConfig: "libuv", providers: [.apt(["libuv1-dev"])]),
        .executableTarget(
            name: "describer",
            dependencies: [
                "DescriberServer", "DescriberHTTP", "DescriberHost", "DescriberConfiguration", "Describing", "Cameras", "DeepStack", "Assist",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
            ],
            swiftSettings: swiftSettings
        ),
        .executableTarget(
            name: "speak-this-image",
            dependencies: [
                "Describing", "DescriberHost", "DescriberConfiguration", "DescriberImaging",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
            ],
            swiftSettings: swiftSettings
        ),
        // A function's author tests a plugin against the host alone with
        // this: building C functions, hosts with in-memory configuration,
        // and a harness that loads a library and feeds it requests.
        .target(
            name: "DescriberTesting",
            dependencies: [
                "DescriberHost", "DescriberConfiguration",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
            ],
            swiftSettings: swiftSettings
        ),

        // The suites' own helpers: this repository's fixtures over
        // DescriberTesting, and (for the suites above the core) the
        // deployment, the bundled functions and the built executables.
        .target(
            name: "TestSupport",
            dependencies: [
                "DescriberTesting", "DescriberHost", "DescriberConfiguration",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
            ],
            path: "Tests/TestSupport",
            swiftSettings: swiftSettings
        ),
        .target(
            name: "ServerTestSupport",
            dependencies: [
                "TestSupport", "DescriberTesting", "DescriberServer", "DescriberHTTP", "DescriberHost", "DescriberConfiguration", "Cameras",
                .product(name: "HummingbirdTesting", package: "hummingbird"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "NIOCore", package: "swift-nio"),
            ],
            path: "Tests/ServerTestSupport",
            swiftSettings: swiftSettings
        ),

        // The core alone, on test functions compiled from Tests/Fixtures: no
        // HTTP, no models, no executables; it runs in seconds.
        .testTarget(
            name: "DescriberHostTests",
            dependencies: [
                "TestSupport", "DescriberTesting", "DescriberHost", "DescriberConfiguration", "DescriberImaging",
                .product(name: "NIOCore", package: "swift-nio"),
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "DescriberHTTPTests",
            dependencies: [
                "TestSupport", "ServerTestSupport", "DescriberHTTP", "DescriberServer", "DescriberHost", "DescriberConfiguration", "DescriberImaging",
                .product(name: "Yams", package: "Yams"),
                .product(name: "HummingbirdTesting", package: "hummingbird"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "CamerasTests",
            dependencies: [
                "TestSupport", "ServerTestSupport", "Cameras", "Assist", "DescriberServer", "DescriberHost", "DescriberConfiguration",
                .product(name: "HummingbirdTesting", package: "hummingbird"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "AssistTests",
            dependencies: [
                "TestSupport", "ServerTestSupport", "DescriberTesting", "Assist", "DescriberServer", "DescriberHost", "DescriberConfiguration",
                "Describing",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "HummingbirdTesting", package: "hummingbird"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "NIOCore", package: "swift-nio"),
            ],
            swiftSettings: swiftSettings
        ),
        // The bundled functions on their real models and engines (installed
        // by `make -C functions`), and the applications built on them.
        .testTarget(
            name: "FunctionTests",
            dependencies: [
                "TestSupport", "ServerTestSupport", "Describing", "Cameras", "DeepStack", "DescriberServer", "DescriberHTTP", "DescriberHost",
                "DescriberConfiguration", "DescriberImaging",
                .product(name: "HummingbirdTesting", package: "hummingbird"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: swiftSettings
        ),
        // The built executables, and the third-party clients, run as users run them.
        .testTarget(
            name: "EndToEndTests",
            dependencies: [
                "TestSupport", "ServerTestSupport", "DescriberTesting", "Describing", "Cameras", "Assist", "DescriberServer", "DescriberHost",
                "DescriberConfiguration",
                "describer", "speak-this-image",
                .product(name: "HummingbirdTesting", package: "hummingbird"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
            ],
            swiftSettings: swiftSettings
        ),
    ]
)

// The fuzzers (Tests/Fuzzing/README.md), only in the sanitized build that
// scripts/fuzz makes with DESCRIBER_FUZZ=1: they need libFuzzer, which the
// normal build does not link, and leaving them out costs that build nothing.
if Context.environment["DESCRIBER_FUZZ"] == "1" {
    package.targets += [
        .target(
            name: "CDescriberFuzz",
            dependencies: ["CDescriberFunction", "CDescriberWorkerProtocol"],
            path: "Tests/Fuzzing/CDescriberFuzz"
        ),
        .executableTarget(
            name: "describer-fuzz",
            dependencies: [
                "CDescriberFuzz", "CDescriberFunction", "CImageDecode", "DescriberImaging", "DescriberHost", "DescriberHTTP", "Cameras",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
            ],
            path: "Tests/Fuzzing/describer-fuzz",
            swiftSettings: swiftSettings
        ),
    ]
}
