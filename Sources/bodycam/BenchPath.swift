import ArgumentParser
import BodycamCore
import BodycamEvidence

struct BenchPath: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench-path",
        abstract: "Measure the frame path's own cost per frame (stamp, ring, hand-off), without encoding, hashing or I/O.",
        shouldDisplay: false)

    @Option(help: "Frames to push through.") var frames = 2_000_000

    func run() throws {
        _ = PathOverhead.nanosPerFrame(frames: 100_000) // warm up
        let ns = PathOverhead.nanosPerFrame(frames: frames)
        print(JSON.object([("frames", .int(Int64(frames))), ("ns_per_frame", .double((ns * 10).rounded() / 10))]).serialized)
    }
}
