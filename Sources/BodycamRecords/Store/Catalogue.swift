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

    public init(recordingID: String, deviceID: String, officer: String?, trigger: String, startUTC: Int64, endUTC: Int64, markers: Int,
                frames: Int, bytes: Int, manifestSHA256: String, receivedUTC: Int64, receipt: [UInt8]) {
        (self.recordingID, self.deviceID, self.officer, self.trigger) = (recordingID, deviceID, officer, trigger)
        (self.startUTC, self.endUTC, self.markers, self.frames, self.bytes) = (startUTC, endUTC, markers, frames, bytes)
        (self.manifestSHA256, self.receivedUTC, self.receipt) = (manifestSHA256, receivedUTC, receipt)
    }
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
    public var limit = 1000
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

    func recording(_ id: String) throws -> RecordingRecord?
    func recordings(_ filter: RecordingFilter) throws -> [RecordingRecord]
    func insertRecording(_ recording: RecordingRecord) throws

    /// The last custody line (seq and bytes), nil for an empty log.
    func lastCustody() throws -> (seq: Int, line: [UInt8])?
    func appendCustody(seq: Int, line: [UInt8]) throws
    /// Lines from `seq` on, in order.
    func custodyLines(from seq: Int) throws -> [[UInt8]]
}

/// Where the catalogue lives: SQLite through GRDB here; PostgreSQL for a fleet. Writes are serialized.
public protocol Catalogue: Sendable {
    func read<T: Sendable>(_ body: @escaping @Sendable (any CatalogueTransaction) throws -> T) async throws -> T
    func write<T: Sendable>(_ body: @escaping @Sendable (any CatalogueTransaction) throws -> T) async throws -> T
    /// The same, blocking: for the administrator's commands, which run outside any server.
    func readNow<T>(_ body: (any CatalogueTransaction) throws -> T) throws -> T
    func writeNow<T>(_ body: (any CatalogueTransaction) throws -> T) throws -> T
}
