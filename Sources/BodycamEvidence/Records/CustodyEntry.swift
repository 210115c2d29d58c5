import Foundation

/// One entry of the records service's chain-of-custody log: who did what to which device, recording or
/// officer, when. One JSON line, in the same signed-line form as an audit entry:
///
///     {"format":"bodycam-custody/1","seq":1,"prev":"000…0","utc":"2026-…Z","actor":"DEV-000001","action":"enrol",
///      "device_id":"DEV-000001","recording_id":null,"officer":null,"detail":"…","sig":"<base64>"}
///
/// `prev` is the SHA-256 of the previous line (without its newline), so an entry changed, removed or
/// reordered breaks the chain; `sig` is the service key's signature of the line up to `,"sig":`, so an
/// entry added by anyone without that key is found. This type is the format's only writer and reader.
public struct CustodyEntry: Equatable, Sendable {
    public static let format = "bodycam-custody/1"
    /// The longest line the service writes (the detail is cut to fit); longer lines are refused.
    public static let maxLineBytes = 2048
    public static let maxDetailBytes = 600
    public static let maxActorBytes = 64

    public enum Action: String, Sendable, CaseIterable, Codable {
        case enrol, revoke, refused, upload, receipt, assign, checkin, view, download, export, category, hold, release, delete, officer, user
    }

    public var seq: Int
    /// SHA-256 of the previous line, or 64 zeros for the first.
    public var prev: String
    public var utc: Int64
    /// Who: a device id, a user name, `admin` (the service host's tools) or `service`.
    public var actor: String
    public var action: Action
    public var deviceID: String?
    public var recordingID: String?
    public var officer: String?
    public var detail: String

    public init(seq: Int, prev: String, utc: Int64, actor: String, action: Action, deviceID: String? = nil,
                recordingID: String? = nil, officer: String? = nil, detail: String) {
        (self.seq, self.prev, self.utc, self.actor, self.action) = (seq, prev, utc, actor, action)
        (self.deviceID, self.recordingID, self.officer) = (deviceID, recordingID, officer)
        self.detail = Self.fit(detail, Self.maxDetailBytes)
    }

    /// An actor is 1-64 printable ASCII characters without quotes or backslashes (ids and user names are
    /// narrower still), so the field never needs escaping.
    public static func isValidActor(_ actor: String) -> Bool {
        (1...maxActorBytes).contains(actor.utf8.count) && actor.utf8.allSatisfy { $0 > 32 && $0 < 127 && $0 != 34 && $0 != 92 }
    }

    /// The signed part: the JSON object without its closing brace (the signature field closes it).
    public var signedBody: [UInt8] {
        func optional(_ s: String?) -> JSON { s.map { .string($0) } ?? .null }
        let json = JSON.object([
            ("format", .string(Self.format)), ("seq", .int(Int64(seq))), ("prev", .string(prev)), ("utc", .string(UTC.iso(utc))),
            ("actor", .string(actor)), ("action", .string(action.rawValue)), ("device_id", optional(deviceID)),
            ("recording_id", optional(recordingID)), ("officer", optional(officer)), ("detail", .string(detail)),
        ])
        return Array(json.serialized.utf8.dropLast())
    }

    /// The line as stored (without a newline), signed by `sign` (the service key).
    public func line(_ sign: ([UInt8]) -> Signature) -> [UInt8] {
        let body = signedBody
        return body + AuditTrail.signatureField(sign(body))
    }

    private struct Wire: Decodable {
        var format: String
        var seq: Int
        var prev: String
        var utc: String
        var actor: String
        var action: String
        var device_id: String?
        var recording_id: String?
        var officer: String?
        var detail: String
    }

