import BodycamCore
import BodycamEvidence

/// An event as plain English for a person at a terminal: `08:00:03  Recording BWV-0001-000001 started
/// (record button), with 1.2 s of pre-record`. Pure. Every type in docs/EVENTS.md has its own sentence;
/// an unknown type gets a compact `type: field value, ...` line. `help` and `status` take several lines.
/// Every line is printable (no control characters, whatever the data holds); the JSON Lines of `--json`
/// stay the complete record.
public enum EventText {
    /// Indent of continuation lines (under the sentence, past the time).
    static let indent = String(repeating: " ", count: 10)

    public static func lines(_ e: Event) -> [String] {
        let body = sentences(e)
        let time = Quantities.timeOfDay(e.utc) + "  "
        return body.enumerated().map { i, line in TerminalText.printable((i == 0 ? time : indent) + line) }
    }

    static func sentences(_ e: Event) -> [String] {
        let f = Fields(e)
        switch e.type {
        case "camera":
            var s = "Camera \(f.s("device")) on: \(f.s("width"))x\(f.s("height")) at \(f.s("fps")) fps, \(f.s("format")), "
                + "quality \(f.s("quality")), \(f.seconds("prerecord_s")) of pre-record, \(f.s("clock")) clock"
            if let source = f.string("source"), source != "synthetic" { s += ", frames from \(source)" }
            return [s, "storage in \(f.s("storage")), time stamp \(f.s("overlay"))"]
        case "storage":
            if let fault = f.string("fault") { return ["Storage full (\(fault)): nothing more can be recorded"] }
            return ["Storage: \(f.bytes("free_bytes")) free of \(f.bytes("capacity_bytes"))"]
        case "battery":
            return ["Battery \(f.s("level"))%" + (f.bool("charging") == true ? ", charging" : "")]
        case "state":
            return ["\(capitalized(f.s("to"))) (was \(f.s("from")); \(f.s("cause")))"]
        case "led":
            return ["LED \(f.s("pattern"))" + (f.bool("suppressed") == true ? " (stealth: kept dark)" : "")]
        case "gesture":
            let g = ["press": "pressed", "double": "double-pressed", "hold": "held"][f.s("gesture")] ?? f.s("gesture")
            return ["\(capitalized(f.s("button"))) button \(g)"]
        case "feedback":
            var signals: [String] = []
            if let t = f.int("tones"), t > 0 { signals.append("\(t) tone\(t == 1 ? "" : "s")") }
            if let v = f.int("vibrations"), v > 0 { signals.append("\(v) vibration\(v == 1 ? "" : "s")") }
            if f.bool("long_tone") == true { signals.append("a long tone") }
            let what = signals.isEmpty ? "no signal" : signals.joined(separator: ", ")
            return ["Signal \(f.s("kind")): \(what)" + (f.bool("suppressed") == true ? " (stealth: silent)" : "")]
        case "stealth":
            return [f.bool("on") == true ? "Stealth on: no LEDs, tones or vibrations" : "Stealth off"]
        case "recording":
            return [recording(f)]
        case "segment":
            var s = "Segment \(f.s("index")) of \(f.s("recording")) written: \(f.s("frames")) frames, \(f.bytes("bytes")), "
                + f.seconds("duration_s")
            if let m = f.int("missing_frames"), m > 0 { s += ", \(m) missing" }
            return [s, "file \(f.fileName("path"))"]
        case "manifest":
            return ["Recording \(f.s("recording")) signed: manifest \(f.fileName("path"))"]
        case "recovery":
            return recovery(f)
        case "clock":
            if f.double("correction_s") == 0 { return ["Clock checked by the dock: no correction needed"] }
            return ["Clock set by the dock: \(f.s("from")) -> \(f.s("to")) (\(f.signedSeconds("correction_s")))"]
        case "offload":
            return [offload(f)]
        case "officer":
            if f.s("action") == "assigned" { return ["Officer \(f.s("officer")) has the camera (assigned at the dock)"] }
            if f.s("action") == "checked-in" { return ["Officer \(f.s("officer")) checked the camera back in"] }
            return generic(e)
        case "http":
            if f.s("action") == "listening" { return ["Live view at \(f.s("url")) (picture, status and buttons in a browser)"] }
            return generic(e)
        case "marker":
            return ["Marker \(f.s("number")) in \(f.s("recording")) (frame \(f.s("frame_seq")))"]
        case "trigger":
            return ["Trigger \(f.s("source")) \(f.s("action")): \(f.s("reason"))"]
        case "dock":
            return [f.bool("docked") == true ? "On the dock" : "Off the dock"]
        case "alert":
            var s = "ALERT \(f.s("kind")): \(f.s("message"))"
            if let file = f.string("file") { s += " (\(file))" }
            return [s]
        case "error":
            if f.s("source") == "script" {
                let text = f.s("text")
                return ["Line \(f.s("line")): \(f.s("message"))" + (text.isEmpty ? "" : " (\"\(text)\")")]
            }
            var s = "Error (\(f.s("source"))): \(f.s("message"))"
            if let r = f.string("recording") { s += ", recording \(r)" }
            return [s]
        case "expect":
            let check = "expect \(f.s("field")) \(f.s("op")) \(f.s("expected"))"
            return f.bool("ok") == true ? ["Line \(f.s("line")): \(check): ok"]
                : ["Line \(f.s("line")): \(check): FAILED, it is \(f.s("actual"))"]
        case "status":
            return status(f)
        case "stats":
            return [stats(f)]
        case "help":
            return help(f)
        default:
            return generic(e)
        }
    }

