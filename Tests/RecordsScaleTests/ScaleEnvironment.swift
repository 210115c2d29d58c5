import Foundation

/// The servers `make test-scale` starts: a PostgreSQL URL and an S3 endpoint with credentials.
enum ScaleEnvironment {
    static var postgresURL: String? { ProcessInfo.processInfo.environment["BODYCAM_TEST_POSTGRES"] }
    static var s3URL: String? { ProcessInfo.processInfo.environment["BODYCAM_TEST_S3"] }
}
