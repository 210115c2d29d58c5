import BodycamEvidence

/// How long a recording is kept, counted from its end (UTC) or from when it reached the records,
/// whichever is later: a camera whose clock was wrong never makes footage expire on arrival.
public enum RetentionCategory: String, Sendable, CaseIterable {
    /// The default: kept 31 days.
    case nonEvidential = "non-evidential"
    /// Evidence in a case (a case reference is required): kept 7 years, until re-categorised.
    case evidential

    public static let nonEvidentialDays: Int64 = 31
    /// Seven years of 365 days plus the two leap days any seven consecutive years hold at least.
    public static let evidentialDays: Int64 = 7 * 365 + 2

    public var days: Int64 { self == .evidential ? Self.evidentialDays : Self.nonEvidentialDays }
    public var keptNanos: Int64 { days * 86_400 * 1_000_000_000 }

    /// When a recording of this category may be deleted (unless it is on hold).
    public func expiresUTC(of r: RecordingRecord) -> Int64 {
        let (sum, overflow) = max(r.endUTC, r.receivedUTC).addingReportingOverflow(keptNanos)
        return overflow ? .max : sum
    }
}

/// A change to a recording's retention, by an administrator, supervisor or the service host's tools.
public enum RetentionChange: Sendable, Equatable {
    case category(RetentionCategory, caseReference: String?)
    case hold(reason: String)
    case release

    /// Case references and hold reasons: 1-256 bytes of printable text (they go into custody and bundles).
    public static func isValidText(_ s: String) -> Bool { CourtBundleIndex.isValidText(s) }
}

/// One recording the retention job deleted (or, with a dry run, would delete).
public struct RetentionDeletion: Sendable, Equatable {
    public var recordingID: String
    public var deviceID: String
    public var category: RetentionCategory
    public var endUTC: Int64
    public var expiredUTC: Int64
    public var bytes: Int
}

public struct RetentionReport: Sendable, Equatable {
    public var now: Int64
    public var dryRun: Bool
    public var deleted: [RetentionDeletion] = []
    /// Blobs removed, this run's deletions and any left over by an earlier run that stopped part-way.
    public var blobsRemoved = 0
    /// Recordings whose blobs could not all be removed (they stay tombstoned and are retried next run).
    public var failures: [String] = []
}

extension RecordsService {
    public static let retentionActor = "retention"

    /// Applies `change` to a recording and writes its custody entry (`category`, `hold` or `release`, with
    /// `actor`) in the same transaction. Refuses unknown or deleted recordings, and changes that change nothing.
    public func changeRetention(recordingID: String, _ change: RetentionChange, actor: String) async throws -> RecordingRecord {
        try Self.validate(recordingID, change)
        let utc = clock()
        let custody = self.custody
        let blobs = self.blobs
        let protect = try await catalogue.read { tx in try Self.blobChanges(tx, recordingID: recordingID, change) }
        try await Blocking.run { try Self.applyToBlobs(blobs, protect.before) }
        let r = try await catalogue.write { tx in try Self.apply(tx, custody: custody, utc: utc, recordingID: recordingID, change, actor: actor) }
        try await Blocking.run { try Self.applyToBlobs(blobs, protect.after) }
        return r
    }

    /// The same, blocking: the administrator's commands (actor `admin`).
    public func changeRetentionNow(recordingID: String, _ change: RetentionChange, actor: String = adminActor) throws -> RecordingRecord {
        try Self.validate(recordingID, change)
        let utc = clock()
        let protect = try catalogue.readNow { tx in try Self.blobChanges(tx, recordingID: recordingID, change) }
        try Self.applyToBlobs(blobs, protect.before)
        let r = try catalogue.writeNow { tx in try Self.apply(tx, custody: custody, utc: utc, recordingID: recordingID, change, actor: actor) }
        try Self.applyToBlobs(blobs, protect.after)
        return r
    }

    /// What a retention change asks of the blob store (write-once storage with its own lock, S3 Object Lock):
    /// protective changes go `before` the catalogue commit (a longer lock for an evidential recording, legal
    /// hold on), so the catalogue never promises more than the store holds; loosening goes `after` it (hold
    /// off), so a failed commit never leaves evidence unprotected. A failure of either is thrown to the caller:
    /// before, the change is not made; after, it is made and the caller is told the store still holds the blob.
    /// Re-categorising to non-evidential asks nothing: a COMPLIANCE lock can never be shortened.
    struct BlobChanges: Sendable {
        enum Step: Sendable { case retain(sha256: String, until: Int64), hold(sha256: String, on: Bool) }
        var before: [Step] = []
        var after: [Step] = []
    }

