import BodycamEvidence
import Crypto
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// The device's append-only audit trail (JSON Lines). Every entry carries the SHA-256 of the entry before
/// it (`prev`), so editing, removing or reordering any entry breaks the chain; checkpoints sign the chain
/// head with the device key, and after each one the signed head (`AuditHead`: entry count, byte count,
/// hash of the last line) is written beside the trail, so cutting the trail short is detected too.
///
///     {"seq":12,"utc":"...","t":40.2,"event":"recording-started","id":"BWV-0001-000001",...,"prev":"9f2c..."}
///     {"seq":13,"utc":"...","t":55.0,"event":"checkpoint","entries":13,"prev":"41ab...","signature":"..."}
///
/// An entry's `utc` is when it was logged and never goes backwards, except at a clock correction
/// (`clock-sync`, `clock`): the checker relies on that.
public final class AuditLog: @unchecked Sendable {
    public static let fileName = AuditTrail.fileName
    public static let genesis = AuditTrail.genesis
    public static let checkpointEvery = 100

    public let path: String
    public var headPath: String { Self.headPath(forTrail: path) }
    private let identity: DeviceIdentity
    private let lock = ConditionLock()
    private var file: PosixFile
    private var seq = 0
    private var bytes = 0
    private var lastHash = AuditLog.genesis
    private var sinceCheckpoint = 0
    private var lastUTCWritten: Int64 = .min

    public static func headPath(forTrail path: String) -> String { AuditTrail.headPath(forTrail: path) }

    /// The trail on disk does not check out against the device's own key: the camera quarantines it.
    public struct Damaged: Error, CustomStringConvertible {
        public var reason: String
        public var description: String { reason }
    }

