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
        .library(name: "DescriberHost", targets: ["DescriberHost"]),
    ],
    dependencies: [
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.1"),
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-http-types", from: "1.8.0"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-metrics", from: "2.13.0"),
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
        .target(name: "DescriberHost", dependencies: [
            "CCrashGuard", "CDescriberFunction", "CDescriberWorkerProtocol", "CImageDecode", "CLibUV",
            .product(name: "Hummingbird", package: "hummingbird"),
            .product(name: "HummingbirdCore", package: "hummingbird"),
            .product(name: "HTTPTypes", package: "swift-http-types"),
            .product(name: "Logging", package: "swift-log"),
            .product(name: "Metrics", package: "swift-metrics"),
            .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOPosix", package: "swift-nio"),
            .product(name: "NIOHTTPTypes", package: "swift-nio-extras"),
            .product(name: "Prometheus", package: "swift-prometheus"),
            .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            .product(name: "Yams", package: "Yams"),
            .product(name: "MultipartKit", package: "multipart-kit"),
            .product(name: "GRDB", package: "GRDB.swift"),
            .product(name: "Crypto", package: "swift-crypto"),
            .product(name: "AsyncHTTPClient", package: "async-http-client"),
        ], exclude: ["Cameras/SECURITY-EVENTS.md"], swiftSettings: swiftSettings),
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
        .executableTarget(name: "describer-worker", dependencies: [
            "CDescriberFunction", "CDescriberWorkerProtocol",
        ], linkerSettings: [.linkedLibrary("uv"), .linkedLibrary("pthread")]),
        // JPEG and PNG decoding. C, not Swift, because libjpeg and libpng report
        // errors with setjmp/longjmp, which must never cross Swift frames.
        // Debian: libjpeg-dev (libjpeg-turbo) and libpng-dev.
        .target(name: "CImageDecode", linkerSettings: [
            .linkedLibrary("jpeg"), .linkedLibrary("png16"),
        ]),
        .systemLibrary(name: "CLibUV", pkgConfig: "libuv", providers: [.apt(["libuv1-dev"])]),
        .executableTarget(name: "describer", dependencies: [
            "DescriberHost",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ], swiftSettings: swiftSettings),
        .executableTarget(name: "speak-this-image", dependencies: [
            "DescriberHost",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
            .product(name: "Logging", package: "swift-log"),
            .product(name: "NIOCore", package: "swift-nio"),
        ], swiftSettings: swiftSettings),
        // Benchmarks (see BENCHMARKS.md); no extra dependencies, so users resolve nothing more.
        .executableTarget(name: "describer-bench", dependencies: [
            "DescriberHost", "CDescriberFunction", "CJPEGBaseline", "CLibUV",
            .product(name: "Hummingbird", package: "hummingbird"),
            .product(name: "Logging", package: "swift-log"),
            .product(name: "NIOCore", package: "swift-nio"),
        ], path: "Benchmarks/describer-bench", swiftSettings: swiftSettings),
        // The decode benchmark's baseline: libjpeg's bare decode loop.
        .target(name: "CJPEGBaseline", path: "Benchmarks/CJPEGBaseline", linkerSettings: [.linkedLibrary("jpeg")]),
        .testTarget(name: "DescriberHostTests", dependencies: [
            "DescriberHost",
            // The CLI tests run the built executables.
            "describer", "speak-this-image",
            .product(name: "HummingbirdTesting", package: "hummingbird"),
            .product(name: "HTTPTypes", package: "swift-http-types"),
            .product(name: "Crypto", package: "swift-crypto"),
            .product(name: "GRDB", package: "GRDB.swift"),
            .product(name: "Prometheus", package: "swift-prometheus"),
            .product(name: "Logging", package: "swift-log"),
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOPosix", package: "swift-nio"),
            .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
        ], exclude: ["Fixtures"], swiftSettings: swiftSettings),
    ]
)
