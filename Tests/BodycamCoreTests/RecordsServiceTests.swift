import Foundation
import Testing
@testable import BodycamCore
@testable import BodycamEvidence
#if canImport(Glibc)
import Glibc
#endif

/// Cameras docking into a real `bodycam-records` service on loopback: enrolment, upload, receipts,
/// refusals, officers, and crashes of either side at random moments.
@Suite(.serialized)
struct RecordsServiceTests {
    static let options = ["--size", "320x240", "--boot-time", "0s", "--prerecord", "2s", "--segment-duration", "2s", "--noise", "12"]
    /// Two recordings (the first split over segments), made undocked.
    static let record = "trigger holster\nwait 5s\nhold record 3s\nwait 2s\ndouble record\nwait 2s\nhold record 3s\nwait 1s\n"

    /// A camera run against `server`; `script` ends with quit.
    static func camera(_ storage: String, _ server: RecordsServer, device: String, token: String? = nil, script: String,
                       strict: Bool = true, extra: [String] = []) throws -> TestSupport.Output {
        var args = ["run", "--storage", storage, "--device-id", device, "--records", server.url] + options + extra
        if strict { args.append("--strict") }
        if let token { args += ["--enrol-token", token] }
        return try TestSupport.bodycam(args, stdin: script + "quit\n")
    }

    static func auditEntries(_ storage: String) throws -> [AuditEntry] {
        let trail = try AuditTrail.parse(try FileBytes.contents(storage + "/state/audit.jsonl", limit: AuditTrail.maxFileBytes))
        return trail.lines.map(\.entry)
    }

    static func localManifests(_ storage: String) -> [String] {
        PosixFile.list(storage + "/recordings").filter { $0.hasSuffix(".manifest.json") }.sorted()
    }

    /// The service's catalogue as a supervisor sees it.
    static func catalogue(_ server: RecordsServer, query: String = "", token: String? = nil, tls: TLSTrust? = nil) throws -> (status: Int, recordings: [[String: Any]]) {
        let bearer = try token ?? supervisorToken(server)
        let (status, body) = try get(server, "/v1/recordings" + query, bearer: bearer, tls: tls)
        let list = (try? JSONSerialization.jsonObject(with: Data(body)) as? [[String: Any]])
            ?? ((try? JSONSerialization.jsonObject(with: Data(body)) as? [String: Any])?["recordings"] as? [[String: Any]]) ?? []
        return (status, list)
    }

    /// A bearer token for an officer's own account.
    static func officerToken(_ server: RecordsServer, _ officer: String) throws -> String {
        let out = try server.admin(["user", "add", "u-\(officer)-\(UUID().uuidString.prefix(4))", "--role", "officer", "--officer", officer])
        guard out.status == 0, let t = out.lines.last else { throw RecordsServer.Failure("user add: \(out.stderr)") }
        return t.trimmingCharacters(in: .whitespaces)
    }

    static func supervisorToken(_ server: RecordsServer) throws -> String {
        let out = try server.admin(["user", "add", "sup-\(UUID().uuidString.prefix(6))", "--role", "supervisor"])
        guard out.status == 0, let t = out.lines.last else { throw RecordsServer.Failure("user add: \(out.stderr)") }
        return t.trimmingCharacters(in: .whitespaces)
    }

    /// A plain GET with a bearer token (curl-free: a raw socket, so no proxy settings interfere).
    static func get(_ server: RecordsServer, _ target: String, bearer: String, tls: TLSTrust? = nil) throws -> (Int, [UInt8]) {
        let client = HTTPClient(host: "127.0.0.1", port: UInt16(server.port), tls: tls, timeoutSeconds: 10)
        do throws(HTTPClient.Failure) {
            let r = try client.send(method: "GET", target: target, headers: [("Authorization", "Bearer " + bearer)],
                                    body: UnsafeRawBufferPointer(start: nil, count: 0))
            return (r.status, r.body)
        } catch { throw RecordsServer.Failure(error.message) }
    }

    // MARK: - The whole path

