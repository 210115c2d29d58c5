import Foundation
import Testing
@testable import BodycamCore
#if canImport(Glibc)
import Glibc
@testable import BodycamEvidence
#endif

/// SIGINT/SIGTERM finalize every recording and exit promptly, even in the middle of a long `wait`; a
/// second SIGINT exits at once. Runs the binary: signals are a process matter.
@Suite(.serialized)
struct SignalTests {
    struct Running {
        var process: Process
        var storage: String
        var stdinPipe: Pipe
        var out: URL
    }

    /// Starts `bodycam run` with a script on a pipe that stays open (so only a signal can end the run),
    /// and waits until the camera has started recording (its `started` event is on stdout).
    static func start(_ script: String, _ extra: [String] = []) throws -> Running {
        let storage = TestSupport.temporaryDirectory("signals")
        let out = URL(fileURLWithPath: storage + "-stdout")
        FileManager.default.createFile(atPath: out.path, contents: nil)
        let p = Process()
        p.executableURL = URL(fileURLWithPath: TestSupport.binary)
        p.arguments = ["run", "--storage", storage, "--records", storage + "-records"] + extra
        let pipe = Pipe()
        p.standardInput = pipe
        p.standardOutput = try FileHandle(forWritingTo: out)
        p.standardError = FileHandle.nullDevice
        try p.run()
        pipe.fileHandleForWriting.write(Data(script.utf8))
        // Boot and the start take well under a second; the bound only keeps a broken binary from hanging.
        let deadline = Date().addingTimeInterval(60)
        while Date() < deadline {
            if let text = try? String(contentsOf: out, encoding: .utf8), text.contains("\"action\":\"started\"") { break }
            usleep(50_000)
        }
        return Running(process: p, storage: storage, stdinPipe: pipe, out: out)
    }

    /// Waits for the process to end; nil if it is still running after `limit` seconds (then killed).
    static func exitStatus(_ r: Running, within limit: Double) -> Int32? {
        let deadline = Date().addingTimeInterval(limit)
        while r.process.isRunning && Date() < deadline { usleep(20_000) }
        guard !r.process.isRunning else {
            kill(r.process.processIdentifier, SIGKILL)
            r.process.waitUntilExit()
            return nil
        }
        return r.process.terminationStatus
    }

    static func files(_ r: Running) -> [String] { PosixFile.list(r.storage + "/recordings") }

    /// The issue asks for an exit within 2 s; the check allows 10 s so a loaded CI machine does not fail
    /// it, which still tells "stops promptly" from "runs the 10 hours" or "hangs".
    @Test(arguments: [("virtual", "1280x720"), ("real", "160x120")])
    func sigtermMidLongWaitFinalizesEveryRecordingAndExits(clock: String, size: String) throws {
        let r = try Self.start("wait 3s\ndouble record\nwait 10h\n", ["--clock", clock, "--size", size, "--prerecord", "2s"])
        defer { try? FileManager.default.removeItem(atPath: r.storage) }
        usleep(300_000) // well inside the long wait
        kill(r.process.processIdentifier, SIGTERM)
        let status = Self.exitStatus(r, within: 10)
        #expect(status == 0)
        let files = Self.files(r)
        #expect(files.contains { $0.hasSuffix(".avi") } && files.contains { $0.hasSuffix(".manifest.json") })
        #expect(!files.contains { $0.hasSuffix(".part") })
        let text = try String(contentsOf: r.out, encoding: .utf8)
        #expect(text.contains("\"cause\":\"shutdown\"") && text.contains("\"action\":\"finalized\""))
    }

    @Test func aSecondSigintExitsAtOnceLeavingRecoverableFiles() throws {
        let r = try Self.start("wait 3s\ndouble record\nwait 10h\n", ["--clock", "real", "--size", "160x120", "--prerecord", "2s"])
        defer { try? FileManager.default.removeItem(atPath: r.storage) }
        usleep(1_500_000) // a segment is open and synced (every second)
        kill(r.process.processIdentifier, SIGINT)
        kill(r.process.processIdentifier, SIGINT)
        let status = Self.exitStatus(r, within: 10)
        // Either the second signal cut it short (130), or the first finished first (0): never a hang.
        #expect(status == 130 || status == 0)
        if status == 130 {
            // What was left is recovered at the next start.
            let again = try TestSupport.bodycam(["run", "--size", "160x120", "--storage", r.storage, "--records", r.storage + "-records"],
                                                stdin: "quit\n")
            #expect(again.status == 0)
            #expect(!Self.files(r).contains { $0.hasSuffix(".part") })
        }
    }
}
