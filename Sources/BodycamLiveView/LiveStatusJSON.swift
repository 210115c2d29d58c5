import BodycamCore
import BodycamEvidence

/// The status a person sees, as one JSON object (`GET /status.json`, and `live-status` lines on the event
/// stream): the runtime's `LiveStatus` plus the live view's own counters.
enum LiveStatusJSON {
    static func object(_ s: LiveStatus, tap: LiveFrameTap) -> JSON {
        var fields: [(String, JSON)] = [
            ("event", .string("live-status")),
            ("t", .double(Double(s.mono / Nanos.perMillisecond) / 1000)),
            ("utc", .string(UTC.iso(s.utcMillis * 1_000_000))),
            ("state", .string(s.state.rawValue)),
            ("led", .string(s.led.rawValue)),
            ("stealth", .bool(s.stealth)),
            ("battery", .int(Int64(s.battery))),
            ("charging", .bool(s.charging)),
            ("recording_id", s.recordingID.map { .string($0) } ?? .null),
            ("recording_s", s.recordingNanos.map { .double(Double($0 / Nanos.perMillisecond) / 1000) } ?? .null),
            ("markers", .int(Int64(s.markers))),
            ("officer", s.officer.map { .string($0) } ?? .null),
            ("camera", .string(s.cameraOK ? "ok" : "lost")),
            ("storage_free", .int(s.storageFree)),
            ("storage_capacity", .int(s.storageCapacity)),
            ("frames_captured", .int(Int64(s.framesCaptured))),
            ("frames_dropped", .int(Int64(s.framesDropped))),
        ]
        if let o = s.offload {
            fields.append(("offload", .object([("bytes_done", .int(Int64(o.bytesDone))), ("bytes_total", .int(Int64(o.bytesTotal))),
                                               ("files_done", .int(Int64(o.filesDone))), ("files_total", .int(Int64(o.filesTotal)))])))
        }
        return .object(fields + tap.fields)
    }
}
