import BodycamEvidence

/// What an export wrote.
public struct ExportResult: Sendable {
    public var folder: String
    public var recordings: [String]
    public var files: Int
    public var bundleSHA256: String
    /// Devices whose audit trail copy was left out, and why (the bundle is still complete without one).
    public var trailsLeftOut: [String: String] = [:]
}

extension RecordsService {
    /// Custody actions about a device that belong in its recordings' bundle: its enrolment (the pin),
    /// revocation, the audit trail copies it handed over, and its check-outs and check-ins (who wore it).
    static let deviceCustodyActions: Set<CustodyEntry.Action> = [.enrol, .revoke, .upload, .assign, .checkin]

    /// Exports recordings as a court bundle into `folder` (new or empty) with `CourtBundle.write`: segments
    /// (copied streamed from the blob store), manifests and signatures, receipts, the pin each recording was
    /// received under (one per key: a device enrolled again with a new key has two), for each of those
    /// keys the device's newest audit trail copy and head signed by it, and the custody lines about these
    /// recordings and their devices. Then one custody `export` entry per recording (actor `admin`) naming
    /// the bundle's SHA-256. Refuses unknown or deleted recordings. Blocking.
    public func exportBundle(recordingIDs: [String], to folder: String, caseReference: String?, exportedBy: String,
                             actor: String = adminActor) throws -> ExportResult {
        guard !recordingIDs.isEmpty else { throw AdminError("name at least one recording to export") }
        var ids: [String] = []
        for id in recordingIDs where !ids.contains(id) {
            guard EvidenceNames.RecordingID.parse(id) != nil else { throw AdminError("'\(id.prefix(60))' is not a recording id (DEVICE-NNNNNN, e.g. BWV-0001-000001)") }
            ids.append(id)
        }
        let (records, pins, lines, auditFiles) = try catalogue.readNow { tx in
            var records: [RecordingRecord] = []
            for id in ids {
                guard let r = try tx.recording(id) else { throw AdminError("no recording \(id) in the catalogue") }
                if let deleted = r.deletedUTC {
                    throw AdminError("recording \(id) was deleted at \(UTC.iso(deleted)) (\(r.deletedReason ?? "no reason kept")): it cannot be exported")
                }
                records.append(r)
            }
            // Each recording's pin: the one its manifest was verified with at receipt.
            var pins: [String: PinRecord] = [:]
            var auditFiles: [String: [FileRecord]] = [:]
            for d in Set(records.map(\.deviceID)) {
                let history = try tx.pins(deviceID: d)
                for r in records where r.deviceID == d {
                    guard let pin = history.first(where: { $0.fingerprint == r.pinFingerprint }) else {
                        throw AdminError("\(r.recordingID): the pin it was received under (\(r.pinFingerprint ?? "not recorded")) is not in the catalogue")
                    }
                    pins[r.recordingID] = pin
                }
                auditFiles[d] = try tx.files(deviceID: d, folder: RecordsNames.auditFolder)
            }
            return (records, pins, try tx.custodyLines(from: 1), auditFiles)
        }

        // Recordings: manifest, signature and receipt from the catalogue and blobs; segments as files to copy.
        var recordings: [CourtBundle.Recording] = []
        for r in records {
            guard let id = EvidenceNames.RecordingID.parse(r.recordingID) else { continue }
            let manifestBytes = try blobs.readBlob(r.manifestSHA256, limit: RecordingManifest.maxFileBytes)
            let manifest: RecordingManifest
            do { manifest = try RecordingManifest.parse(manifestBytes) } catch { throw AdminError("\(r.recordingID): manifest: \(error.message)") }
            guard let sig = try catalogue.readNow({ try $0.file(deviceID: r.deviceID, folder: r.recordingID, file: EvidenceNames.signatureName(id)) }) else {
                throw AdminError("\(r.recordingID): its manifest signature is not in the catalogue")
            }
            let segments = try manifest.segments.map { s -> CourtBundle.SegmentSource in
                guard blobs.hasBlob(s.sha256) else {
                    throw AdminError("\(r.recordingID): segment \(s.file) is missing from the blob store (run verify-store)")
                }
                // Opened when the bundle copies it, streamed in pieces and hashed on the way.
                let sha = s.sha256
                let store = blobs
                return .reader(name: "blob \(sha) (\(s.file))", open: { try store.openBlob(sha) })
            }
            guard let pin = pins[r.recordingID] else { continue }
            recordings.append(CourtBundle.Recording(manifest: manifestBytes, signature: try blobs.readBlob(sig.sha256, limit: 4096),
                                                    receipt: r.receipt, pin: pin.pin, segments: segments))
        }

        // For each key the recordings were received under, the device's newest audit trail copy whose head
        // that key signed (a device given a new key starts a new trail, signed by the new key).
        var trails: [CourtBundle.Trail] = []
        var trailDevices = Set<String>()
        for (device, files) in auditFiles {
            let keys = Set(pins.values.filter { $0.deviceID == device }.map(\.key))
            let byName = Dictionary(files.map { ($0.file, $0) }, uniquingKeysWith: { a, _ in a })
            var newest: [PublicKey: (entries: Int, trail: FileRecord, head: [UInt8])] = [:]
            // Copies named by their key (`000000123.<FP>.jsonl`) or, from older cameras, by their entries alone.
            for f in files {
                guard let copy = RecordsNames.AuditCopy.parse(f.file), !copy.isHead, let headFile = byName[copy.head.file],
                      let headBytes = try? blobs.readBlob(headFile.sha256, limit: 4096), let head = try? AuditHead.parse(headBytes),
                      let key = keys.first(where: { $0.isValidSignature(head.signature, for: head.message) }),
                      copy.fingerprint.map({ $0 == key.fingerprintHex }) ?? true,
                      newest[key].map({ $0.entries < copy.entries }) ?? true else { continue }
                newest[key] = (copy.entries, f, headBytes)
            }
            if !newest.isEmpty { trailDevices.insert(device) }
            for (_, copy) in newest.sorted(by: { $0.value.entries < $1.value.entries }) {
                trails.append(CourtBundle.Trail(trail: try blobs.readBlob(copy.trail.sha256, limit: AuditTrail.maxFileBytes), head: copy.head))
            }
        }

        // Custody: every entry about these recordings, and the device entries (enrolment, revocation, trail copies).
        let idSet = Set(ids), deviceSet = Set(records.map(\.deviceID))
        let custodyLines = try lines.filter { line in
            let entry: CustodyEntry
            do { entry = try CustodyEntry.parse(line[...]).entry } catch { throw AdminError("the custody log is damaged (\((error as? EvidenceError)?.message ?? "\(error)"): run verify-store") }
            if let r = entry.recordingID { return idSet.contains(r) }
            guard let d = entry.deviceID else { return false }
            return deviceSet.contains(d) && Self.deviceCustodyActions.contains(entry.action)
        }

        let utc = clock()
        func write(_ trails: [CourtBundle.Trail]) throws(EvidenceError) -> CourtBundleIndex {
            try CourtBundle.write(to: folder, service: (identity.publicKey, identity.sign), exportedBy: exportedBy, caseReference: caseReference,
                                  createdUTC: utc, recordings: recordings, trails: trails, custody: custodyLines)
        }
        var result = ExportResult(folder: folder, recordings: ids.sorted(), files: 0, bundleSHA256: "")
        let index: CourtBundleIndex
        do { index = try write(trails) } catch let first {
            // A trail copy the bundle's rules refuse (one that never logged a recording's manifest, say) is
            // left out rather than stopping the export: the bundle verifies without it. Anything else stops.
            guard first.message.hasPrefix("audit trail of "), !trails.isEmpty else { throw AdminError("export: \(first.message)") }
            for d in trailDevices { result.trailsLeftOut[d] = first.message }
            do { index = try write([]) } catch { throw AdminError("export: \(error.message)") }
        }
        let bundleBytes = (try? FileBytes.contents(folder + "/" + CourtBundleLayout.indexFile, limit: 16 << 20)) ?? []
        result.files = index.files.count + 1
        result.bundleSHA256 = Hex.sha256(bundleBytes)
        let custody = self.custody, sha = result.bundleSHA256
        try catalogue.writeNow { tx in
            for r in records {
                try custody.append(tx, utc: utc, actor: actor, action: .export, deviceID: r.deviceID, recordingID: r.recordingID, officer: r.officer,
                                   // The digest first: a long folder name is what gets cut if the detail is too long.
                                   detail: "exported in a court bundle (bundle.json sha256 \(sha), \(ids.count) recording(s)) by \(exportedBy)"
                                       + "\(caseReference.map { " for case \($0)" } ?? "") to \(folder)")
            }
        }
        return result
    }
}
