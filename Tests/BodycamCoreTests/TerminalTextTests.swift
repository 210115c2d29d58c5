import Testing
@testable import BodycamCore
@testable import BodycamEvidence
@testable import BodycamTerminal

/// Events as plain English for a person at a terminal: every documented type has a sentence of its own,
/// and nothing from the data can reach the terminal as a control character.
struct TerminalEventTextTests {
    /// 2026-01-01T08:00:12.345Z
    static let utc = UTC.parse("2026-01-01T08:00:12Z")! + 345 * Nanos.perMillisecond

    static func event(_ type: String, _ fields: [(String, JSON)]) -> Event { Event(type, mono: 12 * Nanos.perSecond, utc: utc, fields) }

    static func text(_ type: String, _ fields: [(String, JSON)]) -> String {
        EventText.lines(event(type, fields)).joined(separator: "\n")
    }

    /// One sample of every event type and action in docs/EVENTS.md, with the sentence it must read as.
    static let samples: [(String, [(String, JSON)], String)] = [
        ("camera", [("device", .string("BWV-0001")), ("width", .int(1280)), ("height", .int(720)), ("fps", .int(30)),
                    ("format", .string("yuyv")), ("quality", .int(85)), ("prerecord_s", .double(30)), ("clock", .string("real")),
                    ("source", .string("synthetic")), ("storage", .string("storage")), ("overlay", .string("utc"))],
         "08:00:12  Camera BWV-0001 on: 1280x720 at 30 fps, yuyv, quality 85, 30 s of pre-record, real clock\n"
             + "          storage in storage, time stamp utc"),
        ("storage", [("free_bytes", .int(41_200_000_000)), ("capacity_bytes", .int(64_000_000_000))],
         "08:00:12  Storage: 41.2 GB free of 64 GB"),
        ("storage", [("free_bytes", .int(0)), ("capacity_bytes", .int(64_000_000_000)), ("fault", .string("disk-full"))],
         "08:00:12  Storage full (disk-full): nothing more can be recorded"),
        ("battery", [("level", .int(87)), ("charging", .bool(true))], "08:00:12  Battery 87%, charging"),
        ("state", [("from", .string("ready")), ("to", .string("recording")), ("cause", .string("holster"))],
         "08:00:12  Recording (was ready; holster)"),
        ("led", [("pattern", .string("red-blink")), ("suppressed", .bool(true))], "08:00:12  LED red-blink (stealth: kept dark)"),
        ("gesture", [("button", .string("record")), ("gesture", .string("double"))], "08:00:12  Record button double-pressed"),
        ("feedback", [("kind", .string("record-start")), ("tones", .int(2)), ("vibrations", .int(2)), ("long_tone", .bool(false)),
                      ("suppressed", .bool(false))], "08:00:12  Signal record-start: 2 tones, 2 vibrations"),
        ("stealth", [("on", .bool(true))], "08:00:12  Stealth on: no LEDs, tones or vibrations"),
        ("recording", [("action", .string("started")), ("id", .string("BWV-0001-000001")), ("trigger", .string("button")),
                       ("officer", .string("PC-1234")), ("prerecord_frames", .int(900)), ("prerecord_s", .double(30))],
         "08:00:12  Recording BWV-0001-000001 started (record button), with 30 s of pre-record, officer PC-1234"),
        ("recording", [("action", .string("stopped")), ("id", .string("BWV-0001-000001")), ("cause", .string("docked"))],
         "08:00:12  Recording BWV-0001-000001 stopped (docked)"),
        ("recording", [("action", .string("finalized")), ("id", .string("BWV-0001-000001")), ("frames", .int(1800)),
                       ("segments", .int(1)), ("bytes", .int(61_500_000)), ("dropped_frames", .int(2)), ("missing_frames", .int(0)),
                       ("complete", .bool(false))],
         "08:00:12  Recording BWV-0001-000001 saved: 1800 frames in 1 segment, 61.5 MB, 2 frames lost (INCOMPLETE: frames lost to a write error)"),
        ("segment", [("recording", .string("BWV-0001-000001")), ("index", .int(2)), ("path", .string("storage/recordings/x_002.avi")),
                     ("frames", .int(9000)), ("missing_frames", .int(0)), ("bytes", .int(312_000_000)), ("duration_s", .double(300))],
         "08:00:12  Segment 2 of BWV-0001-000001 written: 9000 frames, 312 MB, 300 s\n          file x_002.avi"),
        ("manifest", [("recording", .string("BWV-0001-000001")), ("path", .string("storage/recordings/BWV-0001-000001.manifest.json"))],
         "08:00:12  Recording BWV-0001-000001 signed: manifest BWV-0001-000001.manifest.json"),
        ("recovery", [("segments_rebuilt", .array([.string("a.avi")])), ("manifests_written", .array([])),
                      ("manifests_logged", .array([])), ("empty_segments_removed", .array([])),
                      ("quarantined", .array([.object([("file", .string("device.json")), ("moved_to", .string("q/device.json")),
                                                       ("reason", .string("unreadable"))])])),
                      ("frames_recovered", .int(120))],
         "08:00:12  Recovered at start-up: 1 segments rebuilt, 0 manifests written, 0 empty segments removed, 120 frames recovered\n"
             + "          quarantined device.json: unreadable"),
        ("clock", [("from", .string("2026-01-01T08:00:12.345Z")), ("to", .string("2026-01-01T08:00:14.845Z")), ("correction_s", .double(2.5))],
         "08:00:12  Clock set by the dock: 2026-01-01T08:00:12.345Z -> 2026-01-01T08:00:14.845Z (+2.5 s)"),
        ("offload", [("action", .string("started")), ("target", .string("https://records:8443")), ("recordings", .int(2)),
                     ("files", .int(7)), ("bytes", .int(2_700_000_000))],
         "08:00:12  Offload to https://records:8443 started: 2 recordings, 7 files, 2.7 GB"),
        ("offload", [("action", .string("file-verified")), ("file", .string("a.avi")), ("bytes_done", .int(1_200_000_000)),
                     ("bytes_total", .int(2_700_000_000)), ("files_done", .int(3)), ("files_total", .int(7))],
         "08:00:12  Offloaded a.avi (1.2/2.7 GB, file 3/7)"),
        ("offload", [("action", .string("recording-offloaded")), ("recording", .string("BWV-0001-000001")),
                     ("local_copies_deleted", .bool(true)), ("freed_bytes", .int(61_500_000))],
         "08:00:12  Recording BWV-0001-000001 is in the records: local copy deleted, 61.5 MB freed"),
        ("offload", [("action", .string("skipped")), ("file", .string("x.manifest.json")), ("reason", .string("signature does not verify"))],
         "08:00:12  Offload skipped x.manifest.json: signature does not verify"),
        ("offload", [("action", .string("complete")), ("recordings", .int(1)), ("bytes", .int(512))],
         "08:00:12  Offload complete: 1 recording, 512 B"),
        ("offload", [("action", .string("interrupted")), ("files_done", .int(3)), ("files_total", .int(7))],
         "08:00:12  Offload interrupted (3/7 files): it resumes at the next dock"),
        ("offload", [("action", .string("failed")), ("message", .string("key is not the pinned one"))],
         "08:00:12  Offload failed: key is not the pinned one"),
        ("offload", [("action", .string("none")), ("reason", .string("no central records configured"))],
         "08:00:12  No offload: no central records configured"),
        ("officer", [("action", .string("assigned")), ("officer", .string("PC-1234"))],
         "08:00:12  Officer PC-1234 has the camera (assigned at the dock)"),
        ("officer", [("action", .string("checked-in")), ("officer", .string("PC-1234"))],
         "08:00:12  Officer PC-1234 checked the camera back in"),
        ("http", [("action", .string("listening")), ("url", .string("http://127.0.0.1:8080/"))],
         "08:00:12  Live view at http://127.0.0.1:8080/ (picture, status and buttons in a browser)"),
        ("marker", [("recording", .string("BWV-0001-000001")), ("number", .int(2)), ("frame_seq", .int(1234))],
         "08:00:12  Marker 2 in BWV-0001-000001 (frame 1234)"),
        ("trigger", [("source", .string("taser")), ("action", .string("ignored")), ("reason", .string("asleep"))],
         "08:00:12  Trigger taser ignored: asleep"),
        ("dock", [("docked", .bool(false))], "08:00:12  Off the dock"),
        ("alert", [("kind", .string("battery-low")), ("message", .string("battery at 10%"))], "08:00:12  ALERT battery-low: battery at 10%"),
        ("error", [("source", .string("script")), ("line", .int(3)), ("message", .string("unknown command 'jump'")),
                   ("text", .string("jump"))], "08:00:12  Line 3: unknown command 'jump' (\"jump\")"),
        ("error", [("source", .string("writer")), ("recording", .string("BWV-0001-000001")), ("out_of_space", .bool(true)),
                   ("message", .string("No space left on device"))],
         "08:00:12  Error (writer): No space left on device, recording BWV-0001-000001"),
        ("expect", [("line", .int(4)), ("field", .string("state")), ("op", .string("=")), ("expected", .string("recording")),
                    ("actual", .string("ready")), ("ok", .bool(false))],
         "08:00:12  Line 4: expect state = recording: FAILED, it is ready"),
        ("expect", [("line", .int(5)), ("field", .string("battery")), ("op", .string(">=")), ("expected", .string("50")),
                    ("actual", .int(87)), ("ok", .bool(true))],
         "08:00:12  Line 5: expect battery >= 50: ok"),
        ("stats", [("frames_captured", .int(900)), ("frames_written", .int(880)), ("segments_written", .int(2)),
                   ("dropped_ring_full", .int(3)), ("lost_on_write_error", .int(1)), ("rss_bytes", .int(120_000_000))],
         "08:00:12  Stats: 900 frames captured, 880 written in 2 segments, 4 lost, memory 120 MB"),
    ]

