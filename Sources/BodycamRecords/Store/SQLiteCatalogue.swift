import BodycamEvidence
import Foundation
import GRDB

/// The catalogue in one SQLite file (`DATA/catalogue.sqlite`) through GRDB: WAL (readers never wait for
/// the writer), `synchronous=FULL` (a committed transaction survives a power cut), and a busy timeout so the
/// service and the administrator's commands (two processes) wait for each other's writes instead of failing.
public final class SQLiteCatalogue: Catalogue {
    public static let fileName = "catalogue.sqlite"
    private let pool: DatabasePool

    public init(path: String) throws {
        var config = Configuration()
        config.busyMode = .timeout(10)
        config.prepareDatabase { db in
            try db.execute(sql: "PRAGMA synchronous = FULL")
        }
        pool = try DatabasePool(path: path, configuration: config)
        try Self.migrator.migrate(pool)
    }

    /// The schema, one migration per change; never edit a migration that has shipped.
    static var migrator: DatabaseMigrator {
        var m = DatabaseMigrator()
        m.registerMigration("v1") { db in
            try db.execute(sql: """
                CREATE TABLE device (
                    device_id TEXT PRIMARY KEY NOT NULL, public_key TEXT NOT NULL, state TEXT NOT NULL,
                    last_seq INTEGER NOT NULL, enrolled_utc INTEGER NOT NULL, revoked_utc INTEGER,
                    pin BLOB NOT NULL, officer TEXT);
                CREATE TABLE enrolment_token (
                    token_sha256 TEXT PRIMARY KEY NOT NULL, device_id TEXT NOT NULL, issued_utc INTEGER NOT NULL,
                    expires_utc INTEGER NOT NULL, used_utc INTEGER);
                CREATE TABLE officer (
                    officer_id TEXT PRIMARY KEY NOT NULL, name TEXT NOT NULL, trained INTEGER NOT NULL, active INTEGER NOT NULL);
                CREATE TABLE user (
                    name TEXT PRIMARY KEY NOT NULL, role TEXT NOT NULL, officer TEXT, token_sha256 TEXT NOT NULL UNIQUE);
                CREATE TABLE file (
                    device_id TEXT NOT NULL, folder TEXT NOT NULL, file TEXT NOT NULL, sha256 TEXT NOT NULL,
                    bytes INTEGER NOT NULL, received_utc INTEGER NOT NULL, PRIMARY KEY (device_id, folder, file));
                CREATE TABLE recording (
                    recording_id TEXT PRIMARY KEY NOT NULL, device_id TEXT NOT NULL, officer TEXT, trigger TEXT NOT NULL,
                    start_utc INTEGER NOT NULL, end_utc INTEGER NOT NULL, markers INTEGER NOT NULL, frames INTEGER NOT NULL,
                    bytes INTEGER NOT NULL, manifest_sha256 TEXT NOT NULL, received_utc INTEGER NOT NULL, receipt BLOB NOT NULL);
                CREATE INDEX recording_device ON recording(device_id, start_utc);
                CREATE INDEX recording_officer ON recording(officer, start_utc);
                CREATE TABLE custody (seq INTEGER PRIMARY KEY NOT NULL, line BLOB NOT NULL);
                """)
        }
        // Retention: category, case reference, hold, and the tombstone of a deleted recording.
        m.registerMigration("v2-retention") { db in
            try db.execute(sql: """
                ALTER TABLE recording ADD COLUMN category TEXT NOT NULL DEFAULT 'non-evidential';
                ALTER TABLE recording ADD COLUMN case_reference TEXT;
                ALTER TABLE recording ADD COLUMN hold_reason TEXT;
                ALTER TABLE recording ADD COLUMN deleted_utc INTEGER;
                ALTER TABLE recording ADD COLUMN deleted_reason TEXT;
                ALTER TABLE recording ADD COLUMN purged_utc INTEGER;
                CREATE INDEX recording_retention ON recording(deleted_utc, end_utc);
                CREATE INDEX file_sha256 ON file(sha256);
                """)
        }
        // Pin history: every key a device was enrolled with, and the one each recording was verified with.
        // Before, only a device's current pin was kept: the history starts with it, and every recording is
        // taken to have been received under it (true unless the device was re-keyed before this migration;
        // the pin it had then was not kept, and verify-store says so for its recordings).
        m.registerMigration("v3-pin-history") { db in
            try db.execute(sql: """
                CREATE TABLE device_pin (
                    device_id TEXT NOT NULL, key_fingerprint TEXT NOT NULL, public_key TEXT NOT NULL, pin BLOB NOT NULL,
                    enrolled_utc INTEGER NOT NULL, revoked_utc INTEGER, PRIMARY KEY (device_id, key_fingerprint));
                ALTER TABLE recording ADD COLUMN pin_fingerprint TEXT;
                """)
            let tx = SQLiteTransaction(db: db)
            for d in try tx.devices() {
                try tx.savePin(PinRecord(deviceID: d.deviceID, key: d.key, pin: d.pin, enrolledUTC: d.enrolledUTC, revokedUTC: d.revokedUTC))
            }
            try db.execute(sql: """
                UPDATE recording SET pin_fingerprint = (SELECT p.key_fingerprint FROM device_pin p WHERE p.device_id = recording.device_id)
                """)
        }
        // The service key the catalogue belongs to (one row): a node with another key refuses to start.
        m.registerMigration("v4-service-key") { db in
            try db.execute(sql: """
                CREATE TABLE service_key (id INTEGER PRIMARY KEY NOT NULL CHECK (id = 1), public_key TEXT NOT NULL);
                """)
        }
        return m
    }

