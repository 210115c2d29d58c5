import Crypto
#if canImport(Glibc)
import Glibc
#endif

/// The device's append-only audit trail (JSON Lines). Every entry carries the SHA-256 of the entry before
/// it (`prev`), so editing, removing or reordering any entry breaks the chain; checkpoints sign the
/// chain head with the device key, so the chain cannot be rebuilt by someone without the key.
///
///     {"seq":12,"utc":"...","t":40.2,"event":"recording-started","recording":"BWV-0001-000001",...,"prev":"9f2c..."}
///     {"seq":13,"utc":"...","t":55.0,"event":"checkpoint","entries":13,"prev":"41ab...","signature":"..."}
public final class AuditLog: @unchecked Sendable {
    public static let fileName = "audit.jsonl"
    public static let genesis = String(repeating: "0", count: 64)
    public static let checkpointEvery = 100

    public let path: String
    private let identity: DeviceIdentity
    private let lock = ConditionLock()
    private var file: PosixFile
    private var seq = 0
    private var lastHash = AuditLog.genesis
    private var sinceCheckpoint = 0

    /// Opens (or starts) the log. A last line cut short by a crash is removed; `repairedBytes` says so.
    public init(path: String, identity: DeviceIdentity) throws(IOError) {
        self.path = path
        self.identity = identity
        var repaired = 0
        if let bytes = FileBytes.read(path) {
            var end = bytes.count
            while end > 0 && bytes[end - 1] != 10 { end -= 1 } // drop a partial last line
            repaired = bytes.count - end
            if repaired > 0 { truncate(path, off_t(end)) }
            for line in bytes[0..<end].split(separator: 10) {
                seq += 1
                lastUTC = JSONText.stringField("utc", in: String(decoding: line, as: UTF8.self)).flatMap(UTC.parse)
                lastHash = Hex.encode(SHA256.hash(data: Array(line)))
                sinceCheckpoint = String(decoding: line, as: UTF8.self).contains("\"event\":\"checkpoint\"") ? 0 : sinceCheckpoint + 1
            }
        }
        let fd = retrying { open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o640) }
        guard fd >= 0 else { throw IOError(operation: "open", path: path, errno: errno) }
        file = PosixFile(fd: fd, path: path)
        repairedBytes = repaired
    }

    deinit { file.close() }

    /// Bytes of a partial last entry removed when the log was opened (a crash mid-write).
    public let repairedBytes: Int
    /// UTC of the last entry found when the log was opened.
    public private(set) var lastUTC: Int64?

    public var entries: Int { lock.withLock { seq } }

    /// Appends one entry. Failures to write are returned, not thrown: the camera keeps working.
    @discardableResult
    public func append(_ event: String, mono: Nanos, utc: Int64, _ fields: [(String, JSON)] = []) -> IOError? {
        lock.withLock {
            let e = write(event, mono: mono, utc: utc, fields)
            if e == nil && sinceCheckpoint >= AuditLog.checkpointEvery { return writeCheckpoint(mono: mono, utc: utc) }
            return e
        }
    }

    /// Signs the chain head and makes the log durable (shutdown, dock, and every 100 entries).
    @discardableResult
    public func checkpoint(mono: Nanos, utc: Int64) -> IOError? {
        lock.withLock { writeCheckpoint(mono: mono, utc: utc) }
    }

    private func writeCheckpoint(mono: Nanos, utc: Int64) -> IOError? {
        let signature = identity.sign(Array(lastHash.utf8))
        if let e = write("checkpoint", mono: mono, utc: utc, [("entries", .int(Int64(seq + 1)))], signature: signature) { return e }
        sinceCheckpoint = 0
        do { try file.sync() } catch { return error }
        return nil
    }

    private func write(_ event: String, mono: Nanos, utc: Int64, _ fields: [(String, JSON)], signature: String? = nil) -> IOError? {
        var all: [(String, JSON)] = [("seq", .int(Int64(seq + 1))), ("utc", .string(UTC.iso(utc))),
                                     ("t", .double(Double(mono / Nanos.perMillisecond) / 1000)), ("event", .string(event))]
        all += fields
        all.append(("prev", .string(lastHash)))
        if let signature { all.append(("signature", .string(signature))) }
        let line = Array(JSON.object(all).serialized.utf8)
        var failure: IOError?
        (line + [10]).withUnsafeBytes { b in
            do throws(IOError) { try file.write(b) } catch { failure = error }
        }
        if let failure { return failure }
        seq += 1
        sinceCheckpoint += 1
        lastHash = Hex.encode(SHA256.hash(data: line))
        return nil
    }
}
