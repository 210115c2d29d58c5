import Crypto
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A court bundle: a folder that carries recordings with everything needed to check them offline while
/// trusting only the force's records key (`RECORDS ed25519 <hex>` in the checker's trusted keys). The
/// records service pins each device's key at enrolment and signs that pin; the pin vouches for the
/// device key, the device key for the manifests, the manifests for the segments. A device enrolled again
/// with a new key (after a revocation) has a pin per key, and each recording is checked under the pin of
/// the key it was received under, which the index names; the service's receipts
/// and custody entries say what it held and who handled it; `bundle.json`, signed by the service, lists
/// every file with its size and SHA-256. Layout: `CourtBundleLayout`; index: `CourtBundleIndex`; the
/// checker: `CourtBundle.check` (CourtBundleCheck.swift). `bundle.json` is written last, so a folder
/// without it is an export that did not finish, not a bundle.
public enum CourtBundle {
    /// Where a segment's bytes come from.
    public enum SegmentSource: Sendable {
        /// A regular file to copy (read without following a link, streamed, hashed while copied).
        case file(String)
        case bytes([UInt8])
        /// A blob opened when it is copied (`name` for messages): a store without local files (S3) streams
        /// it in pieces, hashed while copied like a file.
        case reader(name: String, open: @Sendable () throws -> any BlobReader)
    }

    /// One recording as the service holds it.
    public struct Recording: Sendable {
        public var manifest: [UInt8]
        /// The `.manifest.sig` file's bytes.
        public var signature: [UInt8]
        /// The service's signed `receipt` statement for this recording.
        public var receipt: [UInt8]
        /// The service's signed `pin` of the device key the manifest was verified with when it was received.
        public var pin: [UInt8]
        /// The segments, in the manifest's order.
        public var segments: [SegmentSource]
        public init(manifest: [UInt8], signature: [UInt8], receipt: [UInt8], pin: [UInt8], segments: [SegmentSource]) {
            (self.manifest, self.signature, self.receipt, self.pin, self.segments) = (manifest, signature, receipt, pin, segments)
        }
    }

    /// A device's audit trail copy as docked, and the signed head handed over with it. Its device and key
    /// are the head's: it goes with the bundle's pin of that device whose key signed the head.
    public struct Trail: Sendable {
        public var trail: [UInt8]
        public var head: [UInt8]
        public init(trail: [UInt8], head: [UInt8]) { (self.trail, self.head) = (trail, head) }
    }

