// swift-tools-version:6.0
import PackageDescription
import class Foundation.ProcessInfo

// One list of settings for every target (as swift-log and hummingbird do).
let swiftSettings: [SwiftSetting] = [
    .enableUpcomingFeature("ExistentialAny"),
    .enableUpcomingFeature("MemberImportVisibility"),
    .enableUpcomingFeature("InternalImportsByDefault"),
]

let package = Package(
    name: "connector-host",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "connector-hostd", targets: ["connector-hostd"]),
        .executable(name: "hostctl", targets: ["hostctl"]),
        .executable(name: "connector-sample", targets: ["connector-sample"]),
        .executable(name: "connector-odoo", targets: ["connector-odoo"]),
        .executable(name: "connector-stripe", targets: ["connector-stripe"]),
        .executable(name: "connector-hubspot", targets: ["connector-hubspot"]),
        .executable(name: "connector-chargebee", targets: ["connector-chargebee"]),
        .executable(name: "connector-salesforce", targets: ["connector-salesforce"]),
        .executable(name: "connector-airbyte", targets: ["connector-airbyte"]),
        .library(name: "ConnectorKit", targets: ["ConnectorKit"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-nio-extras", from: "1.35.2"),
        .package(url: "https://github.com/apple/swift-crypto", "3.12.3"..<"5.0.0"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
        .package(url: "https://github.com/LebJe/TOMLKit", from: "0.6.0"),
        .package(url: "https://github.com/groue/GRDB.swift", from: "7.10.0"),
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.1"),
        .package(url: "https://github.com/apple/swift-metrics", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
        .package(url: "https://github.com/vapor/postgres-nio", from: "1.33.2"),
        .package(url: "https://github.com/apple/swift-nio-ssl", from: "2.37.6"),
    ],
    targets: [
        // MARK: Protocol — the wire format; imports nothing of ours.
        .target(
            name: "ConnectorProtocol",
            path: "Protocol/ConnectorProtocol",
            swiftSettings: swiftSettings
        ),
        // libcurl, for ConnectorKit's HTTP client (a thin binding of our own).
        .systemLibrary(
            name: "CCurl",
            path: "Protocol/CCurl",
            pkgConfig: "libcurl",
            providers: [.apt(["libcurl4-openssl-dev"])]
        ),
        // The plugin SDK: every connector executable links this and never the host.
        .target(
            name: "ConnectorKit",
            dependencies: [
                "ConnectorProtocol",
                "CCurl",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "_CryptoExtras", package: "swift-crypto"),
            ],
            path: "Protocol/ConnectorKit",
            swiftSettings: swiftSettings
        ),

        // MARK: Host
        .systemLibrary(
            name: "CSystemd",
            path: "Host/CSystemd",
            pkgConfig: "libsystemd",
            providers: [.apt(["libsystemd-dev"])]
        ),
        .target(
            name: "CHostSupport",
            path: "Host/CHostSupport"
        ),
        // The admin socket's typed API and client, shared by hostctl, the daemon and the tests.
        .target(
            name: "HostAdmin",
            dependencies: ["ConnectorProtocol"],
            path: "Host/HostAdmin",
            swiftSettings: swiftSettings
        ),
        .target(
            name: "HostCore",
            dependencies: [
                "ConnectorProtocol",
                "HostAdmin",
                "CSystemd",
                "CHostSupport",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
                .product(name: "TOMLKit", package: "TOMLKit"),
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "GRDBSQLite", package: "GRDB.swift"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdCore", package: "hummingbird"),
                .product(name: "NIOHTTPTypes", package: "swift-nio-extras"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
            ],
            path: "Host/HostCore",
            swiftSettings: swiftSettings
        ),
        .executableTarget(
            name: "connector-hostd",
            dependencies: [
                "HostAdmin",
                "HostCore",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            path: "Host/connector-hostd",
            swiftSettings: swiftSettings
        ),
        .executableTarget(
            name: "hostctl",
            dependencies: [
                "HostAdmin",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            path: "Host/hostctl",
            swiftSettings: swiftSettings
        ),

        // MARK: Plugins — connector executables (not SwiftPM package plugins).
        .executableTarget(
            name: "connector-sample",
            dependencies: ["ConnectorKit", .product(name: "Crypto", package: "swift-crypto")],
            path: "Plugins/Sample",
            swiftSettings: swiftSettings
        ),

        .target(
            name: "OdooKit",
            dependencies: ["ConnectorKit", "ConnectorProtocol", .product(name: "Crypto", package: "swift-crypto"), .product(name: "Logging", package: "swift-log")],
            path: "Plugins/Odoo/OdooKit",
            swiftSettings: swiftSettings
        ),
        .target(
            name: "StripeKit",
            dependencies: ["ConnectorKit", "ConnectorProtocol"],
            path: "Plugins/Stripe/StripeKit",
            swiftSettings: swiftSettings
        ),
        .executableTarget(
            name: "connector-stripe",
            dependencies: ["StripeKit", "ConnectorKit", "ConnectorProtocol", .product(name: "Logging", package: "swift-log")],
            path: "Plugins/Stripe/Connector",
            swiftSettings: swiftSettings
        ),
        .target(
            name: "HubSpotKit",
            dependencies: ["ConnectorKit", "ConnectorProtocol"],
            path: "Plugins/HubSpot/HubSpotKit",
            swiftSettings: swiftSettings
        ),
        .executableTarget(
            name: "connector-hubspot",
            dependencies: ["HubSpotKit", "ConnectorKit", "ConnectorProtocol", .product(name: "Logging", package: "swift-log")],
            path: "Plugins/HubSpot/Connector",
            swiftSettings: swiftSettings
        ),
        .target(
            name: "ChargebeeKit",
            dependencies: ["ConnectorKit", "ConnectorProtocol", .product(name: "Crypto", package: "swift-crypto")],
            path: "Plugins/Chargebee/ChargebeeKit",
            swiftSettings: swiftSettings
        ),
        .executableTarget(
            name: "connector-chargebee",
            dependencies: ["ChargebeeKit", "ConnectorKit", "ConnectorProtocol", .product(name: "Logging", package: "swift-log")],
            path: "Plugins/Chargebee/Connector",
            swiftSettings: swiftSettings
        ),
        .target(
            name: "SalesforceKit",
            dependencies: ["ConnectorKit", "ConnectorProtocol", .product(name: "Crypto", package: "swift-crypto"), .product(name: "Logging", package: "swift-log")],
            path: "Plugins/Salesforce/SalesforceKit",
            swiftSettings: swiftSettings
        ),
        .executableTarget(
            name: "connector-salesforce",
            dependencies: ["SalesforceKit", "ConnectorKit", "ConnectorProtocol", .product(name: "Logging", package: "swift-log")],
            path: "Plugins/Salesforce/Connector",
            swiftSettings: swiftSettings
        ),
        .target(
            name: "AirbyteKit",
            dependencies: ["ConnectorKit", "ConnectorProtocol", .product(name: "Crypto", package: "swift-crypto"), .product(name: "Logging", package: "swift-log")],
            path: "Plugins/Airbyte/AirbyteKit",
            swiftSettings: swiftSettings
        ),
        .executableTarget(
            name: "connector-airbyte",
            dependencies: ["AirbyteKit", "ConnectorKit", "ConnectorProtocol", .product(name: "Logging", package: "swift-log")],
            path: "Plugins/Airbyte/Connector",
            swiftSettings: swiftSettings
        ),
        .executableTarget(
            name: "connector-odoo",
            dependencies: ["OdooKit", "ConnectorKit", "ConnectorProtocol", .product(name: "Logging", package: "swift-log")],
            path: "Plugins/Odoo/Connector",
            swiftSettings: swiftSettings
        ),

        // MARK: Tests
        .testTarget(
            name: "ConnectorKitTests",
            dependencies: ["ConnectorKit", "ConnectorProtocol"],
            path: "Tests/ConnectorKitTests",
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "OdooTests",
            dependencies: ["OdooKit", "ConnectorKit", "ConnectorProtocol"],
            path: "Tests/OdooTests",
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "HubSpotTests",
            dependencies: ["HubSpotKit", "ConnectorKit", "ConnectorProtocol"],
            path: "Tests/HubSpotTests",
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "AirbyteTests",
            dependencies: ["AirbyteKit", "ConnectorKit", "ConnectorProtocol", .product(name: "Logging", package: "swift-log")],
            path: "Tests/AirbyteTests",
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "ChargebeeTests",
            dependencies: ["ChargebeeKit", "ConnectorKit", "ConnectorProtocol"],
            path: "Tests/ChargebeeTests",
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "SalesforceTests",
            dependencies: ["SalesforceKit", "ConnectorKit", "ConnectorProtocol", .product(name: "Logging", package: "swift-log")],
            path: "Tests/SalesforceTests",
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "StripeTests",
            dependencies: ["StripeKit", "ConnectorKit", "ConnectorProtocol"],
            path: "Tests/StripeTests",
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "ConnectorProtocolTests",
            dependencies: ["ConnectorProtocol"],
            path: "Tests/ConnectorProtocolTests",
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "HostCoreTests",
            dependencies: [
                "HostCore",
                "HostAdmin",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "PostgresNIO", package: "postgres-nio"),
            ],
            path: "Tests/HostCoreTests",
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "EndToEndTests",
            dependencies: [
                "HostAdmin", "ConnectorProtocol", "ConnectorKit", "OdooKit",
                .product(name: "Crypto", package: "swift-crypto"), .product(name: "_CryptoExtras", package: "swift-crypto"),
                .product(name: "Logging", package: "swift-log"),
            ],
            path: "Tests/EndToEndTests",
            swiftSettings: swiftSettings
        ),
    ]
)

// MARK: Benchmarks: built only when asked for (`CONNECTOR_HOST_BENCHMARKS=1`, as scripts/bench and
// scripts/bench-protocol do), so that `swift build` and the tests build nothing of them.
if ProcessInfo.processInfo.environment["CONNECTOR_HOST_BENCHMARKS"] == "1" {
    package.targets += [
        .executableTarget(
            name: "protocol-bench",
            dependencies: [
                "HostCore",
                "ConnectorProtocol",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
            ],
            path: "Tests/Benchmarks/ProtocolBench",
            swiftSettings: swiftSettings
        ),
        .executableTarget(
            name: "pipeline-bench",
            dependencies: [
                "HostCore",
                "ConnectorProtocol",
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "PostgresNIO", package: "postgres-nio"),
            ],
            path: "Tests/Benchmarks/PipelineBench",
            swiftSettings: swiftSettings
        ),
    ]
}
