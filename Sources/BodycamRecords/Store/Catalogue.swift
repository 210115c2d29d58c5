import BodycamEvidence

/// A camera the service knows: pinned at enrolment, revoked by an administrator.
public struct DeviceRecord: Equatable, Sendable {
    public enum State: String, Sendable { case enrolled, revoked }
    public var deviceID: String
    public var key: PublicKey
    public var state: State
    /// The highest request sequence number accepted from the device (replay protection).
    public var lastSeq: UInt64
    public var enrolledUTC: Int64
    public var revokedUTC: Int64?
    /// The signed `pin` statement given at enrolment (answered again on an idempotent re-enrolment).
    public var pin: [UInt8]
    /// The officer the camera is checked out to, if any.
    public var officer: String?

    public init(deviceID: String, key: PublicKey, state: State, lastSeq: UInt64, enrolledUTC: Int64, revokedUTC: Int64? = nil,
                pin: [UInt8], officer: String? = nil) {
        (self.deviceID, self.key, self.state, self.lastSeq) = (deviceID, key, state, lastSeq)
        (self.enrolledUTC, self.revokedUTC, self.pin, self.officer) = (enrolledUTC, revokedUTC, pin, officer)
    }
}

/// One key a device was enrolled with, kept for good: the pin history. A device revoked and enrolled
/// again with a new key has one per key; each recording names the one its manifest was verified with
/// (`RecordingRecord.pinFingerprint`), so what a revoked key signed before its revocation still verifies
/// (export, verify-store) for as long as the recording is kept.
public struct PinRecord: Equatable, Sendable {
    public var deviceID: String
    /// The key's `fingerprintHex` (16 hex digits): what recordings and court bundle pin files name.
    public var fingerprint: String { key.fingerprintHex }
    public var key: PublicKey
    /// The signed `pin` statement given at that enrolment.
    public var pin: [UInt8]
    public var enrolledUTC: Int64
    /// When the key was revoked (nil: it is the device's current key).
    public var revokedUTC: Int64?

    public init(deviceID: String, key: PublicKey, pin: [UInt8], enrolledUTC: Int64, revokedUTC: Int64? = nil) {
        (self.deviceID, self.key, self.pin, self.enrolledUTC, self.revokedUTC) = (deviceID, key, pin, enrolledUTC, revokedUTC)
    }
}

/// A one-time enrolment token, stored only as its SHA-256.
public struct EnrolmentToken: Equatable, Sendable {
    public var sha256: String
    public var deviceID: String
    public var issuedUTC: Int64
    public var expiresUTC: Int64
    public var usedUTC: Int64?
    public init(sha256: String, deviceID: String, issuedUTC: Int64, expiresUTC: Int64, usedUTC: Int64? = nil) {
        (self.sha256, self.deviceID, self.issuedUTC, self.expiresUTC, self.usedUTC) = (sha256, deviceID, issuedUTC, expiresUTC, usedUTC)
    }
}

public struct OfficerRecord: Equatable, Sendable {
    public var officerID: String
    public var name: String
    public var trained: Bool
    public var active: Bool
    public init(officerID: String, name: String, trained: Bool, active: Bool) {
        (self.officerID, self.name, self.trained, self.active) = (officerID, name, trained, active)
    }
}

public struct UserRecord: Equatable, Sendable {
    public enum Role: String, Sendable, CaseIterable { case officer, supervisor, admin }
    public var name: String
    public var role: Role
    /// For the officer role: the officer whose recordings the user sees.
    public var officer: String?
    public var tokenSHA256: String
    public init(name: String, role: Role, officer: String?, tokenSHA256: String) {
        (self.name, self.role, self.officer, self.tokenSHA256) = (name, role, officer, tokenSHA256)
    }

    /// A user name: 1-32 of A-Z, a-z, 0-9, '-', '_', '.' (it is a custody actor).
    public static func isValidName(_ name: String) -> Bool {
        (1...32).contains(name.utf8.count) && name.utf8.allSatisfy {
            ($0 >= 48 && $0 <= 57) || ($0 >= 65 && $0 <= 90) || ($0 >= 97 && $0 <= 122) || $0 == 45 || $0 == 95 || $0 == 46
        }
    }
}

