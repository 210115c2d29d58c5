import BodycamRecords
import Foundation
import PostgresNIO
import Testing
@testable import RecordsPostgres

/// A database of its own for each test on the server BODYCAM_TEST_POSTGRES names (its role may create
/// databases: Tests/scale/postgres.sh makes it so), so tests running in parallel never see each other.
enum TestPostgres {
    static var environment: [String: String] { ProcessInfo.processInfo.environment }
    static let skipped = "BODYCAM_TEST_POSTGRES is not set (Tests/scale/postgres.sh start DIR PORT prints it): PostgreSQL tests skipped"

    /// Creates an empty database and returns its URL.
    static func freshDatabase(_ name: String = #function) throws -> String {
        let base = try PostgresLocation.parse(try #require(ScaleEnvironment.postgresURL))
        let safe = name.lowercased().filter { ($0 >= "a" && $0 <= "z") || ($0 >= "0" && $0 <= "9") }.prefix(30)
        let suffix = UUID().uuidString.lowercased().filter { $0 != "-" }.prefix(10)
        var location = base
        location.database = "bct_\(safe)_\(suffix)"
        try admin(base) { try $0.execute(#"CREATE DATABASE "\#(location.database)""#) }
        return location.url
    }

    /// Runs `body` on a connection of its own to the database `url` names (outside any catalogue).
    @discardableResult
    static func admin<T>(_ url: String, _ body: (PostgresSession) throws -> T) throws -> T {
        try admin(try PostgresLocation.parse(url), body)
    }

    static func admin<T>(_ location: PostgresLocation, _ body: (PostgresSession) throws -> T) throws -> T {
        let pool = try ConnectionPool(location: location, password: try CataloguePassword.resolve(environment))
        defer { pool.close() }
        let connection = try pool.take(.transaction)
        defer { pool.give(connection, .transaction, broken: true) }
        return try body(PostgresSession(connection: connection, server: location.server, logger: pool.logger))
    }

    static func open(_ url: String) throws -> PostgresCatalogue {
        try PostgresCatalogue(url: url, environment: environment)
    }
}

/// Runs blocking work on threads of its own, all at once, and waits for every one.
func concurrently<T: Sendable>(_ count: Int, _ work: @escaping @Sendable (Int) throws -> T) async throws -> [T] {
    try await withThrowingTaskGroup(of: (Int, T).self) { group in
        for i in 0..<count { group.addTask { (i, try await Blocking.run { try work(i) }) } }
        var out: [(Int, T)] = []
        for try await r in group { out.append(r) }
        return out.sorted { $0.0 < $1.0 }.map(\.1)
    }
}
