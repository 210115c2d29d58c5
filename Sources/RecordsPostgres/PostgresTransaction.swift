import BodycamEvidence
import BodycamRecords
import Foundation
import PostgresNIO

/// `CatalogueTransaction` on PostgreSQL: statement for statement what `SQLiteTransaction` does (upserts
/// where SQLite says INSERT OR REPLACE, GREATEST for SQLite's two-argument max), with the same checks on
/// what is read back, so a damaged row is `CatalogueDamage` here too.
struct PostgresTransaction: CatalogueTransaction {
    let session: PostgresSession

    private func one(_ sql: String, _ values: [SQLValue] = []) throws -> PostgresRandomAccessRow? {
        try session.rows(sql, values).first
    }

    // MARK: Devices

    private func deviceRecord(_ row: PostgresRandomAccessRow) throws -> DeviceRecord {
        let id = try row.text("device_id")
        guard let key = PublicKey(hex: try row.text("public_key")), let state = DeviceRecord.State(rawValue: try row.text("state")) else {
            throw CatalogueDamage(description: "catalogue: device \(id) damaged")
        }
        return DeviceRecord(deviceID: id, key: key, state: state, lastSeq: UInt64(bitPattern: try row.int("last_seq")),
                            enrolledUTC: try row.int("enrolled_utc"), revokedUTC: try row.optionalInt("revoked_utc"), pin: try row.blob("pin"),
                            officer: try row.optionalText("officer"))
    }

    func device(_ id: String) throws -> DeviceRecord? {
        try one("SELECT * FROM device WHERE device_id = $1", [.text(id)]).map(deviceRecord)
    }

    func devices() throws -> [DeviceRecord] {
        try session.rows("SELECT * FROM device ORDER BY device_id").map(deviceRecord)
    }

    func saveDevice(_ d: DeviceRecord) throws {
        try session.execute("""
            INSERT INTO device (device_id, public_key, state, last_seq, enrolled_utc, revoked_utc, pin, officer)
            VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
            ON CONFLICT (device_id) DO UPDATE SET public_key = EXCLUDED.public_key, state = EXCLUDED.state, last_seq = EXCLUDED.last_seq,
                enrolled_utc = EXCLUDED.enrolled_utc, revoked_utc = EXCLUDED.revoked_utc, pin = EXCLUDED.pin, officer = EXCLUDED.officer
            """, [.text(d.deviceID), .text(d.key.hex), .text(d.state.rawValue), .int(Int64(bitPattern: d.lastSeq)), .int(d.enrolledUTC),
                  .int(d.revokedUTC), .bytes(d.pin), .text(d.officer)])
    }

    func pins(deviceID: String) throws -> [PinRecord] {
        try session.rows("SELECT * FROM device_pin WHERE device_id = $1 ORDER BY enrolled_utc, key_fingerprint", [.text(deviceID)]).map { row in
            let id = try row.text("device_id"), fingerprint = try row.text("key_fingerprint")
            guard let key = PublicKey(hex: try row.text("public_key")), key.fingerprintHex == fingerprint else {
                throw CatalogueDamage(description: "catalogue: pin \(fingerprint) of device \(id) damaged")
            }
            return PinRecord(deviceID: id, key: key, pin: try row.blob("pin"), enrolledUTC: try row.int("enrolled_utc"),
                             revokedUTC: try row.optionalInt("revoked_utc"))
        }
    }

    func savePin(_ p: PinRecord) throws {
        try session.execute("""
            INSERT INTO device_pin (device_id, key_fingerprint, public_key, pin, enrolled_utc, revoked_utc) VALUES ($1, $2, $3, $4, $5, $6)
            ON CONFLICT (device_id, key_fingerprint) DO UPDATE SET public_key = EXCLUDED.public_key, pin = EXCLUDED.pin,
                enrolled_utc = EXCLUDED.enrolled_utc, revoked_utc = EXCLUDED.revoked_utc
            """, [.text(p.deviceID), .text(p.fingerprint), .text(p.key.hex), .bytes(p.pin), .int(p.enrolledUTC), .int(p.revokedUTC)])
    }

