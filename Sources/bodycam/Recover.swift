import ArgumentParser
import BodycamCore

struct Recover: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Repair a device's storage after a crash or power cut (the camera also does this when it boots).",
        discussion: """
        Unfinished segments keep every whole frame that reached the disk and get their index and header \
        rebuilt; recordings without a manifest get one marked "recovered", signed with the device key. \
        Every repair goes into the audit trail. Prints what was done as one JSON line.
        """)

    @Argument(help: "The device's storage folder (holding recordings/ and state/).") var storage: String

    func run() throws {
        let state = storage + "/state", recordings = storage + "/recordings"
        guard let info = FileBytes.readText(state + "/device.json"), let id = JSONText.stringField("device_id", in: info) else {
            diagnostic("\(storage): no device identity in \(state) (is this a bodycam storage folder?)")
            throw ExitCode(1)
        }
        do {
            let utc = UTCMapping.wallClockNow(monoNow: 0).utc(0)
            let (identity, _) = try DeviceIdentity.loadOrCreate(stateDirectory: state, deviceID: id, utcNow: utc)
            let audit = try AuditLog(path: state + "/" + AuditLog.fileName, identity: identity)
            let r = try Recovery.run(directory: recordings, identity: identity, audit: audit, mono: 0, utc: utc)
            print(JSON.object([("segments_rebuilt", .array(r.segmentsRebuilt.map { .string($0) })),
                               ("manifests_written", .array(r.manifestsWritten.map { .string($0) })),
                               ("empty_segments_removed", .array(r.emptySegmentsRemoved.map { .string($0) })),
                               ("frames_recovered", .int(Int64(r.framesRecovered)))]).serialized)
        } catch {
            diagnostic("\(storage): \(error)")
            throw ExitCode(1)
        }
    }
}
