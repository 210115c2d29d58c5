import Crypto
import Foundation

/// Checks recordings and audit trails offline, as central records or a court expert would: manifest
/// signatures, every segment's size, SHA-256, frames and stamps, the order of segments, and the audit
/// trail's hash chain and signed checkpoints. Works on a device's storage folder, a recordings folder,
/// one manifest, or a central records folder.
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
    /// A key given on the command line; otherwise the nearest `device.json` is used.
    public var publicKeyHex: String?

    public init(publicKeyHex: String? = nil) { self.publicKeyHex = publicKeyHex }

    public var failures: [Finding] { findings.filter { !$0.ok } }

    /// Verifies everything under `path`.
    public mutating func verify(path: String) {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
            fail(path, "exists", "no such file or folder")
            return
        }
        let files = isDirectory.boolValue ? Self.files(under: path, depth: 4) : [path]
        let manifests = files.filter { $0.hasSuffix(".manifest.json") }
        let audits = files.filter { $0.hasSuffix("/" + AuditLog.fileName) || $0 == AuditLog.fileName }
        if manifests.isEmpty && audits.isEmpty { fail(path, "contents", "no manifests or audit trail found") }
        for m in manifests.sorted() { verifyRecording(manifestPath: m) }
        for a in audits.sorted() { verifyAudit(path: a) }
        if isDirectory.boolValue { findUnlisted(files) }
    }

    // MARK: - Recordings

    mutating func verifyRecording(manifestPath: String) {
        let dir = (manifestPath as NSString).deletingLastPathComponent
        guard let bytes = FileBytes.read(manifestPath),
              let json = try? JSONSerialization.jsonObject(with: Data(bytes)) as? [String: Any] else {
            fail(manifestPath, "manifest", "unreadable or not JSON")
            return
        }
        let id = json["recording_id"] as? String ?? "?"
        guard json["format"] as? String == RecordingManifest.format else {
            fail(manifestPath, "manifest", "unknown format \(json["format"] ?? "none")")
            return
        }
        guard manifestPath.hasSuffix("/" + RecordingManifest.jsonName(id)) || manifestPath == RecordingManifest.jsonName(id) else {
            fail(manifestPath, "manifest", "file name does not match recording id \(id)")
            return
        }
        // The signature covers exactly the manifest's bytes.
        guard let key = publicKeyHex ?? Self.deviceKey(near: dir, deviceID: json["device_id"] as? String) else {
            fail(manifestPath, "signature", "no public key (device.json) found for device \(json["device_id"] ?? "?")")
            return
        }
        let sigPath = dir + "/" + RecordingManifest.signatureName(id)
        guard let sig = FileBytes.readText(sigPath)?.trimmingCharacters(in: .whitespacesAndNewlines) else {
            fail(sigPath, "signature", "missing")
            return
        }
        guard DeviceIdentity.verify(signature: sig, of: bytes, publicKeyHex: key) else {
            fail(manifestPath, "signature", "does not match the manifest (edited, or signed by another key)")
            return
        }
        let segments = json["segments"] as? [[String: Any]] ?? []
        var problems = 0
        var previousLast: Int?
        for (i, s) in segments.enumerated() {
            let file = s["file"] as? String ?? ""
            let path = dir + "/" + file
            let subject = path
            if s["index"] as? Int != i + 1 || !file.contains("_\(id)_") {
                fail(subject, "order", "listed as segment \(i + 1) of \(id) but named/indexed otherwise"); problems += 1; continue
            }
            guard let size = PosixFile.size(path) else { fail(subject, "exists", "segment file is missing"); problems += 1; continue }
            if size != s["bytes"] as? Int ?? -1 {
                fail(subject, "size", "\(size) bytes, manifest says \(s["bytes"] ?? "?")"); problems += 1; continue
            }
            if FileBytes.sha256(path) != s["sha256"] as? String {
                fail(subject, "sha256", "does not match the manifest (the file was changed)"); problems += 1; continue
            }
            guard let avi = try? AVIReader.read(path: path) else { fail(subject, "avi", "not a readable AVI"); problems += 1; continue }
            if avi.frames.count != s["frames"] as? Int ?? -1 {
                fail(subject, "frames", "\(avi.frames.count) frames, manifest says \(s["frames"] ?? "?")"); problems += 1; continue
            }
            let first = avi.frames.isEmpty ? nil : avi.stamp(0), last = avi.frames.isEmpty ? nil : avi.stamp(avi.frames.count - 1)
            if first.map({ Int($0.sequence) }) != s["first_seq"] as? Int || last.map({ Int($0.sequence) }) != s["last_seq"] as? Int {
                fail(subject, "stamps", "frame sequence numbers differ from the manifest"); problems += 1; continue
            }
            if first?.deviceID != json["device_id"] as? String {
                fail(subject, "stamps", "frames carry device \(first?.deviceID ?? "none")"); problems += 1; continue
            }
            if let p = previousLast, let f = s["first_seq"] as? Int, f != p + 1 {
                fail(subject, "continuity", "starts at frame \(f), the previous segment ended at \(p)"); problems += 1
            }
            previousLast = s["last_seq"] as? Int
        }
        if problems == 0 {
            let frames = segments.reduce(0) { $0 + ($1["frames"] as? Int ?? 0) }
            let notes = (json["recovered"] as? Bool == true ? ", recovered after power loss" : "")
                + (json["complete"] as? Bool == false ? ", incomplete (frames lost: see manifest)" : "")
            pass(id, "\(segments.count) segment\(segments.count == 1 ? "" : "s"), \(frames) frames, signature and hashes valid\(notes)")
        }
    }

    /// Segment files that no manifest lists: added, or left by a crash and not yet recovered.
    mutating func findUnlisted(_ files: [String]) {
        var listed = Set<String>()
        for m in files where m.hasSuffix(".manifest.json") {
            let dir = (m as NSString).deletingLastPathComponent
            if let bytes = FileBytes.read(m), let json = try? JSONSerialization.jsonObject(with: Data(bytes)) as? [String: Any] {
                for s in json["segments"] as? [[String: Any]] ?? [] { listed.insert(dir + "/" + (s["file"] as? String ?? "")) }
            }
        }
        for f in files where (f.hasSuffix(".avi") || f.hasSuffix(".avi.part")) && !listed.contains(f) {
            fail(f, "manifest", f.hasSuffix(".part") ? "unfinished segment (run bodycam recover)" : "segment is not listed in any manifest")
        }
    }

    // MARK: - Audit trail

    mutating func verifyAudit(path: String) {
        guard let bytes = FileBytes.read(path) else { fail(path, "audit", "unreadable"); return }
        if let last = bytes.last, last != 10 { fail(path, "audit", "the last entry is cut short"); return }
        let dir = (path as NSString).deletingLastPathComponent
        let key = publicKeyHex ?? Self.deviceKey(near: dir, deviceID: nil)
        var prev = AuditLog.genesis
        var checkpoints = 0, afterCheckpoint = 0
        let lines = bytes.split(separator: 10, omittingEmptySubsequences: false).dropLast()
        for (i, line) in lines.enumerated() {
            let n = i + 1
            guard let json = try? JSONSerialization.jsonObject(with: Data(line)) as? [String: Any] else {
                fail(path, "audit entry \(n)", "not JSON"); return
            }
            guard json["seq"] as? Int == n else { fail(path, "audit entry \(n)", "out of sequence (seq \(json["seq"] ?? "none"))"); return }
            guard json["prev"] as? String == prev else {
                fail(path, "audit entry \(n)", "hash chain broken: an entry before it was changed, removed or reordered"); return
            }
            if json["event"] as? String == "checkpoint" {
                guard let key else { fail(path, "audit checkpoint \(n)", "no public key (device.json) to check it"); return }
                guard let sig = json["signature"] as? String,
                      DeviceIdentity.verify(signature: sig, of: Array(prev.utf8), publicKeyHex: key) else {
                    fail(path, "audit checkpoint \(n)", "signature does not match the chain"); return
                }
                checkpoints += 1
                afterCheckpoint = 0
            } else {
                afterCheckpoint += 1
            }
            prev = Hex.encode(SHA256.hash(data: Array(line)))
        }
        let tail = afterCheckpoint == 0 ? "" : "; \(afterCheckpoint) entries after the last checkpoint are chained but not yet signed"
        pass(path, "\(lines.count) entries, hash chain intact, \(checkpoints) signed checkpoint\(checkpoints == 1 ? "" : "s")\(tail)")
    }

    // MARK: - Helpers

    /// The public key in the nearest device.json: in `dir`, its parent, or a `state` folder beside them.
    static func deviceKey(near dir: String, deviceID: String?) -> String? {
        var d = dir
        for _ in 0..<3 {
            for candidate in [d + "/device.json", d + "/state/device.json"] {
                if let text = FileBytes.readText(candidate), let key = JSONText.stringField("public_key", in: text),
                   deviceID == nil || JSONText.stringField("device_id", in: text) == deviceID {
                    return key
                }
            }
            d = (d as NSString).deletingLastPathComponent
        }
        return nil
    }

    static func files(under root: String, depth: Int) -> [String] {
        guard depth > 0, let names = try? FileManager.default.contentsOfDirectory(atPath: root) else { return [] }
        var out: [String] = []
        for n in names {
            let p = root + "/" + n
            var isDir: ObjCBool = false
            guard FileManager.default.fileExists(atPath: p, isDirectory: &isDir) else { continue }
            if isDir.boolValue { out += files(under: p, depth: depth - 1) } else { out.append(p) }
        }
        return out
    }

    private mutating func fail(_ subject: String, _ check: String, _ detail: String) {
        findings.append(Finding(ok: false, subject: subject, check: check, detail: detail))
    }
    private mutating func pass(_ subject: String, _ detail: String) {
        findings.append(Finding(ok: true, subject: subject, check: "", detail: detail))
    }
}