    @Test func everyDocumentedEventReadsAsASentence() {
        for (type, fields, expected) in Self.samples {
            #expect(Self.text(type, fields) == expected, "\(type)")
        }
    }

    @Test func everyTypeInTheEventsDocumentIsCovered() throws {
        let doc = try String(contentsOfFile: TestSupport.packageRoot.path + "/docs/EVENTS.md", encoding: .utf8)
        // The first column of the events table: | `type` | fields | when |
        let documented = Set(doc.split(separator: "\n").compactMap { line -> String? in
            guard line.hasPrefix("| `"), let end = line.dropFirst(3).firstIndex(of: "`") else { return nil }
            return String(line[line.index(line.startIndex, offsetBy: 3)..<end])
        })
        // The common fields' table comes first.
        let covered = Set(Self.samples.map { $0.0 } + ["status", "help", "event", "t", "utc"])
        #expect(documented.count > 20)
        #expect(documented.subtracting(covered).isEmpty, "no sentence tested for \(documented.subtracting(covered))")
    }

    @Test func statusReadsAsABlock() {
        let fields: [(String, JSON)] = [
            ("state", .string("recording")), ("stealth", .bool(false)), ("led", .string("red-blink")), ("battery", .int(87)),
            ("charging", .bool(false)), ("docked", .bool(false)), ("recording", .bool(true)), ("recording_id", .string("BWV-0001-000003")),
            ("recording_s", .double(83.2)), ("markers", .int(1)), ("recordings", .int(3)), ("local_recordings", .int(2)),
            ("quarantined", .int(0)), ("offloading", .bool(false)), ("officer", .null), ("camera", .string("ok")),
            ("storage_free", .int(41_200_000_000)), ("storage_capacity", .int(64_000_000_000)), ("frames_captured", .int(2500)),
            ("frames_stored", .int(2500)), ("frames_dropped", .int(0)), ("prerecord_frames", .int(0)), ("prerecord_s", .double(0)),
        ]
        let lines = EventText.lines(Self.event("status", fields))
        #expect(lines.count == 7)
        #expect(lines[0] == "08:00:12  Status: recording, LED red-blink, camera ok")
        #expect(lines[1] == "          recording BWV-0001-000003 for 83.2 s, 1 marker")
        #expect(lines.contains("          storage 41.2 GB free of 64 GB"))
        #expect(lines.contains("          officer none"))
    }

