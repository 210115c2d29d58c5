import ArgumentParser
import BodycamCore
import BodycamEvidence
import BodycamFleet
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// `bodycam fleet`: many simulated cameras through a shift and a dock storm against the records service,
/// then the figures and the cross-check (BodycamFleet).
struct Fleet: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run a fleet of simulated cameras through a shift and a dock storm against central records.",
        discussion: """
        Provisions officers and enrolment tokens through the records' admin API (a token of a user with the \
        admin role: BODYCAM_ADMIN_TOKEN, or --admin-token-file), runs every camera's shift (checked out to \
        its officer at a dock, then triggers, double presses, markers, sleep, low battery), then docks them \
        all within --dock-window, spread over the --records nodes; a camera whose node fails docks again at \
        the next one. Each camera is a `bodycam run` process on the virtual clock: the real frame path and \
        dock client. Reports recordings, bytes, ingest throughput, dock-to-receipt latency, refusals and \
        errors, and cross-checks the catalogue. Exit status 0 only if the cross-check passes.
        """)

    @Option(help: "Cameras in the fleet (1 to 2000).") var cameras = 20
    @Option(help: "Officers, checked out cameras in turn (default: one per camera).") var officers: Int?
    @Option(help: "Shift length in camera time (10m to 24h).") var shift = DurationOption(argument: "8h")!
    @Option(help: ArgumentHelp("Records nodes, comma-separated: http(s)://HOST:PORT[,...].", valueName: "urls")) var records: String
    @Option(help: ArgumentHelp("File holding an admin bearer token (else BODYCAM_ADMIN_TOKEN).", valueName: "file")) var adminTokenFile: String?
    @Option(help: ArgumentHelp("CA certificate for https:// nodes.", valueName: "file")) var recordsCa: String?
    @Option(name: [.short, .long], help: "Each camera's frame size (small, so one machine runs hundreds).") var size = SizeOption(argument: "160x120")!
    @Option(name: [.short, .long], help: "Each camera's frames per second.") var fps = 5
    @Option(help: "Seconds of wall time the docks are spread over (0: all at once).") var dockWindow = 30.0
    @Option(help: "Docks per camera, two at each node in turn, after a pause doubling from 1 s to 30 s, before its recordings count as undelivered.") var dockAttempts = 10
    @Option(help: "Shifts simulated at once (default: the cores available).") var jobs: Int?
    @Option(help: "Seed of the incidents (the same seed, the same shifts).") var seed: UInt64 = 1
    @Option(help: "Names this run's cameras F<tag>-0001... (default: random; a device id's key is pinned for good).") var tag: String?
    @Option(help: ArgumentHelp("Folder for the cameras' storage, scripts and logs (default: a new fleet-<tag> in the current folder).", valueName: "dir")) var work: String?
    @Option(help: "The shift's start, UTC (default: now).") var utcStart: String?
    @Flag(help: "The report as one JSON object.") var json = false

    func validate() throws {
        guard (1...2000).contains(cameras) else { throw ValidationError("--cameras \(cameras): 1 to 2000") }
        if let o = officers, !(1...2000).contains(o) { throw ValidationError("--officers \(o): 1 to 2000") }
        guard (600...86_400).contains(shift.nanos / Nanos.perSecond) else { throw ValidationError("--shift \(shift): 10m to 24h") }
        guard (1...60).contains(fps) else { throw ValidationError("--fps \(fps): 1 to 60") }
        guard (0...3600).contains(dockWindow) else { throw ValidationError("--dock-window \(dockWindow): 0 to 3600 seconds") }
        guard (1...10).contains(dockAttempts) else { throw ValidationError("--dock-attempts \(dockAttempts): 1 to 10") }
        if let j = jobs, !(1...64).contains(j) { throw ValidationError("--jobs \(j): 1 to 64") }
        if let t = tag, !(1...8).contains(t.utf8.count) || !t.utf8.allSatisfy({ ($0 >= 48 && $0 <= 57) || ($0 >= 65 && $0 <= 90) }) {
            throw ValidationError("--tag \(t.prefix(20)): 1 to 8 of A-Z 0-9")
        }
        for url in nodes { guard HTTPClient.parseURL(url) != nil else { throw ValidationError("--records \(url.prefix(60)): http://HOST:PORT or https://HOST:PORT") } }
        if let u = utcStart, UTC.parse(u) == nil { throw ValidationError("--utc-start \(u.prefix(30)): a UTC time, 2026-01-01T08:00:00Z") }
    }

    private func fail(_ message: String) -> Never {
        diagnostic("fleet: " + message)
        Foundation.exit(2)
    }

    private var nodes: [String] { records.split(separator: ",").map { String($0) } }

    func run() throws {
        let token: String
        if let file = adminTokenFile {
            guard let text = try? String(contentsOfFile: file, encoding: .utf8) else { fail("--admin-token-file \(file): cannot be read") }
            token = text.trimmingCharacters(in: .whitespacesAndNewlines)
        } else if let env = ProcessInfo.processInfo.environment["BODYCAM_ADMIN_TOKEN"] {
            token = env.trimmingCharacters(in: .whitespacesAndNewlines)
        } else {
            fail("an admin token is needed: BODYCAM_ADMIN_TOKEN, or --admin-token-file (bodycam-records user add NAME --role admin)")
        }
        var rng = SplitMix64(seed: UInt64(UInt32.random(in: 0...UInt32.max)))
        let runTag = tag ?? String(rng.next() % 0xFFFFF, radix: 16, uppercase: true)
        let folder = work ?? "fleet-\(runTag)"
        let shiftSeconds = Int(shift.nanos / Nanos.perSecond)
        let plan = FleetPlan(cameras: cameras, officers: officers ?? cameras, shiftSeconds: shiftSeconds, seed: seed, tag: runTag)
        let start = utcStart.flatMap(UTC.parse) ?? UTCMapping.wallClockNow(monoNow: 0).utcAtZero
        let config = FleetRun.Config(
            executable: Self.ownExecutable(), work: folder, plan: plan, records: nodes, adminToken: token, caFile: recordsCa,
            cameraArguments: ["--size", "\(size.width)x\(size.height)", "--fps", "\(fps)", "--encoders", "1"],
            utcStart: start, shiftSeconds: shiftSeconds, jobs: jobs ?? ProcessStats.availableCores, dockWindow: dockWindow,
            dockAttempts: dockAttempts, seed: seed)
        let progress = FleetProgress(terminal: isatty(STDERR_FILENO) == 1, cameras: cameras)
        let fleet = FleetRun(config, onProgress: { progress.show($0) })
        do {
            try fleet.provision()
            let shiftStart = CameraProcess.monotonic()
            fleet.runShifts()
            let shiftWall = CameraProcess.monotonic() - shiftStart
            fleet.runDockStorm()
            let check = try fleet.crossCheck()
            progress.finish()
            let report = FleetReport(run: fleet, shiftWallSeconds: shiftWall, check: check)
            print(json ? report.json : report.text)
            if !check.passed { throw ExitCode(1) }
        } catch let e as ExitCode {
            throw e
        } catch {
            progress.finish()
            fail("\(error)")
        }
    }

    /// This program, to start the cameras with.
    static func ownExecutable() -> String {
        (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
    }
}

