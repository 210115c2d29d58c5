import Foundation

/// One run of the camera (`bodycam run`) as a child process: the real firmware, frame path and dock client,
/// driven by a script file. Keeps only the events the fleet reads, each with the moment its line arrived
/// (monotonic seconds), so memory stays bounded over a long shift.
public struct CameraProcess {
    /// An event line the fleet keeps: its name, fields, and when it arrived.
    public struct Event: @unchecked Sendable {
        public var name: String
        public var fields: [String: Any]
        public var arrived: Double
        public func string(_ key: String) -> String? { fields[key] as? String }
        public func int(_ key: String) -> Int? { (fields[key] as? NSNumber)?.intValue }
        public func bool(_ key: String) -> Bool? { (fields[key] as? NSNumber)?.boolValue }
    }

    public struct Outcome: @unchecked Sendable {
        public var events: [Event]
        public var exitStatus: Int32
        public var started: Double
        public var ended: Double
        public func all(_ name: String, _ key: String? = nil, _ value: String? = nil) -> [Event] {
            events.filter { $0.name == name && (key == nil || $0.string(key!) == value) }
        }
        /// The last `status` event's fields.
        public var status: Event? { events.last { $0.name == "status" } }
    }

    /// Events the fleet reads; the rest (LEDs, tones, segments...) are dropped as they arrive.
    static let kept: Set<String> = ["recording", "manifest", "offload", "alert", "status", "error", "dock", "officer", "camera", "recovery"]

    public static func monotonic() -> Double {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
    }

    /// Runs `executable run ARGS --script SCRIPT`, stderr to `stderrPath`. Blocks until it exits.
    public static func run(executable: String, arguments: [String], script: String, scriptPath: String, stderrPath: String) throws -> Outcome {
        try script.write(toFile: scriptPath, atomically: true, encoding: .utf8)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = ["run"] + arguments + ["--script", scriptPath, "--json"]
        let out = Pipe()
        process.standardOutput = out
        process.standardInput = FileHandle.nullDevice
        _ = FileManager.default.createFile(atPath: stderrPath, contents: nil)
        process.standardError = FileHandle(forWritingAtPath: stderrPath) ?? FileHandle.nullDevice
        let started = monotonic()
        try process.run()
        var events: [Event] = []
        var pending: [UInt8] = []
        let reader = out.fileHandleForReading
        while true {
            let chunk = reader.availableData
            if chunk.isEmpty { break }
            let now = monotonic()
            pending.append(contentsOf: chunk)
            while let newline = pending.firstIndex(of: 10) {
                let line = Array(pending[..<newline])
                pending.removeSubrange(...newline)
                if let e = parse(line, arrived: now) { events.append(e) }
            }
            // A line longer than any event: dropped rather than held without bound.
            if pending.count > 1 << 20 { pending.removeAll() }
        }
        process.waitUntilExit()
        return Outcome(events: events, exitStatus: process.terminationStatus, started: started, ended: monotonic())
    }

    static func parse(_ line: [UInt8], arrived: Double) -> Event? {
        guard let object = try? JSONSerialization.jsonObject(with: Data(line)) as? [String: Any],
              let name = object["event"] as? String, kept.contains(name) else { return nil }
        return Event(name: name, fields: object, arrived: arrived)
    }
}
