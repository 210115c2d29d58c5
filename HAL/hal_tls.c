// HAL: TLS client for the dock link (see hal_tls.h).
#include "hal_tls.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <arpa/inet.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

struct hal_tls_client {
    SSL_CTX *ctx;
};

struct hal_tls_conn {
    SSL *ssl;
    char err[256];
};

// The reason for the first error on OpenSSL's (thread-local) queue, or `fallback`.
static void openssl_reason(char *err, size_t errlen, const char *what, const char *fallback) {
    unsigned long e = ERR_peek_last_error();
    char reason[200];
    if (e != 0) {
        ERR_error_string_n(e, reason, sizeof reason);
    } else {
        snprintf(reason, sizeof reason, "%s", fallback);
    }
    snprintf(err, errlen, "%s: %s", what, reason);
    ERR_clear_error();
}

hal_tls_client *hal_tls_client_new(const char *ca_file, char *err, size_t errlen) {
    ERR_clear_error();
    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
    if (!ctx) {
        openssl_reason(err, errlen, "TLS", "cannot create a context");
        return NULL;
    }
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
    // A service that drops the connection without close_notify is a closed connection, not a failure:
    // the HTTP layer knows from Content-Length whether an answer was whole.
    SSL_CTX_set_options(ctx, SSL_OP_IGNORE_UNEXPECTED_EOF);
    // A service asking to renegotiate (TLS 1.2) is refused: the session is the one whose certificate was
    // checked at the handshake, and nothing on the dock link needs another.
    SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION);
    // Writes return what fitted (the Swift side loops and polls), from wherever its buffer now is.
    SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
    int ok = ca_file ? SSL_CTX_load_verify_locations(ctx, ca_file, NULL) : SSL_CTX_set_default_verify_paths(ctx);
    if (ok != 1) {
        openssl_reason(err, errlen, ca_file ? ca_file : "system certificate store", "cannot load the CA certificates");
        SSL_CTX_free(ctx);
        return NULL;
    }
    hal_tls_client *client = calloc(1, sizeof *client);
    if (!client) {
        SSL_CTX_free(ctx);
        snprintf(err, errlen, "TLS: out of memory");
        return NULL;
    }
    client->ctx = ctx;
    return client;
}

void hal_tls_client_free(hal_tls_client *client) {
    if (!client) return;
    SSL_CTX_free(client->ctx);
    free(client);
}

static int is_ip_address(const char *host) {
    unsigned char buf[16];
    return inet_pton(AF_INET, host, buf) == 1 || inet_pton(AF_INET6, host, buf) == 1;
}

hal_tls_conn *hal_tls_conn_new(hal_tls_client *client, int fd, const char *host, char *err, size_t errlen) {
    ERR_clear_error();
    hal_tls_conn *conn = calloc(1, sizeof *conn);
    if (!conn) {
        snprintf(err, errlen, "TLS: out of memory");
        return NULL;
    }
    conn->ssl = SSL_new(client->ctx);
    int ok = conn->ssl && SSL_set_fd(conn->ssl, fd) == 1;
    if (ok && is_ip_address(host)) {
        ok = X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(conn->ssl), host) == 1;
    } else if (ok) {
        // Wildcards only in the leftmost label, never partial ("*.example", not "r*.example"); the name only
        // from the certificate's DNS names, never from its subject's CN (which OpenSSL falls back to when
        // there are none).
        SSL_set_hostflags(conn->ssl, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS | X509_CHECK_FLAG_NEVER_CHECK_SUBJECT);
        ok = SSL_set1_host(conn->ssl, host) == 1 && SSL_set_tlsext_host_name(conn->ssl, host) == 1;
    }
    if (!ok) {
        openssl_reason(err, errlen, "TLS", "cannot set up the session");
        hal_tls_conn_free(conn);
        return NULL;
    }
    return conn;
}

void hal_tls_conn_free(hal_tls_conn *conn) {
    if (!conn) return;
    SSL_free(conn->ssl);
    free(conn);
}

const char *hal_tls_error(const hal_tls_conn *conn) { return conn->err; }