    /// Writes a bundle into `folder`, which must not exist or be empty. Everything is checked first, with
    /// the checker's own rules (pins and receipts signed by `service.key`, each manifest signed by the key
    /// of its recording's pin, that pin current at its receipt (`checkPinCurrent`), segments of the
    /// manifest's size and SHA-256, trails by `checkTrail`, custody lines signed and in order), so a
    /// bundle that would not verify is never written. The bundle holds exactly the pins its recordings
    /// name. Every file name comes from validated evidence names, never from the data. Each file is
    /// written durably; `bundle.json` last. Returns the index written.
    @discardableResult
    public static func write(to folder: String, service: (key: PublicKey, sign: ([UInt8]) -> Signature), exportedBy: String,
                             caseReference: String?, createdUTC: Int64, recordings: [Recording],
                             trails: [Trail], custody: [[UInt8]]) throws(EvidenceError) -> CourtBundleIndex {
        guard CourtBundleIndex.isValidText(exportedBy), caseReference.map(CourtBundleIndex.isValidText) ?? true else {
            throw EvidenceError("exported-by or case reference empty, longer than \(CourtBundleIndex.maxTextBytes) bytes or with control characters")
        }
        guard !recordings.isEmpty else { throw EvidenceError("a bundle needs at least one recording") }
        var plan: [(path: String, content: Content)] = []

        // Recordings: the manifest names the recording and its segments; its pin the key that signed it.
        var manifests: [EvidenceNames.RecordingID: SignedManifest] = [:]
        var receipts: [EvidenceNames.RecordingID: ServiceStatement] = [:]
        var recordingPins: [EvidenceNames.RecordingID: String] = [:]
        var pins: [String: (bytes: [UInt8], statement: ServiceStatement)] = [:]
        for r in recordings {
            let m: RecordingManifest
            do { m = try RecordingManifest.parse(r.manifest) } catch { throw EvidenceError("a manifest: \(error.message)") }
            guard let id = EvidenceNames.RecordingID.parse(m.recordingID), manifests[id] == nil else {
                throw EvidenceError("recording \(m.recordingID) given twice")
            }
            guard let signature = Signature(fileBytes: r.signature) else { throw EvidenceError("\(id.text): signature is not a .manifest.sig") }
            manifests[id] = SignedManifest(manifest: m, bytes: r.manifest, signature: signature)
            guard r.segments.count == m.segments.count else {
                throw EvidenceError("\(id.text): \(r.segments.count) segment sources for \(m.segments.count) segments")
            }
            let receipt: ServiceStatement
            do { receipt = try ServiceStatement.verify(r.receipt, key: service.key) } catch { throw EvidenceError("\(id.text): receipt: \(error.message)") }
            guard receipt.kind == .receipt, receipt.recordingID == id.text, receipt.manifestSHA256 == Hex.sha256(r.manifest) else {
                throw EvidenceError("\(id.text): the receipt is not for this recording and manifest")
            }
            receipts[id] = receipt
            let pin: ServiceStatement
            do { pin = try ServiceStatement.verify(r.pin, key: service.key) } catch { throw EvidenceError("\(id.text): pin: \(error.message)") }
            guard pin.kind == .pin, pin.deviceID == id.deviceID, let key = pin.deviceKey else {
                throw EvidenceError("\(id.text): pin: not a pin of device \(id.deviceID)")
            }
            guard manifests[id].map({ $0.isSigned(by: key) }) == true else {
                throw EvidenceError("\(id.text): the manifest is not signed by the key pinned for \(id.deviceID) (\(key.fingerprint))")
            }
            let pinPath = CourtBundleLayout.pin(id.deviceID, key: key)
            if let other = pins[pinPath], other.bytes != r.pin { throw EvidenceError("\(id.text): two different pins of key \(key.fingerprint)") }
            pins[pinPath] = (r.pin, pin)
            recordingPins[id] = pinPath
            plan.append((CourtBundleLayout.manifest(id), .bytes(r.manifest)))
            plan.append((CourtBundleLayout.signature(id), .bytes(r.signature)))
            plan.append((CourtBundleLayout.receipt(id), .bytes(r.receipt)))
            for (record, source) in zip(m.segments, r.segments) {
                guard let name = EvidenceNames.Segment.parse(record.file) else { throw EvidenceError("\(id.text): segment name not valid") }
                switch source {
                case .bytes(let b):
                    guard b.count == record.bytes, Hex.sha256(b) == record.sha256 else {
                        throw EvidenceError("\(record.file): not the size and SHA-256 its manifest says")
                    }
                    plan.append((CourtBundleLayout.segment(name), .bytes(b)))
                case .file(let path):
                    plan.append((CourtBundleLayout.segment(name), .reader(path, { try FileBlobReader(path: path) }, bytes: record.bytes, sha256: record.sha256)))
                case .reader(let source, let open):
                    plan.append((CourtBundleLayout.segment(name), .reader(source, open, bytes: record.bytes, sha256: record.sha256)))
                }
            }
        }
        // Pins: exactly those the recordings were received under; each current at its recordings' receipts.
        for (id, receipt) in receipts {
            guard let path = recordingPins[id], let pin = pins[path]?.statement else { continue }
            let others = pins.filter { $0.key != path && $0.value.statement.deviceID == id.deviceID }.map(\.value.statement)
            do { try checkPinCurrent(pin, receipt: receipt, otherPins: others) } catch { throw EvidenceError("\(id.text): \(error.message)") }
        }
        for (path, pin) in pins { plan.append((path, .bytes(pin.bytes))) }

        // Audit trails: each under the pin of the key that signed its head, checked as the checker will
        // (CourtBundle.checkTrail) against the recordings received under that pin.
        var trailFolders = Set<String>()
        for t in trails {
            let head: AuditHead
            do { head = try AuditHead.parse(t.head) } catch { throw EvidenceError("audit trail: \(error.message)") }
            let device = head.deviceID
            guard let (path, pin) = pins.first(where: { $0.value.statement.deviceID == device
                                                        && $0.value.statement.deviceKey?.isValidSignature(head.signature, for: head.message) == true }),
                  let key = pin.statement.deviceKey else {
                throw EvidenceError("audit trail of \(device): signed by no key a recording here was received under")
            }
            guard trailFolders.insert(path).inserted else { throw EvidenceError("audit trail of \(device): two trails of key \(key.fingerprint)") }
            let trail: AuditTrail
            do { trail = try checkTrail(t.trail, head: t.head, key: key, deviceID: device, manifests: manifests.filter { recordingPins[$0.key] == path }) } catch {
                throw EvidenceError("audit trail of \(device): \(error.message)")
            }
            plan.append((CourtBundleLayout.auditTrail(device, fingerprint: key.fingerprintHex, entries: trail.lines.count), .bytes(t.trail)))
            plan.append((CourtBundleLayout.auditHead(device, fingerprint: key.fingerprintHex, entries: trail.lines.count), .bytes(t.head)))
        }

        // Custody: each line signed by the service, in rising order.
        var custodyBytes: [UInt8] = []
        var lastSeq = 0
        for (i, raw) in custody.enumerated() {
            let line = raw.last == 10 ? Array(raw.dropLast()) : raw
            do { lastSeq = try custodySeq(line[...], key: service.key, after: lastSeq) } catch {
                throw EvidenceError("custody line \(i + 1): \(error.message)")
            }
            custodyBytes += line + [10]
        }
        plan.append((CourtBundleLayout.custodyFile, .bytes(custodyBytes)))
        plan.append((CourtBundleLayout.recordsKeyFile, .bytes(Array((TrustedKeys.line(deviceID: CourtBundleLayout.recordsKeyName, key: service.key) + "\n").utf8))))

        // The folder: new or empty, never through a link.
        switch PosixFile.kind(folder) {
        case .missing: break
        case .directory: guard PosixFile.list(folder).isEmpty else { throw EvidenceError("\(folder): exists and is not empty") }
        default: throw EvidenceError("\(folder): exists and is not a folder")
        }
        plan.sort { $0.path < $1.path }
        var files: [CourtBundleIndex.File] = []
        do {
            try PosixFile.makeDirectories(folder)
            try PosixFile.syncDirectory(Verifier.parent(folder))
            var made = Set<String>()
            for (path, content) in plan {
                let parts = path.split(separator: "/").dropLast()
                for depth in 0..<parts.count {
                    let dir = parts[...depth].joined(separator: "/")
                    guard made.insert(dir).inserted else { continue }
                    try makeDirectory(folder + "/" + dir)
                }
                files.append(try write(content, to: folder + "/" + path, name: path))
            }
        } catch let e as EvidenceError { throw e } catch { throw EvidenceError("\(error)") }
        let index = CourtBundleIndex(service: service.key.fingerprint, createdUTC: createdUTC, exportedBy: exportedBy,
                                     caseReference: caseReference, recordings: manifests.keys.sorted(), pins: recordingPins, files: files)
        do { try FileBytes.writeDurably(folder + "/" + CourtBundleLayout.indexFile, index.signed(service.sign)) } catch {
            throw EvidenceError("\(error)")
        }
        return index
    }