/// One file held for a device (a segment, a manifest or its signature, an audit trail copy or head).
public struct FileRecord: Equatable, Sendable {
    public var deviceID: String
    public var folder: String
    public var file: String
    public var sha256: String
    public var bytes: Int
    public var receivedUTC: Int64
    public init(deviceID: String, folder: String, file: String, sha256: String, bytes: Int, receivedUTC: Int64) {
        (self.deviceID, self.folder, self.file, self.sha256, self.bytes, self.receivedUTC) = (deviceID, folder, file, sha256, bytes, receivedUTC)
    }
}

/// A recording whose signed manifest and every segment are held, verified and durable.
public struct RecordingRecord: Equatable, Sendable {
    public var recordingID: String
    public var deviceID: String
    public var officer: String?
    public var trigger: String
    public var startUTC: Int64
    public var endUTC: Int64
    public var markers: Int
    public var frames: Int
    public var bytes: Int
    public var manifestSHA256: String
    public var receivedUTC: Int64
    /// The signed receipt given to the camera (answered again if it asks again).
    public var receipt: [UInt8]
    /// The pin (its key's `fingerprintHex`) the manifest was verified with at receipt: the recording is
    /// checked under that key for good, whatever the device's key is now. Nil only for a recording the
    /// pin-history migration found no device for.
    public var pinFingerprint: String?
    /// Retention (Service/Retention.swift): the category, its case reference (evidential only), and the
    /// reason of a hold (nil: not on hold). Nothing on hold is ever deleted.
    public var category: RetentionCategory
    public var caseReference: String?
    public var holdReason: String?
    /// The tombstone of a deleted recording: when and why. A deleted recording is neither listed nor served.
    public var deletedUTC: Int64?
    public var deletedReason: String?
    /// When the retention job removed the deleted recording's blobs (nil: not yet, or a crash came between).
    public var purgedUTC: Int64?

    public init(recordingID: String, deviceID: String, officer: String?, trigger: String, startUTC: Int64, endUTC: Int64, markers: Int,
                frames: Int, bytes: Int, manifestSHA256: String, receivedUTC: Int64, receipt: [UInt8],
                category: RetentionCategory = .nonEvidential, caseReference: String? = nil, holdReason: String? = nil,
                deletedUTC: Int64? = nil, deletedReason: String? = nil, purgedUTC: Int64? = nil, pinFingerprint: String? = nil) {
        (self.recordingID, self.deviceID, self.officer, self.trigger) = (recordingID, deviceID, officer, trigger)
        (self.startUTC, self.endUTC, self.markers, self.frames, self.bytes) = (startUTC, endUTC, markers, frames, bytes)
        (self.manifestSHA256, self.receivedUTC, self.receipt) = (manifestSHA256, receivedUTC, receipt)
        (self.category, self.caseReference, self.holdReason) = (category, caseReference, holdReason)
        (self.deletedUTC, self.deletedReason, self.purgedUTC, self.pinFingerprint) = (deletedUTC, deletedReason, purgedUTC, pinFingerprint)
    }

    public var isDeleted: Bool { deletedUTC != nil }
}

/// What `GET /v1/recordings` filters on; nil fields do not filter.
public struct RecordingFilter: Equatable, Sendable {
    public var deviceID: String?
    public var officer: String?
    /// Recordings that overlap [from, to].
    public var from: Int64?
    public var to: Int64?
    public var trigger: String?
    /// Only recordings with at least one marker.
    public var withMarkers = false
    /// Deleted recordings (tombstones) instead of live ones.
    public var deleted = false
    public var limit = 1000
    /// Rows to skip (paging through everything, as verify-store does).
    public var offset = 0
    public init(deviceID: String? = nil, officer: String? = nil, from: Int64? = nil, to: Int64? = nil, trigger: String? = nil) {
        (self.deviceID, self.officer, self.from, self.to, self.trigger) = (deviceID, officer, from, to, trigger)
    }
}

/// The reads and writes of one catalogue transaction. Everything done through one value commits together
/// or not at all, which is how a custody entry lands with the change it records.
public protocol CatalogueTransaction {
    func device(_ id: String) throws -> DeviceRecord?
    func devices() throws -> [DeviceRecord]
    func saveDevice(_ device: DeviceRecord) throws
    /// Every key the device was enrolled with, oldest first (its current one last).
    func pins(deviceID: String) throws -> [PinRecord]
    /// Adds a pin to the history, or saves its revocation.
    func savePin(_ pin: PinRecord) throws

