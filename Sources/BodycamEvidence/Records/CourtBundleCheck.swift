#if canImport(Glibc)
import Glibc
#endif

extension CourtBundle {
    /// What checking a bundle found: one finding per file or recording that failed a check (naming the
    /// bundle-relative path and the check), and what passed; the keys signatures were checked with.
    public struct Report: Sendable {
        public var findings: [Verifier.Finding] = []
        /// Fingerprints by name: `RECORDS`, and each device's pinned key(s).
        public var keysUsed: [String: String] = [:]
        public var failures: [Verifier.Finding] { findings.filter { !$0.ok } }
    }

    /// A device's audit trail copy and its head, checked under the device's pinned key: hash chain,
    /// checkpoints, head, every entry's signature, time order, and that it logged each of the device's
    /// bundled recordings with the manifest the bundle carries. The one rule for the writer and the checker.
    static func checkTrail(_ bytes: [UInt8], head headBytes: [UInt8], key: PublicKey, deviceID: String,
                           manifests: [EvidenceNames.RecordingID: SignedManifest]) throws(EvidenceError) -> AuditTrail {
        let trail = try AuditTrail.parse(bytes)
        guard !trail.lines.isEmpty else { throw EvidenceError("the trail is empty") }
        let head: AuditHead
        do { head = try AuditHead.parse(headBytes) } catch { throw EvidenceError("audit head: \(error.message)") }
        try trail.checkCheckpoints(key: key)
        try trail.check(head: head, key: key, deviceID: deviceID)
        try trail.checkEntrySignatures(key: key)
        try trail.checkTimeOrder()
        let facts = trail.facts()
        for (id, signed) in manifests.sorted(by: { $0.key < $1.key }) where id.deviceID == deviceID {
            guard let logged = facts[id.text]?.loggedManifestSHA256 else {
                throw EvidenceError("never logged the manifest of recording \(id.text)")
            }
            // A recovered manifest is rebuilt after the logged one was lost; verify says so for the recording.
            if logged != signed.sha256 && !signed.manifest.recovered {
                throw EvidenceError("logged another manifest for recording \(id.text) (\(logged.prefix(16))...)")
            }
        }
        return trail
    }

    /// A folder is a bundle if it has a `bundle.json` (of any kind: a link there is refused, not ignored).
    public static func isBundle(_ folder: String) -> Bool {
        PosixFile.kind(folder + "/" + CourtBundleLayout.indexFile) != .missing
    }

    /// Checks a bundle offline, trusting only the key named `RECORDS` in `trusted`. Without trusted keys
    /// the key in the bundle's own `records-key` is used: integrity only (anyone could make such a
    /// bundle), which the caller must not call verified. Total on any folder: never follows a link, reads
    /// every file bounded.
    public static func check(folder: String, trusted: TrustedKeys?) -> Report {
        var root = folder
        while root.count > 1 && root.hasSuffix("/") { root.removeLast() }
        var c = BundleChecker(root: root)
        c.run(trusted: trusted)
        return c.report
    }
}

/// One check of one bundle folder; paths in findings are relative to the bundle.
struct BundleChecker {
    let root: String
    var report = CourtBundle.Report()
    static let maxDepth = 3

    init(root: String) { self.root = root }

    mutating func run(trusted: TrustedKeys?) {
        let indexName = CourtBundleLayout.indexFile
        guard let indexBytes = read(indexName, limit: CourtBundleIndex.maxBytes, check: "index") else { return }
        let parsed: (index: CourtBundleIndex, body: [UInt8], signature: Signature)
        do { parsed = try CourtBundleIndex.parse(indexBytes) } catch { return fail(indexName, "index", error.message) }
        let index = parsed.index
        guard let recordsKey = recordsKey(trusted: trusted) else { return }
        report.keysUsed[CourtBundleLayout.recordsKeyName] = recordsKey.fingerprint + (trusted == nil ? " (the bundle's own records-key)" : "")
        let failuresBefore = report.failures.count
        if !recordsKey.isValidSignature(parsed.signature, for: parsed.body) {
            fail(indexName, "signature", "not signed by the trusted records key \(recordsKey.fingerprint) (edited, or made by another service)")
        } else if index.service != recordsKey.fingerprint {
            fail(indexName, "service", "names service key \(index.service), not the trusted records key \(recordsKey.fingerprint)")
        }
        inventory(index)
        let pins = pins(index, recordsKey: recordsKey)
        var manifests: [EvidenceNames.RecordingID: SignedManifest] = [:]
        for id in index.recordings {
            if let m = recording(id, index: index, recordsKey: recordsKey, pins: pins) { manifests[id] = m }
        }
        custody(recordsKey: recordsKey)
        audit(index, pins: pins, manifests: manifests)
        if report.failures.count == failuresBefore {
            let who = index.caseReference.map { ", case \($0)" } ?? ""
            let how = trusted == nil ? "integrity only: signed by the key in the bundle's own records-key (\(recordsKey.fingerprint)), which is not a trusted key"
                                     : "signed by the trusted records key \(recordsKey.fingerprint)"
            pass(indexName, "court bundle of \(index.recordings.count) recording(s) from \(index.devices.joined(separator: ", ")), " +
                 "\(index.files.count) files listed and present, \(how); exported by \(index.exportedBy) at \(UTC.iso(index.createdUTC))\(who)")
        }
    }