    /// Opens (or starts) the log. A last line cut short by a crash is removed (`repairedBytes` says so);
    /// anything else wrong (a broken chain or signature, a head that does not match) throws `Damaged`.
    public init(path: String, identity: DeviceIdentity) throws {
        self.path = path
        self.identity = identity
        var repaired = 0
        var trail = AuditTrail()
        var existing: [UInt8] = []
        do { existing = try FileBytes.contents(path, limit: AuditTrail.maxFileBytes) } catch {
            if case .missing = error {} else { throw Damaged(reason: "\(error)") }
        }
        var end = existing.count
        while end > 0 && existing[end - 1] != 10 { end -= 1 } // drop a partial last line
        repaired = existing.count - end
        if repaired > 0 {
            existing.removeLast(repaired)
            guard truncate(path, off_t(end)) == 0 else { throw IOError(operation: "truncate", path: path, errno: errno) }
        }
        do throws(EvidenceError) {
            trail = try AuditTrail.parse(existing)
            try trail.checkCheckpoints(key: identity.publicKey)
            var covered = 0
            if let head = try? FileBytes.contents(Self.headPath(forTrail: path), limit: 4096) {
                let h = try AuditHead.parse(head)
                try trail.check(head: h, key: identity.publicKey, deviceID: identity.deviceID)
                covered = h.entries
            } else if trail.checkpoints > 0 {
                throw EvidenceError("the signed audit head (\(AuditHead.fileName)) is missing")
            }
            // Entries written after the last signed head (a crash) must each carry the device's signature.
            try trail.checkEntrySignatures(key: identity.publicKey, from: covered + 1)
        } catch {
            throw Damaged(reason: error.message)
        }
        let fd = retrying { open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | O_NOFOLLOW, 0o640) }
        guard fd >= 0 else { throw IOError(operation: "open", path: path, errno: errno) }
        file = PosixFile(fd: fd, path: path)
        repairedBytes = repaired
        seq = trail.lines.count
        bytes = trail.byteCount
        lastHash = trail.lastSHA256
        lastUTC = trail.lines.last?.utc
        lastUTCWritten = lastUTC ?? .min
        sinceCheckpoint = trail.lines.count - (trail.lines.lastIndex { $0.entry.event == "checkpoint" }.map { $0 + 1 } ?? 0)
        boots = min(trail.lines.last { $0.entry.event == "boot" }?.entry.boot ?? 0, DeviceCounters.maxBoots)
        factsByRecording = trail.facts()
        highestRecordingNumber = trail.lines.compactMap { $0.entry.recordingID.flatMap(EvidenceNames.RecordingID.parse)?.number }.max() ?? 0
    }

    deinit { file.close() }

    /// Bytes of a partial last entry removed when the log was opened (a crash mid-write).
    public let repairedBytes: Int
    /// UTC of the last entry found when the log was opened.
    public private(set) var lastUTC: Int64?
    /// The boot count of the last `boot` entry found when the log was opened.
    public private(set) var boots = 0
    /// What the trail says about each recording (recovery uses it), kept up to date as entries are added.
    public var facts: [String: AuditTrail.RecordingFacts] { lock.withLock { factsByRecording } }
    private var factsByRecording: [String: AuditTrail.RecordingFacts] = [:]
    /// The highest recording counter the trail names (ids never repeat).
    public private(set) var highestRecordingNumber = 0

    public var entries: Int { lock.withLock { seq } }

    /// Appends one entry. Failures to write are returned, not thrown: the camera keeps working.
    @discardableResult
    public func append(_ event: String, mono: Nanos, utc: Int64, _ fields: [(String, JSON)] = []) -> IOError? {
        lock.withLock {
            let e = write(event, mono: mono, utc: utc, fields)
            if e == nil && sinceCheckpoint >= AuditLog.checkpointEvery { return writeCheckpoint(mono: mono, utc: utc).error }
            return e
        }
    }

    /// Makes every entry written so far durable (the writer calls it when a recording's first segment is
    /// made, so the entry that started it survives a power cut together with its frames).
    /// Makes every entry so far durable. Returns the failure, if any: a caller that deletes something on
    /// the strength of an entry (a receipt) must not go on after one.
    @discardableResult
    public func sync() -> IOError? {
        lock.withLock {
            retrying { fdatasync(file.fd) } == 0 ? nil : IOError(operation: "fdatasync", path: path, errno: errno)
        }
    }

    /// Signs the chain head, makes the log durable and writes the signed head (shutdown, dock, boot,
    /// every 100 entries). Returns the head, which covers the checkpoint entry itself.
    @discardableResult
    public func checkpoint(mono: Nanos, utc: Int64) -> (head: AuditHead?, error: IOError?) {
        lock.withLock { writeCheckpoint(mono: mono, utc: utc) }
    }

    private func writeCheckpoint(mono: Nanos, utc: Int64) -> (head: AuditHead?, error: IOError?) {
        let signature = identity.sign(Array(lastHash.utf8))
        if let e = write("checkpoint", mono: mono, utc: utc, [("entries", .int(Int64(seq + 1)))], signature: signature.base64) {
            return (nil, e)
        }
        sinceCheckpoint = 0
        do { try file.sync() } catch { return (nil, error) }
        let at = lastUTCWritten
        let head = AuditHead(deviceID: identity.deviceID, entries: seq, bytes: bytes, lastSHA256: lastHash, utc: at,
                             signature: identity.sign(AuditHead.message(deviceID: identity.deviceID, entries: seq, bytes: bytes,
                                                                        lastSHA256: lastHash, utc: at)))
        do { try FileBytes.writeDurably(headPath, head.fileBytes) } catch { return (nil, error) }
        return (head, nil)
    }

    private func write(_ event: String, mono: Nanos, utc: Int64, _ fields: [(String, JSON)], signature: String? = nil) -> IOError? {
        // Logged time never goes backwards: an entry about an earlier frame (the writer's) is logged at the
        // time of the entry before it. Only a clock correction may set the time back.
        let corrects = event == "clock-sync" || event == "clock"
        let at = corrects ? utc : max(utc, lastUTCWritten)
        var all: [(String, JSON)] = [("seq", .int(Int64(seq + 1))), ("utc", .string(UTC.iso(at))),
                                     ("t", .double(Double(mono / Nanos.perMillisecond) / 1000)), ("event", .string(event))]
        all += fields
        all.append(("prev", .string(lastHash)))
        if let signature { all.append(("signature", .string(signature))) }
        // Every entry is signed by the device, so no entry can be added or changed without the key, even
        // after the last signed head: `sig` covers the line up to it.
        let body = Array(JSON.object(all).serialized.utf8.dropLast())
        let line = body + AuditTrail.signatureField(identity.sign(body))
        var failure: IOError?
        (line + [10]).withUnsafeBytes { b in
            do throws(IOError) { try file.write(b) } catch { failure = error }
        }
        if let failure { return failure }
        seq += 1
        bytes += line.count + 1
        sinceCheckpoint += 1
        lastUTCWritten = at
        lastHash = Hex.sha256(line)
        // The entry, read back as any reader would, updates what the trail says about its recording.
        if let entry = try? JSONDecoder().decode(AuditEntry.self, from: Data(line)) {
            AuditTrail.note(entry, utc: UTC.parse(entry.utc) ?? at, into: &factsByRecording)
        }
        return nil
    }
}