    func insertToken(_ token: EnrolmentToken) throws
    func token(sha256: String) throws -> EnrolmentToken?
    func tokens(deviceID: String) throws -> [EnrolmentToken]
    func markTokenUsed(sha256: String, utc: Int64) throws

    func officer(_ id: String) throws -> OfficerRecord?
    func officers() throws -> [OfficerRecord]
    func saveOfficer(_ officer: OfficerRecord) throws

    func user(name: String) throws -> UserRecord?
    func user(tokenSHA256: String) throws -> UserRecord?
    func insertUser(_ user: UserRecord) throws

    func file(deviceID: String, folder: String, file: String) throws -> FileRecord?
    func insertFile(_ file: FileRecord) throws
    /// The files held in one folder of a device (a recording's, or `audit`), by name.
    func files(deviceID: String, folder: String) throws -> [FileRecord]
    /// Every file not belonging to a deleted recording (what the blob store must hold), by device, folder, name.
    func liveFiles() throws -> [FileRecord]
    /// True if a file not belonging to a deleted recording has this SHA-256 (its blob must stay).
    func isReferencedByLiveFile(sha256: String) throws -> Bool

    func recording(_ id: String) throws -> RecordingRecord?
    func recordings(_ filter: RecordingFilter) throws -> [RecordingRecord]
    func insertRecording(_ recording: RecordingRecord) throws
    /// Saves the retention fields (category, case reference, hold) of a recording.
    func updateRetention(_ recording: RecordingRecord) throws
    /// Live recordings not on hold whose retention ended: non-evidential ones that ended (or arrived, if
    /// later: what retention counts from) at or before `nonEvidentialEnd`, evidential ones at or before
    /// `evidentialEnd`. Oldest first.
    func expiredRecordings(nonEvidentialEnd: Int64, evidentialEnd: Int64, limit: Int) throws -> [RecordingRecord]
    /// Makes a recording a tombstone: when and why it was deleted.
    func markDeleted(recordingID: String, utc: Int64, reason: String) throws
    /// Deleted recordings whose blobs may not all be removed yet.
    func unpurgedRecordings() throws -> [RecordingRecord]
    func markPurged(recordingID: String, utc: Int64) throws

    /// The last custody line (seq and bytes), nil for an empty log.
    func lastCustody() throws -> (seq: Int, line: [UInt8])?
    func appendCustody(seq: Int, line: [UInt8]) throws
    /// Lines from `seq` on, in order.
    func custodyLines(from seq: Int) throws -> [[UInt8]]

    /// The service public key the catalogue was first opened with (nil: no service has opened it yet).
    /// Every node sharing a catalogue must sign with it: receipts from any node must verify on every camera.
    func serviceKey() throws -> PublicKey?
    /// Records the service key once; a catalogue that holds one already refuses another.
    func saveServiceKey(_ key: PublicKey) throws
}

/// One upload name claimed across every node sharing the catalogue (`Catalogue.tryLockUpload`).
public protocol UploadLease: Sendable {
    /// Gives the claim up. Never fails: a lease that cannot be released is dropped with what held it.
    func release() async
}

/// Where the catalogue lives: SQLite through GRDB here; PostgreSQL for a fleet. Writes are serialized.
public protocol Catalogue: Sendable {
    func read<T: Sendable>(_ body: @escaping @Sendable (any CatalogueTransaction) throws -> T) async throws -> T
    func write<T: Sendable>(_ body: @escaping @Sendable (any CatalogueTransaction) throws -> T) async throws -> T
    /// The same, blocking: for the administrator's commands, which run outside any server.
    func readNow<T>(_ body: (any CatalogueTransaction) throws -> T) throws -> T
    func writeNow<T>(_ body: (any CatalogueTransaction) throws -> T) throws -> T
    /// Claims an upload name (`device/folder/file`) against every other node sharing this catalogue, for one
    /// chunk or finish; nil while another node holds it. Ingest's own busy set covers this process.
    func tryLockUpload(_ key: String) async throws -> (any UploadLease)?
}
