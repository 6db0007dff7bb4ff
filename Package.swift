// swift-tools-version:6.0
// Respite: a maintenance-aware Redis sidecar proxy on libevent.
// Dependencies point down: respite → RespiteProxy → RespiteUpstream → (RespiteCommands, RESP, EventLoop) → CLibevent.
import PackageDescription

// Dynamic exclusivity checks on the buffers' class properties cost tens of nanoseconds per
// access on the data path; the code that touches them is single-threaded per loop.
let hotPath: [SwiftSetting] = [.unsafeFlags(["-enforce-exclusivity=unchecked"])]

let package = Package(
    name: "Respite",
    products: [
        .executable(name: "respite", targets: ["respite"]),
        .executable(name: "respite-maintsim", targets: ["respite-maintsim"]),
        .executable(name: "respite-load", targets: ["respite-load"]),
    ],
    dependencies: [
        .package(url: "https://github.com/HdrHistogram/hdrhistogram-swift", exact: "0.2.0"),
    ],
    targets: [
        .systemLibrary(name: "CLibevent", pkgConfig: "libevent_pthreads", providers: [.apt(["libevent-dev"])]),
        .target(name: "EventLoop", dependencies: ["CLibevent"], swiftSettings: hotPath),
        .target(name: "RESP", swiftSettings: hotPath),
        .target(name: "RespiteCommands", dependencies: ["RESP"], swiftSettings: hotPath),
        .target(name: "RespiteConfig"),
        .target(name: "Observability"),
        .target(name: "RespiteMaintenance", dependencies: ["RESP"], swiftSettings: hotPath),
        .target(name: "RespiteUpstream", dependencies: ["RESP", "RespiteCommands", "RespiteMaintenance", "Observability", "EventLoop"], swiftSettings: hotPath),
        .target(name: "RespiteProxy", dependencies: ["RESP", "RespiteCommands", "RespiteConfig", "RespiteMaintenance", "RespiteUpstream", "Observability", "EventLoop"], swiftSettings: hotPath),
        .executableTarget(name: "respite", dependencies: ["RespiteProxy", "RespiteUpstream", "RespiteMaintenance", "Observability", "RespiteCommands", "RespiteConfig", "RESP", "EventLoop"]),
        .target(name: "MaintenanceSimulator", dependencies: ["EventLoop", "RESP", "Observability"], swiftSettings: hotPath),
        .executableTarget(name: "respite-maintsim", dependencies: ["MaintenanceSimulator", "EventLoop"]),
        .target(name: "RespiteLoad", dependencies: ["EventLoop", "RESP", "Observability", .product(name: "Histogram", package: "hdrhistogram-swift")], swiftSettings: hotPath),
        .executableTarget(name: "respite-load", dependencies: ["RespiteLoad"]),
        .target(name: "RespiteTestSupport", dependencies: ["RESP"], path: "Tests/Support"),
        .testTarget(name: "RESPTests", dependencies: ["RESP"]),
        .testTarget(name: "RespiteCommandsTests", dependencies: ["RespiteCommands", "RESP", "RespiteTestSupport"], exclude: ["Fixtures"]),
        .testTarget(name: "RespiteConfigTests", dependencies: ["RespiteConfig"]),
        .testTarget(name: "ObservabilityTests", dependencies: ["Observability"]),
        .testTarget(name: "RespiteMaintenanceTests", dependencies: ["RespiteMaintenance", "RESP"]),
        .testTarget(name: "RespiteProxyTests", dependencies: ["RespiteProxy", "RespiteCommands", "RESP", "EventLoop"]),
        .testTarget(name: "MaintenanceSimulatorTests", dependencies: ["MaintenanceSimulator", "EventLoop", "RESP"]),
        .testTarget(name: "RespiteUpstreamTests", dependencies: ["RespiteUpstream", "EventLoop", "RespiteTestSupport"]),
        .testTarget(name: "RespiteLoadTests", dependencies: ["RespiteLoad", "Observability", "EventLoop", "RESP", "RespiteTestSupport"]),
    ]
)