    /// Parses one line (without its newline) strictly: every field valid, and writing the fields back gives
    /// exactly these bytes. Returns the entry, the signed part and the signature; the signature is not
    /// checked here (`CustodyLog.check`). Total: a clear error for anything else.
    public static func parse(_ line: ArraySlice<UInt8>) throws(EvidenceError) -> (entry: CustodyEntry, body: [UInt8], signature: Signature) {
        guard line.count <= maxLineBytes, !line.contains(10) else { throw EvidenceError("not one custody line") }
        guard let (body, signature) = AuditTrail.splitSignature(line) else { throw EvidenceError("not signed (no sig field at its end)") }
        let w: Wire
        do { w = try JSONDecoder().decode(Wire.self, from: Data(body + [UInt8(ascii: "}")])) } catch {
            throw EvidenceError("not a \(format) entry")
        }
        guard w.format == format else { throw EvidenceError("unknown format") }
        guard w.seq >= 1, Hex.isDigest(w.prev), let utc = UTC.parse(w.utc) else { throw EvidenceError("seq, prev or utc out of range") }
        guard isValidActor(w.actor), let action = Action(rawValue: w.action) else { throw EvidenceError("actor or action not valid") }
        if let d = w.device_id, !FrameStamp.isValidDeviceID(d) { throw EvidenceError("device_id is not a device id") }
        if let r = w.recording_id, EvidenceNames.RecordingID.parse(r) == nil { throw EvidenceError("recording_id is not a recording id") }
        if let o = w.officer, !EvidenceNames.isValidOfficerID(o) { throw EvidenceError("officer is not an officer id") }
        guard w.detail.utf8.count <= maxDetailBytes else { throw EvidenceError("detail too long") }
        let entry = CustodyEntry(seq: w.seq, prev: w.prev, utc: utc, actor: w.actor, action: action, deviceID: w.device_id,
                                 recordingID: w.recording_id, officer: w.officer, detail: w.detail)
        guard entry.signedBody == body else { throw EvidenceError("not in the form the service writes (edited?)") }
        return (entry, body, signature)
    }

    /// `text` cut to at most `limit` UTF-8 bytes on a character boundary.
    static func fit(_ text: String, _ limit: Int) -> String {
        guard text.utf8.count > limit else { return text }
        var out = ""
        for c in text {
            if out.utf8.count + c.utf8.count > limit - 3 { break }
            out.append(c)
        }
        return out + "..."
    }
}

/// The custody log as a whole: the chain checker shared by the service and `bodycam-records custody`.
public enum CustodyLog {
    /// The SHA-256 a following entry's `prev` must hold.
    public static func digest(_ line: [UInt8]) -> String { Hex.sha256(line) }

    /// Checks every line (each without its newline), in order: form, sequence from 1, hash chain, and the
    /// service key's signature. Throws at the first bad entry, naming it; returns the entries.
    public static func check(lines: [[UInt8]], key: PublicKey) throws(EvidenceError) -> [CustodyEntry] {
        let (entries, failure) = checkPrefix(lines: lines, key: key)
        if let failure { throw failure }
        return entries
    }

    /// The same, without throwing: the entries that check, up to the first that does not, and why it does not.
    public static func checkPrefix(lines: [[UInt8]], key: PublicKey) -> (entries: [CustodyEntry], failure: EvidenceError?) {
        var prev = AuditTrail.genesis
        var entries: [CustodyEntry] = []
        entries.reserveCapacity(lines.count)
        for (i, line) in lines.enumerated() {
            let n = i + 1
            let parsed: (entry: CustodyEntry, body: [UInt8], signature: Signature)
            do { parsed = try CustodyEntry.parse(line[...]) } catch { return (entries, EvidenceError("custody entry \(n): \(error.message)")) }
            guard parsed.entry.seq == n else { return (entries, EvidenceError("custody entry \(n): out of sequence (seq \(parsed.entry.seq))")) }
            guard parsed.entry.prev == prev else {
                return (entries, EvidenceError("custody entry \(n): hash chain broken: an entry before it was changed, removed or reordered"))
            }
            guard key.isValidSignature(parsed.signature, for: parsed.body) else {
                return (entries, EvidenceError("custody entry \(n): its signature does not verify with the service key \(key.fingerprint)"))
            }
            prev = digest(line)
            entries.append(parsed.entry)
        }
        return (entries, nil)
    }

    /// The log as one file's bytes (one line each, newline-terminated), split and checked.
    public static func check(bytes: [UInt8], key: PublicKey) throws(EvidenceError) -> [CustodyEntry] {
        guard bytes.isEmpty || bytes.last == 10 else { throw EvidenceError("custody log: the last entry is cut short") }
        let lines = bytes.split(separator: 10, omittingEmptySubsequences: false).dropLast().map { Array($0) }
        return try check(lines: lines, key: key)
    }
}
