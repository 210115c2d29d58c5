import Foundation

/// The figures of a fleet run: what was recorded and delivered, how fast, the dock-to-receipt latency, what
/// went wrong, and the cross-check. Text for a person, one JSON object for scripts.
public struct FleetReport: Sendable {
    public var cameras: Int
    public var officers: Int
    public var nodes: [String]
    public var shiftSeconds: Int
    public var recordings: Int
    public var bytesRecorded: Int
    public var shiftWallSeconds: Double
    /// First dock to last receipt, wall clock.
    public var stormSeconds: Double
    public var receipts: Int
    public var bytesDelivered: Int
    /// Dock-to-receipt latency of every recording, seconds, sorted.
    public var latencies: [Double]
    public var redocks: Int
    /// Busy answers (503 from a node at its limit) the cameras waited out on the dock, and the seconds.
    public var busyAnswers: Int
    public var busySeconds: Int
    public var problems: [String: Int]
    public var check: FleetCheck

    public init(run: FleetRun, shiftWallSeconds: Double, check: FleetCheck) {
        let results = run.results
        cameras = results.count
        officers = run.config.plan.officers.count
        nodes = run.config.records
        shiftSeconds = run.config.shiftSeconds
        recordings = results.reduce(0) { $0 + $1.manifests.count }
        bytesRecorded = results.reduce(0) { $0 + $1.bytesRecorded }
        self.shiftWallSeconds = shiftWallSeconds
        let firstDock = results.compactMap(\.firstDock).min()
        let lastReceipt = results.flatMap { $0.receipts.values }.max()
        stormSeconds = firstDock.flatMap { f in lastReceipt.map { max(0, $0 - f) } } ?? 0
        receipts = results.reduce(0) { $0 + $1.receipts.count }
        bytesDelivered = results.reduce(0) { sum, r in sum + r.receipts.keys.reduce(0) { $0 + (r.recordingBytes[$1] ?? 0) } }
        latencies = results.flatMap { r in r.firstDock.map { d in r.receipts.values.map { max(0, $0 - d) } } ?? [] }.sorted()
        redocks = results.reduce(0) { $0 + max(0, $1.dockAttempts.count - 1) }
        busyAnswers = results.reduce(0) { $0 + $1.busyAnswers }
        busySeconds = results.reduce(0) { $0 + $1.busySeconds }
        var p: [String: Int] = [:]
        for r in results { for line in r.problems { p[Self.kind(line), default: 0] += 1 } }
        problems = p
        self.check = check
    }

    /// A problem line without what varies from camera to camera (ids, numbers), to count alike ones together.
    static func kind(_ line: String) -> String {
        let cut = line.prefix(160)
        return String(cut.map { $0.isNumber ? "#" : $0 }).replacingOccurrences(of: "##", with: "#")
    }

    /// The q-quantile (nearest rank) of sorted values; 0 when there are none.
    public static func quantile(_ sorted: [Double], _ q: Double) -> Double {
        guard !sorted.isEmpty else { return 0 }
        let rank = Int((q * Double(sorted.count)).rounded(.up))
        return sorted[min(sorted.count - 1, max(0, rank - 1))]
    }

    public var throughput: Double { stormSeconds > 0 ? Double(bytesDelivered) / stormSeconds : 0 }

    public var text: String {
        func mb(_ b: Int) -> String { String(format: "%.1f MB", Double(b) / 1e6) }
        var lines = [
            "fleet: \(cameras) cameras, \(officers) officers, a \(shiftSeconds / 3600)h\(shiftSeconds % 3600 / 60)m shift, \(nodes.count) records node(s): \(nodes.joined(separator: ", "))",
            "shift: \(recordings) recordings, \(mb(bytesRecorded)) recorded, simulated in \(String(format: "%.1f", shiftWallSeconds)) s",
            "dock storm: \(receipts) receipts, \(mb(bytesDelivered)) delivered in \(String(format: "%.1f", stormSeconds)) s (\(String(format: "%.1f", throughput / 1e6)) MB/s), \(redocks) re-dock(s), \(busyAnswers) busy answer(s) waited out (\(busySeconds) s)",
            "dock-to-receipt: p50 \(String(format: "%.2f", Self.quantile(latencies, 0.5))) s, p99 \(String(format: "%.2f", Self.quantile(latencies, 0.99))) s, max \(String(format: "%.2f", latencies.last ?? 0)) s",
        ]
        if problems.isEmpty { lines.append("refusals and errors: none") } else {
            lines.append("refusals and errors (\(problems.values.reduce(0, +))):")
            for (k, n) in problems.sorted(by: { $0.value > $1.value }) { lines.append("  \(n) × \(k)") }
        }
        let c = check
        lines.append("cross-check: \(c.catalogued) of \(c.expected) recordings catalogued" + (c.passed ? ", each once, with its manifest and officer; nothing deleted without a receipt: PASS" : ": FAIL"))
        for (label, list) in [("missing", c.missing), ("duplicated", c.duplicated), ("not made by these cameras", c.unexpected),
                              ("other manifest", c.wrongManifest), ("other officer", c.wrongOfficer), ("left on the camera", c.leftOnCamera),
                              ("deleted without a receipt", c.deletedWithoutReceipt), ("unreadable audit trail", c.unreadableTrails)] where !list.isEmpty {
            lines.append("  \(label) (\(list.count)): " + list.prefix(10).joined(separator: ", ") + (list.count > 10 ? ", …" : ""))
        }
        return lines.joined(separator: "\n")
    }

    public var json: String {
        let c = check
        let object: [String: Any] = [
            "event": "fleet-report", "cameras": cameras, "officers": officers, "nodes": nodes, "shift_s": shiftSeconds,
            "recordings": recordings, "bytes_recorded": bytesRecorded, "shift_wall_s": shiftWallSeconds,
            "storm_s": stormSeconds, "receipts": receipts, "bytes_delivered": bytesDelivered, "ingest_bytes_per_s": throughput,
            "latency_s": ["p50": Self.quantile(latencies, 0.5), "p99": Self.quantile(latencies, 0.99), "max": latencies.last ?? 0],
            "redocks": redocks, "busy_answers": busyAnswers, "busy_wait_s": busySeconds, "problems": problems,
            "check": ["passed": c.passed, "expected": c.expected, "catalogued": c.catalogued, "missing": c.missing, "duplicated": c.duplicated,
                      "unexpected": c.unexpected, "wrong_manifest": c.wrongManifest, "wrong_officer": c.wrongOfficer,
                      "left_on_camera": c.leftOnCamera, "deleted_without_receipt": c.deletedWithoutReceipt, "unreadable_trails": c.unreadableTrails],
        ]
        guard let data = try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys]) else { return "{}" }
        return String(decoding: data, as: UTF8.self)
    }
}
