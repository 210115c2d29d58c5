import ArgumentParser
import BodycamCore
import BodycamEvidence

struct Recover: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Repair a device's storage after a crash or power cut (the camera also does this when it boots).",
        discussion: """
        Unfinished segments keep every whole frame that reached the disk and get their index and header \
        rebuilt; recordings without a manifest get one marked "recovered", signed with the device key; \
        anything that cannot be used is moved to STORAGE/quarantine. Every repair goes into the audit trail. \
        Refused (exit 2) while a camera runs on the same storage. Prints what was done as one JSON line.
        """)

    @Argument(help: "The device's storage folder (holding recordings/ and state/).") var storage: String

    func run() throws {
        let info: DeviceInfo
        do { info = try DeviceInfo.read(storage + "/state/" + DeviceIdentity.infoFileName) } catch {
            diagnostic("\(storage): no readable device identity (\(error)): is this a bodycam storage folder?")
            throw ExitCode(1)
        }
        var settings = CameraSettings()
        settings.storage = storage
        settings.deviceID = info.deviceID
        settings.utcStart = nil // the machine's clock, never before the last recorded time
        do {
            let boot = try DeviceBoot.start(settings: settings, clock: MonotonicClock())
            let r = boot.recovery
            print(JSON.object([("segments_rebuilt", .array(r.segmentsRebuilt.map { .string($0) })),
                               ("manifests_written", .array(r.manifestsWritten.map { .string($0) })),
                               ("manifests_logged", .array(r.manifestsLogged.map { .string($0) })),
                               ("empty_segments_removed", .array(r.emptySegmentsRemoved.map { .string($0) })),
                               ("quarantined", .array(r.quarantined.map { .string($0.file + ": " + $0.reason) })),
                               ("frames_recovered", .int(Int64(r.framesRecovered)))]).serialized)
        } catch {
            diagnostic("\(error)")
            throw ExitCode(error.isBusy ? 2 : 1)
        }
    }
}

extension DeviceBoot.Failure {
    var isBusy: Bool { if case .busy = self { true } else { false } }
}