    @Test func helpListsEveryCommandOnItsOwnLine() {
        let commands = JSON.array(ScriptParser.commands.map { .object([("usage", .string($0.usage)), ("does", .string($0.does))]) })
        let lines = EventText.lines(Self.event("help", [("commands", commands)]))
        #expect(lines.count == ScriptParser.commands.count + 1)
        #expect(lines[0].hasPrefix("08:00:12  Commands"))
        for verb in ["press", "double", "hold", "trigger", "dock", "assign", "battery", "fault", "wait", "expect", "status", "help", "quit"] {
            #expect(lines.contains { $0.hasPrefix("            \(verb)") }, "\(verb)")
        }
    }

    @Test func helpIsACommandInScriptsToo() {
        #expect(ScriptParser.parse("help") == .success(.help))
        #expect(ScriptParser.parse("  HELP  # the list") == .success(.help))
        #expect(ScriptParser.parse("help me") == .failure(ScriptError("'help' takes 0 arguments, got 1")))
        // Every verb the parser knows is listed (the first word of each usage), and nothing it does not know.
        let verbs = ScriptParser.commands.flatMap { $0.usage.split(separator: "|").map { String($0.split(separator: " ")[0]) } }
        for verb in verbs {
            if case .failure(let e) = ScriptParser.parse(verb), e.message.hasPrefix("unknown command") {
                Issue.record("help lists '\(verb)', which the parser does not know")
            }
        }
        #expect(Set(verbs) == ["press", "double", "hold", "down", "up", "trigger", "dock", "undock", "assign", "battery",
                               "fault", "wait", "expect", "status", "help", "quit"])
    }

    @Test func anUnknownTypeGetsACompactGenericLine() {
        #expect(Self.text("mystery", [("a", .int(1)), ("b", .string("x")), ("c", .null)]) == "08:00:12  mystery: a 1, b x, c none")
        let long = Self.text("mystery", [("blob", .string(String(repeating: "x", count: 5000)))])
        #expect(long.count <= 10 + 200)
    }

    /// Officer ids, messages, file names and script text come from outside: escape sequences in them
    /// (clear screen, retitle window, OSC 52 clipboard writes, C1 CSI, bidi overrides) must not survive.
    @Test func hostileStringsNeverReachTheTerminalAsControls() {
        let hostile = ["PC\u{1B}]0;pwned\u{07}", "\u{1B}[2J\u{1B}[H", "line\r\nforged 08:00:00  Recording stopped", "\u{9B}31m",
                       "\u{1B}]52;c;ZXZpbA==\u{07}", "abc\u{202E}gpj.exe", "\u{7F}\u{0}\u{8}"]
        for bad in hostile {
            for (type, fields, _) in Self.samples {
                let poisoned = fields.map { ($0.0, $0.1.isString ? JSON.string(bad) : $0.1) }
                for line in EventText.lines(Self.event(type, poisoned)) {
                    #expect(line.unicodeScalars.allSatisfy(TerminalText.isShown), "\(type): \(line.debugDescription)")
                }
            }
            let line = EventText.lines(Self.event("error", [("source", .string("script")), ("line", .int(1)),
                                                            ("message", .string(bad)), ("text", .string(bad))]))
            #expect(line.count == 1)
            #expect(!line[0].contains("\u{1B}") && !line[0].contains("\n") && !line[0].contains("\r"))
        }
        #expect(TerminalText.printable("a\u{1B}[31mb") == "a?[31mb")
    }
}