    @Test func severalCamerasEnrolRecordDockAndArriveVerifiedWithTheirOfficers() throws {
        let server = try RecordsServer()
        var storages: [String: String] = [:]
        for n in 1...3 {
            let device = "BWV-000\(n)", officer = "PC-\(n)"
            #expect(try server.admin(["officer", "add", officer, "--name", "Officer \(n)", "--trained"]).status == 0)
            let storage = TestSupport.temporaryDirectory("records-camera")
            storages[device] = storage
            let out = try Self.camera(storage, server, device: device, token: try server.enrolmentToken(device), script: """
                dock
                wait 2s
                assign \(officer)
                expect officer \(officer)
                undock
                wait 1s
                \(Self.record)
                dock
                wait 30s
                expect offloading false
                expect local_recordings 0
                expect officer null

                """)
            #expect(out.status == 0, "\(out.stderr)\n\(out.events("expect").filter { $0["ok"] as? Bool == false })\n\(out.events("offload"))")
            let offloaded = out.events("offload").filter { $0["action"] as? String == "recording-offloaded" }
            #expect(offloaded.count == 2)
            // Every recording deleted was receipted, the receipt logged first.
            let entries = try Self.auditEntries(storage)
            let receipts = entries.filter { $0.event == "receipt" }.compactMap(\.recording)
            #expect(Set(receipts) == Set(offloaded.compactMap { $0["recording"] as? String }))
            for id in receipts {
                let r = try #require(entries.firstIndex { $0.event == "receipt" && $0.recording == id })
                let o = try #require(entries.firstIndex { $0.event == "offloaded" && $0.recording == id })
                #expect(r < o)
            }
            #expect(Self.localManifests(storage).isEmpty)
            #expect(entries.contains { $0.event == "recording-started" && $0.officer == officer })
        }
        // The catalogue holds all six, each once, with the officer who wore the camera.
        let (status, list) = try Self.catalogue(server)
        #expect(status == 200)
        #expect(list.count == 6, "\(list)")
        for r in list {
            let device = r["device_id"] as? String ?? r["device"] as? String ?? ""
            #expect(r["officer"] as? String == "PC-" + String(device.suffix(1)), "\(r)")
        }
        for s in storages.values { try? FileManager.default.removeItem(atPath: s) }
    }

    // MARK: - Refusals

    @Test func anUnknownDeviceIsRefusedAndKeepsEverything() throws {
        let server = try RecordsServer()
        let storage = TestSupport.temporaryDirectory("records-unknown")
        defer { try? FileManager.default.removeItem(atPath: storage) }
        // No token at all, then a token issued for another device.
        for token in [nil, try server.enrolmentToken("BWV-0099")] {
            let out = try Self.camera(storage, server, device: "BWV-0042", token: token, script: Self.record + "dock\nwait 10s\n", strict: false)
            #expect(out.events("offload").contains { $0["action"] as? String == "failed" }, "\(out.events("offload"))")
            #expect(out.events("offload").allSatisfy { $0["action"] as? String != "recording-offloaded" })
        }
        #expect(Self.localManifests(storage).count == 4)
        #expect(try Self.catalogue(server).recordings.isEmpty)
    }

    @Test func aRevokedDeviceIsRefusedAtOnce() throws {
        let server = try RecordsServer()
        let storage = TestSupport.temporaryDirectory("records-revoked")
        defer { try? FileManager.default.removeItem(atPath: storage) }
        // Enrolled and docked once (nothing to send yet), then revoked: the next dock stores nothing.
        let first = try Self.camera(storage, server, device: "BWV-0007", token: try server.enrolmentToken("BWV-0007"), script: "dock\nwait 2s\nundock\n")
        #expect(first.status == 0, "\(first.stderr)")
        #expect(try server.admin(["revoke", "BWV-0007"]).status == 0)
        let out = try Self.camera(storage, server, device: "BWV-0007", script: Self.record + "dock\nwait 10s\n", strict: false)
        let failed = out.events("offload").first { $0["action"] as? String == "failed" }
        #expect((failed?["message"] as? String ?? "").contains("revoked"), "\(out.events("offload"))")
        #expect(Self.localManifests(storage).count == 2)
        #expect(try Self.catalogue(server).recordings.isEmpty)
        let custody = try server.admin(["custody", "--json"])
        #expect(custody.stdout.contains("refused"))
    }

