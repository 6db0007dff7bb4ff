// swift-tools-version:6.0
// Respite: a maintenance-aware Redis sidecar proxy on libevent.
// Dependencies point down: respite → RespiteProxy → RespiteUpstream → (RespiteCommands, RESP, EventLoop) → CLibevent.
import PackageDescription


let package = Package(
    name: "Respite",
    products: [
        .executable(name: "respite", targets: ["respite"]),
    ],
    targets: [
        .systemLibrary(name: "CLibevent", pkgConfig: "libevent_pthreads", providers: [.apt(["libevent-dev"])]),
        .target(name: "EventLoop", dependencies: ["CLibevent"]),
        .target(name: "RESP"),
        .target(name: "RespiteCommands", dependencies: ["RESP"]),
        .target(name: "RespiteConfig"),
        .target(name: "RespiteUpstream", dependencies: ["RESP", "RespiteCommands", "EventLoop"]),
        .target(name: "RespiteProxy", dependencies: ["RESP", "RespiteCommands", "RespiteConfig", "RespiteUpstream", "EventLoop"]),
        .executableTarget(name: "respite", dependencies: ["RespiteProxy", "RespiteConfig", "EventLoop"]),
        .testTarget(name: "RESPTests", dependencies: ["RESP"]),
        .testTarget(name: "RespiteCommandsTests", dependencies: ["RespiteCommands", "RESP"]),
        .testTarget(name: "RespiteConfigTests", dependencies: ["RespiteConfig"]),
        .testTarget(name: "RespiteProxyTests", dependencies: ["RespiteProxy", "RESP"]),
    ]
)
