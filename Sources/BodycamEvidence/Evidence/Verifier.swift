#if canImport(Glibc)
import Glibc
#endif

/// Checks recordings and audit trails offline, as central records or a court expert would: manifest
/// signatures against keys the checker was told to trust, every segment's size, SHA-256, frames and
/// stamps, the order of segments, the audit trail's hash chain, checkpoints and signed head, that time
/// only moves forward, and that the manifests and the audit trail agree (nothing logged is missing,
/// nothing present was not logged, no manifest differs from the one logged). Works on a device's storage
/// folder, a recordings folder, one manifest, a central records folder, or a court bundle (delegated to
/// `CourtBundle.check`). Nothing is followed through
/// a symbolic link, and every read is bounded.
public struct Verifier {
    public struct Finding: Equatable, Sendable, CustomStringConvertible {
        public var ok: Bool
        public var subject: String
        public var check: String
        public var detail: String
        public var description: String {
            ok ? "ok    \(subject): \(detail)" : "FAIL  \(subject): \(check): \(detail)"
        }
    }

    public private(set) var findings: [Finding] = []
    /// The keys to check signatures against. Without them, signatures are checked against the key in the
    /// nearest `device.json` (integrity only: anyone can replace that file), and nothing is "verified".
    public let trusted: TrustedKeys?
    /// Fingerprints of the keys signatures were checked with, by device.
    public private(set) var keysUsed: [String: String] = [:]

    public init(trusted: TrustedKeys? = nil) { self.trusted = trusted }

    public var failures: [Finding] { findings.filter { !$0.ok } }
    /// Everything checked out against trusted keys.
    public var verified: Bool { trusted != nil && failures.isEmpty && !findings.isEmpty }

    static let maxDepth = 6
    static let maxFiles = 200_000

    /// Verifies everything under `path`.
    public mutating func verify(path: String) {
        switch PosixFile.kind(path) {
        case .missing:
            fail(path, "exists", "no such file or folder")
        case .other:
            fail(path, "file", "not a regular file or folder (a symbolic link or device)")
        case .regular:
            if Self.name(path) == CourtBundleLayout.indexFile {
                verifyBundle(Self.parent(path))
            } else if path.hasSuffix(EvidenceNames.manifestSuffix) {
                verifyManifest(path)
            } else if path.hasSuffix(".jsonl") {
                verifyTrail(path, scope: nil, manifests: [:])
            } else {
                fail(path, "contents", "not a manifest (.manifest.json) or audit trail (.jsonl)")
            }
        case .directory:
            if CourtBundle.isBundle(path) { verifyBundle(path) } else { verifyFolder(path) }
        }
    }

    /// A court bundle has its own checker (CourtBundleCheck.swift), which trusts only the RECORDS key.
    private mutating func verifyBundle(_ folder: String) {
        let report = CourtBundle.check(folder: folder, trusted: trusted)
        findings += report.findings
        keysUsed.merge(report.keysUsed) { a, _ in a }
    }

    // MARK: - Folders

