import BodycamEvidence

/// What the camera keeps of its enrolment at the records service, in `state/records-enrolment`: the
/// service's key (pinned at the first dock, when the answer proved it knew the one-time token) and the
/// service's signed pin of this camera's key.
///
///     RECORDS ed25519 <64 hex digits>
///     {"format":"bodycam-statement/1","kind":"pin",...,"sig":"..."}
///
/// Read strictly: a damaged file means "not enrolled" (the camera then needs a new token), never a
/// trap and never a key taken on trust.
public struct RecordsEnrolment: Equatable, Sendable {
    public static let fileName = "records-enrolment"
    public var serviceKey: PublicKey
    public var pin: [UInt8]

    public init(serviceKey: PublicKey, pin: [UInt8]) {
        self.serviceKey = serviceKey
        self.pin = pin
    }

    public var bytes: [UInt8] { Array("RECORDS ed25519 \(serviceKey.hex)\n".utf8) + pin }

    /// Parses the file and checks the pin against the service key and this device.
    public static func parse(_ bytes: [UInt8], device: DeviceInfo) throws(EvidenceError) -> RecordsEnrolment {
        guard let newline = bytes.firstIndex(of: 10) else { throw EvidenceError("no key line") }
        let first = String(decoding: bytes[..<newline], as: UTF8.self)
        let prefix = "RECORDS ed25519 "
        guard first.hasPrefix(prefix), let key = PublicKey(hex: first.dropFirst(prefix.count)) else {
            throw EvidenceError("the first line is not 'RECORDS ed25519 <hex>'")
        }
        let pin = Array(bytes[(newline + 1)...])
        let statement = try ServiceStatement.verify(pin, key: key)
        guard statement.kind == .pin, statement.deviceID == device.deviceID, statement.deviceKey == device.publicKey else {
            throw EvidenceError("the pin is not of this camera's key")
        }
        return RecordsEnrolment(serviceKey: key, pin: pin)
    }

    public static func load(stateDirectory: String, device: DeviceInfo) -> RecordsEnrolment? {
        guard let bytes = try? FileBytes.contents(stateDirectory + "/" + fileName, limit: ServiceStatement.maxBytes + 128) else { return nil }
        return try? parse(bytes, device: device)
    }

    public func save(stateDirectory: String) throws(IOError) {
        try FileBytes.writeDurably(stateDirectory + "/" + Self.fileName, bytes, mode: 0o644)
    }
}
