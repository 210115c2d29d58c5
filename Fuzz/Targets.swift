// Coverage-guided fuzz targets (libFuzzer), built and run by `make fuzz` (see Fuzz/run.sh). One binary
// holds every target; BODYCAM_FUZZ_TARGET picks one. Adding a target is one line in `targets` and its
// name in the Makefile's list. A target traps (precondition) when a property fails, so libFuzzer saves
// the input as a crash, like any other trap it finds.
#if canImport(Glibc)
import Glibc
#endif
import BodycamCore
import BodycamEvidence
import Crypto

let targets: [String: (UnsafeRawBufferPointer) -> Void] = [
    "avi-reader": fuzzAVIReader,
    "avi-repair": fuzzAVIRepair,
    "frame-stamp": fuzzFrameStamp,
    "utc": fuzzUTC,
    "script-line": fuzzScriptLines,
    "manifest": fuzzManifest,
    "audit-trail": fuzzAuditTrail,
    "evidence-files": fuzzEvidenceFiles,
    "records-wire": fuzzRecordsWire,
]

/// Any bytes as what crosses the dock link or sits in a court bundle: request signature headers, file
/// paths, service statements, custody lines, bundle indexes, enrolment files and JSON bodies. The bytes
/// are also signed with a fuzz key before checking, so the parsers behind the signature checks are
/// reached: whatever they accept writes back to exactly those bytes.
func fuzzRecordsWire(_ data: UnsafeRawBufferPointer) {
    let bytes = Array(data)
    let text = String(decoding: bytes, as: UTF8.self)
    if let r = RequestSignature.parse(text) { precondition(r.header == text, "request signature does not round-trip") }
    if let p = RecordsWire.parseFilePath(Substring(text)) {
        precondition(RecordsWire.filePath(device: p.device, folder: p.folder, file: p.file) == text, "file path does not round-trip")
    }
    _ = RecordsWire.decode(RecordsWire.EnrolResponse.self, bytes)
    _ = RecordsWire.decode(RecordsWire.FileStatus.self, bytes)
    // As a line signed by the fuzz key (the body is everything but a closing brace).
    let line = bytes + AuditTrail.signatureField(FuzzFiles.sign(bytes)) + [10]
    if let s = try? ServiceStatement.verify(line, key: FuzzFiles.signingKey) {
        precondition(s.signed(FuzzFiles.sign) == line, "statement does not round-trip")
    }
    if let c = try? CustodyEntry.parse(line.dropLast()) {
        precondition(c.entry.line(FuzzFiles.sign) == Array(line.dropLast()), "custody entry does not round-trip")
    }
    _ = try? CustodyLog.check(bytes: bytes, key: FuzzFiles.key)
    if let b = try? CourtBundleIndex.parse(line) { precondition(b.index.signed(FuzzFiles.sign) == line, "bundle index does not round-trip") }
    _ = try? CourtBundleIndex.parse(bytes)
    if let info = try? DeviceInfo.parse(Array(#"{"device_id":"BWV-1","public_key":"\#(FuzzFiles.signingKey.hex)","algorithm":"Ed25519","created_utc":"2026-01-01T00:00:00.000Z"}"#.utf8) + [10]) {
        _ = try? RecordsEnrolment.parse(bytes, device: info)
        _ = try? RecordsEnrolment.parse(Array("RECORDS ed25519 \(FuzzFiles.signingKey.hex)\n".utf8) + line, device: info)
    }
}

/// Any bytes as a manifest: whatever parses writes back to exactly those bytes (the format's one owner
/// accepts only what it would have written), and its names are evidence names of its own recording.
func fuzzManifest(_ data: UnsafeRawBufferPointer) {
    let bytes = Array(data)
    guard let m = try? RecordingManifest.parse(bytes) else { return }
    precondition(m.bytes == bytes, "manifest does not round-trip")
    for s in m.segments {
        guard case .segment(let name)? = Optional(EvidenceNames.kind(of: s.file)) else { preconditionFailure("bad name \(s.file)") }
        precondition(name.recording.text == m.recordingID && !s.file.contains("/"))
    }
}

/// Any bytes as an audit trail (and as its head): parse, facts, time order, signatures against a key.
func fuzzAuditTrail(_ data: UnsafeRawBufferPointer) {
    let bytes = Array(data)
    _ = try? AuditHead.parse(bytes)
    guard let trail = try? AuditTrail.parse(bytes) else { return }
    precondition(trail.byteCount == bytes.count)
    _ = trail.facts()
    _ = try? trail.checkTimeOrder()
    _ = try? trail.checkCheckpoints(key: FuzzFiles.key)
    _ = try? trail.checkEntrySignatures(key: FuzzFiles.key)
}

/// Any bytes as each of the small evidence files: device.json, trusted keys, counters, a signature, a name.
func fuzzEvidenceFiles(_ data: UnsafeRawBufferPointer) {
    let bytes = Array(data)
    if let info = try? DeviceInfo.parse(bytes) { precondition(info.bytes == bytes) }
    _ = try? TrustedKeys.parse(bytes)
    if let c = try? DeviceCounters.parse(bytes) { precondition(c.bytes == bytes) }
    if let s = Signature(fileBytes: bytes) { precondition(s.fileBytes == bytes) }
    let name = String(decoding: bytes, as: UTF8.self)
    switch EvidenceNames.kind(of: name) {
    case .segment(let s): precondition(s.fileName == name)
    case .unfinishedSegment(let s): precondition(s.unfinishedName == name)
    case .manifest(let id): precondition(EvidenceNames.manifestName(id) == name)
    case .signature(let id): precondition(EvidenceNames.signatureName(id) == name)
    case .spaceReserve, .unknown: break
    }
}

/// Any bytes as a segment: read, then the stamp of every frame.
func fuzzAVIReader(_ data: UnsafeRawBufferPointer) {
    guard let avi = try? AVIReader(bytes: Array(data)) else { return }
    precondition(avi.frames.count + avi.emptyChunks.count == avi.timelineEntries)
    for i in avi.frames.indices { _ = avi.stamp(i) }
}

/// Any bytes as a `.avi.part` left by a power cut: whatever repair keeps must read back as a segment
/// with that many frames, and a second repair must find it complete.
func fuzzAVIRepair(_ data: UnsafeRawBufferPointer) {
    let path = FuzzFiles.write(data, suffix: ".avi.part")
    guard let outcome = try? AVIRepair.finish(path: path) else { return }
    switch outcome {
    case .complete(let n), .rebuilt(let n):
        guard let avi = try? AVIReader.read(path: path) else { preconditionFailure("repaired file unreadable: \(outcome)") }
        precondition(avi.frames.count == n, "repair said \(outcome), reader found \(avi.frames.count)")
        precondition((try? AVIRepair.finish(path: path)) == .complete(frames: n), "second repair differs")
    case .empty: break
    }
}

/// Any bytes as a COM payload; whatever parses writes back to the same bytes (fixed width).
func fuzzFrameStamp(_ data: UnsafeRawBufferPointer) {
    guard let s = FrameStamp.parse(data) else { return }
    let id = Array(s.deviceID.utf8)
    let officer = Array((s.officer ?? "").utf8)
    let text = ASCIIWriter.string(capacity: FrameStamp.capacity) { w in
        id.withUnsafeBytes { i in
            officer.withUnsafeBytes { o in
                FrameStamp.write(deviceID: i, sequence: s.sequence, sourceSequence: s.sourceSequence, utc: s.utc, mono: s.mono,
                                 officer: o, to: &w)
            }
        }
    }
    precondition(Array(text.utf8) == Array(data), "stamp does not round-trip: \(text)")
}

/// Any text as a date (both forms round-trip), and any 8 bytes as an instant to format.
func fuzzUTC(_ data: UnsafeRawBufferPointer) {
    let text = String(decoding: data, as: UTF8.self)
    if let n = UTC.parse(text) {
        precondition(n >= UTC.earliest && n <= UTC.latest)
        precondition(UTC.parse(UTC.iso(n)) == n)
    }
    if let n = UTC.parseCompact(text) { precondition(UTC.compact(n) == text) }
    if data.count >= 8 {
        let n = Int64(bitPattern: data.loadUnaligned(as: UInt64.self))
        _ = UTC.civil(n)
        precondition(UTC.iso(n).utf8.count == 24 && UTC.compact(n).utf8.count == 20)
    }
}

/// Any bytes as a script: split by LineReader (from a file, with a small and the default line limit),
/// each line through the parser, and the whole input as one line.
func fuzzScriptLines(_ data: UnsafeRawBufferPointer) {
    _ = ScriptParser.parse(String(decoding: data, as: UTF8.self))
    let path = FuzzFiles.write(data, suffix: ".script")
    for maxLine in [7, ScriptParser.maxLineBytes] {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        precondition(fd >= 0)
        defer { close(fd) }
        let reader = LineReader(fd: fd, maxLine: maxLine)
        var last = 0
        reading: while true {
            switch reader.next(timeout: nil) {
            case .line(let text, let number):
                precondition(number == last + 1); last = number
                _ = ScriptParser.parse(text)
            case .tooLong(let number): precondition(number == last + 1); last = number
            case .endOfInput: break reading
            case .nothingYet: preconditionFailure("a file never waits")
            }
        }
    }
}

/// One scratch file per suffix and process, rewritten for every input.
enum FuzzFiles {
    /// The key the seed recordings were signed with (BODYCAM_FUZZ_KEY, set by run.sh), so that mutated
    /// trails reach the signature checks; any valid key otherwise.
    static let key: PublicKey = getenv("BODYCAM_FUZZ_KEY").flatMap { PublicKey(hex: String(cString: $0)) }
        ?? PublicKey(hex: "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a")!

    /// A fixed key the fuzz target signs with, so inputs reach the parsers behind signature checks.
    static let privateKey = try! Curve25519.Signing.PrivateKey(rawRepresentation: [UInt8](repeating: 7, count: 32))
    static let signingKey = PublicKey(raw: Array(privateKey.publicKey.rawRepresentation))
    static func sign(_ bytes: [UInt8]) -> Signature { Signature(raw: Array(try! privateKey.signature(for: bytes))) }

    nonisolated(unsafe) static var paths: [String: String] = [:]
    static func write(_ data: UnsafeRawBufferPointer, suffix: String) -> String {
        let path = paths[suffix] ?? {
            let dir = getenv("TMPDIR").map { String(cString: $0) } ?? "/tmp"
            let p = "\(dir)/bodycam-fuzz-\(getpid())\(suffix)"
            paths[suffix] = p
            return p
        }()
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        precondition(fd >= 0, "cannot write \(path)")
        var done = 0
        while done < data.count {
            let n = Glibc.write(fd, data.baseAddress! + done, data.count - done)
            precondition(n > 0, "cannot write \(path)")
            done += n
        }
        close(fd)
        return path
    }
}

nonisolated(unsafe) let selected: (UnsafeRawBufferPointer) -> Void = {
    let name = getenv("BODYCAM_FUZZ_TARGET").map { String(cString: $0) } ?? ""
    guard let t = targets[name] else {
        fputs("BODYCAM_FUZZ_TARGET must be one of: \(targets.keys.sorted().joined(separator: " "))\n", stderr)
        exit(2)
    }
    return t
}()

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    selected(UnsafeRawBufferPointer(start: data, count: size))
    return 0
}