    private mutating func verifyFolder(_ root: String) {
        var files: [String] = []
        walk(root, depth: Self.maxDepth, into: &files)
        if files.count >= Self.maxFiles { fail(root, "contents", "more than \(Self.maxFiles) files: not all were checked") }
        // What the camera set aside at boot is not evidence: said, not checked (the audit trail logs each move).
        let quarantined = files.filter { Self.name(Self.parent($0)) == Quarantine.folderName }
        files.removeAll { Self.name(Self.parent($0)) == Quarantine.folderName }
        for (folder, set) in Dictionary(grouping: quarantined, by: Self.parent).sorted(by: { $0.key < $1.key }) {
            pass(folder, "\(set.count) file(s) the camera set aside as unusable (not evidence; each is logged in the audit trail)")
        }
        let manifests = files.filter { $0.hasSuffix(EvidenceNames.manifestSuffix) }.sorted()
        var checked: [String: SignedManifest] = [:] // by path, the ones that verified
        var listed = Set<String>()
        for m in manifests {
            let (signed, segments) = verifyManifest(m)
            listed.formUnion(segments)
            if let signed { checked[m] = signed }
        }
        for f in files.sorted() where f.hasSuffix(EvidenceNames.segmentSuffix) || f.hasSuffix(EvidenceNames.unfinishedSuffix) {
            guard !listed.contains(f) else { continue }
            fail(f, "manifest", f.hasSuffix(EvidenceNames.unfinishedSuffix) ? "unfinished segment (run bodycam recover)"
                                                                              : "segment is not listed in any manifest")
        }
        // Audit trails: a device's (state/audit.jsonl) and central records' copies (DEVICE/audit/N.jsonl).
        var trails = 0
        for f in files.sorted() where f.hasSuffix("/state/" + AuditTrail.fileName) || f == root + "/" + AuditTrail.fileName {
            let storage = Self.parent(Self.parent(f))
            verifyTrail(f, scope: f.hasSuffix("/state/" + AuditTrail.fileName) ? storage + "/recordings" : nil, manifests: checked)
            trails += 1
        }
        let recordCopies = Dictionary(grouping: files.filter { Self.isRecordsTrailCopy($0) }) { Self.parent($0) }
        for (folder, copies) in recordCopies.sorted(by: { $0.key < $1.key }) {
            trails += verifyRecordsTrails(folder: folder, copies: copies, manifests: checked)
        }
        // Every device whose recordings are here must have its trail here too, or a deleted recording would go
        // unnoticed: a storage (recordings/ beside state/) and a records device folder (recordings beside audit/).
        var needed = Set<String>()
        for f in files where f.hasSuffix("/state/" + DeviceIdentity.infoFileName) { needed.insert(Self.parent(Self.parent(f))) }
        for m in manifests {
            let dir = Self.parent(m)
            guard dir != root else { continue }
            if Self.name(dir) == "recordings" { needed.insert(Self.parent(dir)) }
            else if EvidenceNames.RecordingID.parse(Self.name(dir)) != nil { needed.insert(Self.parent(dir)) }
        }
        for device in needed.sorted() {
            let storageTrail = device + "/state/" + AuditTrail.fileName
            let hasCopies = files.contains { $0.hasPrefix(device + "/" + RecordsNames.auditFolder + "/") && Self.isRecordsTrailCopy($0) }
            if !files.contains(storageTrail) && !hasCopies {
                fail(device, "audit", "no audit trail for these recordings: a deleted recording could not be noticed")
            }
        }
        if manifests.isEmpty && trails == 0 { fail(root, "contents", "no manifests or audit trail found") }
    }

    private mutating func walk(_ dir: String, depth: Int, into files: inout [String]) {
        guard depth > 0 else {
            fail(dir, "contents", "nested deeper than \(Self.maxDepth) folders: not checked")
            return
        }
        for name in PosixFile.list(dir).sorted() where files.count < Self.maxFiles {
            let p = dir + "/" + name
            switch PosixFile.kind(p) {
            case .directory: walk(p, depth: depth - 1, into: &files)
            case .regular: files.append(p)
            case .other: fail(p, "file", "not a regular file (a symbolic link or device): not followed")
            case .missing: break
            }
        }
    }

    // MARK: - Recordings

    /// The key to check `deviceID`'s signatures with: a trusted one, or (integrity only) the one in the
    /// nearest device.json. Nil, with a failure recorded, when there is none.
    private mutating func key(for deviceID: String, near dir: String, subject: String) -> PublicKey? {
        if let trusted {
            guard let k = trusted[deviceID] else {
                fail(subject, "signature", "device \(deviceID) is not among the trusted keys")
                return nil
            }
            keysUsed[deviceID] = k.fingerprint
            return k
        }
        guard let k = Self.deviceJSONKey(near: dir, deviceID: deviceID) else {
            fail(subject, "signature", "no trusted keys given and no device.json for device \(deviceID) to check integrity with")
            return nil
        }
        keysUsed[deviceID] = k.fingerprint
        return k
    }

