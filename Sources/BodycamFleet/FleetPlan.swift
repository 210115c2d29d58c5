import BodycamCore

/// What a fleet run does, decided up front from a seed: which cameras, which officer checks each one out,
/// and each camera's shift as a camera script (incidents: triggers, double presses, markers, sleep, low
/// battery). Pure: the same settings give the same plan, so a fleet run can be repeated.
public struct FleetPlan: Sendable {
    public struct Camera: Sendable, Equatable {
        public var deviceID: String
        public var officer: String
        /// The shift: checked out at a dock, undocked, incidents, then `quit` (the dock storm comes later).
        public var shiftScript: String
        /// Counts of what the script asks for (what the camera makes of it is read from its events).
        public var incidents: Incidents
    }

    public struct Incidents: Sendable, Equatable {
        public var buttonRecordings = 0
        public var triggeredRecordings = 0
        public var markers = 0
        public var sleeps = 0
        public var lowBattery = false
    }

    public var cameras: [Camera]
    public var officers: [String]

    /// - Parameters:
    ///   - tag: names this run's cameras (`F<tag>-0001`): a camera's key is pinned for its id for good, so
    ///     every run enrols new ids.
    ///   - shiftSeconds: the shift in camera time.
    public init(cameras: Int, officers: Int, shiftSeconds: Int, seed: UInt64, tag: String) {
        let officerIDs = (1...max(1, officers)).map { "PC-\(tag)-\(Self.padded($0, 4))" }
        self.officers = officerIDs
        var rng = SplitMix64(seed: seed)
        self.cameras = (1...max(1, cameras)).map { i in
            let officer = officerIDs[(i - 1) % officerIDs.count]
            var camRNG = SplitMix64(seed: rng.next())
            let (script, incidents) = Self.shift(officer: officer, seconds: shiftSeconds, rng: &camRNG)
            return Camera(deviceID: "F\(tag)-\(Self.padded(i, 4))", officer: officer, shiftScript: script, incidents: incidents)
        }
    }

    static func padded(_ n: Int, _ width: Int) -> String {
        let s = String(n)
        return String(repeating: "0", count: max(0, width - s.count)) + s
    }

    /// One camera's shift. Durations scale with the shift, so a 10-minute test shift has the same shape as
    /// an 8-hour one: idle spells in ready (pre-record running), recordings by button or trigger with
    /// markers (about an hour of footage in 8 hours, as UK forces report), sleep spells, and for about one
    /// camera in five a low battery near the end.
    static func shift(officer: String, seconds: Int, rng: inout SplitMix64) -> (String, Incidents) {
        var lines = ["# checked out at the station's dock, then out on patrol",
                     "wait 3s", "dock", "wait 2s", "assign \(officer)", "wait 1s", "undock", "wait 3s"]
        var incidents = Incidents()
        let total = max(60, seconds)
        var t = 10
        let end = total - max(20, total / 20)
        let lowBatteryAt = rng.chance(0.2) ? total * 17 / 20 : nil
        func spell(_ lo: Double, _ hi: Double, cap: Int? = nil) -> Int {
            let s = Int(Double(total) * rng.uniform(lo, hi))
            return max(5, cap.map { min($0, s) } ?? s)
        }
        func wait(_ s: Int) {
            lines.append("wait \(s)s")
            t += s
        }
        while t < end {
            wait(min(spell(0.03, 0.12), max(1, end - t)))
            if let at = lowBatteryAt, t >= at, !incidents.lowBattery {
                lines.append("battery 9")
                incidents.lowBattery = true
            }
            guard t < end else { break }
            let roll = rng.uniform(0, 1)
            if roll < 0.7 {
                if roll < 0.42 {
                    lines.append("double record")
                    incidents.buttonRecordings += 1
                } else {
                    lines.append("trigger \(rng.chance(0.5) ? "holster" : "taser")")
                    incidents.triggeredRecordings += 1
                }
                t += 1
                let length = spell(0.01, 0.03, cap: 20 * 60)
                let markers = Int(rng.uniform(0, 3))
                for _ in 0..<markers {
                    wait(max(2, length / (markers + 1)))
                    lines.append("press function")
                    incidents.markers += 1
                }
                wait(max(2, length / (markers + 1)))
                lines.append("hold record 3s")
                t += 3
            } else if roll < 0.9 {
                // Sleep: power then function within 3 s; power again wakes it (the buffer starts empty).
                lines += ["press power", "wait 1s", "press function"]
                incidents.sleeps += 1
                wait(spell(0.04, 0.12))
                lines.append("press power")
            }
        }
        lines += ["# end of shift: back to the station (the dock storm docks it)", "quit"]
        return (lines.joined(separator: "\n") + "\n", incidents)
    }
}

extension SplitMix64 {
    /// Uniform in [lo, hi).
    mutating func uniform(_ lo: Double, _ hi: Double) -> Double {
        lo + (hi - lo) * Double(next() >> 11) / Double(UInt64(1) << 53)
    }
    mutating func chance(_ p: Double) -> Bool { uniform(0, 1) < p }
}
