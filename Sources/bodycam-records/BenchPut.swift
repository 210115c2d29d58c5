import ArgumentParser
import BodycamEvidence
import BodycamRecords
import Dispatch
import Foundation
import Synchronization

/// `bench-put` (hidden; `make bench-scale`): the blob store's commit path on given files, timed. Each file is
/// first staged as an upload (not timed, as a camera's chunks would have been), then committed (timed):
/// for S3 that is the store's own upload, SigV4 with every payload's SHA-256 signed, multipart above the
/// part size, Object Lock headers. `--parallel` files at once.
struct BenchPut: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench-put",
        abstract: "Time the blob store's commit of the given files (for make bench-scale).",
        shouldDisplay: false)

    @OptionGroup var data: DataOption
    @Option(help: "Files committed at once.") var parallel = 1
    @Flag(help: "One JSON object.") var json = false
    @Argument(help: "Files to store.") var files: [String]

    func run() throws {
        guard (1...64).contains(parallel), !files.isEmpty, files.count <= 999 else { fail("--parallel 1-64 and 1-999 files") }
        let service = data.open()
        let blobs = service.blobs
        // A name per file, in a recording folder of a bench device; a fresh recording number each run.
        let run = Int(UInt32.random(in: 1...999_999))
        var staged: [(UploadName, String, Int)] = []
        for (i, path) in files.enumerated() {
            let id = EvidenceNames.RecordingID(deviceID: "BENCH-PUT", number: run)
            let file = "20260101T080000.000Z_\(id.text)_\(String(format: "%03d", i + 1)).avi"
            guard let name = UploadName(device: "BENCH-PUT", folder: id.text, file: file) else { fail("cannot name \(file)") }
            guard let handle = FileHandle(forReadingAtPath: path) else { fail("\(path): cannot be read") }
            var offset = 0
            while true {
                let chunk = handle.readData(ofLength: RecordsWire.maxChunkBytes)
                if chunk.isEmpty { break }
                let result = administer { try blobs.appendPartial(name, at: offset, Array(chunk)) }
                guard case .appended(let size) = result else { fail("\(path): staging went wrong at \(offset)") }
                offset = size
            }
            let hashed = administer { try blobs.hashPartial(name) }
            // A blob the store holds already would be a HEAD, not an upload: the figure would be meaningless.
            guard !blobs.hasBlob(hashed.sha256) else { fail("\(path): the store holds these bytes already; bench with new ones") }
            staged.append((name, hashed.sha256, hashed.bytes))
        }
        let jobs = staged
        let next = Mutex(0)
        let failure = Mutex<String?>(nil)
        let group = DispatchGroup()
        let start = DispatchTime.now().uptimeNanoseconds
        for _ in 0..<min(parallel, staged.count) {
            group.enter()
            Thread {
                defer { group.leave() }
                while true {
                    let i = next.withLock { n -> Int in defer { n += 1 }; return n }
                    guard i < jobs.count else { return }
                    do { try blobs.commitPartial(jobs[i].0, sha256: jobs[i].1) } catch {
                        failure.withLock { $0 = "\(jobs[i].0.file): \(error)" }
                        return
                    }
                }
            }.start()
        }
        group.wait()
        let seconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
        if let f = failure.withLock({ $0 }) { fail(f) }
        let bytes = staged.reduce(0) { $0 + $1.2 }
        if json {
            emit(JSON.object([("files", .int(Int64(staged.count))), ("bytes", .int(Int64(bytes))), ("seconds", .double(seconds)),
                              ("parallel", .int(Int64(parallel)))]).serialized)
        } else {
            emit("committed \(staged.count) file(s), \(bytes) bytes in \(String(format: "%.2f", seconds)) s (\(String(format: "%.1f", Double(bytes) / seconds / 1e6)) MB/s)")
        }
    }
}
