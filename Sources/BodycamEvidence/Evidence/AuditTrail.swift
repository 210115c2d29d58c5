import Crypto
import Foundation

/// One line of the audit trail, as read back. Only the fields readers use are typed; the hash chain
/// covers every byte of the line.
public struct AuditEntry: Decodable, Sendable {
    public var seq: Int
    public var utc: String
    public var t: Double
    public var event: String
    public var prev: String
    public var signature: String?
    /// checkpoint: entries covered (this one included)
    public var entries: Int?
    /// recording-started/-stopped name the recording `id`; the others `recording`
    public var id: String?
    public var recording: String?
    public var trigger: String?
    /// recording-started: the officer the camera was assigned to
    public var officer: String?
    public var prerecord_s: Double?
    public var number: Int?
    public var frame_seq: UInt64?
    public var manifest_sha256: String?
    /// recovery: what was done
    public var action: String?
    /// boot: how many times this device has booted
    public var boot: Int?

    /// The recording an entry is about, whichever field names it.
    public var recordingID: String? { recording ?? id }
}

/// The signed head of the audit trail: how many entries, how many bytes, and the hash of the last line,
/// signed by the device at every checkpoint (the checkpoint line itself included). A trail cut short, or
/// with any line changed, no longer matches its head. Kept beside the trail as `audit-head.json`, and
/// handed to central records at every dock.
public struct AuditHead: Equatable, Sendable {
    public static let format = "bodycam-audit-head/1"
    public static let fileName = "audit-head.json"
    public var deviceID: String
    public var entries: Int
    public var bytes: Int
    public var lastSHA256: String
    public var utc: Int64
    public var signature: Signature

    public init(deviceID: String, entries: Int, bytes: Int, lastSHA256: String, utc: Int64, signature: Signature) {
        (self.deviceID, self.entries, self.bytes, self.lastSHA256, self.utc) = (deviceID, entries, bytes, lastSHA256, utc)
        self.signature = signature
    }

    /// What the signature covers.
    public static func message(deviceID: String, entries: Int, bytes: Int, lastSHA256: String, utc: Int64) -> [UInt8] {
        Array("\(format) \(deviceID) \(entries) \(bytes) \(lastSHA256) \(UTC.iso(utc))".utf8)
    }
    public var message: [UInt8] { Self.message(deviceID: deviceID, entries: entries, bytes: bytes, lastSHA256: lastSHA256, utc: utc) }

    public var fileBytes: [UInt8] {
        Array((JSON.object([("format", .string(Self.format)), ("device_id", .string(deviceID)), ("entries", .int(Int64(entries))),
                            ("bytes", .int(Int64(bytes))), ("last_sha256", .string(lastSHA256)), ("utc", .string(UTC.iso(utc))),
                            ("signature", .string(signature.base64))]).serialized + "\n").utf8)
    }

    private struct Wire: Decodable {
        var format: String, device_id: String, entries: Int, bytes: Int, last_sha256: String, utc: String, signature: String
    }

    public static func parse(_ bytes: [UInt8]) throws(EvidenceError) -> AuditHead {
        guard bytes.count <= 4096, let w = try? JSONDecoder().decode(Wire.self, from: Data(bytes)) else {
            throw EvidenceError("not an audit head")
        }
        guard w.format == format, FrameStamp.isValidDeviceID(w.device_id), w.entries >= 1, w.bytes >= 1,
              Hex.isDigest(w.last_sha256), let utc = UTC.parse(w.utc), let sig = Signature(base64: w.signature) else {
            throw EvidenceError("audit head fields out of range")
        }
        let head = AuditHead(deviceID: w.device_id, entries: w.entries, bytes: w.bytes, lastSHA256: w.last_sha256, utc: utc, signature: sig)
        guard head.fileBytes == bytes else { throw EvidenceError("audit head is not in the form the camera writes (edited?)") }
        return head
    }

    public static func read(_ path: String) throws(EvidenceError) -> AuditHead {
        let bytes: [UInt8]
        do { bytes = try FileBytes.contents(path, limit: 4096) } catch { throw EvidenceError("\(error)") }
        do { return try parse(bytes) } catch { throw EvidenceError("\(path): \(error.message)") }
    }
}

