// swift-tools-version:6.1
// The benchmarks, a package of their own so that building Describer builds
// only the product. Run from the repository root: see BENCHMARKS.md.
import PackageDescription

let package = Package(
    name: "describer-benchmarks",
    platforms: [.macOS(.v15)],
    dependencies: [
        .package(name: "describer", path: ".."),
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.1"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
    ],
    targets: [
        .executableTarget(
            name: "describer-bench",
            dependencies: [
                "CJPEGBaseline",
                .product(name: "CDescriberFunction", package: "describer"),
                .product(name: "DescriberConfiguration", package: "describer"),
                .product(name: "DescriberHost", package: "describer"),
                .product(name: "DescriberImaging", package: "describer"),
                .product(name: "Describing", package: "describer"),
                .product(name: "DescriberHTTP", package: "describer"),
                .product(name: "DescriberServer", package: "describer"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
            ],
            path: "describer-bench",
            swiftSettings: [.enableUpcomingFeature("ExistentialAny"), .enableUpcomingFeature("MemberImportVisibility")]
        ),
        // The decode benchmark's baseline: libjpeg's bare decode loop.
        .target(name: "CJPEGBaseline", path: "CJPEGBaseline", linkerSettings: [.linkedLibrary("jpeg")]),
    ]
)
