import CHAL

/// What the camera trusts on an `https://` dock link: the CA certificates of a PEM file (the force's own
/// CA, provisioned with the camera: `--records-ca`), or the system's store. Loaded once, when the camera
/// starts, so a missing or damaged file is an error at start-up rather than at the first dock.
public final class TLSTrust: @unchecked Sendable {
    // Immutable after init; OpenSSL's SSL_CTX may be shared by sessions on any thread.
    let client: OpaquePointer

    public init(caFile: String?) throws(HTTPClient.Failure) {
        var err = [CChar](repeating: 0, count: 256)
        guard let c = hal_tls_client_new(caFile, &err, err.count) else {
            throw HTTPClient.Failure(String(decoding: err.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self))
        }
        client = c
    }

    deinit { hal_tls_client_free(client) }
}