extension JSON {
    var isString: Bool { if case .string = self { true } else { false } }
}

/// The one-line live status: what matters first, always within the width.
struct TerminalStatusLineTests {
    static func recording() -> LiveStatus {
        var s = LiveStatus()
        s.state = .recording
        s.led = .redBlink
        s.battery = 87
        s.recordingNanos = 83 * Nanos.perSecond + 400 * Nanos.perMillisecond
        s.storageFree = 41_200_000_000
        s.storageCapacity = 64_000_000_000
        s.officer = "PC-1234"
        return s
    }

    static func docked() -> LiveStatus {
        var s = LiveStatus()
        s.state = .docked
        s.led = .green
        s.charging = true
        s.offload = Offloader.Progress(bytesDone: 1_215_000_000, bytesTotal: 2_700_000_000, filesDone: 3, filesTotal: 7,
                                       recordingsDone: 1, recordingsTotal: 2)
        s.offloadBytesPerSecond = 40_000_000
        s.storageFree = 41_200_000_000
        return s
    }

    static func lowBattery() -> LiveStatus {
        var s = LiveStatus()
        s.state = .ready
        s.led = .greenBlink
        s.battery = 4
        s.storageFree = 41_200_000_000
        return s
    }

    @Test func recordingShowsTheClockLEDBatteryStorageAndOfficer() {
        #expect(StatusLineText.render(Self.recording(), width: 200)
            == "● REC 00:01:23  LED red-blink  battery 87%  storage 41.2 GB free  PC-1234")
    }

    @Test func dockedShowsTheOffloadWithBytesRateAndTimeLeft() {
        // 1.485 GB left at 40 MB/s: 37.1 s, shown as 38 s (never less than what is left).
        #expect(StatusLineText.render(Self.docked(), width: 200)
            == "DOCKED charging  offload 45%  1.2/2.7 GB  40 MB/s  38 s left  battery 100%")
    }

    @Test func lowBatteryIsSaidAndKeptWhenTheWidthIsShort() {
        #expect(StatusLineText.render(Self.lowBattery(), width: 200) == "READY  LED green-blink  battery 4% LOW  storage 41.2 GB free")
        #expect(StatusLineText.render(Self.lowBattery(), width: 30) == "READY  battery 4% LOW")
        var charging = Self.lowBattery()
        charging.charging = true
        #expect(!StatusLineText.render(charging, width: 200).contains("LOW"))
    }

    @Test func narrowTerminalsKeepTheStateAndNeverOverflow() {
        var stealthy = Self.recording()
        stealthy.stealth = true
        stealthy.cameraOK = false
        stealthy.markers = 3
        stealthy.framesDropped = 12
        stealthy.officer = "\u{1B}[2Jwide-名前-officer"
        for s in [Self.recording(), Self.docked(), Self.lowBattery(), stealthy, LiveStatus()] {
            for width in [0, 1, 5, 10, 20, 40, 80, 200] {
                let line = StatusLineText.render(s, width: width)
                #expect(TerminalText.width(line) <= width, "\(line) at \(width)")
                #expect(line.unicodeScalars.allSatisfy(TerminalText.isShown))
            }
        }
        #expect(StatusLineText.render(Self.recording(), width: 20) == "● REC 00:01:23")
        #expect(StatusLineText.render(Self.recording(), width: 40) == "● REC 00:01:23  battery 87%")
        #expect(StatusLineText.render(Self.docked(), width: 40) == "DOCKED charging  offload 45%  38 s left")
        #expect(StatusLineText.render(Self.recording(), width: 10) == "● REC 00:…")
    }
}