    /// The records key: the trusted one named RECORDS, or (integrity only) the bundle's own `records-key`.
    mutating func recordsKey(trusted: TrustedKeys?) -> PublicKey? {
        let name = CourtBundleLayout.recordsKeyName, file = CourtBundleLayout.recordsKeyFile
        var own: PublicKey?
        if let bytes = read(file, limit: 4096, check: "records key") {
            do { own = try TrustedKeys.parse(bytes)[name] } catch { fail(file, "records key", error.message) }
            if own == nil { fail(file, "records key", "holds no '\(name) ed25519 <hex>' line") }
        }
        guard let trusted else { return own }
        guard let key = trusted[name] else {
            fail(CourtBundleLayout.indexFile, "trust", "no \(name) key among the trusted keys: a bundle is checked against the force's records key only")
            return nil
        }
        if let own, own != key { fail(file, "records key", "names key \(own.fingerprint), not the trusted records key \(key.fingerprint)") }
        return key
    }

    // MARK: - Every file listed, present and unchanged; nothing else

    mutating func inventory(_ index: CourtBundleIndex) {
        var present: [String] = []
        walk("", depth: Self.maxDepth, into: &present)
        let listed = Dictionary(index.files.map { ($0.path, $0) }, uniquingKeysWith: { a, _ in a })
        for path in present.sorted() where path != CourtBundleLayout.indexFile && listed[path] == nil {
            fail(path, "inventory", "not listed in bundle.json (added after export)")
        }
        for file in index.files {
            // A recording removed as a whole is said once, for the recording.
            if let id = Self.recording(of: file.path), PosixFile.kind(absolute(CourtBundleLayout.recordingFolder(id))) == .missing { continue }
            guard parentsAreFolders(file.path) else { continue } // said by the walk: a linked folder is not followed
            let path = absolute(file.path)
            switch PosixFile.kind(path) {
            case .missing: fail(file.path, "inventory", "listed in bundle.json but missing (removed)"); continue
            case .other: continue // said by the walk: not followed
            case .directory: fail(file.path, "inventory", "a folder, where bundle.json lists a file"); continue
            case .regular: break
            }
            guard let (fd, size) = try? FileBytes.openRegular(path) else { fail(file.path, "inventory", "cannot be read"); continue }
            close(fd)
            guard size == Int64(file.bytes) else { fail(file.path, "inventory", "\(size) bytes, bundle.json says \(file.bytes)"); continue }
            guard let digest = FileBytes.sha256(path) else { fail(file.path, "inventory", "cannot be read"); continue }
            if digest != file.sha256 { fail(file.path, "inventory", "SHA-256 differs from bundle.json (changed after export)") }
        }
    }

    /// Every regular file under the bundle (relative paths); anything else is named and not followed.
    mutating func walk(_ relative: String, depth: Int, into files: inout [String]) {
        for name in PosixFile.list(absolute(relative)).sorted() where files.count <= CourtBundleIndex.maxFiles {
            let rel = relative.isEmpty ? name : relative + "/" + name
            switch PosixFile.kind(absolute(rel)) {
            case .regular: files.append(rel)
            case .directory:
                if depth > 1 { walk(rel, depth: depth - 1, into: &files) } else { fail(rel, "inventory", "a folder no bundle has: not checked") }
            case .other: fail(rel, "file", "not a regular file (a symbolic link or device): not followed")
            case .missing: break
            }
        }
        if files.count > CourtBundleIndex.maxFiles { fail(relative.isEmpty ? "." : relative, "inventory", "more files than any bundle has: not all were checked") }
    }

    static func recording(of path: String) -> EvidenceNames.RecordingID? {
        switch CourtBundleLayout.kind(of: path) {
        case .segment(let s)?: return s.recording
        case .manifest(let id)?, .signature(let id)?, .receipt(let id)?: return id
        default: return nil
        }
    }

    // MARK: - Pins: the records key vouches for each device key