    public func read<T: Sendable>(_ body: @escaping @Sendable (any CatalogueTransaction) throws -> T) async throws -> T {
        try await pool.read { db in try body(SQLiteTransaction(db: db)) }
    }

    public func write<T: Sendable>(_ body: @escaping @Sendable (any CatalogueTransaction) throws -> T) async throws -> T {
        try await pool.write { db in try body(SQLiteTransaction(db: db)) }
    }

    public func readNow<T>(_ body: (any CatalogueTransaction) throws -> T) throws -> T {
        try pool.read { db in try body(SQLiteTransaction(db: db)) }
    }

    public func writeNow<T>(_ body: (any CatalogueTransaction) throws -> T) throws -> T {
        try pool.write { db in try body(SQLiteTransaction(db: db)) }
    }

    /// One SQLite file has one service process writing uploads: Ingest's busy set already excludes.
    public func tryLockUpload(_ key: String) async throws -> (any UploadLease)? { ProcessUploadLease() }
}

/// A lease with nothing to release: the catalogue is one process's.
struct ProcessUploadLease: UploadLease {
    func release() async {}
}

/// The catalogue's disk is full: the service answers 507 as for the blob store.
extension DatabaseError: StoreFailure {
    public var isOutOfSpace: Bool { resultCode == .SQLITE_FULL }
}

/// A row that does not read back as what was written: the catalogue file was damaged or edited.
public struct CatalogueDamage: Error, CustomStringConvertible {
    public var description: String
    /// Public for the other catalogues (PostgreSQL), which read rows back with the same checks.
    public init(description: String) { self.description = description }
}

struct SQLiteTransaction: CatalogueTransaction {
    let db: Database

    // Rows are read through optional accessors and checked, so a damaged row is an error, never a trap.
    private func text(_ row: Row, _ column: String) throws -> String {
        guard let v: String = row[column] else { throw CatalogueDamage(description: "catalogue: \(column) missing") }
        return v
    }
    private func int(_ row: Row, _ column: String) throws -> Int64 {
        guard let v: Int64 = row[column] else { throw CatalogueDamage(description: "catalogue: \(column) missing") }
        return v
    }
    private func blob(_ row: Row, _ column: String) throws -> [UInt8] {
        guard let v: Data = row[column] else { throw CatalogueDamage(description: "catalogue: \(column) missing") }
        return Array(v)
    }

    // MARK: Devices

    private func deviceRecord(_ row: Row) throws -> DeviceRecord {
        let id = try text(row, "device_id")
        guard let key = PublicKey(hex: try text(row, "public_key")), let state = DeviceRecord.State(rawValue: try text(row, "state")) else {
            throw CatalogueDamage(description: "catalogue: device \(id) damaged")
        }
        return DeviceRecord(deviceID: id, key: key, state: state, lastSeq: UInt64(bitPattern: try int(row, "last_seq")),
                            enrolledUTC: try int(row, "enrolled_utc"), revokedUTC: row["revoked_utc"], pin: try blob(row, "pin"),
                            officer: row["officer"])
    }

    func device(_ id: String) throws -> DeviceRecord? {
        try Row.fetchOne(db, sql: "SELECT * FROM device WHERE device_id = ?", arguments: [id]).map(deviceRecord)
    }

    func devices() throws -> [DeviceRecord] {
        try Row.fetchAll(db, sql: "SELECT * FROM device ORDER BY device_id").map(deviceRecord)
    }