/// The prompt's line editing, key bytes in, lines out.
struct TerminalLineEditorTests {
    static func type(_ text: String, into editor: inout LineEditor) -> [LineEditor.Outcome] { editor.feed(Array(text.utf8)) }

    @Test func enterSubmitsTheLineAndStartsAFreshOne() {
        var e = LineEditor()
        #expect(Self.type("double record", into: &e) == [])
        #expect(e.line == "double record" && e.cursor == 13)
        #expect(Self.type("\r", into: &e) == [.submitted("double record")])
        #expect(e.line == "" && e.cursor == 0)
        #expect(Self.type("status\nquit\r", into: &e) == [.submitted("status"), .submitted("quit")])
    }

    @Test func backspaceCtrlUCtrlWAndCtrlKEdit() {
        var e = LineEditor()
        #expect(Self.type("abc\u{7F}d\r", into: &e) == [.submitted("abd")])
        #expect(Self.type("abc\u{8}\u{8}\u{8}\u{8}x\r", into: &e) == [.submitted("x")])
        #expect(Self.type("hello world\u{15}quit\r", into: &e) == [.submitted("quit")])
        #expect(Self.type("hold record 3s\u{17}\u{17}x\r", into: &e) == [.submitted("hold x")])
        // ^A to the start, ^K deletes to the end.
        #expect(Self.type("status\u{1}\u{B}help\r", into: &e) == [.submitted("help")])
    }

