import ArgumentParser
import BodycamEvidence
import BodycamRecords

extension RetentionCategory: ExpressibleByArgument {}

/// A recording id argument, validated.
func recordingArgument(_ id: String) -> String {
    guard EvidenceNames.RecordingID.parse(id) != nil else { fail("'\(id.prefix(60))' is not a recording id (DEVICE-NNNNNN, e.g. BWV-0001-000001)") }
    return id
}

/// `--now 2026-03-01T08:00:00Z`, or the clock.
func utcArgument(_ text: String?, _ option: String) -> Int64? {
    guard let text else { return nil }
    guard let t = UTC.parse(text) else { fail("\(option) '\(text.prefix(40))' is not a UTC time (2026-03-01T08:00:00Z)") }
    return t
}

struct CategoryCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "category",
        abstract: "Set a recording's retention category: non-evidential (kept 31 days) or evidential with a case (kept 7 years).",
        discussion: """
        Both count from the recording's end. Nothing on hold is deleted, whatever its category. The change is \
        written to the custody log as actor 'admin'.
        """)

    @Argument(help: "The recording id (DEVICE-NNNNNN, e.g. BWV-0001-000001).") var recordingID: String
    @Argument(help: "evidential or non-evidential.") var category: RetentionCategory
    @Option(name: .customLong("case"), help: "The case reference (evidential only).") var caseReference: String?
    @OptionGroup var data: DataOption

    func run() throws {
        let id = recordingArgument(recordingID)
        let service = data.open()
        let r = administer { try service.changeRetentionNow(recordingID: id, .category(category, caseReference: caseReference)) }
        emit("\(id) \(r.category.rawValue)\(r.caseReference.map { " (case \($0))" } ?? ""), kept until \(UTC.iso(r.category.expiresUTC(of: r)))"
             + (r.holdReason != nil ? " and while on hold" : ""))
    }
}

struct HoldCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "hold",
        abstract: "Put a recording on hold: it is never deleted while held, whatever its category.")

    @Argument(help: "The recording id.") var recordingID: String
    @Option(help: "Why (a case, a complaint, a request for disclosure).") var reason: String
    @OptionGroup var data: DataOption

    func run() throws {
        let id = recordingArgument(recordingID)
        let service = data.open()
        administer { _ = try service.changeRetentionNow(recordingID: id, .hold(reason: reason)) }
        emit("\(id) on hold")
    }
}

struct ReleaseCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "release",
        abstract: "Release a recording's hold: its category's retention applies again.")

    @Argument(help: "The recording id.") var recordingID: String
    @OptionGroup var data: DataOption

    func run() throws {
        let id = recordingArgument(recordingID)
        let service = data.open()
        let r = administer { try service.changeRetentionNow(recordingID: id, .release) }
        emit("\(id) released: \(r.category.rawValue), kept until \(UTC.iso(r.category.expiresUTC(of: r)))")
    }
}

struct RetentionCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "retention",
        abstract: "Delete every recording whose retention ended and that is not on hold.",
        discussion: """
        For each: a tombstone and a custody 'delete' entry (actor 'retention') first, then its blobs (those no \
        other recording holds). A run that stops part-way is finished by the next. `serve` runs this too \
        (--retention-every). Prints one line per recording deleted; --json: one JSON object a line, then a summary.
        """)

    @OptionGroup var data: DataOption
    @Option(help: "Take this UTC time as now (2026-03-01T08:00:00Z).") var now: String?
    @Flag(help: "Show what would be deleted; change nothing.") var dryRun = false
    @Flag(help: "JSON Lines output.") var json = false

    func run() throws {
        let at = utcArgument(now, "--now")
        let service = data.open()
        let report = administer { try service.runRetention(now: at ?? service.clock(), dryRun: dryRun) }
        printRetention(report, json: json)
        if !report.failures.isEmpty { fail("retention: \(report.failures.count) recording(s) not fully removed (retried next run)") }
    }
}

/// One line per deletion, then a summary (shared with `serve`'s periodic job).
func printRetention(_ report: RetentionReport, json: Bool) {
    let verb = report.dryRun ? "would delete" : "deleted"
    for d in report.deleted {
        if json {
            emit(JSON.object([
                ("event", .string(report.dryRun ? "retention-would-delete" : "retention-deleted")), ("recording_id", .string(d.recordingID)),
                ("device_id", .string(d.deviceID)), ("category", .string(d.category.rawValue)), ("end_utc", .string(UTC.iso(d.endUTC))),
                ("expired_utc", .string(UTC.iso(d.expiredUTC))), ("bytes", .int(Int64(d.bytes))),
            ]).serialized)
        } else {
            emit("\(verb) \(d.recordingID)  \(d.category.rawValue)  ended \(UTC.iso(d.endUTC))  expired \(UTC.iso(d.expiredUTC))  \(d.bytes) bytes")
        }
    }
    for f in report.failures { diagnostic(f) }
    if json {
        emit(JSON.object([
            ("event", .string("retention")), ("now", .string(UTC.iso(report.now))), ("dry_run", .bool(report.dryRun)),
            ("deleted", .int(Int64(report.deleted.count))), ("blobs_removed", .int(Int64(report.blobsRemoved))),
            ("failures", .int(Int64(report.failures.count))),
        ]).serialized)
    } else {
        emit("retention at \(UTC.iso(report.now)): \(report.deleted.count) recording(s) \(verb), \(report.blobsRemoved) blob(s) removed")
    }
}
