import ArgumentParser
import BodycamCore
import BodycamEvidence

struct Inspect: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Print what AVI segments hold: header, frame count and the per-frame stamps (JSON).",
        discussion: "One JSON line per file, in order. A file that cannot be read gets a line on stderr instead, and the exit status is then 1 (the other files are still printed).")

    @Argument(help: "The .avi segments written by bodycam.") var paths: [String]
    @Flag(help: "List every frame's stamp, not only the first and last.") var frames = false

    func run() throws {
        var failed = false
        for path in paths {
            do { print(try Self.describe(path: path, frames: frames).serialized) } catch {
                diagnostic("\(path): \(error)")
                failed = true
            }
        }
        if failed { throw ExitCode(1) }
    }

    /// One file's JSON line.
    static func describe(path: String, frames: Bool) throws -> JSON {
        let avi = try AVIReader.read(path: path)
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
        return JSON.object(fields)
    }
}