    static func blobChanges(_ tx: any CatalogueTransaction, recordingID: String, _ change: RetentionChange) throws -> BlobChanges {
        // An unknown or deleted recording: `apply` refuses it with the right message; nothing to do here.
        guard var r = try tx.recording(recordingID), r.deletedUTC == nil else { return BlobChanges() }
        let shas = Set(try tx.files(deviceID: r.deviceID, folder: r.recordingID).map(\.sha256)).sorted()
        var c = BlobChanges()
        switch change {
        case .category(.evidential, _):
            r.category = .evidential
            let until = RetentionCategory.evidential.expiresUTC(of: r)
            c.before = shas.map { .retain(sha256: $0, until: until) }
        case .category(.nonEvidential, _):
            break
        case .hold:
            c.before = shas.map { .hold(sha256: $0, on: true) }
        case .release:
            c.after = shas.map { .hold(sha256: $0, on: false) }
        }
        return c
    }

    static func applyToBlobs(_ blobs: any BlobStore, _ steps: [BlobChanges.Step]) throws {
        for step in steps {
            do {
                switch step {
                case .retain(let sha, let until): try blobs.extendRetention(sha, until: until)
                case .hold(let sha, let on): try blobs.setLegalHold(sha, on: on)
                }
            } catch {
                throw Refusal(.failure, "the blob store did not apply the retention change: \(error)")
            }
        }
    }

    private static func validate(_ recordingID: String, _ change: RetentionChange) throws {
        guard EvidenceNames.RecordingID.parse(recordingID) != nil else {
            throw Refusal(.badRequest, "'\(recordingID.prefix(60))' is not a recording id (DEVICE-NNNNNN, e.g. BWV-0001-000001)")
        }
        switch change {
        case .category(.evidential, let ref):
            guard let ref else { throw Refusal(.badRequest, "evidential needs a case reference (--case REF)") }
            guard RetentionChange.isValidText(ref) else { throw Refusal(.badRequest, "the case reference must be 1-256 bytes of printable text") }
        case .category(.nonEvidential, let ref):
            guard ref == nil else { throw Refusal(.badRequest, "a case reference is only for evidential recordings") }
        case .hold(let reason):
            guard RetentionChange.isValidText(reason) else { throw Refusal(.badRequest, "the hold reason must be 1-256 bytes of printable text") }
        case .release:
            break
        }
    }

    private static func apply(_ tx: any CatalogueTransaction, custody: Custody, utc: Int64, recordingID: String, _ change: RetentionChange,
                              actor: String) throws -> RecordingRecord {
        guard var r = try tx.recording(recordingID) else { throw Refusal(.notFound, "no recording \(recordingID)") }
        if let deleted = r.deletedUTC { throw Refusal(.notFound, "recording \(recordingID) was deleted at \(UTC.iso(deleted))") }
        let action: CustodyEntry.Action
        let detail: String
        switch change {
        case .category(let category, let ref):
            guard r.category != category || r.caseReference != ref else {
                throw Refusal(.conflict, "\(recordingID) is \(category.rawValue)\(ref.map { " (case \($0))" } ?? "") already")
            }
            let before = r.category.rawValue + (r.caseReference.map { " (case \($0))" } ?? "")
            (r.category, r.caseReference) = (category, ref)
            action = .category
            detail = "category \(before) -> \(category.rawValue)\(ref.map { " (case \($0))" } ?? ""): kept until "
                + UTC.iso(category.expiresUTC(of: r)) + (r.holdReason != nil ? " and while on hold" : "")
        case .hold(let reason):
            if let held = r.holdReason { throw Refusal(.conflict, "\(recordingID) is on hold already (\(held))") }
            r.holdReason = reason
            action = .hold
            detail = "on hold: \(reason)"
        case .release:
            guard let held = r.holdReason else { throw Refusal(.conflict, "\(recordingID) is not on hold") }
            r.holdReason = nil
            action = .release
            detail = "hold released (was: \(held)); \(r.category.rawValue), kept until \(UTC.iso(r.category.expiresUTC(of: r)))"
        }
        try tx.updateRetention(r)
        try custody.append(tx, utc: utc, actor: actor, action: action, deviceID: r.deviceID, recordingID: r.recordingID, officer: r.officer,
                           detail: detail)
        return r
    }