// Maps the result of an SSL_* call to HAL_TLS_*, keeping the reason of a failure.
static long outcome(hal_tls_conn *conn, int ret, const char *what) {
    int e = SSL_get_error(conn->ssl, ret);
    switch (e) {
    case SSL_ERROR_WANT_READ: return HAL_TLS_WANT_READ;
    case SSL_ERROR_WANT_WRITE: return HAL_TLS_WANT_WRITE;
    case SSL_ERROR_ZERO_RETURN: return HAL_TLS_CLOSED;
    case SSL_ERROR_SYSCALL:
        if (errno == 0 || ERR_peek_last_error() != 0) {
            // SSL_OP_IGNORE_UNEXPECTED_EOF makes a bare EOF a clean close; anything else here is a failure.
            openssl_reason(conn->err, sizeof conn->err, what, "connection closed");
        } else {
            snprintf(conn->err, sizeof conn->err, "%s: %s", what, strerror(errno));
        }
        return HAL_TLS_FAILED;
    default: {
        long verify = SSL_get_verify_result(conn->ssl);
        if (verify != X509_V_OK) {
            snprintf(conn->err, sizeof conn->err, "%s: the service's certificate is not trusted (%s)", what,
                     X509_verify_cert_error_string(verify));
            ERR_clear_error();
        } else {
            openssl_reason(conn->err, sizeof conn->err, what, "protocol error");
        }
        return HAL_TLS_FAILED;
    }
    }
}

// OpenSSL writes to the socket with write(2), which raises SIGPIPE on a connection the peer reset; the
// camera must see EPIPE instead, whatever the process's signal handling. Not only SSL_write writes: the
// handshake sends its flights, and a read sends alerts (a refused renegotiation, a bad record). SIGPIPE
// is blocked around each call on this thread and a pending one taken away, so it is never delivered.
// pipe_block returns whether one was already pending (and is then left alone).
static int pipe_block(sigset_t *old) {
    sigset_t pipe_set, pending;
    sigemptyset(&pipe_set);
    sigaddset(&pipe_set, SIGPIPE);
    sigemptyset(&pending);
    sigpending(&pending);
    int was_pending = sigismember(&pending, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &pipe_set, old);
    return was_pending;
}

static void pipe_restore(const sigset_t *old, int was_pending) {
    int saved = errno;
    if (!was_pending) {
        sigset_t pipe_set, pending;
        sigemptyset(&pipe_set);
        sigaddset(&pipe_set, SIGPIPE);
        sigemptyset(&pending);
        struct timespec zero = {0, 0};
        sigpending(&pending);
        if (sigismember(&pending, SIGPIPE)) sigtimedwait(&pipe_set, NULL, &zero);
    }
    pthread_sigmask(SIG_SETMASK, old, NULL);
    errno = saved;
}

int hal_tls_handshake(hal_tls_conn *conn) {
    conn->err[0] = 0;
    ERR_clear_error();
    sigset_t old;
    int was_pending = pipe_block(&old);
    errno = 0;
    int r = SSL_connect(conn->ssl);
    pipe_restore(&old, was_pending);
    if (r == 1) return HAL_TLS_DONE;
    long o = outcome(conn, r, "TLS handshake");
    if (o == HAL_TLS_CLOSED) {
        snprintf(conn->err, sizeof conn->err, "TLS handshake: the service closed the connection");
        return HAL_TLS_FAILED;
    }
    return (int)o;
}

// One SSL_read_ex or SSL_write_ex, SIGPIPE held off: bytes moved, or a HAL_TLS_* result.
static long transfer(hal_tls_conn *conn, void *buf, size_t len, int writing) {
    conn->err[0] = 0;
    ERR_clear_error();
    sigset_t old;
    int was_pending = pipe_block(&old);
    errno = 0;
    size_t n = 0;
    int r = writing ? SSL_write_ex(conn->ssl, buf, len, &n) : SSL_read_ex(conn->ssl, buf, len, &n);
    pipe_restore(&old, was_pending);
    if (r == 1) return (long)n;
    return outcome(conn, r, writing ? "TLS write" : "TLS read");
}

long hal_tls_read(hal_tls_conn *conn, void *buf, size_t len) { return transfer(conn, buf, len, 0); }

long hal_tls_write(hal_tls_conn *conn, const void *buf, size_t len) { return transfer(conn, (void *)buf, len, 1); }
