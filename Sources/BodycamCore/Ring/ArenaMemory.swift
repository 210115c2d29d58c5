import BodycamEvidence
#if canImport(Glibc)
import Glibc
#endif

/// Memory for a large fixed buffer (the pre-record arena), mapped once at start-up and touched at once, so
/// it is really resident from boot and resident size never creeps up later. Asked for in transparent huge
/// pages where the kernel allows it (`madvise` mode is the common default): the default 295 MiB arena
/// then costs about 150 page faults at boot instead of 75,000.
public enum ArenaMemory {
    static func map(bytes: Int) -> UnsafeMutableRawBufferPointer {
        guard let p = mmap(nil, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0), p != MAP_FAILED else {
            fatalError("cannot map \(bytes) bytes for the arena: errno \(errno)")
        }
        _ = madvise(p, bytes, MADV_HUGEPAGE) // advice only: small pages work too
        let buffer = UnsafeMutableRawBufferPointer(start: p, count: bytes)
        buffer.initializeMemory(as: UInt8.self, repeating: 0)
        return buffer
    }

    /// This machine's memory, in bytes.
    public static var physicalMemory: Int { sysconf(Int32(_SC_PHYS_PAGES)) * sysconf(Int32(_SC_PAGESIZE)) }

    static func unmap(_ buffer: UnsafeMutableRawBufferPointer) {
        munmap(buffer.baseAddress, buffer.count)
    }
}
