// swift-tools-version:6.0
import PackageDescription

let package = Package(
    name: "bodycam",
    products: [
        .executable(name: "bodycam", targets: ["bodycam"]),
    ],
    dependencies: [
        // Command-line parsing for the `bodycam` executable (subcommands, --help, validation).
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        // SHA-256 of every segment and Ed25519 signatures of manifests and the audit log.
        .package(url: "https://github.com/apple/swift-crypto", from: "3.12.3"),
    ],
    targets: [
        // Hardware abstraction layer in C: libjpeg(-turbo) encoding and V4L2 capture through libv4l2.
        // C because Swift cannot call libjpeg's setjmp/longjmp error handling or variadic ioctl safely.
        .target(
            name: "CHAL",
            path: "HAL",
            cSettings: [.unsafeFlags(["-O2"])],
            linkerSettings: [.linkedLibrary("jpeg"), .linkedLibrary("v4l2")]
        ),
        .target(
            name: "BodycamCore",
            // Plain -O, not -Ounchecked: overflow and precondition checks stay on in the firmware (a trap is
            // recovered at boot; silent wrap-around in evidence is not), at no measurable cost per frame.
            dependencies: ["CHAL", .product(name: "Crypto", package: "swift-crypto")]
        ),
        .executableTarget(
            name: "bodycam",
            dependencies: [
                "BodycamCore",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),
        .testTarget(
            name: "BodycamCoreTests",
            dependencies: ["BodycamCore", "CHAL"]
        ),
    ]
)
