import BodycamEvidence
import BodycamRecords
import Crypto
import Foundation
import Testing
@testable import RecordsPostgres

/// The PostgreSQL catalogue against a real server: migrations, serialized writes across nodes (the
/// custody chain), upload leases, damaged rows, and what it says when it cannot be used.
@Suite(.enabled(if: ScaleEnvironment.postgresURL != nil, Comment(rawValue: TestPostgres.skipped)))
struct PostgresCatalogueTests {
    static func appliedMigrations(_ url: String) throws -> [String] {
        try TestPostgres.admin(url) { try $0.rows("SELECT name FROM schema_migrations ORDER BY name").map { try $0.text("name") } }
    }

    @Test func migrationsApplyOnceWhenThreeNodesStartAtOnceAndAgainLater() async throws {
        let url = try TestPostgres.freshDatabase()
        let nodes = try await concurrently(3) { _ in try TestPostgres.open(url) }
        #expect(try Self.appliedMigrations(url) == PostgresSchema.migrations.map(\.name).sorted())
        for node in nodes { node.close() }
        let again = try TestPostgres.open(url)
        defer { again.close() }
        #expect(try Self.appliedMigrations(url).count == PostgresSchema.migrations.count)
        try again.writeNow { try $0.appendCustody(seq: 1, line: [1]) }
        #expect(try again.readNow { try $0.custodyLines(from: 1) } == [[1]])
        // A catalogue migrated by a newer bodycam-records is refused, not guessed at.
        try TestPostgres.admin(url) { try $0.execute("INSERT INTO schema_migrations (name, applied_utc) VALUES ('v99-future', 0)") }
        let newer = #expect(throws: (any Error).self) { try TestPostgres.open(url) }
        #expect("\(newer.map { "\($0)" } ?? "")".contains("v99-future"))
    }

    /// A catalogue from before the pin history (v1 and v2 only) with a device and a recording: v3 starts the
    /// history with the device's pin, under the fingerprint Swift computes, and names it on the recording.
    @Test func thePinHistoryMigrationKeepsWhatWasThere() throws {
        let url = try TestPostgres.freshDatabase()
        let location = try PostgresLocation.parse(url)
        let password = try CataloguePassword.resolve(TestPostgres.environment)
        let key = PublicKey(raw: (0..<32).map { UInt8($0 * 7 % 256) })
        let old = try PostgresCatalogue(location: location, password: password, migrations: 2)
        try TestPostgres.admin(url) { s in
            try s.execute("INSERT INTO device VALUES ('BWV-0001', $1, 'enrolled', 4, 100, NULL, $2, NULL)", [.text(key.hex), .bytes([1, 2])])
            try s.execute("INSERT INTO recording (recording_id, device_id, trigger, start_utc, end_utc, markers, frames, bytes, manifest_sha256, "
                          + "received_utc, receipt) VALUES ('BWV-0001-000001', 'BWV-0001', 't', 0, 0, 0, 0, 0, 'x', 0, '')")
        }
        old.close()
        let new = try TestPostgres.open(url)
        defer { new.close() }
        let pins = try new.readNow { try $0.pins(deviceID: "BWV-0001") }
        #expect(pins == [PinRecord(deviceID: "BWV-0001", key: key, pin: [1, 2], enrolledUTC: 100)])
        #expect(try new.readNow { try $0.recording("BWV-0001-000001")?.pinFingerprint } == key.fingerprintHex)
    }

    /// Two nodes (separate pools), eight writers each, appending custody entries at once: every write
    /// waits for the one before it, so the chain verifies and the sequence numbers have no gap or repeat.
    @Test func twoNodesAppendingCustodyAtOnceKeepOneChain() async throws {
        let url = try TestPostgres.freshDatabase()
        let (nodeA, nodeB) = (try TestPostgres.open(url), try TestPostgres.open(url))
        defer { nodeA.close(); nodeB.close() }
        let identity = ServiceIdentity(signingKey: Curve25519.Signing.PrivateKey())
        let custody = Custody(identity: identity)
        let (writers, each) = (16, 15)
        _ = try await withThrowingTaskGroup(of: Void.self) { group in
            for w in 0..<writers {
                let node: any Catalogue = w % 2 == 0 ? nodeA : nodeB
                group.addTask {
                    for i in 0..<each {
                        _ = try await node.write { tx in
                            try custody.append(tx, utc: Int64(i), actor: "admin", action: .officer, detail: "writer \(w) entry \(i)")
                        }
                    }
                }
            }
            try await group.waitForAll()
        }
        let entries = try Custody.check(nodeB, key: identity.publicKey)
        #expect(entries.map(\.seq) == Array(1...(writers * each)))
        #expect(Set(entries.map(\.detail)).count == writers * each)
    }