    /// A recording's pin was the one current when the service received it: made before its receipt, and no
    /// other pin of the device in the bundle made between the two (a device is enrolled with a new key
    /// only after its old key was revoked, so an old key cannot vouch for anything received after a newer
    /// pin). A receipt that names the device key (written since pin history) must name the pin's key.
    /// The one rule for the writer and the checker.
    static func checkPinCurrent(_ pin: ServiceStatement, receipt: ServiceStatement, otherPins: [ServiceStatement]) throws(EvidenceError) {
        if let key = receipt.deviceKey, key != pin.deviceKey {
            throw EvidenceError("the receipt names device key \(key.fingerprint), not the key of its pin \(pin.deviceKey?.fingerprint ?? "")")
        }
        guard pin.utc <= receipt.utc else {
            throw EvidenceError("received at \(UTC.iso(receipt.utc)), before its pin was made at \(UTC.iso(pin.utc))")
        }
        if let newer = otherPins.first(where: { $0.deviceID == pin.deviceID && $0.utc > pin.utc && $0.utc <= receipt.utc }) {
            throw EvidenceError("received at \(UTC.iso(receipt.utc)), after a newer pin of \(pin.deviceID) (key \(newer.deviceKey?.fingerprint ?? ""), \(UTC.iso(newer.utc))) replaced the pin of key \(pin.deviceKey?.fingerprint ?? "")")
        }
    }