    // MARK: Enrolment tokens

    private func tokenRecord(_ row: PostgresRandomAccessRow) throws -> EnrolmentToken {
        EnrolmentToken(sha256: try row.text("token_sha256"), deviceID: try row.text("device_id"), issuedUTC: try row.int("issued_utc"),
                       expiresUTC: try row.int("expires_utc"), usedUTC: try row.optionalInt("used_utc"))
    }

    func insertToken(_ t: EnrolmentToken) throws {
        try session.execute("INSERT INTO enrolment_token (token_sha256, device_id, issued_utc, expires_utc, used_utc) VALUES ($1, $2, $3, $4, $5)",
                            [.text(t.sha256), .text(t.deviceID), .int(t.issuedUTC), .int(t.expiresUTC), .int(t.usedUTC)])
    }

    func token(sha256: String) throws -> EnrolmentToken? {
        try one("SELECT * FROM enrolment_token WHERE token_sha256 = $1", [.text(sha256)]).map(tokenRecord)
    }

    func tokens(deviceID: String) throws -> [EnrolmentToken] {
        try session.rows("SELECT * FROM enrolment_token WHERE device_id = $1 ORDER BY issued_utc", [.text(deviceID)]).map(tokenRecord)
    }

    func markTokenUsed(sha256: String, utc: Int64) throws {
        try session.execute("UPDATE enrolment_token SET used_utc = $1 WHERE token_sha256 = $2", [.int(utc), .text(sha256)])
    }

    // MARK: Officers and users

    private func officerRecord(_ row: PostgresRandomAccessRow) throws -> OfficerRecord {
        OfficerRecord(officerID: try row.text("officer_id"), name: try row.text("name"), trained: try row.int("trained") != 0,
                      active: try row.int("active") != 0)
    }

    func officer(_ id: String) throws -> OfficerRecord? {
        try one("SELECT * FROM officer WHERE officer_id = $1", [.text(id)]).map(officerRecord)
    }

    func officers() throws -> [OfficerRecord] {
        try session.rows("SELECT * FROM officer ORDER BY officer_id").map(officerRecord)
    }

    func saveOfficer(_ o: OfficerRecord) throws {
        try session.execute("""
            INSERT INTO officer (officer_id, name, trained, active) VALUES ($1, $2, $3, $4)
            ON CONFLICT (officer_id) DO UPDATE SET name = EXCLUDED.name, trained = EXCLUDED.trained, active = EXCLUDED.active
            """, [.text(o.officerID), .text(o.name), .int(o.trained ? 1 : 0), .int(o.active ? 1 : 0)])
    }

    private func userRecord(_ row: PostgresRandomAccessRow) throws -> UserRecord {
        let name = try row.text("name")
        guard let role = UserRecord.Role(rawValue: try row.text("role")) else { throw CatalogueDamage(description: "catalogue: user \(name) damaged") }
        return UserRecord(name: name, role: role, officer: try row.optionalText("officer"), tokenSHA256: try row.text("token_sha256"))
    }