    /// Every pin a recording names (format 1: each device's one pin), by path: signed by the records key,
    /// a pin of the device its name says and, in the fingerprinted form, of the key its name says.
    mutating func pins(_ index: CourtBundleIndex, recordsKey: PublicKey) -> [String: ServiceStatement] {
        var pins: [String: ServiceStatement] = [:]
        var used: [String: [String]] = [:]
        for path in Set(index.recordings.compactMap(index.pinFile)).sorted() {
            guard case .pin(let device, let fingerprint)? = CourtBundleLayout.kind(of: path) else { continue }
            guard let bytes = read(path, limit: ServiceStatement.maxBytes, check: "pin") else { continue }
            guard let statement = serviceStatement(bytes, path: path, check: "pin", key: recordsKey) else { continue }
            guard statement.kind == .pin, statement.deviceID == device, let key = statement.deviceKey else {
                fail(path, "pin", "not a pin of device \(device)"); continue
            }
            if let fingerprint, key.fingerprintHex != fingerprint {
                fail(path, "pin", "pins key \(key.fingerprint), not the key its name says (\(fingerprint))"); continue
            }
            pins[path] = statement
            used[device, default: []].append(key.fingerprint + " (pinned by RECORDS)")
        }
        for (device, keys) in used { report.keysUsed[device] = keys.joined(separator: ", ") }
        return pins
    }

    /// A statement signed by the records key, or nil with the failure said.
    mutating func serviceStatement(_ bytes: [UInt8], path: String, check: String, key: PublicKey) -> ServiceStatement? {
        guard bytes.last == 10, let (body, signature) = AuditTrail.splitSignature(bytes.dropLast()) else {
            fail(path, check, "not a signed service statement"); return nil
        }
        guard key.isValidSignature(signature, for: body) else {
            fail(path, check, "not signed by the trusted records key \(key.fingerprint)"); return nil
        }
        do { return try ServiceStatement.verify(bytes, key: key) } catch { fail(path, check, error.message); return nil }
    }

    // MARK: - Recordings: manifest under the key of the recording's pin, segments, receipt

    mutating func recording(_ id: EvidenceNames.RecordingID, index: CourtBundleIndex, recordsKey: PublicKey,
                            pins: [String: ServiceStatement]) -> SignedManifest? {
        let pinPath = index.pinFile(id)
        let pin = pinPath.flatMap { pins[$0] }
        let deviceKey = pin?.deviceKey
        let folder = CourtBundleLayout.recordingFolder(id)
        switch PosixFile.kind(absolute(folder)) {
        case .directory: break
        case .missing: fail(folder, "recording", "recording \(id.text) listed in bundle.json is missing"); return nil
        default: return nil // said by the walk: not followed
        }
        let manifestPath = CourtBundleLayout.manifest(id)
        guard parentsAreFolders(manifestPath) else { return nil } // said by the walk: a linked folder is not followed
        guard let deviceKey, let pin else {
            fail(manifestPath, "signature", "its pin (\(pinPath ?? "none named")) is not a valid pin of device \(id.deviceID): the manifest cannot be checked")
            return nil
        }
        // The manifest, its signature under the pinned key (never a key found elsewhere), and every segment:
        // the checks `bodycam verify` makes of any recording.
        var pinned = TrustedKeys()
        try? pinned.add(deviceID: id.deviceID, key: deviceKey)
        var v = Verifier(trusted: pinned)
        v.verify(path: absolute(manifestPath))
        for f in v.findings {
            let detail = f.detail.replacingOccurrences(of: root + "/", with: "")
            report.findings.append(Verifier.Finding(ok: f.ok, subject: relative(f.subject), check: f.check, detail: detail))
        }
        guard let signed = try? SignedManifest.read(directory: absolute(folder), id: id) else { return nil }
        // bundle.json lists for this recording exactly its manifest, signature, receipt and segments.
        let expected = Set([manifestPath, CourtBundleLayout.signature(id), CourtBundleLayout.receipt(id)]
                           + signed.manifest.segments.map { folder + "/" + $0.file })
        for file in index.files where Self.recording(of: file.path) == id && !expected.contains(file.path) {
            fail(file.path, "manifest", "listed in bundle.json but not in the recording's manifest")
        }
        let receiptPath = CourtBundleLayout.receipt(id)
        if let bytes = read(receiptPath, limit: ServiceStatement.maxBytes, check: "receipt"),
           let receipt = serviceStatement(bytes, path: receiptPath, check: "receipt", key: recordsKey) {
            if receipt.kind != .receipt || receipt.recordingID != id.text {
                fail(receiptPath, "receipt", "not a receipt for recording \(id.text)")
            } else if receipt.manifestSHA256 != signed.sha256 {
                fail(receiptPath, "receipt", "names manifest SHA-256 \(receipt.manifestSHA256?.prefix(16) ?? "")..., the bundle's manifest is \(signed.sha256.prefix(16))...")
            } else {
                // The pin was the device's current one when the service received the recording.
                let others = pins.filter { $0.key != pinPath }.map(\.value)
                do { try CourtBundle.checkPinCurrent(pin, receipt: receipt, otherPins: others) } catch {
                    fail(receiptPath, "pin", error.message)
                }
            }
        }
        return signed.isSigned(by: deviceKey) ? signed : nil
    }

