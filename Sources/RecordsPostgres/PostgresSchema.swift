import BodycamRecords
import Foundation

/// The catalogue's schema in PostgreSQL: the same tables, columns and meaning as SQLite's migrations of the
/// same names (BIGINT for SQLite's INTEGER, BYTEA for BLOB). Every TEXT is `COLLATE "C"`: byte order, as
/// SQLite sorts, whatever locale the database was created with, so listings come back in the same order.
/// Applied by named migrations recorded in `schema_migrations`; never edit one that has shipped, add one.
enum PostgresSchema {
    /// Taken (per transaction) by every migration: two nodes starting at once apply each migration once.
    static let migrationLockKey: Int64 = 0x6264_6361_6d5f_6d69 // "bdcam_mi"

    static let migrations: [(name: String, statements: [String])] = [
        ("v1", [
            """
            CREATE TABLE device (
                device_id TEXT COLLATE "C" PRIMARY KEY NOT NULL, public_key TEXT COLLATE "C" NOT NULL, state TEXT COLLATE "C" NOT NULL,
                last_seq BIGINT NOT NULL, enrolled_utc BIGINT NOT NULL, revoked_utc BIGINT, pin BYTEA NOT NULL, officer TEXT COLLATE "C")
            """,
            """
            CREATE TABLE enrolment_token (
                token_sha256 TEXT COLLATE "C" PRIMARY KEY NOT NULL, device_id TEXT COLLATE "C" NOT NULL, issued_utc BIGINT NOT NULL,
                expires_utc BIGINT NOT NULL, used_utc BIGINT)
            """,
            """
            CREATE TABLE officer (
                officer_id TEXT COLLATE "C" PRIMARY KEY NOT NULL, name TEXT COLLATE "C" NOT NULL, trained BIGINT NOT NULL, active BIGINT NOT NULL)
            """,
            """
            CREATE TABLE "user" (
                name TEXT COLLATE "C" PRIMARY KEY NOT NULL, role TEXT COLLATE "C" NOT NULL, officer TEXT COLLATE "C",
                token_sha256 TEXT COLLATE "C" NOT NULL UNIQUE)
            """,
            """
            CREATE TABLE file (
                device_id TEXT COLLATE "C" NOT NULL, folder TEXT COLLATE "C" NOT NULL, file TEXT COLLATE "C" NOT NULL,
                sha256 TEXT COLLATE "C" NOT NULL, bytes BIGINT NOT NULL, received_utc BIGINT NOT NULL, PRIMARY KEY (device_id, folder, file))
            """,
            """
            CREATE TABLE recording (
                recording_id TEXT COLLATE "C" PRIMARY KEY NOT NULL, device_id TEXT COLLATE "C" NOT NULL, officer TEXT COLLATE "C",
                trigger TEXT COLLATE "C" NOT NULL, start_utc BIGINT NOT NULL, end_utc BIGINT NOT NULL, markers BIGINT NOT NULL,
                frames BIGINT NOT NULL, bytes BIGINT NOT NULL, manifest_sha256 TEXT COLLATE "C" NOT NULL, received_utc BIGINT NOT NULL,
                receipt BYTEA NOT NULL)
            """,
            "CREATE INDEX recording_device ON recording(device_id, start_utc)",
            "CREATE INDEX recording_officer ON recording(officer, start_utc)",
            "CREATE TABLE custody (seq BIGINT PRIMARY KEY NOT NULL, line BYTEA NOT NULL)",
        ]),
        // Retention: category, case reference, hold, and the tombstone of a deleted recording.
        ("v2-retention", [
            #"ALTER TABLE recording ADD COLUMN category TEXT COLLATE "C" NOT NULL DEFAULT 'non-evidential'"#,
            #"ALTER TABLE recording ADD COLUMN case_reference TEXT COLLATE "C""#,
            #"ALTER TABLE recording ADD COLUMN hold_reason TEXT COLLATE "C""#,
            "ALTER TABLE recording ADD COLUMN deleted_utc BIGINT",
            #"ALTER TABLE recording ADD COLUMN deleted_reason TEXT COLLATE "C""#,
            "ALTER TABLE recording ADD COLUMN purged_utc BIGINT",
            "CREATE INDEX recording_retention ON recording(deleted_utc, end_utc)",
            "CREATE INDEX file_sha256 ON file(sha256)",
        ]),
        // Pin history, as in SQLite: the history starts with each device's current pin (its fingerprint is
        // the first 16 hex digits of the key's SHA-256), and recordings are taken to be received under it.
        ("v3-pin-history", [
            """
            CREATE TABLE device_pin (
                device_id TEXT COLLATE "C" NOT NULL, key_fingerprint TEXT COLLATE "C" NOT NULL, public_key TEXT COLLATE "C" NOT NULL,
                pin BYTEA NOT NULL, enrolled_utc BIGINT NOT NULL, revoked_utc BIGINT, PRIMARY KEY (device_id, key_fingerprint))
            """,
            #"ALTER TABLE recording ADD COLUMN pin_fingerprint TEXT COLLATE "C""#,
            """
            INSERT INTO device_pin (device_id, key_fingerprint, public_key, pin, enrolled_utc, revoked_utc)
            SELECT device_id, substr(encode(sha256(decode(public_key, 'hex')), 'hex'), 1, 16), public_key, pin, enrolled_utc, revoked_utc
            FROM device
            """,
            "UPDATE recording SET pin_fingerprint = (SELECT p.key_fingerprint FROM device_pin p WHERE p.device_id = recording.device_id)",
        ]),
        // The service key the catalogue belongs to (one row): a node with another key refuses to start.
        ("v4-service-key", [
            #"CREATE TABLE service_key (id BIGINT PRIMARY KEY NOT NULL CHECK (id = 1), public_key TEXT COLLATE "C" NOT NULL)"#,
        ]),
    ]

    /// Applies every migration not applied yet, each in its own transaction under the migration lock (which
    /// also covers creating `schema_migrations`), so concurrent starts are safe. A catalogue migrated by a
    /// newer bodycam-records (a migration this one does not know) is refused: its meaning is unknown here.
    static func migrate(upTo count: Int = migrations.count, _ run: (_ body: (PostgresSession) throws -> Void) throws -> Void) throws {
        for migration in migrations.prefix(count) {
            try run { session in
                try session.execute("SELECT pg_advisory_xact_lock(\(migrationLockKey))")
                try session.execute("""
                    CREATE TABLE IF NOT EXISTS schema_migrations (name TEXT COLLATE "C" PRIMARY KEY NOT NULL, applied_utc BIGINT NOT NULL)
                    """)
                let applied = Set(try session.rows("SELECT name FROM schema_migrations").map { try $0.text("name") })
                let known = Set(migrations.map(\.name))
                if let unknown = applied.subtracting(known).sorted().first {
                    throw PostgresFailure("PostgreSQL at \(session.server): the catalogue has migration \(unknown), which this bodycam-records does not know: upgrade it")
                }
                guard !applied.contains(migration.name) else { return }
                for statement in migration.statements { try session.execute(statement) }
                try session.execute("INSERT INTO schema_migrations (name, applied_utc) VALUES ($1, $2)",
                                    [.text(migration.name), .int(Int64(Date().timeIntervalSince1970 * 1e9))])
            }
        }
    }
}
