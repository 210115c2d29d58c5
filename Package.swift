// swift-tools-version:6.0
import PackageDescription

let package = Package(
    name: "bodycam",
    products: [
        .executable(name: "bodycam", targets: ["bodycam"]),
        .executable(name: "bodycam-records", targets: ["bodycam-records"]),
    ],
    dependencies: [
        // Command-line parsing for the `bodycam` executable (subcommands, --help, validation).
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        // SHA-256 of every segment and Ed25519 signatures of manifests and the audit log.
        .package(url: "https://github.com/apple/swift-crypto", from: "3.12.3"),
        // The records service's HTTP server: a router and streaming request bodies on SwiftNIO.
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.1"),
        // TLS for the records service (HummingbirdTLS on NIOSSL): certificates and keys from PEM files.
        .package(url: "https://github.com/apple/swift-nio-ssl", from: "2.37.6"),
        // The records catalogue in SQLite (WAL, synchronous FULL, migrations); links the system libsqlite3.
        .package(url: "https://github.com/groue/GRDB.swift", from: "7.10.0"),
        // `--config FILE` of `bodycam run` and `bodycam-records serve`: a TOML file whose keys are the long option names.
        .package(url: "https://github.com/LebJe/TOMLKit", from: "0.6.0"),
        // The catalogue and custody log in PostgreSQL for a force (several ingest nodes share one database).
        .package(url: "https://github.com/vapor/postgres-nio", from: "1.21.0"),
        // The S3 client of the blob store (SigV4 signed by us over it): Ceph's RADOS Gateway or any S3 store.
        .package(url: "https://github.com/swift-server/async-http-client", from: "1.21.0"),
    ],
    targets: [
        // Hardware abstraction layer in C: libjpeg(-turbo) encoding, V4L2 capture through libv4l2, and the
        // dock link's TLS client through OpenSSL (the system's libssl, kept up to date by the distribution).
        // C because Swift cannot call libjpeg's setjmp/longjmp error handling or variadic ioctl safely.
        .target(
            name: "CHAL",
            path: "HAL",
            cSettings: [.unsafeFlags(["-O2"])],
            linkerSettings: [.linkedLibrary("jpeg"), .linkedLibrary("v4l2"), .linkedLibrary("ssl"), .linkedLibrary("crypto")]
        ),
        // The evidence format, one definition shared by the camera, `bodycam verify` and the records service:
        // recording names, manifests, signatures, device identity, the audit trail, frame stamps, the AVI reader.
        .target(
            name: "BodycamEvidence",
            dependencies: [.product(name: "Crypto", package: "swift-crypto")]
        ),
        // The camera: the pure device model, the media path (HAL, ring, writer), boot, recovery and offload.
        .target(
            name: "BodycamCore",
            // Plain -O, not -Ounchecked: overflow and precondition checks stay on in the firmware (a trap is
            // recovered at boot; silent wrap-around in evidence is not), at no measurable cost per frame.
            dependencies: ["CHAL", "BodycamEvidence", .product(name: "Crypto", package: "swift-crypto")]
        ),
        // What both command lines share: usage errors reported as one line naming the command's help.
        .target(
            name: "BodycamCLI",
            dependencies: [
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "TOMLKit", package: "TOMLKit"),
            ]
        ),
        // The camera for a person at a terminal: events in plain English, a live status line, a prompt
        // with line editing, `help`. JSON Lines stay what pipes, files and --json get.
        .target(
            name: "BodycamTerminal",
            dependencies: ["BodycamCore", "BodycamEvidence"]
        ),
        // The camera's live view and control page (`bodycam run --http`): MJPEG stream, snapshot, server-sent
        // events, control route, on the records service's HTTP stack.
        .target(
            name: "BodycamLiveView",
            dependencies: [
                "BodycamCore",
                "BodycamEvidence",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdCore", package: "hummingbird"),
            ]
        ),
        // `bodycam fleet`: many cameras (each a `bodycam run` process) through a shift and a dock storm
        // against central records, with the figures and the catalogue cross-check.
        .target(
            name: "BodycamFleet",
            dependencies: ["BodycamCore", "BodycamEvidence"]
        ),
        .executableTarget(
            name: "bodycam",
            dependencies: [
                "BodycamCore",
                "BodycamFleet",
                "BodycamEvidence",
                "BodycamTerminal",
                "BodycamCLI",
                "BodycamLiveView",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),
        // The config-file reader (TOML to arguments), in-process.
        .testTarget(name: "BodycamCLITests", dependencies: ["BodycamCLI"]),
        .testTarget(
            name: "BodycamCoreTests",
            dependencies: ["BodycamCore", "BodycamEvidence", "BodycamTerminal", "BodycamLiveView", "BodycamFleet", "CHAL"]
        ),
        // Central records: catalogue, blob store, custody log, device ingest and the people API.
        .target(
            name: "BodycamRecords",
            dependencies: [
                "BodycamEvidence",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdCore", package: "hummingbird"),
                .product(name: "HummingbirdTLS", package: "hummingbird"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "GRDB", package: "GRDB.swift"),
            ]
        ),
        // The catalogue on PostgreSQL (postgres-nio): the same schema and transactions as SQLite, for a fleet.
        .target(
            name: "RecordsPostgres",
            dependencies: [
                "BodycamRecords",
                "BodycamEvidence",
                .product(name: "PostgresNIO", package: "postgres-nio"),
            ]
        ),
        // Evidence bytes in an S3 store (Ceph RGW): SigV4, multipart, Object Lock, legal hold, ranged reads.
        .target(
            name: "RecordsS3",
            dependencies: [
                "BodycamRecords",
                "BodycamEvidence",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
            ]
        ),
        .executableTarget(
            name: "bodycam-records",
            dependencies: [
                "BodycamRecords",
                "RecordsPostgres",
                "RecordsS3",
                "BodycamEvidence",
                "BodycamCLI",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),
        .testTarget(
            name: "BodycamRecordsTests",
            dependencies: [
                "BodycamRecords",
                "BodycamEvidence",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "GRDB", package: "GRDB.swift"),
            ]
        ),
            // The PostgreSQL catalogue and the S3 blob store against real servers (`make test-scale` starts them;
        // without BODYCAM_TEST_POSTGRES / BODYCAM_TEST_S3 these tests are skipped, and say so).
        .testTarget(
            name: "RecordsScaleTests",
            dependencies: [
                "BodycamRecords",
                "BodycamEvidence",
                "RecordsPostgres",
                "RecordsS3",
                .product(name: "Crypto", package: "swift-crypto"),
            ]
        ),
    ]
)