    func saveDevice(_ d: DeviceRecord) throws {
        try db.execute(sql: """
            INSERT OR REPLACE INTO device (device_id, public_key, state, last_seq, enrolled_utc, revoked_utc, pin, officer)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?)
            """, arguments: [d.deviceID, d.key.hex, d.state.rawValue, Int64(bitPattern: d.lastSeq), d.enrolledUTC, d.revokedUTC,
                             Data(d.pin), d.officer])
    }

    func pins(deviceID: String) throws -> [PinRecord] {
        try Row.fetchAll(db, sql: "SELECT * FROM device_pin WHERE device_id = ? ORDER BY enrolled_utc, key_fingerprint", arguments: [deviceID]).map { row in
            let id = try text(row, "device_id"), fingerprint = try text(row, "key_fingerprint")
            guard let key = PublicKey(hex: try text(row, "public_key")), key.fingerprintHex == fingerprint else {
                throw CatalogueDamage(description: "catalogue: pin \(fingerprint) of device \(id) damaged")
            }
            return PinRecord(deviceID: id, key: key, pin: try blob(row, "pin"), enrolledUTC: try int(row, "enrolled_utc"), revokedUTC: row["revoked_utc"])
        }
    }

    func savePin(_ p: PinRecord) throws {
        try db.execute(sql: """
            INSERT OR REPLACE INTO device_pin (device_id, key_fingerprint, public_key, pin, enrolled_utc, revoked_utc) VALUES (?, ?, ?, ?, ?, ?)
            """, arguments: [p.deviceID, p.fingerprint, p.key.hex, Data(p.pin), p.enrolledUTC, p.revokedUTC])
    }

    // MARK: Enrolment tokens

    private func tokenRecord(_ row: Row) throws -> EnrolmentToken {
        EnrolmentToken(sha256: try text(row, "token_sha256"), deviceID: try text(row, "device_id"), issuedUTC: try int(row, "issued_utc"),
                       expiresUTC: try int(row, "expires_utc"), usedUTC: row["used_utc"])
    }

    func insertToken(_ t: EnrolmentToken) throws {
        try db.execute(sql: "INSERT INTO enrolment_token (token_sha256, device_id, issued_utc, expires_utc, used_utc) VALUES (?, ?, ?, ?, ?)",
                       arguments: [t.sha256, t.deviceID, t.issuedUTC, t.expiresUTC, t.usedUTC])
    }

    func token(sha256: String) throws -> EnrolmentToken? {
        try Row.fetchOne(db, sql: "SELECT * FROM enrolment_token WHERE token_sha256 = ?", arguments: [sha256]).map(tokenRecord)
    }

    func tokens(deviceID: String) throws -> [EnrolmentToken] {
        try Row.fetchAll(db, sql: "SELECT * FROM enrolment_token WHERE device_id = ? ORDER BY issued_utc", arguments: [deviceID]).map(tokenRecord)
    }

    func markTokenUsed(sha256: String, utc: Int64) throws {
        try db.execute(sql: "UPDATE enrolment_token SET used_utc = ? WHERE token_sha256 = ?", arguments: [utc, sha256])
    }

    // MARK: Officers and users

    private func officerRecord(_ row: Row) throws -> OfficerRecord {
        OfficerRecord(officerID: try text(row, "officer_id"), name: try text(row, "name"), trained: try int(row, "trained") != 0,
                      active: try int(row, "active") != 0)
    }

    func officer(_ id: String) throws -> OfficerRecord? {
        try Row.fetchOne(db, sql: "SELECT * FROM officer WHERE officer_id = ?", arguments: [id]).map(officerRecord)
    }

    func officers() throws -> [OfficerRecord] {
        try Row.fetchAll(db, sql: "SELECT * FROM officer ORDER BY officer_id").map(officerRecord)
    }

    func saveOfficer(_ o: OfficerRecord) throws {
        try db.execute(sql: "INSERT OR REPLACE INTO officer (officer_id, name, trained, active) VALUES (?, ?, ?, ?)",
                       arguments: [o.officerID, o.name, o.trained ? 1 : 0, o.active ? 1 : 0])
    }

    private func userRecord(_ row: Row) throws -> UserRecord {
        let name = try text(row, "name")
        guard let role = UserRecord.Role(rawValue: try text(row, "role")) else { throw CatalogueDamage(description: "catalogue: user \(name) damaged") }
        return UserRecord(name: name, role: role, officer: row["officer"], tokenSHA256: try text(row, "token_sha256"))
    }

