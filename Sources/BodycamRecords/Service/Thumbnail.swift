import BodycamEvidence

extension RecordsService {
    /// The largest thumbnail (one JPEG frame) read: far above any frame the camera writes.
    public static let maxThumbnailBytes = 8 << 20

    /// The first frame of a recording's first segment: already a JPEG (the camera's AVI is MJPEG). Reads
    /// only the AVI header and that one frame, never the whole segment. Blocking.
    public func thumbnail(_ r: RecordingRecord) throws -> [UInt8] {
        let manifest: RecordingManifest
        do { manifest = try RecordingManifest.parse(try blobs.readBlob(r.manifestSHA256, limit: RecordingManifest.maxFileBytes)) } catch {
            throw Refusal(.failure, "\(r.recordingID): its manifest cannot be read: \(error)")
        }
        guard let first = manifest.segments.first else { throw Refusal(.notFound, "\(r.recordingID) has no segments") }
        let file = try blobs.openBlob(first.sha256)
        defer { file.close() }
        let size = file.size
        func read(_ count: Int, at offset: Int) throws -> [UInt8] {
            guard count >= 0, offset >= 0, offset <= size - count else { throw Refusal(.failure, "\(first.file): shorter than its AVI header says") }
            do { return try file.read(exactly: count, at: offset) } catch {
                throw Refusal(.failure, "\(first.file): shorter than its AVI header says (\(error))")
            }
        }
        // The header (up to where 'movi' starts), then the frame chunks one by one to the first non-empty
        // one (an empty '00dc' is a dropped-frame placeholder).
        let header: AVIReader
        do { header = try AVIReader(header: try read(min(size, 64 << 10), at: 0)) } catch let e as AVIReader.Failure {
            throw Refusal(.failure, "\(first.file): \(e)")
        }
        let moviEnd = min(size, header.moviListOffset + 8 + header.moviListSize)
        var pos = header.moviListOffset + 12
        for _ in 0..<10_000 where pos + 8 <= moviEnd {
            let chunk = try read(8, at: pos)
            let chunkSize = Int(chunk[4]) | Int(chunk[5]) << 8 | Int(chunk[6]) << 16 | Int(chunk[7]) << 24
            if chunk[0...3].elementsEqual("00dc".utf8), chunkSize > 0 {
                guard chunkSize <= Self.maxThumbnailBytes, pos + 8 + chunkSize <= moviEnd else {
                    throw Refusal(.failure, "\(first.file): the first frame is larger than \(Self.maxThumbnailBytes) bytes or runs past 'movi'")
                }
                let jpeg = try read(chunkSize, at: pos + 8)
                guard jpeg.starts(with: [0xFF, 0xD8]) else { throw Refusal(.failure, "\(first.file): the first frame is not a JPEG") }
                return jpeg
            }
            pos += 8 + chunkSize + (chunkSize & 1)
        }
        throw Refusal(.notFound, "\(first.file) holds no frame")
    }
}