    /// Checks one manifest, its signature, and every segment it lists. Returns the manifest if all of it
    /// checks out, and the paths of the segments it lists (so that unlisted ones can be found).
    @discardableResult
    private mutating func verifyManifest(_ path: String) -> (SignedManifest?, [String]) {
        let dir = Self.parent(path), name = Self.name(path)
        guard let id = EvidenceNames.parseManifestName(name) else {
            fail(path, "manifest", "file name is not <recording id>.manifest.json")
            return (nil, [])
        }
        let signed: SignedManifest
        do { signed = try SignedManifest.read(directory: dir, id: id) } catch {
            fail(path, "evidence", error.message)
            return (nil, [])
        }
        let m = signed.manifest
        let files = m.segments.map { dir + "/" + $0.file }
        guard let key = key(for: m.deviceID, near: dir, subject: path) else { return (nil, files) }
        guard signed.isSigned(by: key) else {
            fail(path, "signature", "does not match the manifest under key \(key.fingerprint) (edited, or signed by another key)")
            return (nil, files)
        }
        var problems = 0
        var previousLast: UInt64?
        for s in m.segments {
            let segmentPath = dir + "/" + s.file
            func bad(_ check: String, _ detail: String) { fail(segmentPath, check, detail); problems += 1 }
            guard let (fd, size) = try? FileBytes.openRegular(segmentPath) else {
                bad("exists", PosixFile.exists(segmentPath) ? "not a regular file" : "segment file is missing"); continue
            }
            close(fd)
            if size != Int64(s.bytes) { bad("size", "\(size) bytes, manifest says \(s.bytes)"); continue }
            // Read once, of the size the manifest says: hashed, then parsed.
            let bytes: [UInt8]
            do { bytes = try FileBytes.contents(segmentPath, limit: s.bytes) } catch { bad("exists", "\(error)"); continue }
            if Hex.sha256(bytes) != s.sha256 { bad("sha256", "does not match the manifest (the file was changed)"); continue }
            let avi: AVIReader
            do { avi = try AVIReader(bytes: bytes) } catch { bad("avi", "\(error)"); continue }
            if avi.frames.count != s.frames || avi.emptyChunks.count != s.missingFrames {
                bad("frames", "\(avi.frames.count) frames and \(avi.emptyChunks.count) missing, manifest says \(s.frames) and \(s.missingFrames)")
                continue
            }
            guard let first = avi.stamp(0), let last = avi.stamp(avi.frames.count - 1) else {
                bad("stamps", "a frame carries no readable stamp"); continue
            }
            if first.sequence != s.firstSeq || last.sequence != s.lastSeq {
                bad("stamps", "frame sequence numbers differ from the manifest"); continue
            }
            if first.utc / Nanos.perMillisecond != s.firstUTC / Nanos.perMillisecond
                || last.utc / Nanos.perMillisecond != s.lastUTC / Nanos.perMillisecond {
                bad("stamps", "frame times differ from the manifest"); continue
            }
            if first.deviceID != m.deviceID || last.deviceID != m.deviceID {
                bad("stamps", "frames carry device \(first.deviceID), not \(m.deviceID)"); continue
            }
            if let p = previousLast, s.firstSeq != p &+ 1 {
                bad("continuity", "starts at frame \(s.firstSeq), the previous segment ended at \(p)")
            }
            previousLast = s.lastSeq
        }
        guard problems == 0 else { return (nil, files) }
        let notes = (m.recovered ? ", recovered after power loss" : "") + (m.complete ? "" : ", incomplete (frames lost: see manifest)")
        let how = trusted == nil ? "integrity only: signature by \(key.fingerprint) from device.json, which is not a trusted key"
                                 : "signature (\(key.fingerprint)) and hashes valid"
        pass(m.recordingID, "\(m.segments.count) segment\(m.segments.count == 1 ? "" : "s"), \(m.frames) frames, \(how)\(notes)")
        return (signed, files)
    }

    // MARK: - Audit trails