    func user(name: String) throws -> UserRecord? {
        try Row.fetchOne(db, sql: "SELECT * FROM user WHERE name = ?", arguments: [name]).map(userRecord)
    }

    func user(tokenSHA256: String) throws -> UserRecord? {
        try Row.fetchOne(db, sql: "SELECT * FROM user WHERE token_sha256 = ?", arguments: [tokenSHA256]).map(userRecord)
    }

    func insertUser(_ u: UserRecord) throws {
        try db.execute(sql: "INSERT INTO user (name, role, officer, token_sha256) VALUES (?, ?, ?, ?)",
                       arguments: [u.name, u.role.rawValue, u.officer, u.tokenSHA256])
    }

    // MARK: Files and recordings

    func file(deviceID: String, folder: String, file: String) throws -> FileRecord? {
        try Row.fetchOne(db, sql: "SELECT * FROM file WHERE device_id = ? AND folder = ? AND file = ?", arguments: [deviceID, folder, file]).map(fileRecord)
    }

    func insertFile(_ f: FileRecord) throws {
        try db.execute(sql: "INSERT INTO file (device_id, folder, file, sha256, bytes, received_utc) VALUES (?, ?, ?, ?, ?, ?)",
                       arguments: [f.deviceID, f.folder, f.file, f.sha256, f.bytes, f.receivedUTC])
    }

    private func fileRecord(_ row: Row) throws -> FileRecord {
        FileRecord(deviceID: try text(row, "device_id"), folder: try text(row, "folder"), file: try text(row, "file"),
                   sha256: try text(row, "sha256"), bytes: Int(try int(row, "bytes")), receivedUTC: try int(row, "received_utc"))
    }

    func files(deviceID: String, folder: String) throws -> [FileRecord] {
        try Row.fetchAll(db, sql: "SELECT * FROM file WHERE device_id = ? AND folder = ? ORDER BY file", arguments: [deviceID, folder]).map(fileRecord)
    }

    // A file belongs to a deleted recording when its folder names a tombstoned recording; audit copies and
    // files of a recording not committed yet are live.
    private static let liveFileSQL = """
        SELECT f.* FROM file f LEFT JOIN recording r ON r.recording_id = f.folder AND r.device_id = f.device_id
        WHERE r.deleted_utc IS NULL
        """

    func liveFiles() throws -> [FileRecord] {
        try Row.fetchAll(db, sql: Self.liveFileSQL + " ORDER BY f.device_id, f.folder, f.file").map(fileRecord)
    }

    func isReferencedByLiveFile(sha256: String) throws -> Bool {
        try Row.fetchOne(db, sql: Self.liveFileSQL + " AND f.sha256 = ? LIMIT 1", arguments: [sha256]) != nil
    }

    private func recordingRecord(_ row: Row) throws -> RecordingRecord {
        let id = try text(row, "recording_id")
        guard let category = RetentionCategory(rawValue: try text(row, "category")) else {
            throw CatalogueDamage(description: "catalogue: recording \(id): unknown retention category")
        }
        return RecordingRecord(recordingID: id, deviceID: try text(row, "device_id"), officer: row["officer"],
                               trigger: try text(row, "trigger"), startUTC: try int(row, "start_utc"), endUTC: try int(row, "end_utc"),
                               markers: Int(try int(row, "markers")), frames: Int(try int(row, "frames")), bytes: Int(try int(row, "bytes")),
                               manifestSHA256: try text(row, "manifest_sha256"), receivedUTC: try int(row, "received_utc"),
                               receipt: try blob(row, "receipt"), category: category, caseReference: row["case_reference"],
                               holdReason: row["hold_reason"], deletedUTC: row["deleted_utc"], deletedReason: row["deleted_reason"],
                               purgedUTC: row["purged_utc"], pinFingerprint: row["pin_fingerprint"])
    }

    func recording(_ id: String) throws -> RecordingRecord? {
        try Row.fetchOne(db, sql: "SELECT * FROM recording WHERE recording_id = ?", arguments: [id]).map(recordingRecord)
    }

    func recordings(_ f: RecordingFilter) throws -> [RecordingRecord] {
        var clauses = [f.deleted ? "deleted_utc IS NOT NULL" : "deleted_utc IS NULL"]
        var arguments: StatementArguments = []
        if let d = f.deviceID { clauses.append("device_id = ?"); arguments += [d] }
        if let o = f.officer { clauses.append("officer = ?"); arguments += [o] }
        if let from = f.from { clauses.append("end_utc >= ?"); arguments += [from] }
        if let to = f.to { clauses.append("start_utc <= ?"); arguments += [to] }
        if let t = f.trigger { clauses.append("trigger = ?"); arguments += [t] }
        if f.withMarkers { clauses.append("markers > 0") }
        let whereSQL = " WHERE " + clauses.joined(separator: " AND ")
        arguments += [max(1, min(f.limit, 10_000)), max(0, f.offset)]
        return try Row.fetchAll(db, sql: "SELECT * FROM recording\(whereSQL) ORDER BY start_utc, recording_id LIMIT ? OFFSET ?", arguments: arguments)
            .map(recordingRecord)
    }

