// swift-tools-version: 6.0
import PackageDescription

let package = Package(
    name: "nemosim",
    platforms: [.macOS(.v14)],
    products: [
        .library(name: "NemoCore", targets: ["NemoCore"]),
        .library(name: "ServerSentEvents", targets: ["ServerSentEvents"]),
        .executable(name: "nemosim", targets: ["nemosim"]),
        .executable(name: "sse-bench", targets: ["sse-bench"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
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
        .target(name: "ServerSentEvents"),
        .target(name: "NemoCore", dependencies: ["ServerSentEvents"]),
        .executableTarget(
            name: "nemosim",
            dependencies: [
                "NemoCore", "ServerSentEvents", "CCurl", "CLibXML2",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),
        .executableTarget(name: "sse-bench", dependencies: ["ServerSentEvents", "NemoCore"]),
        .testTarget(name: "ServerSentEventsTests", dependencies: ["ServerSentEvents"]),
        .testTarget(name: "NemoCoreTests", dependencies: ["NemoCore", "ServerSentEvents"]),
        .testTarget(name: "CLibrariesTests", dependencies: ["CCurl", "CLibXML2"]),
    ],
    swiftLanguageModes: [.v6]
)
