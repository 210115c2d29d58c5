import ArgumentParser
import BodycamCore
import BodycamEvidence

struct Inspect: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Print what an AVI segment holds: header, frame count and the per-frame stamps (JSON).")

    @Argument(help: "An .avi segment written by bodycam.") var path: String
    @Flag(help: "List every frame's stamp, not only the first and last.") var frames = false

    func run() throws {
        let avi: AVIReader
        do { avi = try AVIReader.read(path: path) } catch {
            diagnostic("\(path): \(error)")
            throw ExitCode(1)
        }
        func stampJSON(_ i: Int) -> JSON {
            guard let s = avi.stamp(i) else { return .null }
            return .object([("seq", .int(Int64(s.sequence))), ("src", .int(Int64(s.sourceSequence))), ("utc", .string(UTC.iso(s.utc))),
                            ("mono", .double(Double(s.mono) / 1e9)), ("device", .string(s.deviceID)),
                            ("bytes", .int(Int64(avi.frames[i].count)))])
        }
        var fields: [(String, JSON)] = [
            ("path", .string(path)), ("width", .int(Int64(avi.width))), ("height", .int(Int64(avi.height))),
            ("fps", .int(Int64(avi.fps))), ("frames", .int(Int64(avi.frames.count))),
            ("empty_chunks", .int(Int64(avi.emptyChunks.count))), ("header_frames", .int(Int64(avi.headerFrames))),
            ("index_entries", .int(Int64(avi.indexEntries))),
        ]
        if !avi.frames.isEmpty {
            fields.append(("first", stampJSON(0)))
            fields.append(("last", stampJSON(avi.frames.count - 1)))
        }
        if frames { fields.append(("stamps", .array(avi.frames.indices.map(stampJSON)))) }
        print(JSON.object(fields).serialized)
    }
}
