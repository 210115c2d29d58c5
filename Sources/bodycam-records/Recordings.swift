import ArgumentParser
import BodycamEvidence
import BodycamRecords

struct RecordingsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "recordings",
        abstract: "List recordings in the catalogue: device, officer, trigger, times, size, retention and state.",
        discussion: """
        State is 'verified' when the manifest was verified with the pinned key at ingest and every file it \
        needs is in the blob store, else 'missing N file(s)' (verify-store re-hashes everything). --deleted \
        lists the tombstones of deleted recordings instead.
        """)

    @OptionGroup var data: DataOption
    @Option(help: "Only this device's recordings.") var device: String?
    @Option(help: "Only recordings made while assigned to this officer.") var officer: String?
    @Flag(help: "Deleted recordings (tombstones: when and why).") var deleted = false
    @Flag(help: "One JSON object a line.") var json = false

    func run() throws {
        var filter = RecordingFilter(deviceID: device.map(deviceArgument))
        if let officer {
            guard EvidenceNames.isValidOfficerID(officer) else { fail("'\(officer.prefix(40))' is not an officer id") }
            filter.officer = officer
        }
        filter.deleted = deleted
        filter.limit = 10_000
        let service = data.open()
        while true {
            let f = filter
            let page = administer { try service.catalogue.readNow { try $0.recordings(f) } }
            if page.isEmpty { break }
            filter.offset += page.count
            for r in page { emit(line(r, service: service)) }
        }
    }

    private func line(_ r: RecordingRecord, service: RecordsService) -> String {
        let state: String
        if r.deletedUTC != nil {
            state = "deleted"
        } else {
            let files = (try? service.catalogue.readNow { try $0.files(deviceID: r.deviceID, folder: r.recordingID) }) ?? []
            let missing = files.filter { !service.blobs.hasBlob($0.sha256) }.count + (files.isEmpty ? 1 : 0)
            state = missing == 0 ? "verified" : "missing \(missing) file(s)"
        }
        if json {
            func optional(_ s: String?) -> JSON { s.map { .string($0) } ?? .null }
            return JSON.object([
                ("recording_id", .string(r.recordingID)), ("device_id", .string(r.deviceID)), ("officer", optional(r.officer)),
                ("trigger", .string(r.trigger)), ("start_utc", .string(UTC.iso(r.startUTC))), ("end_utc", .string(UTC.iso(r.endUTC))),
                ("markers", .int(Int64(r.markers))), ("frames", .int(Int64(r.frames))), ("bytes", .int(Int64(r.bytes))),
                ("category", .string(r.category.rawValue)), ("case_reference", optional(r.caseReference)), ("hold", optional(r.holdReason)),
                ("kept_until", .string(UTC.iso(r.category.expiresUTC(of: r)))), ("state", .string(state)),
                ("deleted_utc", optional(r.deletedUTC.map(UTC.iso))), ("deleted_reason", optional(r.deletedReason)),
            ]).serialized
        }
        let retention = r.category.rawValue + (r.caseReference.map { " (case \($0))" } ?? "") + (r.holdReason.map { "  HOLD (\($0))" } ?? "")
        let tail = r.deletedUTC.map { "  deleted \(UTC.iso($0)): \(r.deletedReason ?? "")" } ?? ""
        return "\(r.recordingID)  \(r.deviceID)  \(r.officer ?? "-")  \(r.trigger)  \(UTC.iso(r.startUTC)) .. \(UTC.iso(r.endUTC))  "
            + "\(r.frames) frames  \(r.bytes) bytes  \(retention)  \(state)\(tail)"
    }
}

struct ExportCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "export",
        abstract: "Export recordings as a court bundle that `bodycam verify BUNDLE` checks offline.",
        discussion: """
        The bundle holds the segments, signed manifests, receipts, each device's pinned key with the service's \
        signature over the pin, its newest audit trail copy, and the custody entries about these recordings and \
        their devices; bundle.json, signed by the service key, lists every file. A checker needs only the line \
        `bodycam-records key` prints. Each export is written to the custody log.
        """)

    @Argument(help: ArgumentHelp("The recording ids (DEVICE-NNNNNN, e.g. BWV-0001-000001).", valueName: "recording-id")) var recordingIDs: [String]
    @Option(help: "The bundle folder to create (must not exist, or be empty).") var out: String
    @Option(name: .customLong("case"), help: "The case reference to record in the bundle.") var caseReference: String?
    @Option(help: "Who exported it (a name and role, recorded in the bundle).") var by = "admin"
    @OptionGroup var data: DataOption
    @Flag(help: "A JSON summary.") var json = false

    func run() throws {
        let ids = recordingIDs.map(recordingArgument)
        let service = data.open()
        let result = administer { try service.exportBundle(recordingIDs: ids, to: out, caseReference: caseReference, exportedBy: by) }
        for (device, why) in result.trailsLeftOut.sorted(by: { $0.key < $1.key }) { diagnostic("audit trail of \(device) left out: \(why)") }
        if json {
            emit(JSON.object([
                ("event", .string("exported")), ("folder", .string(result.folder)), ("recordings", .array(result.recordings.map { .string($0) })),
                ("files", .int(Int64(result.files))), ("bundle_sha256", .string(result.bundleSHA256)),
            ]).serialized)
        } else {
            emit("exported \(result.recordings.count) recording(s) to \(result.folder) (\(result.files) files, bundle.json sha256 \(result.bundleSHA256))")
        }
    }
}

struct VerifyStoreCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "verify-store",
        abstract: "Check the whole store: every blob re-hashed, every recording's signature and segments, the custody chain.",
        discussion: "Exit status: 0 all is well; 1 a check failed (each problem named: file and check).")

    @OptionGroup var data: DataOption
    @Flag(help: "One JSON object.") var json = false

    func run() throws {
        let service = data.open()
        let report = administer { try service.verifyStore() }
        if json {
            emit(JSON.object([
                ("ok", .bool(report.ok)), ("blobs", .int(Int64(report.blobs))), ("recordings", .int(Int64(report.recordings))),
                ("custody_entries", .int(Int64(report.custodyEntries))),
                ("problems", .array(report.problems.map { .object([("file", .string($0.file)), ("check", .string($0.check)),
                                                                   ("message", .string($0.message))]) })),
            ]).serialized)
        } else {
            for p in report.problems { emit(p.description) }
            emit("\(report.ok ? "ok" : "FAILED"): \(report.blobs) blob(s), \(report.recordings) recording(s), \(report.custodyEntries) custody entries"
                 + (report.ok ? "" : ", \(report.problems.count) problem(s)"))
        }
        if !report.ok { RecordsCommand.exit(withError: ExitCode(1)) }
    }
}