    static func recording(_ f: Fields) -> String {
        let id = f.s("id")
        switch f.s("action") {
        case "started":
            let by = f.s("trigger") == "button" ? "record button" : f.s("trigger")
            var s = "Recording \(id) started (\(by)), with \(f.seconds("prerecord_s")) of pre-record"
            if let officer = f.string("officer") { s += ", officer \(officer)" }
            return s
        case "stopped":
            return "Recording \(id) stopped (\(f.s("cause")))"
        case "finalized":
            var s = "Recording \(id) saved: \(f.count("frames", "frame")) in \(f.count("segments", "segment")), "
                + f.bytes("bytes")
            let lost = (f.int("dropped_frames") ?? 0) + (f.int("missing_frames") ?? 0)
            if lost > 0 { s += ", \(lost) frames lost" }
            if f.bool("complete") == false { s += " (INCOMPLETE: frames lost to a write error)" }
            return s
        default:
            return "Recording \(id): \(f.s("action"))"
        }
    }

    static func offload(_ f: Fields) -> String {
        switch f.s("action") {
        case "started":
            return "Offload to \(f.s("target")) started: \(f.count("recordings", "recording")), \(f.count("files", "file")), \(f.bytes("bytes"))"
        case "file-verified":
            let done = f.int("bytes_done") ?? 0, total = f.int("bytes_total") ?? 0
            return "Offloaded \(f.s("file")) (\(Quantities.bytes(done, of: total)), file \(f.s("files_done"))/\(f.s("files_total")))"
        case "recording-offloaded":
            return "Recording \(f.s("recording")) is in the records"
                + (f.bool("local_copies_deleted") == true ? ": local copy deleted, \(f.bytes("freed_bytes")) freed" : "")
        case "skipped":
            return "Offload skipped \(f.s("file")): \(f.s("reason"))"
        case "complete":
            return "Offload complete: \(f.count("recordings", "recording")), \(f.bytes("bytes"))"
        case "interrupted":
            return "Offload interrupted (\(f.s("files_done"))/\(f.s("files_total")) files): it resumes at the next dock"
        case "failed":
            return "Offload failed: \(f.s("message"))"
        case "none":
            return "No offload: \(f.s("reason"))"
        default:
            return "Offload \(f.s("action"))"
        }
    }

    static func recovery(_ f: Fields) -> [String] {
        func count(_ key: String) -> Int { if case .array(let a)? = f.event[key] { return a.count }; return 0 }
        var lines = ["Recovered at start-up: \(count("segments_rebuilt")) segments rebuilt, \(count("manifests_written")) manifests written, "
            + "\(count("empty_segments_removed")) empty segments removed, \(f.s("frames_recovered")) frames recovered"]
        if case .array(let moved)? = f.event["quarantined"] {
            for case .object(let o) in moved {
                let q = Fields(Event("", mono: 0, utc: 0, o))
                lines.append("quarantined \(q.s("file")): \(q.s("reason"))")
            }
        }
        return lines
    }