    func insertRecording(_ r: RecordingRecord) throws {
        try db.execute(sql: """
            INSERT INTO recording (recording_id, device_id, officer, trigger, start_utc, end_utc, markers, frames, bytes,
                                   manifest_sha256, received_utc, receipt, category, case_reference, hold_reason,
                                   deleted_utc, deleted_reason, purged_utc, pin_fingerprint)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
            """, arguments: [r.recordingID, r.deviceID, r.officer, r.trigger, r.startUTC, r.endUTC, r.markers, r.frames, r.bytes,
                             r.manifestSHA256, r.receivedUTC, Data(r.receipt), r.category.rawValue, r.caseReference, r.holdReason,
                             r.deletedUTC, r.deletedReason, r.purgedUTC, r.pinFingerprint])
    }

    func updateRetention(_ r: RecordingRecord) throws {
        try db.execute(sql: "UPDATE recording SET category = ?, case_reference = ?, hold_reason = ? WHERE recording_id = ?",
                       arguments: [r.category.rawValue, r.caseReference, r.holdReason, r.recordingID])
    }

    func expiredRecordings(nonEvidentialEnd: Int64, evidentialEnd: Int64, limit: Int) throws -> [RecordingRecord] {
        try Row.fetchAll(db, sql: """
            SELECT * FROM recording WHERE deleted_utc IS NULL AND hold_reason IS NULL
              AND ((category = ? AND max(end_utc, received_utc) <= ?) OR (category = ? AND max(end_utc, received_utc) <= ?))
            ORDER BY max(end_utc, received_utc), recording_id LIMIT ?
            """, arguments: [RetentionCategory.nonEvidential.rawValue, nonEvidentialEnd, RetentionCategory.evidential.rawValue, evidentialEnd,
                             max(1, limit)]).map(recordingRecord)
    }

    func markDeleted(recordingID: String, utc: Int64, reason: String) throws {
        try db.execute(sql: "UPDATE recording SET deleted_utc = ?, deleted_reason = ? WHERE recording_id = ? AND deleted_utc IS NULL",
                       arguments: [utc, reason, recordingID])
    }

    func unpurgedRecordings() throws -> [RecordingRecord] {
        try Row.fetchAll(db, sql: "SELECT * FROM recording WHERE deleted_utc IS NOT NULL AND purged_utc IS NULL ORDER BY deleted_utc, recording_id")
            .map(recordingRecord)
    }

    func markPurged(recordingID: String, utc: Int64) throws {
        try db.execute(sql: "UPDATE recording SET purged_utc = ? WHERE recording_id = ?", arguments: [utc, recordingID])
    }

    // MARK: Custody

    func lastCustody() throws -> (seq: Int, line: [UInt8])? {
        guard let row = try Row.fetchOne(db, sql: "SELECT seq, line FROM custody ORDER BY seq DESC LIMIT 1") else { return nil }
        return (Int(try int(row, "seq")), try blob(row, "line"))
    }

    func appendCustody(seq: Int, line: [UInt8]) throws {
        try db.execute(sql: "INSERT INTO custody (seq, line) VALUES (?, ?)", arguments: [seq, Data(line)])
    }

    func custodyLines(from seq: Int) throws -> [[UInt8]] {
        try Row.fetchAll(db, sql: "SELECT line FROM custody WHERE seq >= ? ORDER BY seq", arguments: [seq]).map { try blob($0, "line") }
    }

    // MARK: Service key

    func serviceKey() throws -> PublicKey? {
        guard let row = try Row.fetchOne(db, sql: "SELECT public_key FROM service_key WHERE id = 1") else { return nil }
        guard let key = PublicKey(hex: try text(row, "public_key")) else { throw CatalogueDamage(description: "catalogue: service key damaged") }
        return key
    }

    func saveServiceKey(_ key: PublicKey) throws {
        // A plain INSERT: a second key fails on the primary key rather than replacing the first.
        try db.execute(sql: "INSERT INTO service_key (id, public_key) VALUES (1, ?)", arguments: [key.hex])
    }
}
