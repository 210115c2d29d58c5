import Foundation
import Testing
@testable import BodycamCore
@testable import BodycamEvidence

/// The command-line conventions of `bodycam` and `bodycam-records`: --version, short options, `run -t`,
/// one-line usage errors, several files for `inspect`, failures of `devices`.
@Suite(.serialized)
struct CLITests {
    static let small = ["--size", "160x120", "--fps", "5"]

    /// A run's events without what depends on the folder or the machine (paths, free space, memory).
    static func comparable(_ out: TestSupport.Output) -> [NSDictionary] {
        out.events.map { e in
            var e = e
            for k in ["storage", "path", "free_bytes", "capacity_bytes", "rss_bytes"] { e[k] = nil }
            return e as NSDictionary
        }
    }

    static func lastTime(_ out: TestSupport.Output) -> Double { out.events.last?["t"] as? Double ?? -1 }

    // MARK: - --version

    @Test func bothExecutablesPrintTheOneVersion() throws {
        for binary in [TestSupport.binary, RecordsServer.binary] {
            let out = try TestSupport.run(binary, ["--version"])
            #expect(out.status == 0, "\(binary): \(out.stderr)")
            #expect(out.stdout == BodycamVersion.string + "\n", "\(binary): \(out.stdout)")
            #expect(out.stderr.isEmpty)
        }
    }

    // MARK: - Short options and -t

    @Test func shortOptionsMeanTheirLongOnes() throws {
        let short = TestSupport.temporaryDirectory(), long = TestSupport.temporaryDirectory()
        let a = try TestSupport.bodycam(["run", "-s", "160x120", "-r", "5", "-o", short], stdin: "wait 3s\nquit\n")
        let b = try TestSupport.bodycam(["run", "--size", "160x120", "--fps", "5", "--storage", long], stdin: "wait 3s\nquit\n")
        #expect(a.status == 0 && b.status == 0, "\(a.stderr) \(b.stderr)")
        let camera = try #require(a.events("camera").first)
        #expect(camera["width"] as? Int == 160 && camera["fps"] as? Int == 5 && camera["storage"] as? String == short)
        #expect(Self.comparable(a) == Self.comparable(b))
    }

    /// Virtual clock, no script: the camera runs for the duration and quits, exactly as `wait` then `quit`.
    @Test func durationWithNoInputRunsOnLikeWaitThenQuit() throws {
        let timed = try TestSupport.bodycam(["run", "-t", "10s", "-o", TestSupport.temporaryDirectory()] + Self.small, stdin: "")
        let waited = try TestSupport.bodycam(["run", "-o", TestSupport.temporaryDirectory()] + Self.small, stdin: "wait 10s\nquit\n")
        #expect(timed.status == 0, "\(timed.stderr)")
        #expect(Self.comparable(timed) == Self.comparable(waited))
        #expect(Self.lastTime(timed) == 10)
        // Booted at 2 s, then 8 s of frames at 5 fps.
        let stats = try #require(timed.events("stats").last)
        #expect((40...41).contains(stats["frames_captured"] as? Int ?? 0), "\(stats)")
    }

    /// A script still going at the end is stopped there: a long `wait` ends, a gesture is cut.
    @Test func durationStopsAScriptThatIsStillGoing() throws {
        let timed = try TestSupport.bodycam(["run", "-t", "2s", "-o", TestSupport.temporaryDirectory()] + Self.small,
                                            stdin: "wait 60s\nstatus\n")
        let waited = try TestSupport.bodycam(["run", "-o", TestSupport.temporaryDirectory()] + Self.small, stdin: "wait 2s\nquit\n")
        #expect(timed.status == 0, "\(timed.stderr)")
        #expect(timed.events("status").isEmpty)
        #expect(Self.comparable(timed) == Self.comparable(waited))
        #expect(Self.lastTime(timed) == 2)

        // The double press would end at 3.3 s: its first press is seen, its second never.
        let cut = try TestSupport.bodycam(["run", "-t", "3.2s", "-o", TestSupport.temporaryDirectory()] + Self.small,
                                          stdin: "wait 3s\ndouble record\nstatus\n")
        #expect(cut.status == 0, "\(cut.stderr)")
        #expect(cut.events("recording").isEmpty && cut.events("status").isEmpty)
        #expect(Self.lastTime(cut) == 3.2)

        // `quit` still ends the run sooner.
        let quit = try TestSupport.bodycam(["run", "-t", "1h", "-o", TestSupport.temporaryDirectory()] + Self.small,
                                           stdin: "wait 5s\nquit\n")
        #expect(quit.status == 0 && Self.lastTime(quit) == 5, "\(quit.stderr)")
    }