    /// Checks a trail and its signed head, and (given the recordings it covers) that they agree.
    /// `scope`: the folder whose manifests the trail must account for. Returns the trail and its bytes if
    /// all of it checks out.
    @discardableResult
    private mutating func verifyTrail(_ path: String, scope: String?, manifests: [String: SignedManifest],
                                      headPath: String? = nil) -> (trail: AuditTrail, bytes: [UInt8])? {
        let headFile = headPath ?? AuditTrail.headPath(forTrail: path)
        let bytes: [UInt8]
        do { bytes = try FileBytes.contents(path, limit: AuditTrail.maxFileBytes) } catch { fail(path, "audit", "\(error)"); return nil }
        let trail: AuditTrail
        do { trail = try AuditTrail.parse(bytes) } catch { fail(path, "audit", error.message); return nil }
        let head: AuditHead
        do { head = try AuditHead.read(headFile) } catch {
            fail(headFile, "audit head", PosixFile.exists(headFile) ? error.message : "missing: the trail has no signed head")
            return nil
        }
        guard let key = key(for: head.deviceID, near: Self.parent(path), subject: path) else { return nil }
        do {
            try trail.checkCheckpoints(key: key)
            try trail.check(head: head, key: key, deviceID: head.deviceID)
            try trail.checkEntrySignatures(key: key)
            try trail.checkTimeOrder()
        } catch {
            fail(path, "audit", error.message)
            return nil
        }
        var problems = 0
        // A trail that starts over after its predecessor was found damaged cannot account for what came before.
        for (i, line) in trail.lines.enumerated() where ["audit-quarantined", "identity-replaced"].contains(line.entry.event) {
            fail(path, "audit", "entry \(i + 1) (\(line.entry.event)): the device's earlier trail or key was damaged and set aside at boot; what it recorded before cannot be accounted for")
            problems += 1
        }
        if let scope { problems += crossCheck(trail: trail, path: path, deviceID: head.deviceID, scope: scope, manifests: manifests) }
        guard problems == 0 else { return nil }
        let unsigned = trail.lines.count - head.entries
        let tail = unsigned == 0 ? "" : "; \(unsigned) entries after the signed head (written after the last checkpoint)"
        let how = trusted == nil ? "integrity only (key \(key.fingerprint) from device.json, not trusted)" : "signed by \(key.fingerprint)"
        let agreement = scope == nil ? "" : ", agrees with the recordings"
        pass(path, "\(trail.lines.count) entries, hash chain intact, \(trail.checkpoints) checkpoint\(trail.checkpoints == 1 ? "" : "s"), head \(how)\(agreement)\(tail)")
        return (trail, bytes)
    }

    /// The trail and the recordings agree: every manifest is the one logged; every recording logged is
    /// present (on a device: unless it was offloaded); a recovered manifest did not replace a logged one.
    private mutating func crossCheck(trail: AuditTrail, path: String, deviceID: String, scope: String,
                                     manifests: [String: SignedManifest]) -> Int {
        var problems = 0
        let facts = trail.facts()
        let inScope = manifests.filter { $0.key.hasPrefix(scope + "/") && $0.value.manifest.deviceID == deviceID }
        var present = Set<String>()
        for (manifestPath, signed) in inScope.sorted(by: { $0.key < $1.key }) {
            let m = signed.manifest
            present.insert(m.recordingID)
            guard let logged = facts[m.recordingID]?.loggedManifestSHA256 else {
                fail(manifestPath, "audit", "the audit trail never logged this recording's manifest"); problems += 1; continue
            }
            if logged != signed.sha256 && !m.recovered {
                fail(manifestPath, "audit", "differs from the manifest the audit trail logged (\(logged.prefix(16))...)"); problems += 1
            }
            if m.recovered, let original = m.loggedManifestSHA256 {
                fail(manifestPath, "recovery", "recovered after the audit trail had logged its manifest (\(original.prefix(16))...): the original manifest was removed and the footage may have been changed")
                problems += 1
            }
        }
        let onDevice = scope.hasSuffix("/recordings")
        for (id, f) in facts.sorted(by: { $0.key < $1.key }) where (f.started || f.loggedManifestSHA256 != nil) && !present.contains(id) {
            if onDevice && f.offloaded { continue }
            fail(path, "audit", "recording \(id) is logged in the audit trail but missing\(onDevice ? " (and was not offloaded)" : " from the records")")
            problems += 1
        }
        return problems
    }

    /// Central records keep a copy of the trail (and its head) from every dock, named by the key that signed
    /// it: `audit/<entries>.<FP>.jsonl` (`RecordsNames.AuditCopy`), one trail per key. The copies named by
    /// the device's key (trusted, else device.json's), with those from before fingerprints
    /// (`audit/<entries>.jsonl`), are one trail: its newest copy is checked in full against the recordings,
    /// and every older copy must be the start of it. A trail of another key (the device was given a new
    /// key) is named, not checked: this checker knows one key per device. Returns the trails found.
    private mutating func verifyRecordsTrails(folder: String, copies: [String], manifests: [String: SignedManifest]) -> Int {
        let deviceFolder = Self.parent(folder), deviceID = Self.name(deviceFolder)
        let current = (trusted?[deviceID] ?? Self.deviceJSONKey(near: deviceFolder, deviceID: deviceID))?.fingerprintHex
        let byKey = Dictionary(grouping: copies) { RecordsNames.AuditCopy.parse(Self.name($0))?.fingerprint }
        let legacy = byKey[nil] ?? []
        let legacyJoinsCurrent = current.map { byKey[$0] != nil } ?? false
        var trails = 0
        for (fingerprint, group) in byKey.sorted(by: { ($0.key ?? "") < ($1.key ?? "") }) {
            guard let fingerprint else { continue }
            trails += 1
            if let current, fingerprint != current {
                let newest = group.max { Self.entriesInName($0) < Self.entriesInName($1) } ?? group[0]
                fail(newest, "audit", "a trail of \(deviceID) signed under the key SHA256:\(fingerprint), not its key SHA256:\(current): the device was given a new key; check this trail with a trusted-keys file naming that key")
                continue
            }
            verifyRecordsTrail(deviceFolder: deviceFolder, copies: group + (fingerprint == current ? legacy : []), manifests: manifests)
        }
        if !legacy.isEmpty && !legacyJoinsCurrent {
            verifyRecordsTrail(deviceFolder: deviceFolder, copies: legacy, manifests: manifests)
            trails += 1
        }
        return trails
    }