    static func status(_ f: Fields) -> [String] {
        var lines = ["Status: \(f.s("state")), LED \(f.s("led"))" + (f.bool("stealth") == true ? ", stealth" : "")
            + ", camera \(f.s("camera"))"]
        if f.bool("recording") == true {
            lines.append("recording \(f.s("recording_id")) for \(f.seconds("recording_s")), \(f.count("markers", "marker"))")
        } else {
            lines.append("not recording")
        }
        lines.append("battery \(f.s("battery"))%" + (f.bool("charging") == true ? ", charging" : "")
            + (f.bool("docked") == true ? ", docked" : "") + (f.bool("offloading") == true ? ", offloading" : ""))
        lines.append("storage \(f.bytes("storage_free")) free of \(f.bytes("storage_capacity"))")
        lines.append("recordings: \(f.s("recordings")) this run, \(f.s("local_recordings")) on the camera, \(f.s("quarantined")) quarantined")
        lines.append("officer \(f.string("officer") ?? "none")")
        lines.append("frames: \(f.s("frames_captured")) captured, \(f.s("frames_stored")) stored, \(f.s("frames_dropped")) dropped; "
            + "pre-record \(f.seconds("prerecord_s")) (\(f.s("prerecord_frames")) frames)")
        return lines
    }

    static func stats(_ f: Fields) -> String {
        let lost = f.event.fields.reduce(Int64(0)) { sum, field in
            guard field.0.hasPrefix("dropped_") || field.0.hasPrefix("lost_"), case .int(let n) = field.1 else { return sum }
            return sum + n
        }
        return "Stats: \(f.s("frames_captured")) frames captured, \(f.s("frames_written")) written in \(f.count("segments_written", "segment")), "
            + "\(lost) lost, memory \(f.bytes("rss_bytes"))"
    }

    static func help(_ f: Fields) -> [String] {
        guard case .array(let commands)? = f.event["commands"] else { return ["Commands: see the README"] }
        let rows: [(String, String)] = commands.compactMap {
            guard case .object(let o) = $0 else { return nil }
            let c = Fields(Event("", mono: 0, utc: 0, o))
            return (c.s("usage"), c.s("does"))
        }
        let column = min(rows.map { $0.0.count }.max() ?? 0, 28)
        return ["Commands (one a line; Ctrl-D or quit ends, Ctrl-C stops):"] + rows.map { usage, does in
            "  " + usage + String(repeating: " ", count: max(1, column - usage.count + 2)) + does
        }
    }

    /// `type: field value, field value`, cut to keep the line short.
    static func generic(_ e: Event) -> [String] {
        let fields = e.fields.map { "\($0.0) \(Fields.text($0.1))" }.joined(separator: ", ")
        return [TerminalText.fit(fields.isEmpty ? e.type : "\(e.type): \(fields)", width: 200)]
    }

    static func capitalized(_ s: String) -> String { s.prefix(1).uppercased() + s.dropFirst() }

    /// Typed reads of an event's fields, with a readable stand-in when one is missing.
    struct Fields {
        let event: Event
        init(_ event: Event) { self.event = event }

        func string(_ key: String) -> String? {
            guard let v = event[key] else { return nil }
            if case .null = v { return nil }
            return Self.text(v)
        }
        func s(_ key: String) -> String { string(key) ?? "?" }
        func int(_ key: String) -> Int64? {
            switch event[key] {
            case .int(let n)?: return n
            case .double(let d)? where d.isFinite && abs(d) < 9e18: return Int64(d)
            default: return nil
            }
        }
        func double(_ key: String) -> Double? {
            switch event[key] {
            case .int(let n)?: return Double(n)
            case .double(let d)?: return d
            default: return nil
            }
        }
        func bool(_ key: String) -> Bool? { if case .bool(let b)? = event[key] { return b }; return nil }
        func bytes(_ key: String) -> String { int(key).map(Quantities.bytes) ?? "?" }
        /// `1 recording`, `3 recordings`.
        func count(_ key: String, _ noun: String) -> String { int(key).map { Quantities.count($0, noun) } ?? "? \(noun)s" }
        /// `1.2 s`
        func seconds(_ key: String) -> String { double(key).map { "\(Quantities.decimal($0, false)) s" } ?? "?" }
        /// `+2.5 s`, `-1.0 s`
        func signedSeconds(_ key: String) -> String {
            guard let d = double(key) else { return "?" }
            return (d >= 0 ? "+" : "-") + Quantities.decimal(abs(d), false) + " s"
        }
        /// The last part of a path (the folder is the storage's, shown at start-up).
        func fileName(_ key: String) -> String {
            let p = s(key)
            return p.split(separator: "/").last.map(String.init) ?? p
        }

        static func text(_ v: JSON) -> String {
            switch v {
            case .string(let s): return s
            case .int(let n): return String(n)
            case .double(let d): return String(d)
            case .bool(let b): return b ? "yes" : "no"
            case .null: return "none"
            case .array, .object: return v.serialized
            }
        }
    }
}
