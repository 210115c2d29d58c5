import BodycamEvidence
#if canImport(Glibc)
import Glibc
#endif

/// What the camera does with its storage when it boots, before it records anything. Nothing on the
/// storage can stop it booting: whatever it cannot use is quarantined (kept, reported), and it comes up.
///
/// 1. Takes the storage lock (one process per storage).
/// 2. Loads its identity; a damaged one is quarantined and a new key is made (central records will then
///    refuse the camera until it is enrolled again, which is what should happen).
/// 3. Opens the audit trail, checked against its own key; a damaged trail is quarantined and a new one
///    starts by naming it.
/// 4. Repairs the recordings folder (`Recovery`).
/// 5. Sets the clock: never before the last recorded time on this device.
/// 6. Counts the boot, and chooses the next recording number (ids never repeat).
public struct DeviceBoot {
    public let lock: StorageLock
    public let identity: DeviceIdentity
    public let audit: AuditLog
    public let recovery: Recovery.Result
    /// Camera time to UTC from now on.
    public let utc: UTCMapping
    public let boots: Int
    public let counters: DeviceCounters
    /// Alerts for the officer (quarantine, identity replaced): raised once the camera is on.
    public let alerts: [(kind: String, message: String)]

    public enum Failure: Error, CustomStringConvertible {
        case busy(String)
        case identity(String)
        case storage(String)
        public var description: String {
            switch self {
            case .busy(let s), .identity(let s), .storage(let s): return s
            }
        }
    }

    public static func start(settings: CameraSettings, clock: CameraClock) throws(Failure) -> DeviceBoot {
        do {
            return try boot(settings: settings, clock: clock)
        } catch let e as Failure {
            throw e
        } catch let e as StorageLock.Busy {
            throw .busy(e.description)
        } catch let e as DeviceIdentity.Failure {
            throw .identity(e.description)
        } catch {
            throw .storage("storage \(settings.storage): \(error)")
        }
    }

    /// The storage's own names must be what the camera makes them: a folder where a folder belongs, a file
    /// where a file does. Anything else there is renamed `<name>.displaced` (kept) so the boot goes on.
    static func clearLayout(storage: String) throws -> [String] {
        var moved: [String] = []
        try PosixFile.makeDirectories(storage)
        let expected: [(String, PosixFile.Kind)] = [("recordings", .directory), ("state", .directory),
                                                    (Quarantine.folderName, .directory), (StorageLock.fileName, .regular)]
        for (name, kind) in expected {
            let path = storage + "/" + name
            let found = PosixFile.kind(path)
            guard found != .missing && found != kind else { continue }
            var target = path + ".displaced", n = 1
            while PosixFile.exists(target) { n += 1; target = path + ".displaced." + String(n) }
            try PosixFile.renameDurably(from: path, to: target, directory: storage)
            moved.append(name)
        }
        return moved
    }