    @Test func anUploadLeaseExcludesOtherNodesAndDiesWithItsConnection() async throws {
        let url = try TestPostgres.freshDatabase()
        let (nodeA, nodeB) = (try TestPostgres.open(url), try TestPostgres.open(url))
        defer { nodeA.close(); nodeB.close() }
        let name = "BWV-0001/BWV-0001-000001/BWV-0001-000001-0001.avi"
        let lease = try #require(try await nodeA.tryLockUpload(name))
        #expect(try await nodeB.tryLockUpload(name) == nil)
        #expect(try await nodeA.tryLockUpload(name) == nil) // another request on the same node too
        let other = try #require(try await nodeB.tryLockUpload(name + "x")) // other names are free
        await other.release()
        await lease.release()
        await lease.release() // twice is harmless
        let again = try #require(try await nodeB.tryLockUpload(name))

        // The holder's connection dies (its node crashed): PostgreSQL frees the lock by itself.
        let killed = try TestPostgres.admin(url) { session in
            try session.rows("""
                SELECT pg_terminate_backend(pid) AS gone FROM pg_locks
                WHERE locktype = 'advisory' AND database = (SELECT oid FROM pg_database WHERE datname = current_database())
                """).count
        }
        #expect(killed == 1)
        var freed: (any UploadLease)?
        for _ in 0..<50 where freed == nil {
            freed = try await nodeA.tryLockUpload(name)
            if freed == nil { try await Task.sleep(for: .milliseconds(100)) }
        }
        #expect(freed != nil, "the lease of a dead connection was never freed")
        await again.release() // its unlock fails: the connection is dropped, nothing traps
        await freed?.release()
        // The pools still work after that.
        #expect(try await nodeB.read { try $0.lastCustody()?.seq } == nil)
        let last = try await nodeB.tryLockUpload(name)
        #expect(last != nil)
        await last?.release()
    }

    /// The server ends every session (a restart, a failover): the next transactions get new connections.
    @Test func connectionsTheServerEndedAreReplaced() async throws {
        let url = try TestPostgres.freshDatabase()
        let node = try TestPostgres.open(url)
        defer { node.close() }
        _ = try await concurrently(4) { i in try node.writeNow { try $0.appendCustody(seq: i + 1, line: [UInt8(i)]) } }
        for name in ["a", "b"] { await (try await node.tryLockUpload(name))?.release() }
        let ended = try TestPostgres.admin(url) { s in
            try s.rows("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()").count
        }
        #expect(ended >= 1)
        // At once: some connections may not have seen their end yet (the first statement meets it).
        let start = Date()
        let lines = try await concurrently(4) { _ in try node.readNow { try $0.custodyLines(from: 1) } }
        #expect(lines.allSatisfy { $0 == [[0], [1], [2], [3]] })
        try node.writeNow { try $0.appendCustody(seq: 5, line: [4]) }
        let lease = try await node.tryLockUpload("a")
        #expect(lease != nil)
        await lease?.release()
        #expect(Date().timeIntervalSince(start) < 10)
    }

    @Test func damagedRowsReadBackAsErrors() async throws {
        let url = try TestPostgres.freshDatabase()
        let node = try TestPostgres.open(url)
        defer { node.close() }
        try TestPostgres.admin(url) { s in
            try s.execute("INSERT INTO device VALUES ('BAD-KEY', 'zz', 'enrolled', 1, 1, NULL, ''::bytea, NULL)")
            try s.execute("INSERT INTO device VALUES ('BAD-STATE', '\(String(repeating: "ab", count: 32))', 'lost', 1, 1, NULL, ''::bytea, NULL)")
            try s.execute("""
                INSERT INTO recording (recording_id, device_id, trigger, start_utc, end_utc, markers, frames, bytes, manifest_sha256,
                                       received_utc, receipt, category) VALUES ('BAD-000001', 'BAD-KEY', 't', 0, 0, 0, 0, 0, 'x', 0, '', 'secret')
                """)
            try s.execute("INSERT INTO service_key VALUES (1, 'not hex')")
        }
        #expect(throws: CatalogueDamage.self) { try node.readNow { try $0.device("BAD-KEY") } }
        #expect(throws: CatalogueDamage.self) { try node.readNow { try $0.device("BAD-STATE") } }
        #expect(throws: CatalogueDamage.self) { try node.readNow { try $0.devices() } }
        #expect(throws: CatalogueDamage.self) { try node.readNow { try $0.recording("BAD-000001") } }
        #expect(throws: CatalogueDamage.self) { try node.readNow { try $0.serviceKey() } }
        // A full disk is 507, as for SQLite: SQLSTATE 53100.
        #expect(PostgresFailure("x", sqlState: "53100").isOutOfSpace)
        #expect(!PostgresFailure("x", sqlState: "23505").isOutOfSpace)
        #expect(Refusal.storage(PostgresFailure("x", sqlState: "53100"), "storing").kind == .full)
        // A server error names the server and the SQLSTATE (postgres-nio's own text says nothing).
        let failure = try #require(throws: PostgresFailure.self) { try node.writeNow { try $0.appendCustody(seq: 1, line: [1]); try $0.appendCustody(seq: 1, line: [2]) } }
        #expect(failure.sqlState == "23505")
        #expect(failure.description.hasPrefix("PostgreSQL at ") && failure.description.contains("(SQLSTATE 23505)"), "\(failure)")
        #expect(try node.readNow { try $0.lastCustody()?.seq } == nil)
    }

    @Test func aWrongPasswordIsSaidClearly() throws {
        let url = try #require(ScaleEnvironment.postgresURL)
        let error = #expect(throws: PostgresFailure.self) { try PostgresCatalogue(url: url, environment: ["BODYCAM_CATALOG_PASSWORD": "wrong-\(UUID())"]) }
        let text = error.map { "\($0)" } ?? ""
        #expect(text.contains("password authentication failed") && text.hasPrefix("PostgreSQL at "), "\(text)")
    }
}