    /// The retention job: deletes every recording whose retention ended by `now` and that is not on hold.
    /// For each, the tombstone and the custody `delete` entry (actor `retention`) commit together first;
    /// only then are its blobs removed (those no live file still needs). A crash in between leaves a
    /// tombstone whose blobs a rerun removes, and never bytes gone without their custody entry. Blocking.
    public func runRetention(now: Int64, dryRun: Bool = false) throws -> RetentionReport {
        var report = RetentionReport(now: now, dryRun: dryRun)
        let nonEvidentialEnd = now - RetentionCategory.nonEvidential.keptNanos
        let evidentialEnd = now - RetentionCategory.evidential.keptNanos
        // In batches, so a large backlog never sits in memory at once.
        var seen = Set<String>()
        while true {
            let batch = try catalogue.readNow { try $0.expiredRecordings(nonEvidentialEnd: nonEvidentialEnd, evidentialEnd: evidentialEnd, limit: dryRun ? 100_000 : 500) }
                .filter { !seen.contains($0.recordingID) }
            if batch.isEmpty { break }
            for candidate in batch {
                seen.insert(candidate.recordingID)
                let deletion: RetentionDeletion?
                if dryRun {
                    deletion = Self.deletion(candidate)
                } else {
                    let utc = clock()
                    deletion = try catalogue.writeNow { tx -> RetentionDeletion? in
                        // Read again in the transaction: a hold or re-categorisation may have come in since.
                        guard let r = try tx.recording(candidate.recordingID), r.deletedUTC == nil, r.holdReason == nil,
                              r.category.expiresUTC(of: r) <= now else { return nil }
                        let d = Self.deletion(r)
                        let why = "retention: \(r.category.rawValue)\(r.caseReference.map { " (case \($0))" } ?? ""), ended \(UTC.iso(r.endUTC)), "
                            + "kept until \(UTC.iso(d.expiredUTC))"
                        try tx.markDeleted(recordingID: r.recordingID, utc: utc, reason: why)
                        try custody.append(tx, utc: utc, actor: Self.retentionActor, action: .delete, deviceID: r.deviceID,
                                           recordingID: r.recordingID, officer: r.officer,
                                           detail: "deleted by \(why): manifest sha256 \(r.manifestSHA256), \(r.bytes) bytes of segments")
                        return d
                    }
                }
                if let deletion { report.deleted.append(deletion) }
            }
            // A dry run changes nothing, so the next batch would be the same one.
            if dryRun { break }
        }
        if !dryRun { try purgeDeleted(&report) }
        return report
    }

    private static func deletion(_ r: RecordingRecord) -> RetentionDeletion {
        RetentionDeletion(recordingID: r.recordingID, deviceID: r.deviceID, category: r.category, endUTC: r.endUTC,
                          expiredUTC: r.category.expiresUTC(of: r), bytes: r.bytes)
    }

    /// Removes the blobs of every tombstoned recording not purged yet (this run's, and any a crash left),
    /// keeping a blob that a live file still references (the same bytes held for another recording).
    private func purgeDeleted(_ report: inout RetentionReport) throws {
        for r in try catalogue.readNow({ try $0.unpurgedRecordings() }) {
            let files = try catalogue.readNow { try $0.files(deviceID: r.deviceID, folder: r.recordingID) }
            var ok = true
            for sha in Set(files.map(\.sha256)).sorted() {
                guard !(try catalogue.readNow { try $0.isReferencedByLiveFile(sha256: sha) }) else { continue }
                guard blobs.hasBlob(sha) else { continue }
                do {
                    try blobs.removeBlob(sha)
                    report.blobsRemoved += 1
                } catch {
                    ok = false
                    report.failures.append("\(r.recordingID): removing blob \(sha): \(error)")
                }
            }
            if ok {
                let utc = clock()
                try catalogue.writeNow { try $0.markPurged(recordingID: r.recordingID, utc: utc) }
            }
        }
    }
}
