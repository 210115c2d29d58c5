/// A `--catalog` or `--blobs` location that cannot be used: named, with the reason, in one line.
public struct StoreLocationError: Error, CustomStringConvertible, Sendable {
    public var description: String
    public init(_ description: String) { self.description = description }
}