    @Test func anImpostorWithTheSameIDAndAnotherKeyIsRefused() throws {
        let server = try RecordsServer()
        let real = TestSupport.temporaryDirectory("records-real")
        let impostor = TestSupport.temporaryDirectory("records-impostor")
        defer { for d in [real, impostor] { try? FileManager.default.removeItem(atPath: d) } }
        let enrolled = try Self.camera(real, server, device: "BWV-0005", token: try server.enrolmentToken("BWV-0005"), script: "dock\nwait 2s\n")
        #expect(enrolled.status == 0, "\(enrolled.stderr)")
        // Another camera claims the same id with its own key, even with a fresh token.
        let out = try Self.camera(impostor, server, device: "BWV-0005", token: try server.enrolmentToken("BWV-0005"),
                                  script: Self.record + "dock\nwait 10s\n", strict: false)
        #expect(out.events("offload").contains { $0["action"] as? String == "failed" }, "\(out.events("offload"))")
        #expect(Self.localManifests(impostor).count == 2)
        #expect(try Self.catalogue(server).recordings.isEmpty)
    }

    @Test func aTamperedSegmentOrManifestIsRefusedAndTheCameraKeepsItsCopyWithAnAlert() throws {
        let server = try RecordsServer()
        let storage = TestSupport.temporaryDirectory("records-tampered")
        defer { try? FileManager.default.removeItem(atPath: storage) }
        let made = try Self.camera(storage, server, device: "BWV-0003", token: try server.enrolmentToken("BWV-0003"),
                                   script: "dock\nwait 1s\nundock\n" + Self.record + Self.record)
        #expect(made.status == 0, "\(made.stderr)")
        func flip(_ path: String, at offset: UInt64) throws {
            let f = try FileHandle(forUpdating: URL(fileURLWithPath: path))
            try f.seek(toOffset: offset)
            let byte = try #require(try f.read(upToCount: 1)).first!
            try f.seek(toOffset: offset)
            try f.write(contentsOf: Data([byte == UInt8(ascii: "a") ? UInt8(ascii: "b") : UInt8(ascii: "a")]))
            try f.close()
        }
        // One byte of the first recording's first segment changes on the camera (same size): only the
        // service can tell, by its SHA-256. The second recording's manifest is edited: the camera's boot
        // finds it no longer verifies with its own key, keeps it in quarantine, and signs a recovered one
        // from the segments and the audit trail (nothing edited ever leaves the camera as signed).
        let segment = try #require(TestSupport.segments(in: storage).first { $0.contains("-000001_") })
        try flip(segment, at: 5000)
        let manifests = Self.localManifests(storage)
        try flip(storage + "/recordings/" + manifests[1], at: 40)
        let out = try Self.camera(storage, server, device: "BWV-0003", script: "dock\nwait 20s\n", strict: false)
        let offload = out.events("offload")
        #expect(offload.filter { $0["action"] as? String == "recording-offloaded" }.count == 3, "\(offload)")
        #expect(offload.filter { $0["action"] as? String == "skipped" }.count == 1, "\(offload)")
        let kept = out.events("alert").filter { ($0["kind"] as? String) == "recording-kept" }.compactMap { $0["file"] as? String }
        #expect(kept == [manifests[0]], "\(out.events("alert"))")
        #expect(Self.localManifests(storage) == [manifests[0]])
        let quarantined = (try? FileManager.default.contentsOfDirectory(atPath: storage + "/quarantine")) ?? []
        #expect(quarantined.contains { $0.hasSuffix(manifests[1]) }, "\(quarantined)")
        #expect(Set(try Self.catalogue(server).recordings.compactMap { $0["recording_id"] as? String })
                == ["BWV-0003-000002", "BWV-0003-000003", "BWV-0003-000004"])
    }

    @Test(.enabled(if: ScenarioTests.canMount, "needs root to mount a small tmpfs"))
    func aFullServiceRefusesClearlyAndTheCameraKeepsItsCopies() throws {
        let data = TestSupport.temporaryDirectory("records-full")
        #expect(try TestSupport.run("/bin/mount", ["-t", "tmpfs", "-o", "size=600k", "tmpfs", data]).status == 0)
        defer { _ = try? TestSupport.run("/bin/umount", [data]) }
        let server = try RecordsServer(data: data)
        defer { server.stop() }
        let storage = TestSupport.temporaryDirectory("records-full-camera")
        defer { try? FileManager.default.removeItem(atPath: storage) }
        let out = try Self.camera(storage, server, device: "BWV-0004", token: try server.enrolmentToken("BWV-0004"),
                                  script: Self.record + "dock\nwait 20s\n", strict: false)
        let failed = out.events("offload").first { $0["action"] as? String == "failed" }
        #expect((failed?["message"] as? String ?? "").contains("full"), "\(out.events("offload"))")
        #expect(Self.localManifests(storage).count == 2)
    }

    // MARK: - Officers

    @Test func onlyTrainedActiveOfficersCanBeAssignedAndOfficersSeeOnlyTheirOwn() throws {
        let server = try RecordsServer()
        #expect(try server.admin(["officer", "add", "PC-10", "--name", "Trained", "--trained"]).status == 0)
        #expect(try server.admin(["officer", "add", "PC-11", "--name", "Untrained"]).status == 0)
        #expect(try server.admin(["officer", "add", "PC-12", "--name", "Leaver", "--trained"]).status == 0)
        #expect(try server.admin(["officer", "deactivate", "PC-12"]).status == 0)
        let storage = TestSupport.temporaryDirectory("records-officers")
        defer { try? FileManager.default.removeItem(atPath: storage) }
        let out = try Self.camera(storage, server, device: "BWV-0010", token: try server.enrolmentToken("BWV-0010"), script: """
            dock
            wait 1s
            assign PC-11
            expect officer null
            assign PC-12
            expect officer null
            assign PC-99
            expect officer null
            assign PC-10
            expect officer PC-10
            undock
            \(Self.record)
            dock
            wait 20s

            """, strict: false)
        #expect(out.events("alert").filter { $0["kind"] as? String == "assign-refused" }.count == 3)
        #expect(out.events("expect").allSatisfy { $0["ok"] as? Bool == true }, "\(out.events("expect"))")
        // PC-10 sees the two recordings; PC-11 sees none of them, not even by id.
        let own = try Self.officerToken(server, "PC-10"), other = try Self.officerToken(server, "PC-11")
        #expect(try Self.catalogue(server, token: own).recordings.count == 2)
        #expect(try Self.catalogue(server, token: other).recordings.isEmpty)
        #expect(try Self.catalogue(server, query: "?officer=PC-10", token: other).recordings.isEmpty)
        let id = try #require(try Self.catalogue(server, token: own).recordings.first?["recording_id"] as? String)
        #expect(try Self.get(server, "/v1/recordings/\(id)", bearer: other).0 != 200)
        #expect(try Self.get(server, "/v1/recordings/\(id)", bearer: own).0 == 200)
    }

    // MARK: - Crashes

    /// A storage with two finalized recordings of an enrolled camera, and its service: copied per round.
    struct Template {
        var storage: String
        var data: String
        var device: String
        /// How long a whole clean dock of it takes here: kills are spread over that.
        var dockSeconds: Double
    }

    static func template(device: String) throws -> Template {
        let server = try RecordsServer()
        defer { server.stop() }
        let storage = TestSupport.temporaryDirectory("records-template")
        let out = try camera(storage, server, device: device, token: try server.enrolmentToken(device),
                             script: "dock\nwait 1s\nundock\n" + record + record)
        #expect(out.status == 0, "\(out.stderr)")
        server.stop()
        // Time a clean dock of a copy, from process start (as the kills are).
        let s = try copy(storage), d = try copy(server.data)
        defer { for f in [s, d] { try? FileManager.default.removeItem(atPath: f) } }
        let timing = try RecordsServer(data: d)
        let start = Date()
        _ = try camera(s, timing, device: device, script: "dock\nwait 60s\n")
        let seconds = Date().timeIntervalSince(start)
        timing.stop()
        return Template(storage: storage, data: server.data, device: device, dockSeconds: seconds)
    }

    static func copy(_ folder: String) throws -> String {
        let to = TestSupport.temporaryDirectory("records-copy")
        try FileManager.default.removeItem(atPath: to)
        try FileManager.default.copyItem(atPath: folder, toPath: to)
        return to
    }

    /// After the dust settles: a clean dock sends what is left, everything arrives once and verified,
    /// and no recording left the camera without a logged receipt.
    @discardableResult
    static func settle(_ storage: String, _ server: RecordsServer, device: String, round: Int) throws -> Int {
        let before = Set(try auditEntries(storage).filter { $0.event == "receipt" }.compactMap(\.recording)).count
        let out = try camera(storage, server, device: device, script: "dock\nwait 60s\nexpect local_recordings 0\n")
        #expect(out.status == 0, "round \(round): \(out.stderr) \(out.events("offload").suffix(3))")
        let entries = try auditEntries(storage)
        let receipted = Set(entries.filter { $0.event == "receipt" }.compactMap(\.recording))
        let offloaded = Set(entries.filter { $0.event == "offloaded" }.compactMap(\.recording))
        #expect(offloaded.isSubset(of: receipted), "round \(round): deleted without a receipt: \(offloaded.subtracting(receipted))")
        #expect(receipted.count == 4, "round \(round): \(receipted)")
        let list = try catalogue(server).recordings
        #expect(list.count == 4, "round \(round): \(list.count) in the catalogue")
        #expect(Set(list.compactMap { $0["recording_id"] as? String }).count == 4)
        return before
    }

    /// 20 rounds: a copy of the template docks, `victim` is SIGKILLed at a random moment of the upload,
    /// and the next clean dock must leave everything at the service exactly once with a receipt for
    /// every recording the camera deleted.
    func killRounds(device: String, seed: UInt64, killService: Bool) throws {
        let t = try Self.template(device: device)
        var rng = SplitMix64(seed: seed)
        var receiptedAtKill: [Int] = []
        for round in 1...20 {
            let storage = try Self.copy(t.storage), data = try Self.copy(t.data)
            defer { for d in [storage, data] { try? FileManager.default.removeItem(atPath: d) } }
            let server = try RecordsServer(data: data)
            let camera = Process()
            camera.executableURL = URL(fileURLWithPath: TestSupport.binary)
            camera.arguments = ["run", "--storage", storage, "--device-id", t.device, "--records", server.url] + Self.options
            let input = Pipe()
            camera.standardInput = input
            camera.standardOutput = FileHandle.nullDevice
            camera.standardError = FileHandle.nullDevice
            try camera.run()
            input.fileHandleForWriting.write(Data("dock\nwait 60s\nquit\n".utf8))
            usleep(UInt32(Double(rng.next() % 1000) / 1000 * t.dockSeconds * 1_100_000))
            if killService {
                server.kill()
                camera.waitUntilExit()
                try server.start()
            } else {
                kill(camera.processIdentifier, SIGKILL)
                camera.waitUntilExit()
            }
            receiptedAtKill.append(try Self.settle(storage, server, device: t.device, round: round))
            server.stop()
        }
        // The kills landed at different points of the uploads: before the first receipt, between, after the last.
        print("receipts held when killed: \(receiptedAtKill)")
        #expect(Set(receiptedAtKill).count >= 3, "\(receiptedAtKill)")
    }

    @Test func killingTheServiceDuringUploadsLosesAndDuplicatesNothing() throws {
        try killRounds(device: "BWV-0020", seed: 20, killService: true)
    }

    @Test func killingTheCameraDuringUploadsLosesAndDuplicatesNothing() throws {
        try killRounds(device: "BWV-0021", seed: 21, killService: false)
    }
}