/// What a person at a terminal sees while the fleet runs: one line on stderr, redrawn. Scripts (stderr not a
/// terminal) get one JSON line per phase instead.
final class FleetProgress: @unchecked Sendable {
    private let terminal: Bool
    private let cameras: Int
    private let lock = NSLock()
    private var lastPhase: FleetRun.Phase?
    private var lastDraw = 0.0

    init(terminal: Bool, cameras: Int) { (self.terminal, self.cameras) = (terminal, cameras) }

    func show(_ p: FleetRun.Progress) {
        lock.lock()
        defer { lock.unlock() }
        if p.phase != lastPhase {
            lastPhase = p.phase
            if !terminal { line("{\"event\":\"fleet\",\"phase\":\"\(p.phase.rawValue)\"}\n") }
        }
        guard terminal else { return }
        let now = CameraProcess.monotonic()
        guard now - lastDraw > 0.2 else { return }
        lastDraw = now
        let text = "\r\u{1B}[2K\(p.phase.rawValue): shifts \(p.shiftsDone)/\(cameras) · \(String(format: "%.1f", Double(p.bytesRecorded) / 1e6)) MB recorded · docked \(p.docked)/\(cameras) (\(p.docking - p.docked) docking) · \(p.receipts) receipts"
        line(text)
    }

    func finish() {
        lock.lock()
        defer { lock.unlock() }
        if terminal { line("\r\u{1B}[2K") }
    }

    private func line(_ s: String) {
        var text = s
        text.withUTF8 { _ = write(STDERR_FILENO, $0.baseAddress, $0.count) }
    }
}
