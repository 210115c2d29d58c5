import Foundation

/// A statement the records service signs with its own key: one JSON line closed by its signature, in the
/// same form as an audit entry (`...,"sig":"<base64>"}`).
///
/// - `pin`: the service enrolled `device_id` with `device_key` (what a court bundle carries, so a checker
///   who trusts only the force's key can trust the device key).
/// - `receipt`: the service holds `recording_id`, whose signed manifest has `manifest_sha256`, every
///   segment verified, durable and catalogued. Only this lets a camera delete its copy. Since pin history
///   it also names `device_key`, the pinned key the manifest was verified with (the pin it was received
///   under): an optional field this format always had, so readers of every version accept it, and
///   receipts without it stay valid.
/// - `assignment` / `checkin`: `officer` checked the camera out, or it was checked back in.
public struct ServiceStatement: Equatable, Sendable {
    public static let format = "bodycam-statement/1"
    public static let maxBytes = 4096

    public enum Kind: String, Sendable, Codable { case pin, receipt, assignment, checkin }

    public var kind: Kind
    /// Fingerprint of the service key that signs.
    public var service: String
    public var deviceID: String
    public var utc: Int64
    /// The custody log entry that records this (its sequence number).
    public var custodySeq: Int
    public var deviceKey: PublicKey?
    public var recordingID: String?
    public var manifestSHA256: String?
    public var officer: String?

    public init(kind: Kind, service: String, deviceID: String, utc: Int64, custodySeq: Int, deviceKey: PublicKey? = nil,
                recordingID: String? = nil, manifestSHA256: String? = nil, officer: String? = nil) {
        (self.kind, self.service, self.deviceID, self.utc, self.custodySeq) = (kind, service, deviceID, utc, custodySeq)
        (self.deviceKey, self.recordingID, self.manifestSHA256, self.officer) = (deviceKey, recordingID, manifestSHA256, officer)
    }

    /// The signed part: the JSON object without its closing brace (the signature field closes it).
    public var signedBody: [UInt8] {
        var fields: [(String, JSON)] = [
            ("format", .string(Self.format)), ("kind", .string(kind.rawValue)), ("service", .string(service)),
            ("device_id", .string(deviceID)), ("utc", .string(UTC.iso(utc))), ("custody_seq", .int(Int64(custodySeq))),
        ]
        if let k = deviceKey { fields.append(("device_key", .string(k.hex))) }
        if let r = recordingID { fields.append(("recording_id", .string(r))) }
        if let m = manifestSHA256 { fields.append(("manifest_sha256", .string(m))) }
        if let o = officer { fields.append(("officer", .string(o))) }
        return Array(JSON.object(fields).serialized.utf8.dropLast())
    }

    /// The statement signed with the service's key: the line as sent and stored (with a newline).
    public func signed(_ sign: ([UInt8]) -> Signature) -> [UInt8] {
        let body = signedBody
        return body + AuditTrail.signatureField(sign(body)) + [10]
    }

    private struct Wire: Decodable {
        var format: String
        var kind: Kind
        var service: String
        var device_id: String
        var utc: String
        var custody_seq: Int
        var device_key: String?
        var recording_id: String?
        var manifest_sha256: String?
        var officer: String?
    }

    /// Parses a signed statement and checks its signature against `key` (the service key the checker was
    /// told to trust, or the one the camera pinned at enrolment). Total: a clear error for anything else.
    public static func verify(_ bytes: [UInt8], key: PublicKey) throws(EvidenceError) -> ServiceStatement {
        guard bytes.count <= maxBytes, bytes.last == 10 else { throw EvidenceError("not a service statement (one line)") }
        let line = bytes.dropLast()
        guard !line.contains(10), let (body, signature) = AuditTrail.splitSignature(line) else {
            throw EvidenceError("not a signed service statement")
        }
        guard key.isValidSignature(signature, for: body) else {
            throw EvidenceError("its signature does not verify with the service key \(key.fingerprint)")
        }
        let w: Wire
        do { w = try JSONDecoder().decode(Wire.self, from: Data(body + [UInt8(ascii: "}")])) } catch {
            throw EvidenceError("not a \(format) statement")
        }
        guard w.format == format else { throw EvidenceError("unknown format") }
        guard FrameStamp.isValidDeviceID(w.device_id), let utc = UTC.parse(w.utc), w.custody_seq >= 1 else {
            throw EvidenceError("device id, time or custody sequence not valid")
        }
        var key: PublicKey?
        if let hex = w.device_key {
            guard let k = PublicKey(hex: hex) else { throw EvidenceError("device_key is not a key") }
            key = k
        }
        if let r = w.recording_id {
            guard let id = EvidenceNames.RecordingID.parse(r), id.deviceID == w.device_id else { throw EvidenceError("recording id not valid") }
        }
        if let m = w.manifest_sha256, !Hex.isDigest(m) { throw EvidenceError("manifest_sha256 is not a SHA-256") }
        if let o = w.officer, !EvidenceNames.isValidOfficerID(o) { throw EvidenceError("officer is not a valid officer id") }
        let s = ServiceStatement(kind: w.kind, service: w.service, deviceID: w.device_id, utc: utc, custodySeq: w.custody_seq,
                                 deviceKey: key, recordingID: w.recording_id, manifestSHA256: w.manifest_sha256, officer: w.officer)
        switch s.kind {
        case .pin: guard s.deviceKey != nil else { throw EvidenceError("a pin without a device key") }
        case .receipt: guard s.recordingID != nil, s.manifestSHA256 != nil else { throw EvidenceError("a receipt without a recording") }
        case .assignment: guard s.officer != nil else { throw EvidenceError("an assignment without an officer") }
        case .checkin: break
        }
        guard s.signedBody == body else { throw EvidenceError("not in the form the service writes (edited?)") }
        return s
    }
}
