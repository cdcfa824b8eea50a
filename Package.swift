// swift-tools-version: 6.0
import PackageDescription
import class Foundation.ProcessInfo

let package = Package(
    name: "nemosim",
    platforms: [.macOS(.v14)],
    products: [
        .library(name: "NemoCore", targets: ["NemoCore"]),
        .library(name: "ServerSentEvents", targets: ["ServerSentEvents"]),
        .library(name: "NemoSimulator", targets: ["NemoSimulator"]),
        .library(name: "NemoClient", targets: ["NemoClient"]),
        .library(name: "NemoRecording", targets: ["NemoRecording"]),
        .library(name: "NemoReports", targets: ["NemoReports"]),
        .library(name: "NemoScenarios", targets: ["NemoScenarios"]),
        .executable(name: "nemosim", targets: ["nemosim"]),
        .executable(name: "sse-bench", targets: ["sse-bench"]),
        .executable(name: "client-bench", targets: ["client-bench"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/hummingbird-project/hummingbird.git", from: "2.28.1"),
        .package(url: "https://github.com/apple/swift-crypto.git", from: "3.12.3"),
        .package(url: "https://github.com/jpsim/Yams.git", from: "6.2.2"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-http-types.git", from: "1.8.0"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.13.0"),
        .package(url: "https://github.com/apple/swift-nio-extras.git", from: "1.35.2"),
    ],
    targets: [
        .systemLibrary(
            name: "CCurl",
            pkgConfig: "libcurl",
            providers: [.apt(["libcurl4-openssl-dev"])]
        ),
        .systemLibrary(
            name: "CLibXML2",
            pkgConfig: "libxml-2.0",
            providers: [.apt(["libxml2-dev"])]
        ),
        .executableTarget(name: "embed-resources", path: "Sources/embed-resources"),
        .plugin(name: "EmbedResources", capability: .buildTool(), dependencies: ["embed-resources"]),
        .target(name: "NemoResources", plugins: ["EmbedResources"]),
        .target(name: "ServerSentEvents"),
        .target(name: "NemoCore", dependencies: ["ServerSentEvents"]),
        .target(
            name: "NemoHTTPServer",
            dependencies: [
                "NemoCore",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "HummingbirdCore", package: "hummingbird"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOHTTPTypes", package: "swift-nio-extras"),
                .product(name: "NIOHTTPTypesHTTP1", package: "swift-nio-extras"),
            ]
        ),
        .target(
            name: "NemoSimulator",
            dependencies: [
                "NemoCore", "ServerSentEvents", "NemoHTTPServer", "NemoResources",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Yams", package: "Yams"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTPTypes", package: "swift-nio-extras"),
            ],
            // In the binary (NemoResources), not in a bundle beside it.
            exclude: ["Resources", "Profiles"]
        ),
        .target(name: "NemoClient", dependencies: ["NemoCore", "ServerSentEvents", "CCurl"]),
        .target(
            name: "NemoRecording",
            dependencies: [
                "NemoClient", "NemoCore", "NemoReports", "ServerSentEvents", "NemoHTTPServer",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
            ]
        ),
        .target(name: "NemoReports", dependencies: ["CLibXML2"]),
        .target(
            name: "NemoScenarios",
            dependencies: [
                "NemoClient", "NemoCore", "NemoReports", "NemoSimulator", "NemoRecording", "NemoResources",
                .product(name: "Yams", package: "Yams"), .product(name: "Crypto", package: "swift-crypto"),
            ]
        ),
        .executableTarget(
            name: "nemosim",
            dependencies: [
                "NemoCore", "ServerSentEvents", "NemoSimulator", "NemoClient", "NemoRecording", "NemoReports", "NemoScenarios", "NemoResources", "CCurl", "CLibXML2",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),
        .executableTarget(name: "sse-bench", dependencies: ["ServerSentEvents", "NemoCore"]),
        .executableTarget(name: "client-bench", dependencies: ["NemoClient", "NemoCore", "NemoRecording"]),
        .testTarget(name: "ServerSentEventsTests", dependencies: ["ServerSentEvents"]),
        .testTarget(name: "NemoCoreTests", dependencies: ["NemoCore", "ServerSentEvents"]),
        .testTarget(name: "CLibrariesTests", dependencies: ["CCurl", "CLibXML2"]),
        .testTarget(name: "NemoClientTests", dependencies: ["NemoClient", "NemoSimulator", "NemoCore", "ServerSentEvents"]),
        .testTarget(name: "NemoRecordingTests", dependencies: ["NemoRecording", "NemoClient", "NemoSimulator", "NemoCore", "ServerSentEvents"]),
        .testTarget(name: "NemoScenariosTests", dependencies: ["NemoScenarios", "NemoReports", "NemoClient", "NemoSimulator", "NemoCore"]),
        .testTarget(name: "NemoReportsTests", dependencies: ["NemoReports", "CLibXML2"]),
        .testTarget(
            name: "NemoSimulatorTests",
            dependencies: [
                "NemoSimulator", "NemoCore", "NemoHTTPServer", "ServerSentEvents", "CCurl",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "NIOEmbedded", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOHTTPTypes", package: "swift-nio-extras"),
                .product(name: "NIOHTTPTypesHTTP1", package: "swift-nio-extras"),
            ]
        ),
    ],
    swiftLanguageModes: [.v6]
)

// Fuzz targets (`scripts/fuzz`): static libraries built only when
// NEMOSIM_FUZZ=1, in their own scratch path with the fuzzer sanitizer, and
// linked by swiftc with libFuzzer's main. A normal build never sees them.
if ProcessInfo.processInfo.environment["NEMOSIM_FUZZ"] == "1" {
    let fuzzTargets: [(String, [Target.Dependency])] = [
        ("FuzzEventStream", ["ServerSentEvents"]), ("FuzzMultipart", ["NemoSimulator"]), ("FuzzHAR", ["NemoRecording"]),
        ("FuzzScenario", ["NemoScenarios"]), ("FuzzProfile", ["NemoSimulator"]),
    ]
    for (name, dependencies) in fuzzTargets {
        package.targets.append(.target(name: name, dependencies: dependencies, path: "Fuzz/\(name)"))
        package.products.append(.library(name: name, type: .static, targets: [name]))
    }
}
