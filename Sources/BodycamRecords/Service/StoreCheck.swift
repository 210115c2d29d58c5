import BodycamEvidence

/// One problem `verify-store` found: the file (a blob path, a recording, the custody log) and the check.
public struct StoreProblem: Sendable, Equatable, CustomStringConvertible {
    public var file: String
    public var check: String
    public var message: String
    public var description: String { "FAIL  \(file): \(check): \(message)" }
}

public struct StoreCheckReport: Sendable {
    public var blobs = 0
    public var recordings = 0
    public var custodyEntries = 0
    public var problems: [StoreProblem] = []
    public var ok: Bool { problems.isEmpty }
}

extension RecordsService {
    /// Checks the whole store: every live file's blob re-hashed (streamed) against the catalogue; every
    /// live recording's manifest signed by the key of the pin it was received under (`pinFingerprint`, kept
    /// in the pin history however often the device was re-keyed), its receipt signed by this service
    /// and naming that manifest (and, if it names one, that key), and every segment it lists catalogued with its SHA-256 and size; the
    /// custody log's hash chain and signatures. Blocking; reads one blob at a time.
    public func verifyStore() throws -> StoreCheckReport {
        var report = StoreCheckReport()
        func problem(_ file: String, _ check: String, _ message: String) {
            report.problems.append(StoreProblem(file: file, check: check, message: message))
        }

        // Blobs: each distinct SHA-256 once, named by its path and the first file that holds it.
        let files = try catalogue.readNow { try $0.liveFiles() }
        var checked = Set<String>()
        for f in files where checked.insert(f.sha256).inserted {
            let name = "blobs/\(f.sha256.prefix(2))/\(f.sha256) (\(f.deviceID)/\(f.folder)/\(f.file))"
            report.blobs += 1
            guard blobs.hasBlob(f.sha256) else { problem(name, "present", "missing from the blob store"); continue }
            do {
                let held = try blobs.hashBlob(f.sha256)
                if held.sha256 != f.sha256 { problem(name, "sha256", "the bytes hash to \(held.sha256): the blob was changed") }
                else if held.bytes != f.bytes { problem(name, "size", "\(held.bytes) bytes, the catalogue says \(f.bytes)") }
            } catch {
                problem(name, "read", "\(error)")
            }
        }
        let byName = Dictionary(files.map { ("\($0.deviceID)/\($0.folder)/\($0.file)", $0) }, uniquingKeysWith: { a, _ in a })

        // Recordings, a page at a time.
        // Every pinned key, by device and fingerprint.
        let keys = try catalogue.readNow { tx in
            try tx.devices().map { d in (d.deviceID, Dictionary(try tx.pins(deviceID: d.deviceID).map { ($0.fingerprint, $0.key) }, uniquingKeysWith: { a, _ in a })) }
        }
        let pins = Dictionary(keys, uniquingKeysWith: { a, _ in a })
        var filter = RecordingFilter()
        filter.limit = 1000
        while true {
            let page = try catalogue.readNow { [filter] tx in try tx.recordings(filter) }
            if page.isEmpty { break }
            filter.offset += page.count
            for r in page {
                report.recordings += 1
                let where_ = "recordings/\(r.recordingID)"
                guard let id = EvidenceNames.RecordingID.parse(r.recordingID) else { problem(where_, "id", "not a recording id"); continue }
                let manifestBytes: [UInt8]
                do { manifestBytes = try blobs.readBlob(r.manifestSHA256, limit: RecordingManifest.maxFileBytes) } catch {
                    problem(where_ + "/" + RecordingManifest.jsonName(r.recordingID), "read", "\(error)"); continue
                }
                guard Hex.sha256(manifestBytes) == r.manifestSHA256 else {
                    problem(where_ + "/" + RecordingManifest.jsonName(r.recordingID), "sha256", "not the manifest the catalogue holds"); continue
                }
                let manifest: RecordingManifest
                do { manifest = try RecordingManifest.parse(manifestBytes) } catch {
                    problem(where_ + "/" + RecordingManifest.jsonName(r.recordingID), "manifest", error.message); continue
                }
                if manifest.recordingID != r.recordingID || manifest.deviceID != r.deviceID {
                    problem(where_, "manifest", "names \(manifest.recordingID) of \(manifest.deviceID)")
                }
                let sigName = "\(r.deviceID)/\(r.recordingID)/\(EvidenceNames.signatureName(id))"
                if let key = r.pinFingerprint.flatMap({ pins[r.deviceID]?[$0] }) {
                    if let sig = byName[sigName], let bytes = try? blobs.readBlob(sig.sha256, limit: 4096), let signature = Signature(fileBytes: bytes) {
                        if !key.isValidSignature(signature, for: manifestBytes) {
                            problem(where_ + "/" + EvidenceNames.signatureName(id), "signature",
                                    "does not verify with the key pinned for \(r.deviceID) (\(key.fingerprint))")
                        }
                    } else {
                        problem(where_ + "/" + EvidenceNames.signatureName(id), "signature", "missing or unreadable")
                    }
                } else {
                    problem(where_, "pin", "the pin it was received under (\(r.pinFingerprint ?? "not recorded")) is not in \(r.deviceID)'s pin history")
                }
                do {
                    let receipt = try ServiceStatement.verify(r.receipt, key: identity.publicKey)
                    if receipt.kind != .receipt || receipt.recordingID != r.recordingID || receipt.manifestSHA256 != r.manifestSHA256 {
                        problem(where_ + "/" + r.recordingID + ".receipt", "receipt", "not a receipt for this recording and manifest")
                    } else if let key = receipt.deviceKey, key.fingerprintHex != r.pinFingerprint {
                        problem(where_ + "/" + r.recordingID + ".receipt", "receipt", "names device key \(key.fingerprint), the catalogue says the recording was received under \(r.pinFingerprint ?? "no pin")")
                    }
                } catch {
                    problem(where_ + "/" + r.recordingID + ".receipt", "receipt", error.message)
                }
                for s in manifest.segments {
                    guard let f = byName["\(r.deviceID)/\(r.recordingID)/\(s.file)"] else {
                        problem(where_ + "/" + s.file, "present", "segment \(s.index) is not in the catalogue"); continue
                    }
                    if f.sha256 != s.sha256 || f.bytes != s.bytes {
                        problem(where_ + "/" + s.file, "sha256", "held as \(f.sha256) (\(f.bytes) bytes), the manifest says \(s.sha256) (\(s.bytes) bytes)")
                    }
                }
            }

        }

        // Custody: the whole chain.
        let lines = try catalogue.readNow { try $0.custodyLines(from: 1) }
        let (entries, failure) = CustodyLog.checkPrefix(lines: lines, key: identity.publicKey)
        report.custodyEntries = entries.count
        if let failure { problem("custody", "chain", failure.message) }
        return report
    }
}
