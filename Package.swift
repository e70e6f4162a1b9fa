// swift-tools-version:6.2
import PackageDescription

let package = Package(
    name: "Troupe",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "troupe", targets: ["Node"]),
        .executable(name: "troupe-bench", targets: ["Bench"]),
        .executable(name: "troupe-vendor-sim", targets: ["VendorSimulator"]),
        .executable(name: "troupe-payment-sim", targets: ["PaymentSimulator"]),
        .library(name: "ActorRuntime", targets: ["ActorRuntime"]),
        .library(name: "ActorRuntimeTesting", targets: ["ActorRuntimeTesting"]),
        .library(name: "Bridges", targets: ["Bridges"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-metrics.git", from: "2.13.0"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.13.0"),
        .package(url: "https://github.com/apple/swift-collections.git", from: "1.6.0"),
        .package(url: "https://github.com/apple/swift-crypto.git", "3.12.3"..<"5.0.0"),
        // JWT verification for the code pools (HS256/RS256); needs swift-crypto 4.
        .package(url: "https://github.com/vapor/jwt-kit.git", from: "5.7.1"),
        .package(url: "https://github.com/hummingbird-project/hummingbird.git", from: "2.28.1"),
        .package(url: "https://github.com/apple/swift-http-types.git", from: "1.8.0"),
        .package(url: "https://github.com/swift-server/async-http-client.git", from: "1.30.0"),
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.0"),
        .package(url: "https://github.com/hummingbird-project/swift-mustache.git", from: "2.1.1"),
    ],
    targets: [
        // C libraries, found through pkg-config; scripts/services.sh installs their -dev packages.
        .systemLibrary(name: "CRabbitMQ", pkgConfig: "librabbitmq", providers: [.apt(["librabbitmq-dev"])]),
        .systemLibrary(name: "CLibPQ", pkgConfig: "libpq", providers: [.apt(["libpq-dev"])]),
        // libcurl, for email over SMTP (Notification): a kept client instead of hand-written protocol code.
        .systemLibrary(name: "CCurl", pkgConfig: "libcurl", providers: [.apt(["libcurl4-openssl-dev"])]),

        // The actor runtime: no broker, database or HTTP code may be imported here.
        // The running task's identity without retaining it (Dispatcher's check that a task is a worker).
        .target(name: "CTaskIdentity"),
        .target(
            name: "ActorRuntime",
            dependencies: [
                "CTaskIdentity",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "DequeModule", package: "swift-collections"),
            ]
            // No unsafe flags, so that a package can depend on ActorRuntime by version: the message path is
            // @inlinable instead, and a client module specialises it for its behaviours.
        ),
        // Test kit for ActorRuntime users: probes, event expectations, deadlines.
        .target(
            name: "ActorRuntimeTesting",
            dependencies: ["ActorRuntime", .product(name: "Logging", package: "swift-log")]
        ),
        // The gift-card domain: components, their messages, rules and tables (its own migrations).
        .target(
            name: "Domain",
            dependencies: ["ActorRuntime", "Bridges", .product(name: "Crypto", package: "swift-crypto"),
                           .product(name: "Logging", package: "swift-log"), .product(name: "Mustache", package: "swift-mustache"),
                           .product(name: "DequeModule", package: "swift-collections")],
            resources: [.copy("Migrations"), .copy("Notification/Templates")]
        ),
        // Real I/O: AMQP (librabbitmq), PostgreSQL (libpq), SMTP (libcurl).
        .target(
            name: "Bridges",
            dependencies: [
                "ActorRuntime", "CRabbitMQ", "CLibPQ", "CCurl",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "DequeModule", package: "swift-collections"),
            ],
            resources: [.copy("Migrations")]
        ),
        // The `troupe` executable: operator CLI and node launcher.
        .executableTarget(
            name: "Node",
            dependencies: [
                "ActorRuntime", "Domain", "Bridges",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "JWTKit", package: "jwt-kit"),
            ]
        ),
        // `troupe-vendor-sim`: the Bamboo vendor simulated (demo and tests).
        .executableTarget(
            name: "VendorSimulator",
            dependencies: [
                "ActorRuntime",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Hummingbird", package: "hummingbird"),
            ]
        ),
        // `troupe-payment-sim`: a Stripe-shaped payment provider simulated (demo and tests).
        .executableTarget(
            name: "PaymentSimulator",
            dependencies: [
                "ActorRuntime",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "NIOCore", package: "swift-nio"),
            ]
        ),
        // `troupe-bench AREA`: benchmarks with their baselines measured in the same run.
        .executableTarget(
            name: "Bench",
            dependencies: [
                "ActorRuntime", "Bridges", "Domain", "BenchRawLoops", "CLibPQ",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        // The amqp benchmark's baseline: plain C loops over librabbitmq, no Troupe code.
        .target(name: "BenchRawLoops", dependencies: ["CRabbitMQ"], linkerSettings: [.linkedLibrary("rabbitmq")]),

        .testTarget(name: "ActorRuntimeTests", dependencies: ["ActorRuntime", "ActorRuntimeTesting"]),
        .testTarget(name: "DomainTests", dependencies: ["Domain", "Bridges", "ActorRuntimeTesting"]),
        .testTarget(name: "BridgesTests", dependencies: ["Bridges", "ActorRuntimeTesting"]),
        .testTarget(name: "NodeTests", dependencies: ["Node", "Domain", "Bridges", "ActorRuntimeTesting",
                                                      .product(name: "HummingbirdTesting", package: "hummingbird"),
                                                      .product(name: "JWTKit", package: "jwt-kit")]),
    ],
    swiftLanguageModes: [.v6]
)

// Every target: nonisolated async functions run on their caller's executor (Swift 6.2's
// `nonisolated(nonsending)` default), which saves an executor hop on every call of the message path.
for target in package.targets where target.type != .system {
    target.swiftSettings = (target.swiftSettings ?? []) + [.enableUpcomingFeature("NonisolatedNonsendingByDefault")]
}
