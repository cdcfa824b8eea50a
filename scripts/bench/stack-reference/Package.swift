// swift-tools-version:6.0
// Reference servers for scripts/bench/stack: the credits answer as a
// constant from a bare Hummingbird app and from a bare NIO channel handler,
// to show what this machine allows each layer of the simulator's stack.
import PackageDescription

let package = Package(
    name: "stack-reference",
    platforms: [.macOS(.v14)],
    dependencies: [
        .package(url: "https://github.com/hummingbird-project/hummingbird.git", from: "2.28.1"),
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
    ],
    targets: [
        .executableTarget(
            name: "stack-reference",
            dependencies: [
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
            ]
        )
    ]
)