    // MARK: - Custody entries

    mutating func custody(recordsKey: PublicKey) {
        let path = CourtBundleLayout.custodyFile
        guard let bytes = read(path, limit: AuditTrail.maxFileBytes, check: "custody") else { return }
        guard bytes.isEmpty || bytes.last == 10 else { return fail(path, "custody", "the last line is cut short") }
        var last = 0
        for (i, line) in bytes.split(separator: 10, omittingEmptySubsequences: false).dropLast().enumerated() {
            do { last = try CourtBundle.custodySeq(line, key: recordsKey, after: last) } catch {
                fail(path, "custody", "line \(i + 1): \(error.message)")
            }
        }
    }

    // MARK: - Audit trails as docked

    /// Each trail copy under the pin its folder names (a device that got a new key started a new trail,
    /// signed by the new key), checked against the recordings received under that pin.
    mutating func audit(_ index: CourtBundleIndex, pins: [String: ServiceStatement], manifests: [EvidenceNames.RecordingID: SignedManifest]) {
        let listed = Set(index.files.map(\.path))
        for file in index.files {
            guard case .auditTrail(let device, let fingerprint, let entries)? = CourtBundleLayout.kind(of: file.path) else {
                if case .auditHead(let device, let fingerprint, let entries)? = CourtBundleLayout.kind(of: file.path),
                   !listed.contains(CourtBundleLayout.auditTrail(device, fingerprint: fingerprint, entries: entries)) {
                    fail(file.path, "audit", "an audit head without its trail")
                }
                continue
            }
            let path = file.path, headPath = CourtBundleLayout.auditHead(device, fingerprint: fingerprint, entries: entries)
            let pinPath = CourtBundleLayout.pin(device, fingerprint: fingerprint)
            guard let key = pins[pinPath]?.deviceKey else {
                fail(path, "audit", "\(pinPath) is not a valid pin in the bundle: the trail cannot be checked"); continue
            }
            guard let bytes = read(path, limit: AuditTrail.maxFileBytes, check: "audit"),
                  let headBytes = read(headPath, limit: 4096, check: "audit head") else { continue }
            let trail: AuditTrail
            let underPin = manifests.filter { index.pinFile($0.key) == pinPath }
            do { trail = try CourtBundle.checkTrail(bytes, head: headBytes, key: key, deviceID: device, manifests: underPin) } catch {
                fail(path, "audit", error.message); continue
            }
            guard trail.lines.count == entries else {
                fail(path, "audit", "its name says \(entries) entries, the trail has \(trail.lines.count)"); continue
            }
            pass(path, "\(trail.lines.count) entries, hash chain intact, head signed by \(key.fingerprint) (pinned), agrees with the recordings")
        }
    }

    // MARK: - Helpers

    func absolute(_ relative: String) -> String { relative.isEmpty ? root : root + "/" + relative }

    func relative(_ path: String) -> String { path.hasPrefix(root + "/") ? String(path.dropFirst(root.count + 1)) : path }

    /// True if every folder on the way to `relative` is a folder, not a link to one (opening a file never
    /// follows a link in its last name; this covers the names before it).
    func parentsAreFolders(_ relative: String) -> Bool {
        let parts = relative.split(separator: "/").dropLast()
        return parts.indices.allSatisfy { PosixFile.kind(absolute(parts[...$0].joined(separator: "/"))) == .directory }
    }

    /// A bundle file's bytes (bounded, no link followed), or nil with the failure said.
    mutating func read(_ path: String, limit: Int, check: String) -> [UInt8]? {
        guard parentsAreFolders(path) else {
            fail(path, check, "inside a folder that is a symbolic link (or missing): not followed")
            return nil
        }
        do { return try FileBytes.contents(absolute(path), limit: limit) } catch {
            switch error {
            case .missing: fail(path, check, "missing")
            case .notRegular: fail(path, check, "not a regular file (a symbolic link or device): not followed")
            case .tooLarge(_, let bytes, let limit): fail(path, check, "\(bytes) bytes, over the limit of \(limit)")
            case .io: fail(path, check, "\(error)")
            }
            return nil
        }
    }

    mutating func fail(_ subject: String, _ check: String, _ detail: String) {
        report.findings.append(Verifier.Finding(ok: false, subject: subject, check: check, detail: detail))
    }

    mutating func pass(_ subject: String, _ detail: String) {
        report.findings.append(Verifier.Finding(ok: true, subject: subject, check: "", detail: detail))
    }
}