/// The audit trail read back and checked: every line an entry in sequence, each holding the SHA-256 of
/// the line before it. Shared by the camera (at boot), recovery, the offloader and `bodycam verify`.
public struct AuditTrail: Sendable {
    public static let fileName = "audit.jsonl"
    /// The `prev` of the first entry.
    public static let genesis = String(repeating: "0", count: 64)
    /// The signed head sits beside the trail.
    public static func headPath(forTrail path: String) -> String {
        (path.lastIndex(of: "/").map { String(path[...$0]) } ?? "") + AuditHead.fileName
    }
    public static let maxFileBytes = 256 << 20

    public struct Line: Sendable {
        public var entry: AuditEntry
        /// What the entry's own signature covers (the line up to `,"sig":`), and the signature.
        public var signedBody: [UInt8]
        public var signature: Signature
        /// SHA-256 of the line's bytes (without its newline): the next line's `prev`.
        public var sha256: String
        /// Bytes of the trail up to and including this line's newline.
        public var endOffset: Int
        public var utc: Int64
    }

    public private(set) var lines: [Line] = []

    public init() {}
    public var lastSHA256: String { lines.last?.sha256 ?? AuditTrail.genesis }
    public var byteCount: Int { lines.last?.endOffset ?? 0 }

    /// Parses and checks the hash chain. Throws at the first broken entry, naming it.
    public static func parse(_ bytes: [UInt8]) throws(EvidenceError) -> AuditTrail {
        var trail = AuditTrail()
        guard bytes.count <= maxFileBytes else { throw EvidenceError("larger than any audit trail (\(bytes.count) bytes)") }
        guard bytes.isEmpty || bytes.last == 10 else { throw EvidenceError("the last entry is cut short") }
        var start = 0
        var prev = AuditTrail.genesis
        let decoder = JSONDecoder()
        while start < bytes.count {
            let end = bytes[start...].firstIndex(of: 10)!
            let line = bytes[start..<end]
            let n = trail.lines.count + 1
            guard let entry = try? decoder.decode(AuditEntry.self, from: Data(line)) else {
                throw EvidenceError("audit entry \(n): not an audit entry")
            }
            guard let (body, signature) = Self.splitSignature(line) else {
                throw EvidenceError("audit entry \(n): not signed (no sig field at its end)")
            }
            guard entry.seq == n else { throw EvidenceError("audit entry \(n): out of sequence (seq \(entry.seq))") }
            guard entry.prev == prev else {
                throw EvidenceError("audit entry \(n): hash chain broken: an entry before it was changed, removed or reordered")
            }
            guard let utc = UTC.parse(entry.utc) else { throw EvidenceError("audit entry \(n): utc is not a time") }
            let digest = Hex.sha256(line)
            trail.lines.append(Line(entry: entry, signedBody: body, signature: signature, sha256: digest, endOffset: end + 1, utc: utc))
            prev = digest
            start = end + 1
        }
        return trail
    }