    /// A file's contents: bytes at hand, or a blob to copy that must have this size and SHA-256.
    enum Content {
        case bytes([UInt8])
        case reader(String, @Sendable () throws -> any BlobReader, bytes: Int, sha256: String)
    }

    /// The `seq` of one custody line (without its newline) signed by `key`, which must be above `after`.
    /// The entry's other fields belong to the records service's custody format.
    static func custodySeq(_ line: ArraySlice<UInt8>, key: PublicKey, after: Int) throws(EvidenceError) -> Int {
        struct Seq: Decodable { var seq: Int }
        guard !line.contains(10), line.count <= 64 << 10, let (body, signature) = AuditTrail.splitSignature(line) else {
            throw EvidenceError("not a signed line (no sig field at its end)")
        }
        guard key.isValidSignature(signature, for: body) else { throw EvidenceError("not signed by the records key \(key.fingerprint)") }
        guard let entry = try? JSONDecoder().decode(Seq.self, from: Data(body + [UInt8(ascii: "}")])) else {
            throw EvidenceError("not a JSON entry with a seq")
        }
        guard entry.seq > after else { throw EvidenceError("seq \(entry.seq) does not follow \(after): out of order or repeated") }
        return entry.seq
    }

    private static func makeDirectory(_ path: String) throws(IOError) {
        guard mkdir(path, 0o750) == 0 else { throw IOError(operation: "mkdir", path: path, errno: errno) }
        try PosixFile.syncDirectory(Verifier.parent(path))
    }

    /// Writes one file durably and says what `bundle.json` lists for it.
    private static func write(_ content: Content, to path: String, name: String) throws -> CourtBundleIndex.File {
        switch content {
        case .bytes(let b):
            try FileBytes.writeDurably(path, b)
            return CourtBundleIndex.File(path: name, bytes: b.count, sha256: Hex.sha256(b))
        case .reader(let source, let open, let bytes, let sha256):
            try copy(reader: open, named: source, to: path, expectedBytes: bytes, expectedSHA256: sha256)
            return CourtBundleIndex.File(path: name, bytes: bytes, sha256: sha256)
        }
    }

    /// Copies a blob (a local file is a `FileBlobReader`: regular, no link followed) 1 MiB at a time, hashed
    /// while copied: temporary name, fsync, then a durable rename only if the bytes have the size and SHA-256
    /// the manifest says.
    private static func copy(reader open: @Sendable () throws -> any BlobReader, named source: String, to path: String,
                             expectedBytes: Int, expectedSHA256: String) throws {
        let reader = try open()
        defer { reader.close() }
        guard reader.size == expectedBytes else { throw EvidenceError("\(source): \(reader.size) bytes, its manifest says \(expectedBytes)") }
        let tmp = path + ".tmp"
        let out = try PosixFile.createNew(tmp, mode: 0o644)
        var hasher = SHA256()
        var offset = 0
        do {
            while offset < expectedBytes {
                let piece = try reader.read(upTo: min(1 << 20, expectedBytes - offset), at: offset)
                guard !piece.isEmpty else { throw EvidenceError("\(source): shorter than \(expectedBytes) bytes") }
                hasher.update(data: piece)
                var failure: IOError?
                piece.withUnsafeBytes { b in
                    do throws(IOError) { try out.write(b) } catch { failure = error }
                }
                if let failure { throw failure }
                offset += piece.count
            }
            try out.sync()
            guard Hex.encode(hasher.finalize()) == expectedSHA256 else {
                throw EvidenceError("\(source): its SHA-256 is not the one its manifest says")
            }
        } catch {
            out.close()
            unlink(tmp)
            throw error
        }
        out.close()
        try PosixFile.renameDurably(from: tmp, to: path, directory: Verifier.parent(path))
    }
}