    @Test func durationOnTheRealClockRunsThatLong() throws {
        let began = Date()
        let out = try TestSupport.bodycam(["run", "--clock", "real", "-t", "1500ms", "-o", TestSupport.temporaryDirectory()] + Self.small,
                                          stdin: "")
        let took = Date().timeIntervalSince(began)
        #expect(out.status == 0, "\(out.stderr)")
        #expect(took >= 1.5 && took < 30, "\(took) s")
        #expect(Self.lastTime(out) >= 1.5, "\(out.stdout.suffix(300))")
        #expect(try #require(out.events("camera").first)["clock"] as? String == "real")
    }

    // MARK: - One-line usage errors

    /// Exactly one line on stderr, nothing on stdout, exit status 64 (EX_USAGE).
    static func usageError(_ out: TestSupport.Output, _ sourceLocation: SourceLocation = #_sourceLocation) -> String {
        #expect(out.status == 64, "\(out.stderr)", sourceLocation: sourceLocation)
        #expect(out.stdout.isEmpty, sourceLocation: sourceLocation)
        #expect(out.stderr.hasSuffix("\n") && out.stderr.filter { $0 == "\n" }.count == 1, "\(out.stderr)",
                sourceLocation: sourceLocation)
        return String(out.stderr.dropLast())
    }

    @Test func usageErrorsAreOneLineNamingTheCommandsHelp() throws {
        let storage = ["-o", TestSupport.temporaryDirectory()]
        #expect(Self.usageError(try TestSupport.bodycam(["run", "--fps", "0"] + storage, stdin: ""))
                == "bodycam run: --fps 0: frames per second, 1 to 240 (see 'bodycam run --help')")
        // The default command is `run`.
        #expect(Self.usageError(try TestSupport.bodycam(["-r", "500"] + storage, stdin: ""))
                == "bodycam run: --fps 500: frames per second, 1 to 240 (see 'bodycam run --help')")
        // A value ArgumentParser cannot read: the option's own help gives the units and range.
        #expect(Self.usageError(try TestSupport.bodycam(["run", "--prerecord", "soon"] + storage, stdin: ""))
                == "bodycam run: the value 'soon' is invalid for '--prerecord <prerecord>': pre-record length, 0s to 120s (see 'bodycam run --help')")
        #expect(Self.usageError(try TestSupport.bodycam(["run", "-t", "0s"] + storage, stdin: ""))
                .hasPrefix("bodycam run: --duration 0s: camera time to run, more than 0"))
        #expect(Self.usageError(try TestSupport.bodycam(["run", "--format", "nv12"] + storage, stdin: ""))
                .contains("synthetic frames are yuyv, i420 or mjpeg"))
        #expect(Self.usageError(try TestSupport.bodycam(["run", "--format", "png"] + storage, stdin: ""))
                .contains("Please provide one of 'yuyv', 'i420', 'nv12' or 'mjpeg': synthetic frame format"))
        // Several problems at once: still one line.
        let two = Self.usageError(try TestSupport.bodycam(["run", "--fps", "0", "--quality", "0"] + storage, stdin: ""))
        #expect(two.contains("--fps 0: frames per second, 1 to 240; --quality 0: JPEG quality, 1 to 100"), "\(two)")
        #expect(Self.usageError(try TestSupport.bodycam(["inspect"]))
                == "bodycam inspect: missing expected argument '<paths> ...': the .avi segments written by bodycam (see 'bodycam inspect --help')")
        #expect(Self.usageError(try TestSupport.bodycam(["devices", "--nope"])).hasPrefix("bodycam devices: unknown option '--nope'"))
        #expect(Self.usageError(try TestSupport.bodycam(["run", "--hold", "20s"] + storage, stdin: ""))
                == "bodycam run: --hold 20s: 500ms to 10s (see 'bodycam run --help')")

        let records = RecordsServer.binary
        #expect(Self.usageError(try TestSupport.run(records, ["enrol"])).hasPrefix("bodycam-records enrol: missing expected argument"))
        #expect(Self.usageError(try TestSupport.run(records, ["officer", "add", "PC-1"]))
                .hasPrefix("bodycam-records officer add: missing expected argument"))
        #expect(Self.usageError(try TestSupport.run(records, ["frobnicate"])).hasPrefix("bodycam-records: "))
    }

    @Test func helpTextsNameWhatIsAccepted() throws {
        let help = try TestSupport.bodycam(["run", "--help"])
        #expect(help.status == 0)
        let text = help.stdout.split(whereSeparator: \.isWhitespace).joined(separator: " ")
        #expect(text.contains("mjpeg, yuyv, i420 or nv12") && text.contains("yuyv, i420, nv12 or mjpeg"))
        #expect(text.contains("-s, --size") && text.contains("-r, --fps") && text.contains("-o, --storage")
                && text.contains("-t, --duration"), "\(text)")
        let completion = try TestSupport.bodycam(["--generate-completion-script", "bash"])
        #expect(completion.status == 0 && completion.stdout.contains("_bodycam"))
    }

    @Test func scriptErrorsSayWhy() throws {
        let storage = ["-o", TestSupport.temporaryDirectory()]
        #expect(Self.usageError(try TestSupport.bodycam(["run", "--script", "/nonexistent/shift.script"] + storage))
                == "bodycam run: --script /nonexistent/shift.script: cannot read the script: No such file or directory (see 'bodycam run --help')")
        #expect(Self.usageError(try TestSupport.bodycam(["run", "--script", "/etc"] + storage))
                .contains("--script /etc: cannot read the script: Is a directory"))
    }

    // MARK: - inspect, devices

    @Test func inspectTakesSeveralFilesAndReportsEachFailure() throws {
        let storage = try TestSupport.deviceStorage("inspect", options: Self.small + ["--prerecord", "2s", "--segment-duration", "2s"],
                                                    script: "wait 3s\ndouble record\nwait 5s\nhold record 3s\n")
        let segments = TestSupport.segments(in: storage)
        try #require(segments.count >= 2)
        let all = try TestSupport.bodycam(["inspect"] + segments)
        #expect(all.status == 0, "\(all.stderr)")
        #expect(all.events.map { $0["path"] as? String } == segments)

        let garbage = TestSupport.temporaryDirectory() + "/garbage.avi"
        try Data("not an AVI".utf8).write(to: URL(fileURLWithPath: garbage))
        let mixed = try TestSupport.bodycam(["inspect", segments[0], "/nonexistent/x.avi", garbage, segments[1]])
        #expect(mixed.status == 1)
        #expect(mixed.events.map { $0["path"] as? String } == [segments[0], segments[1]])
        let errors = mixed.stderr.split(separator: "\n")
        #expect(errors.count == 2 && errors[0].hasPrefix("bodycam: /nonexistent/x.avi: ") && errors[1].hasPrefix("bodycam: \(garbage): "),
                "\(mixed.stderr)")
    }

    @Test func devicesFailsOnAPathItCannotUse() throws {
        let missing = try TestSupport.bodycam(["devices", "/nonexistent/video9"])
        #expect(missing.status == 1 && missing.stdout.isEmpty)
        #expect(missing.stderr.hasPrefix("bodycam: /nonexistent/video9: cannot open: No such file or directory"), "\(missing.stderr)")
        let file = try TestSupport.bodycam(["devices", "/etc/hostname"])
        #expect(file.status == 1 && file.stdout.isEmpty)
        #expect(file.stderr.hasPrefix("bodycam: /etc/hostname: ") && file.stderr.contains("Inappropriate ioctl"), "\(file.stderr)")
    }
}