    static let sigPrefix = Array(#","sig":""#.utf8)

    /// `,"sig":"<base64>"}`: an entry's own signature closes its line.
    public static func signatureField(_ signature: Signature) -> [UInt8] {
        sigPrefix + Array(signature.base64.utf8) + Array(#""}"#.utf8)
    }

    /// The signed part of a line and its signature, if the line ends with exactly `,"sig":"<base64>"}`.
    public static func splitSignature(_ line: ArraySlice<UInt8>) -> ([UInt8], Signature)? {
        // A 64-byte signature is 88 base64 characters.
        let tail = sigPrefix.count + 88 + 2
        guard line.count > tail else { return nil }
        let start = line.endIndex - tail
        guard line[start..<(start + sigPrefix.count)].elementsEqual(sigPrefix), line[line.endIndex - 2] == UInt8(ascii: "\""),
              line[line.endIndex - 1] == UInt8(ascii: "}"),
              let sig = Signature(base64: String(decoding: line[(start + sigPrefix.count)..<(line.endIndex - 2)], as: UTF8.self))
        else { return nil }
        return (Array(line[line.startIndex..<start]), sig)
    }

    /// Each entry's own signature, by `key`, from entry `first` (1-based) on. Everything up to a signed head
    /// is already covered by the head and the hash chain, so boot checks only what comes after it.
    public func checkEntrySignatures(key: PublicKey, from first: Int = 1) throws(EvidenceError) {
        for i in max(first, 1) - 1..<lines.count where !key.isValidSignature(lines[i].signature, for: lines[i].signedBody) {
            throw EvidenceError("audit entry \(i + 1): its signature does not match (added or edited without the device key)")
        }
    }

    /// Every checkpoint's signature of the chain head before it, by `key`.
    public func checkCheckpoints(key: PublicKey) throws(EvidenceError) {
        var prev = AuditTrail.genesis
        for (i, line) in lines.enumerated() {
            if line.entry.event == "checkpoint" {
                guard let text = line.entry.signature, let sig = Signature(base64: text),
                      key.isValidSignature(sig, for: Array(prev.utf8)) else {
                    throw EvidenceError("audit checkpoint \(i + 1): signature does not match the chain (or another key signed it)")
                }
            }
            prev = line.sha256
        }
    }

    public var checkpoints: Int { lines.filter { $0.entry.event == "checkpoint" }.count }

    /// The signed head matches the trail: no entry it covers was changed, and none was cut off.
    public func check(head: AuditHead, key: PublicKey, deviceID: String) throws(EvidenceError) {
        guard head.deviceID == deviceID else { throw EvidenceError("audit head: names device \(head.deviceID), not \(deviceID)") }
        guard key.isValidSignature(head.signature, for: head.message) else {
            throw EvidenceError("audit head: signature does not match (edited, or signed by another key)")
        }
        guard head.entries <= lines.count else {
            throw EvidenceError("audit head: signed for \(head.entries) entries, the trail has \(lines.count): entries were cut off")
        }
        let line = lines[head.entries - 1]
        guard line.sha256 == head.lastSHA256, line.endOffset == head.bytes else {
            throw EvidenceError("audit head: entry \(head.entries) is not the one that was signed")
        }
    }

    /// Time only moves forward, except at a logged clock correction (a dock sync may set it back).
    public func checkTimeOrder() throws(EvidenceError) {
        var last: Int64 = .min
        for (i, line) in lines.enumerated() {
            let corrects = line.entry.event == "clock-sync" || line.entry.event == "clock"
            if line.utc < last && !corrects {
                throw EvidenceError("audit entry \(i + 1): time goes backwards (\(line.entry.utc) after \(UTC.iso(last))) without a logged clock correction")
            }
            last = line.utc
        }
    }

    /// What the trail says about each recording: the last manifest hash it logged, whether it started,
    /// was offloaded, and what recovery needs (trigger, pre-record, markers).
    public struct RecordingFacts: Sendable {
        public var started = false
        public var trigger: String?
        public var officer: String?
        public var prerecordSeconds: Double?
        public var loggedManifestSHA256: String?
        public var offloaded = false
        public var markers: [Marker] = []
    }

    public func facts() -> [String: RecordingFacts] {
        var facts: [String: RecordingFacts] = [:]
        for line in lines { Self.note(line.entry, utc: line.utc, into: &facts) }
        return facts
    }

    /// Adds what one entry says about its recording to `facts`: the one rule, for a trail read back and for
    /// the live log (`AuditLog.facts`).
    public static func note(_ e: AuditEntry, utc: Int64, into facts: inout [String: RecordingFacts]) {
        guard let id = e.recordingID else { return }
        switch e.event {
        case "recording-started":
            facts[id, default: RecordingFacts()].started = true
            facts[id]!.trigger = e.trigger
            facts[id]!.officer = e.officer.flatMap { EvidenceNames.isValidOfficerID($0) ? $0 : nil }
            facts[id]!.prerecordSeconds = e.prerecord_s
        case "recording-finalized":
            facts[id, default: RecordingFacts()].loggedManifestSHA256 = e.manifest_sha256
        case "recovery" where e.manifest_sha256 != nil:
            facts[id, default: RecordingFacts()].loggedManifestSHA256 = e.manifest_sha256
        case "offloaded":
            facts[id, default: RecordingFacts()].offloaded = true
        case "marker":
            if let number = e.number, let seq = e.frame_seq {
                facts[id, default: RecordingFacts()].markers.append(Marker(number: number, utc: utc, frameSeq: seq))
            }
        default:
            break
        }
    }
}
