// HAL: TLS client for the dock link, through OpenSSL (libssl).
//
// The camera's HTTP client (Swift) owns the socket, the deadlines and every wait; this layer only runs
// the TLS state machine over a non-blocking socket it is given. Each call does one step and says what it
// needs next (more to read, room to write), so the Swift side polls with its own deadline, exactly as it
// does for plain TCP. Certificates are always checked: the chain against the trusted CA file (or the
// system's store) and the name against the host the camera was told to dock at.
#ifndef HAL_TLS_H
#define HAL_TLS_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct hal_tls_client hal_tls_client; // trust settings, shared by the connections of one target
typedef struct hal_tls_conn hal_tls_conn;     // one TLS session on one socket

// Results of hal_tls_handshake, hal_tls_read and hal_tls_write (read/write return byte counts when > 0).
enum {
    HAL_TLS_DONE = 1,        // handshake complete
    HAL_TLS_CLOSED = 0,      // the peer closed the connection
    HAL_TLS_WANT_READ = -1,  // wait until the socket is readable, then call again
    HAL_TLS_WANT_WRITE = -2, // wait until the socket is writable, then call again
    HAL_TLS_FAILED = -3,     // the session is unusable: hal_tls_error says why
};

// A client that trusts the CA certificates in `ca_file` (PEM), or the system's store when it is NULL.
// TLS 1.2 or later. NULL on failure, with the reason in `err`.
hal_tls_client *hal_tls_client_new(const char *ca_file, char *err, size_t errlen);
void hal_tls_client_free(hal_tls_client *client);

// A session on the connected socket `fd` (not taken over: the caller closes it after hal_tls_conn_free)
// for `host`, a DNS name (sent as SNI, checked against the certificate's names) or an IP address (checked
// against its IP addresses). NULL on failure, with the reason in `err`.
hal_tls_conn *hal_tls_conn_new(hal_tls_client *client, int fd, const char *host, char *err, size_t errlen);
void hal_tls_conn_free(hal_tls_conn *conn);

int hal_tls_handshake(hal_tls_conn *conn);
long hal_tls_read(hal_tls_conn *conn, void *buf, size_t len);
long hal_tls_write(hal_tls_conn *conn, const void *buf, size_t len);

// Why the last call returned HAL_TLS_FAILED (a certificate that is not trusted, a name that does not match,
// a protocol error); empty otherwise. Valid until the next call on `conn`.
const char *hal_tls_error(const hal_tls_conn *conn);

#ifdef __cplusplus
}
#endif

#endif