    @Test func arrowsMoveAndHistoryRecalls() {
        var e = LineEditor()
        #expect(Self.type("ac\u{1B}[Db\r", into: &e) == [.submitted("abc")])
        #expect(Self.type("status\r", into: &e) == [.submitted("status")])
        _ = Self.type("he", into: &e)
        _ = Self.type("\u{1B}[A", into: &e)
        #expect(e.line == "status")
        _ = Self.type("\u{1B}[A", into: &e)
        #expect(e.line == "abc")
        _ = Self.type("\u{1B}[B\u{1B}[B", into: &e)
        #expect(e.line == "he")  // back to what was being typed
        #expect(Self.type("\u{1B}[H\u{1B}[3~\u{1B}[F\u{1B}OHx\r", into: &e) == [.submitted("xe")])
    }

    @Test func ctrlDEndsTheInputOnlyOnAnEmptyLine() {
        var e = LineEditor()
        #expect(Self.type("\u{4}", into: &e) == [.endOfInput])
        var f = LineEditor()
        #expect(Self.type("quit\u{1B}[D\u{4}", into: &f) == [])
        #expect(f.line == "qui")
    }

    @Test func utf8IsDecodedAcrossReadsAndBadBytesAreDropped() {
        var e = LineEditor()
        let bytes = Array("assign Zoë 😀".utf8)
        for b in bytes { #expect(e.feed(b) == nil) }
        #expect(e.text.count == 12 && e.cursor == 12)
        #expect(e.feed([0xFF, 0x80, 0xE2, 0x82]) == [])  // invalid, a lone continuation, a cut sequence
        #expect(Self.type("!\r", into: &e) == [.submitted("assign Zoë 😀!")])
    }

    @Test func controlsAndEscapeSequencesNeverGetIntoTheLine() {
        var e = LineEditor()
        // An escape sequence is swallowed whole; C1 CSI (U+009B in UTF-8), bidi overrides, tabs, ^G are ignored.
        let outcomes = e.feed(Array("\u{1B}[31mX\u{1B}]0;t".utf8) + [0xC2, 0x9B] + Array("\u{202E}\t\u{7}Y\r".utf8))
        #expect(outcomes.count == 1)
        guard case .submitted(let line)? = outcomes.first else { return }
        #expect(line.unicodeScalars.allSatisfy(TerminalText.isShown), "\(line.debugDescription)")
        #expect(line.hasPrefix("X") && line.hasSuffix("Y"))
    }

    @Test func aLineStopsGrowingAtTheScriptLimit() {
        var e = LineEditor(maxBytes: 1024)
        _ = e.feed([UInt8](repeating: UInt8(ascii: "a"), count: 2000))
        #expect(e.line.utf8.count == 1024)
    }

    @Test func theVisibleWindowFollowsTheCursor() {
        var e = LineEditor()
        _ = Self.type("expect recording_s >= 12.5", into: &e)
        let end = e.visible(width: 10)
        #expect(TerminalText.width(end.text) <= 10 && end.cursorColumn <= 9)
        #expect(end.text.hasSuffix("12.5") && end.cursorColumn == TerminalText.width(end.text))
        _ = Self.type("\u{1}", into: &e)
        let start = e.visible(width: 10)
        #expect(start.text.hasPrefix("expect") && start.cursorColumn == 0)
        #expect(e.visible(width: 200).text == "expect recording_s >= 12.5")
    }
}