    func user(name: String) throws -> UserRecord? {
        try one(#"SELECT * FROM "user" WHERE name = $1"#, [.text(name)]).map(userRecord)
    }

    func user(tokenSHA256: String) throws -> UserRecord? {
        try one(#"SELECT * FROM "user" WHERE token_sha256 = $1"#, [.text(tokenSHA256)]).map(userRecord)
    }

    func insertUser(_ u: UserRecord) throws {
        try session.execute(#"INSERT INTO "user" (name, role, officer, token_sha256) VALUES ($1, $2, $3, $4)"#,
                            [.text(u.name), .text(u.role.rawValue), .text(u.officer), .text(u.tokenSHA256)])
    }

    // MARK: Files and recordings

    private func fileRecord(_ row: PostgresRandomAccessRow) throws -> FileRecord {
        FileRecord(deviceID: try row.text("device_id"), folder: try row.text("folder"), file: try row.text("file"),
                   sha256: try row.text("sha256"), bytes: try row.count("bytes"), receivedUTC: try row.int("received_utc"))
    }

    func file(deviceID: String, folder: String, file: String) throws -> FileRecord? {
        try one("SELECT * FROM file WHERE device_id = $1 AND folder = $2 AND file = $3", [.text(deviceID), .text(folder), .text(file)])
            .map(fileRecord)
    }

    func insertFile(_ f: FileRecord) throws {
        try session.execute("INSERT INTO file (device_id, folder, file, sha256, bytes, received_utc) VALUES ($1, $2, $3, $4, $5, $6)",
                            [.text(f.deviceID), .text(f.folder), .text(f.file), .text(f.sha256), .integer(f.bytes), .int(f.receivedUTC)])
    }

    func files(deviceID: String, folder: String) throws -> [FileRecord] {
        try session.rows("SELECT * FROM file WHERE device_id = $1 AND folder = $2 ORDER BY file", [.text(deviceID), .text(folder)]).map(fileRecord)
    }

    // As in SQLite: a file belongs to a deleted recording when its folder names a tombstoned recording.
    private static let liveFileSQL = """
        SELECT f.* FROM file f LEFT JOIN recording r ON r.recording_id = f.folder AND r.device_id = f.device_id
        WHERE r.deleted_utc IS NULL
        """

    func liveFiles() throws -> [FileRecord] {
        try session.rows(Self.liveFileSQL + " ORDER BY f.device_id, f.folder, f.file").map(fileRecord)
    }

    func isReferencedByLiveFile(sha256: String) throws -> Bool {
        try one(Self.liveFileSQL + " AND f.sha256 = $1 LIMIT 1", [.text(sha256)]) != nil
    }

    private func recordingRecord(_ row: PostgresRandomAccessRow) throws -> RecordingRecord {
        let id = try row.text("recording_id")
        guard let category = RetentionCategory(rawValue: try row.text("category")) else {
            throw CatalogueDamage(description: "catalogue: recording \(id): unknown retention category")
        }
        return RecordingRecord(recordingID: id, deviceID: try row.text("device_id"), officer: try row.optionalText("officer"),
                               trigger: try row.text("trigger"), startUTC: try row.int("start_utc"), endUTC: try row.int("end_utc"),
                               markers: try row.count("markers"), frames: try row.count("frames"), bytes: try row.count("bytes"),
                               manifestSHA256: try row.text("manifest_sha256"), receivedUTC: try row.int("received_utc"),
                               receipt: try row.blob("receipt"), category: category, caseReference: try row.optionalText("case_reference"),
                               holdReason: try row.optionalText("hold_reason"), deletedUTC: try row.optionalInt("deleted_utc"),
                               deletedReason: try row.optionalText("deleted_reason"), purgedUTC: try row.optionalInt("purged_utc"),
                               pinFingerprint: try row.optionalText("pin_fingerprint"))
    }

    func recording(_ id: String) throws -> RecordingRecord? {
        try one("SELECT * FROM recording WHERE recording_id = $1", [.text(id)]).map(recordingRecord)
    }

    func recordings(_ f: RecordingFilter) throws -> [RecordingRecord] {
        var clauses = [f.deleted ? "deleted_utc IS NOT NULL" : "deleted_utc IS NULL"]
        var values: [SQLValue] = []
        func bind(_ clause: String, _ value: SQLValue) {
            values.append(value)
            clauses.append(clause.replacingOccurrences(of: "?", with: "$\(values.count)"))
        }
        if let d = f.deviceID { bind("device_id = ?", .text(d)) }
        if let o = f.officer { bind("officer = ?", .text(o)) }
        if let from = f.from { bind("end_utc >= ?", .int(from)) }
        if let to = f.to { bind("start_utc <= ?", .int(to)) }
        if let t = f.trigger { bind("trigger = ?", .text(t)) }
        if f.withMarkers { clauses.append("markers > 0") }
        values += [.integer(max(1, min(f.limit, 10_000))), .integer(max(0, f.offset))]
        return try session.rows("SELECT * FROM recording WHERE \(clauses.joined(separator: " AND ")) ORDER BY start_utc, recording_id "
                                + "LIMIT $\(values.count - 1) OFFSET $\(values.count)", values).map(recordingRecord)
    }

    func insertRecording(_ r: RecordingRecord) throws {
        try session.execute("""
            INSERT INTO recording (recording_id, device_id, officer, trigger, start_utc, end_utc, markers, frames, bytes,
                                   manifest_sha256, received_utc, receipt, category, case_reference, hold_reason,
                                   deleted_utc, deleted_reason, purged_utc, pin_fingerprint)
            VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19)
            """, [.text(r.recordingID), .text(r.deviceID), .text(r.officer), .text(r.trigger), .int(r.startUTC), .int(r.endUTC), .integer(r.markers),
                  .integer(r.frames), .integer(r.bytes), .text(r.manifestSHA256), .int(r.receivedUTC), .bytes(r.receipt), .text(r.category.rawValue),
                  .text(r.caseReference), .text(r.holdReason), .int(r.deletedUTC), .text(r.deletedReason), .int(r.purgedUTC),
                  .text(r.pinFingerprint)])
    }

    func updateRetention(_ r: RecordingRecord) throws {
        try session.execute("UPDATE recording SET category = $1, case_reference = $2, hold_reason = $3 WHERE recording_id = $4",
                            [.text(r.category.rawValue), .text(r.caseReference), .text(r.holdReason), .text(r.recordingID)])
    }

    func expiredRecordings(nonEvidentialEnd: Int64, evidentialEnd: Int64, limit: Int) throws -> [RecordingRecord] {
        try session.rows("""
            SELECT * FROM recording WHERE deleted_utc IS NULL AND hold_reason IS NULL
              AND ((category = $1 AND GREATEST(end_utc, received_utc) <= $2) OR (category = $3 AND GREATEST(end_utc, received_utc) <= $4))
            ORDER BY GREATEST(end_utc, received_utc), recording_id LIMIT $5
            """, [.text(RetentionCategory.nonEvidential.rawValue), .int(nonEvidentialEnd), .text(RetentionCategory.evidential.rawValue),
                  .int(evidentialEnd), .integer(max(1, limit))]).map(recordingRecord)
    }

    func markDeleted(recordingID: String, utc: Int64, reason: String) throws {
        try session.execute("UPDATE recording SET deleted_utc = $1, deleted_reason = $2 WHERE recording_id = $3 AND deleted_utc IS NULL",
                            [.int(utc), .text(reason), .text(recordingID)])
    }

    func unpurgedRecordings() throws -> [RecordingRecord] {
        try session.rows("SELECT * FROM recording WHERE deleted_utc IS NOT NULL AND purged_utc IS NULL ORDER BY deleted_utc, recording_id")
            .map(recordingRecord)
    }

    func markPurged(recordingID: String, utc: Int64) throws {
        try session.execute("UPDATE recording SET purged_utc = $1 WHERE recording_id = $2", [.int(utc), .text(recordingID)])
    }

    // MARK: Custody

    func lastCustody() throws -> (seq: Int, line: [UInt8])? {
        guard let row = try one("SELECT seq, line FROM custody ORDER BY seq DESC LIMIT 1") else { return nil }
        return (try row.count("seq"), try row.blob("line"))
    }

    func appendCustody(seq: Int, line: [UInt8]) throws {
        try session.execute("INSERT INTO custody (seq, line) VALUES ($1, $2)", [.integer(seq), .bytes(line)])
    }

    func custodyLines(from seq: Int) throws -> [[UInt8]] {
        try session.rows("SELECT line FROM custody WHERE seq >= $1 ORDER BY seq", [.integer(seq)]).map { try $0.blob("line") }
    }

    // MARK: Service key

    func serviceKey() throws -> PublicKey? {
        guard let row = try one("SELECT public_key FROM service_key WHERE id = 1") else { return nil }
        guard let key = PublicKey(hex: try row.text("public_key")) else { throw CatalogueDamage(description: "catalogue: service key damaged") }
        return key
    }

    func saveServiceKey(_ key: PublicKey) throws {
        // A plain INSERT: a second key fails on the primary key rather than replacing the first.
        try session.execute("INSERT INTO service_key (id, public_key) VALUES (1, $1)", [.text(key.hex)])
    }
}