    /// One trail's copies: the newest is checked in full against the recordings; every older copy must be the start of it.
    private mutating func verifyRecordsTrail(deviceFolder: String, copies: [String], manifests: [String: SignedManifest]) {
        guard let newest = copies.sorted().max(by: { Self.entriesInName($0) < Self.entriesInName($1) }) else { return }
        guard let (trail, newestBytes) = verifyTrail(newest, scope: deviceFolder, manifests: manifests,
                                                     headPath: Self.recordsHeadPath(newest)) else { return }
        for older in copies.sorted() where older != newest {
            guard let bytes = try? FileBytes.contents(older, limit: AuditTrail.maxFileBytes),
                  bytes.count <= newestBytes.count, newestBytes[0..<bytes.count].elementsEqual(bytes) else {
                fail(older, "audit", "an earlier copy of the trail is not the start of the newest one: the device's trail was cut or rewritten")
                continue
            }
            guard let head = try? AuditHead.read(Self.recordsHeadPath(older)), head.entries <= trail.lines.count,
                  trail.lines[head.entries - 1].sha256 == head.lastSHA256,
                  let k = trusted?[head.deviceID] ?? Self.deviceJSONKey(near: deviceFolder, deviceID: head.deviceID),
                  k.isValidSignature(head.signature, for: head.message) else {
                fail(older, "audit head", "the head handed over at that dock does not match the trail")
                continue
            }
        }
    }

    static func isRecordsTrailCopy(_ path: String) -> Bool {
        Self.name(Self.parent(path)) == RecordsNames.auditFolder && entriesInName(path) > 0
    }
    static func entriesInName(_ path: String) -> Int {
        guard let copy = RecordsNames.AuditCopy.parse(name(path)), !copy.isHead else { return 0 }
        return copy.entries
    }
    static func recordsHeadPath(_ trailCopy: String) -> String {
        guard let copy = RecordsNames.AuditCopy.parse(name(trailCopy)) else { return trailCopy + ".head.json" }
        return parent(trailCopy) + "/" + copy.head.file
    }

    // MARK: - Helpers

    /// Integrity only: the key in the nearest device.json (in `dir`, its parent, or a `state` folder beside
    /// them). Anyone can replace that file, which is why a trusted key is needed to say "verified".
    static func deviceJSONKey(near dir: String, deviceID: String) -> PublicKey? {
        var d = dir
        for _ in 0..<3 {
            for candidate in [d + "/" + DeviceIdentity.infoFileName, d + "/state/" + DeviceIdentity.infoFileName] {
                if let info = try? DeviceInfo.read(candidate), info.deviceID == deviceID { return info.publicKey }
            }
            d = parent(d)
        }
        return nil
    }

    /// Every regular file under `root`, not following links (tests use it to list what a run left).
    public static func files(under root: String, depth: Int) -> [String] {
        var v = Verifier()
        var files: [String] = []
        v.walk(root, depth: depth, into: &files)
        return files
    }

    static func parent(_ path: String) -> String {
        guard let i = path.lastIndex(of: "/") else { return "." }
        return i == path.startIndex ? "/" : String(path[..<i])
    }
    static func name(_ path: String) -> String {
        path.lastIndex(of: "/").map { String(path[path.index(after: $0)...]) } ?? path
    }

    private mutating func fail(_ subject: String, _ check: String, _ detail: String) {
        findings.append(Finding(ok: false, subject: subject, check: check, detail: detail))
    }
    private mutating func pass(_ subject: String, _ detail: String) {
        findings.append(Finding(ok: true, subject: subject, check: "", detail: detail))
    }
}