    private static func boot(settings: CameraSettings, clock: CameraClock) throws -> DeviceBoot {
        let displaced = try clearLayout(storage: settings.storage)
        let lock = try StorageLock(storage: settings.storage)
        try PosixFile.makeDirectories(settings.recordingsDirectory)
        try PosixFile.makeDirectories(settings.stateDirectory, mode: 0o700)
        let state = settings.stateDirectory
        let quarantine = Quarantine(storage: settings.storage)
        let now = clock.now
        var utc = settings.utcStart.map { UTCMapping(utcAtZero: $0 - now) } ?? UTCMapping.wallClockNow(monoNow: now)
        var alerts: [(String, String)] = []
        var notes: [(event: String, fields: [(String, JSON)])] = []
        var bootQuarantine: [Recovery.Quarantined] = []
        func isolate(_ name: String, _ reason: String) throws {
            let path = state + "/" + name
            guard PosixFile.exists(path) else { return }
            let movedTo = try quarantine.take(path, utc: utc.utc(now))
            bootQuarantine.append(Recovery.Quarantined(file: "state/" + name, movedTo: movedTo, reason: reason))
        }
        for name in displaced {
            alerts.append(("quarantine", "storage/\(name) was not what the camera keeps there; it was renamed \(name).displaced"))
        }
        // State files must be regular files: a folder or link in their place (or their temporary's) is set aside.
        for name in [DeviceIdentity.keyFileName, DeviceIdentity.infoFileName, AuditLog.fileName, AuditHead.fileName,
                     DeviceCounters.fileName] {
            for candidate in [name, name + ".tmp"] where ![.missing, .regular].contains(PosixFile.kind(state + "/" + candidate)) {
                try isolate(candidate, "not a regular file")
            }
        }

        // Identity.
        var identity: DeviceIdentity
        switch try loadIdentity(state: state, deviceID: settings.deviceID) {
        case .success(let existing?):
            identity = existing
        case .success(nil):
            identity = try DeviceIdentity.create(stateDirectory: state, deviceID: settings.deviceID, utcNow: utc.utc(now))
            notes.append(("identity-created", [("device", .string(identity.deviceID)), ("public_key", .string(identity.publicKey.hex))]))
        case .failure(let damage):
            let reason = damage.description
            for name in [DeviceIdentity.keyFileName, DeviceIdentity.infoFileName] { try isolate(name, reason) }
            identity = try DeviceIdentity.create(stateDirectory: state, deviceID: settings.deviceID, utcNow: utc.utc(now))
            notes.append(("identity-replaced", [("device", .string(identity.deviceID)), ("public_key", .string(identity.publicKey.hex)),
                                                ("reason", .string(reason))]))
            alerts.append(("identity-replaced", "the device key was damaged and has been replaced: enrol the camera again before docking"))
        }

        // Audit trail.
        let auditPath = state + "/" + AuditLog.fileName
        let audit: AuditLog
        do {
            audit = try AuditLog(path: auditPath, identity: identity)
        } catch let damaged as AuditLog.Damaged {
            let digest = FileBytes.sha256(auditPath)
            try isolate(AuditLog.fileName, damaged.reason)
            try isolate(AuditHead.fileName, "its audit trail was quarantined")
            audit = try AuditLog(path: auditPath, identity: identity)
            let moved = bootQuarantine.first { $0.file == "state/" + AuditLog.fileName }?.movedTo ?? ""
            notes.insert(("audit-quarantined", [("quarantine", .string(moved)), ("sha256", digest.map { .string($0) } ?? .null),
                                                ("reason", .string(damaged.reason))]), at: 0)
            alerts.append(("quarantine", "the audit trail did not check out (\(damaged.reason)); it was quarantined and a new one started"))
        }
        if audit.repairedBytes > 0 {
            notes.append(("audit-repaired", [("removed_bytes", .int(Int64(audit.repairedBytes))),
                                             ("reason", .string("partial last entry after a crash"))]))
        }
        var counters = DeviceCounters()
        if let bytes = try? FileBytes.contents(state + "/" + DeviceCounters.fileName, limit: 4096) {
            if let c = try? DeviceCounters.parse(bytes) { counters = c } else { try isolate(DeviceCounters.fileName, "damaged counters") }
        }
        for n in notes { audit.append(n.event, mono: now, utc: utc.utc(now), n.fields) }
        for q in bootQuarantine {
            audit.append("quarantined", mono: now, utc: utc.utc(now),
                         [("file", .string(q.file)), ("quarantine", .string(q.movedTo)), ("reason", .string(q.reason))])
        }

        // Recordings.
        var recovery = try Recovery.run(directory: settings.recordingsDirectory, identity: identity, audit: audit,
                                        quarantine: quarantine, mono: now, utc: utc.utc(now))
        recovery.quarantined = bootQuarantine + recovery.quarantined
        if !recovery.quarantined.isEmpty {
            alerts.append(("quarantine", "\(recovery.quarantined.count) file(s) on the storage could not be used and were moved to \(quarantine.directory)"))
        }

        // The clock never starts before the last recorded time on this device, as signed data says it: the
        // audit trail and the manifests (never a file name, which anyone could plant).
        let last = [audit.lastUTC, recovery.latestRecordedUTC].compactMap { $0 }.max()
        if let last, utc.utc(now) <= last {
            let from = utc.utc(now), to = min(last + Nanos.perSecond, UTC.latest - 10 * 366 * 86_400 * Nanos.perSecond)
            utc = UTCMapping(utcAtZero: to - now)
            audit.append("clock", mono: now, utc: to, [("from", .string(UTC.iso(from))), ("to", .string(UTC.iso(to))),
                                                       ("reason", .string("resumed after the last recorded time on this device"))])
        }

        // Counters: a boot more, and recording numbers past every id the trail or a kept recording names
        // (after recovery, what is left in recordings/ is verified or signed by this camera).
        let named = PosixFile.list(settings.recordingsDirectory).compactMap { name -> Int? in
            switch EvidenceNames.kind(of: name) {
            case .segment(let s): return s.recording.number
            case .manifest(let id), .signature(let id): return id.number
            default: return nil
            }
        }.max() ?? 0
        counters.boots = min(max(counters.boots, audit.boots) + 1, DeviceCounters.maxBoots)
        counters.nextRecording = min(max(counters.nextRecording, audit.highestRecordingNumber + 1, named + 1), DeviceCounters.maxRecording + 1)
        try counters.write(stateDirectory: state)
        audit.append("boot", mono: now, utc: utc.utc(now), [("boot", .int(Int64(counters.boots))),
                                                            ("next_recording", .int(Int64(counters.nextRecording))),
                                                            ("quarantined", .int(Int64(recovery.quarantined.count)))])
        audit.checkpoint(mono: now, utc: utc.utc(now))
        return DeviceBoot(lock: lock, identity: identity, audit: audit, recovery: recovery, utc: utc, boots: counters.boots,
                          counters: counters, alerts: alerts)
    }

    /// The stored identity, nil on first boot, or the damage found (which boot quarantines). A device id
    /// other than the stored one is the operator's mistake, not damage: it stops the boot with a message.
    private static func loadIdentity(state: String, deviceID: String) throws -> Result<DeviceIdentity?, DeviceIdentity.Failure> {
        do {
            return .success(try DeviceIdentity.load(stateDirectory: state, deviceID: deviceID))
        } catch {
            if case .damaged = error { return .failure(error) }
            throw error
        }
    }
}
