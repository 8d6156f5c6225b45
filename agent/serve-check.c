/* SPDX-License-Identifier: Apache-2.0 */
/* serve_check: connect to the datastore on this node, take the leaf it serves, compare with the file. */
#include <arpa/inet.h>
#include <ctype.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <sys/time.h>

#include "secure.h"
#include "serve-check.h"
#include "time-util.h"

#define GREETING_MAX (16 * 1024)   /* a real greeting is under 200 bytes */

DEFINE_TRIVIAL_CLEANUP_FUNC(X509 *, X509_free);
DEFINE_TRIVIAL_CLEANUP_FUNC(BIO *, BIO_free_all);
DEFINE_TRIVIAL_CLEANUP_FUNC(SSL_CTX *, SSL_CTX_free);
DEFINE_TRIVIAL_CLEANUP_FUNC(SSL *, SSL_free);

/* ---- addresses ---- */

static int parse_port(const char *s, uint16_t *ret) {
        unsigned long p;
        char *end;

        if (!isdigit((unsigned char) s[0]))
                return -EINVAL;
        errno = 0;
        p = strtoul(s, &end, 10);
        if (errno != 0 || *end || p == 0 || p > 65535)
                return -EINVAL;
        *ret = (uint16_t) p;
        return 0;
}

static int why_fail(char *why, size_t n, const char *reason) {
        (void) snprintf(why, n, "%s", reason);
        return -EINVAL;
}

int serve_check_parse_address(const char *s, ServeCheckProtocol protocol, ServeCheckAddress *ret, char *why,
                              size_t why_size) {
        ServeCheckAddress a = {};
        char host[64];
        const char *colon;
        uint16_t port;

        if (!s || !*s)
                return why_fail(why, why_size, "must not be empty");
        if (s[0] == '/') {
                if (protocol != SERVE_CHECK_TLS)
                        return why_fail(why, why_size,
                                        "a Unix socket works with protocol \"tls\" only: PostgreSQL and MySQL never "
                                        "negotiate TLS on their Unix sockets");
                if (strlen(s) >= sizeof(a.un.sun_path))
                        return why_fail(why, why_size, "the socket path is too long");
                a.un.sun_family = AF_UNIX;
                strcpy(a.un.sun_path, s);
                a.size = (socklen_t) (offsetof(struct sockaddr_un, sun_path) + strlen(s) + 1);
                *ret = a;
                return 0;
        }

        if (s[0] == '[') {
                const char *close = strchr(s, ']');
                if (!close || close[1] != ':' || (size_t) (close - s - 1) >= sizeof(host))
                        return why_fail(why, why_size, "must be [IPv6]:port");
                memcpy(host, s + 1, close - s - 1);
                host[close - s - 1] = 0;
                colon = close + 1;
        } else {
                colon = strrchr(s, ':');
                if (!colon || (size_t) (colon - s) >= sizeof(host) || colon == s)
                        return why_fail(why, why_size, "must be host:port, [::1]:port or an absolute socket path");
                memcpy(host, s, colon - s);
                host[colon - s] = 0;
        }
        if (parse_port(colon + 1, &port) < 0)
                return why_fail(why, why_size, "the port must be a number from 1 to 65535");

        if (streq(host, "localhost"))
                strcpy(host, "127.0.0.1");
        if (inet_pton(AF_INET, host, &a.in.sin_addr) == 1) {
                if ((ntohl(a.in.sin_addr.s_addr) >> 24) != 127)
                        return why_fail(why, why_size,
                                        "must be a loopback address (127.0.0.0/8, [::1] or localhost): the check "
                                        "asks this node's own datastore");
                a.in.sin_family = AF_INET;
                a.in.sin_port = htons(port);
                a.size = sizeof(a.in);
        } else if (inet_pton(AF_INET6, host, &a.in6.sin6_addr) == 1) {
                if (!IN6_IS_ADDR_LOOPBACK(&a.in6.sin6_addr))
                        return why_fail(why, why_size,
                                        "must be a loopback address (127.0.0.0/8, [::1] or localhost): the check "
                                        "asks this node's own datastore");
                a.in6.sin6_family = AF_INET6;
                a.in6.sin6_port = htons(port);
                a.size = sizeof(a.in6);
        } else
                return why_fail(why, why_size,
                                "the host must be a loopback IP address or localhost (names are not resolved)");
        *ret = a;
        return 0;
}

/* ---- the STARTTLS preambles (outside input: pure, fuzzed) ---- */

int serve_check_postgres_reply(const uint8_t *buf, size_t n) {
        if (n < 1)
                return -EPROTO;
        if (buf[0] == 'S')
                return 1;
        if (buf[0] == 'N')
                return -EPROTONOSUPPORT;
        return -EPROTO;
}

static uint32_t le16(const uint8_t *p) {
        return (uint32_t) p[0] | (uint32_t) p[1] << 8;
}

int serve_check_mysql_greeting(const uint8_t *buf, size_t n, MysqlGreeting *ret) {
        MysqlGreeting g = {};
        const uint8_t *p, *end, *nul;
        size_t len, vlen;

        if (n < 4)
                return -EAGAIN;
        len = (size_t) buf[0] | (size_t) buf[1] << 8 | (size_t) buf[2] << 16;
        if (len == 0 || len > GREETING_MAX)
                return -EPROTO;
        if (n < 4 + len)
                return -EAGAIN;
        g.sequence = buf[3];
        p = buf + 4;
        end = p + len;

        if (p[0] == 0xff)
                return -ECONNREFUSED;
        if (p[0] != 10)
                return -EPROTO;
        p++;
        nul = memchr(p, 0, end - p);
        if (!nul)
                return -EPROTO;
        vlen = MIN((size_t) (nul - p), sizeof(g.version) - 1);
        for (size_t i = 0; i < vlen; i++)
                g.version[i] = (p[i] >= 0x20 && p[i] < 0x7f) ? (char) p[i] : '?';
        p = nul + 1;
        /* connection id (4), auth-plugin-data part 1 (8), filler (1), capabilities, lower half (2) */
        if (end - p < 4 + 8 + 1 + 2)
                return -EPROTO;
        p += 4 + 8 + 1;
        g.capabilities = le16(p);
        p += 2;
        /* character set (1), status (2), capabilities, upper half (2): optional in old servers */
        if (end - p >= 5)
                g.capabilities |= le16(p + 3) << 16;
        if (!(g.capabilities & MYSQL_CLIENT_SSL))
                return -EPROTONOSUPPORT;
        *ret = g;
        return (int) (4 + len);
}

void serve_check_mysql_ssl_request(const MysqlGreeting *g, uint8_t ret[MYSQL_SSL_REQUEST_SIZE]) {
        /* CLIENT_LONG_PASSWORD | CLIENT_PROTOCOL_41 | CLIENT_SSL | CLIENT_SECURE_CONNECTION, as a
         * client that goes on to TLS and then stops. */
        uint32_t caps = 0x00000001u | 0x00000200u | MYSQL_CLIENT_SSL | 0x00008000u;
        uint32_t max_packet = 16u * 1024 * 1024;

        memset(ret, 0, MYSQL_SSL_REQUEST_SIZE);
        ret[0] = 32;
        ret[3] = (uint8_t) (g->sequence + 1);
        for (int i = 0; i < 4; i++) {
                ret[4 + i] = (uint8_t) (caps >> (8 * i));
                ret[8 + i] = (uint8_t) (max_packet >> (8 * i));
        }
        ret[12] = 45; /* utf8mb4_general_ci */
}

/* ---- the network part ---- */

static int write_all(int fd, const void *buf, size_t n) {
        const uint8_t *p = buf;

        while (n > 0) {
                ssize_t k = send(fd, p, n, MSG_NOSIGNAL);
                if (k < 0 && errno == EINTR)
                        continue;
                if (k <= 0)
                        return k < 0 ? negative_errno() : -EPIPE;
                p += k;
                n -= (size_t) k;
        }
        return 0;
}

static int read_some(int fd, uint8_t *buf, size_t n, size_t *ret) {
        ssize_t k;

        do
                k = recv(fd, buf, n, 0);
        while (k < 0 && errno == EINTR);
        if (k < 0)
                return errno == EAGAIN || errno == EWOULDBLOCK ? -ETIMEDOUT : negative_errno();
        if (k == 0)
                return -ECONNRESET;
        *ret = (size_t) k;
        return 0;
}

static int preamble_postgres(int fd, NsError *error) {
        /* SSLRequest: length 8, code 80877103. */
        static const uint8_t request[8] = { 0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x2f };
        uint8_t reply = 0;
        size_t n = 0;
        int r;

        r = write_all(fd, request, sizeof(request));
        if (r >= 0)
                r = read_some(fd, &reply, 1, &n);
        if (r < 0)
                return ns_error_set(error, r, "no answer to the SSLRequest: %m");
        r = serve_check_postgres_reply(&reply, n);
        if (r == -EPROTONOSUPPORT)
                return ns_error_set(error, r, "the server answered 'N': ssl is off");
        if (r < 0)
                return ns_error_set(error, r, "the server answered 0x%02x to the SSLRequest, not a PostgreSQL answer",
                                    reply);
        return 0;
}

static int preamble_mysql(int fd, NsError *error) {
        uint8_t buf[GREETING_MAX + 4], request[MYSQL_SSL_REQUEST_SIZE];
        MysqlGreeting g = {};
        size_t have = 0;
        int r;

        for (;;) {
                size_t k = 0;

                if (have == sizeof(buf))
                        return ns_error_set(error, -EPROTO, "the server greeting is too long");
                r = read_some(fd, buf + have, sizeof(buf) - have, &k);
                if (r < 0)
                        return ns_error_set(error, r, "no server greeting: %m");
                have += k;
                r = serve_check_mysql_greeting(buf, have, &g);
                if (r != -EAGAIN)
                        break;
        }
        if (r == -ECONNREFUSED)
                return ns_error_set(error, r, "the server sent an error packet instead of its greeting");
        if (r == -EPROTONOSUPPORT)
                return ns_error_set(error, r, "the server (%s) does not offer SSL", g.version[0] ? g.version : "?");
        if (r < 0)
                return ns_error_set(error, r, "the greeting is not a MySQL protocol 10 handshake");
        serve_check_mysql_ssl_request(&g, request);
        r = write_all(fd, request, sizeof(request));
        if (r < 0)
                return ns_error_set(error, r, "Failed to send the SSL request: %m");
        return 0;
}

static int connect_with_timeout(const ServeCheckAddress *a, uint64_t timeout_usec, int *ret) {
        struct timeval tv = { .tv_sec = (time_t) (timeout_usec / USEC_PER_SEC),
                              .tv_usec = (suseconds_t) (timeout_usec % USEC_PER_SEC) };
        _cleanup_close_ int fd = -EBADF;

        fd = socket(a->sa.sa_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0)
                return negative_errno();
        /* Linux bounds a blocking connect() by the send timeout, and reads and writes by these. */
        if (setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) < 0 ||
            setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)) < 0)
                return negative_errno();
        if (connect(fd, &a->sa, a->size) < 0)
                return errno == EINPROGRESS || errno == EAGAIN ? -ETIMEDOUT : negative_errno();
        *ret = TAKE_FD(fd);
        return 0;
}

/* The leaf is taken as it is presented, before any decision about trust (and before a server that
 * wants a client certificate ends the handshake): the bytes are compared, trust is not the question. */
static int capture_leaf(int preverify_ok, X509_STORE_CTX *ctx) {
        SSL *ssl = X509_STORE_CTX_get_ex_data(ctx, SSL_get_ex_data_X509_STORE_CTX_idx());
        X509 **leaf = SSL_get_app_data(ssl);
        X509 *first = X509_STORE_CTX_get0_cert(ctx);

        if (leaf && !*leaf && first && X509_up_ref(first) == 1)
                *leaf = first;
        return 1;
}

static int tls_fetch_leaf(int fd, X509 **ret, NsError *error) {
        _cleanup_(SSL_CTX_freep) SSL_CTX *ctx = NULL;
        _cleanup_(SSL_freep) SSL *ssl = NULL;
        _cleanup_(X509_freep) X509 *leaf = NULL;
        int r;

        ctx = SSL_CTX_new(TLS_client_method());
        if (!ctx)
                return ns_error_set(error, -ENOMEM, "Failed to set up TLS");
        SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, capture_leaf);
        ssl = SSL_new(ctx);
        if (!ssl || SSL_set_fd(ssl, fd) != 1)
                return ns_error_set(error, -ENOMEM, "Failed to set up TLS");
        SSL_set_app_data(ssl, &leaf);
        r = SSL_connect(ssl);
        if (r == 1 && !leaf)
                leaf = SSL_get1_peer_certificate(ssl);
        if (!leaf) {
                unsigned long e = ERR_peek_last_error();
                char buf[256] = "the server sent no certificate";

                if (e)
                        ERR_error_string_n(e, buf, sizeof(buf));
                ERR_clear_error();
                return ns_error_set(error, -EPROTO, "TLS handshake failed: %s", buf);
        }
        ERR_clear_error();
        if (r == 1)
                (void) SSL_shutdown(ssl);
        *ret = TAKE_PTR(leaf);
        return 0;
}

static int read_file_leaf(const char *path, X509 **ret, NsError *error) {
        _cleanup_free_ char *pem = NULL;
        _cleanup_(BIO_free_allp) BIO *b = NULL;
        size_t n = 0;
        X509 *x;
        int r;

        r = read_full_file(path, 1024 * 1024, &pem, &n);
        if (r < 0)
                return ns_error_set(error, r, "Failed to read %s: %m", path);
        b = BIO_new_mem_buf(pem, (int) n);
        if (!b)
                return -ENOMEM;
        x = PEM_read_bio_X509(b, NULL, NULL, NULL);
        ERR_clear_error();
        if (!x)
                return ns_error_set(error, -EBADMSG, "%s holds no PEM certificate", path);
        *ret = x;
        return 0;
}

static uint64_t not_after_usec(X509 *x) {
        struct tm tm = {};

        if (ASN1_TIME_to_tm(X509_get0_notAfter(x), &tm) != 1)
                return 0;
        return (uint64_t) timegm(&tm) * USEC_PER_SEC;
}

static void serial_hex(X509 *x, char *buf, size_t n) {
        BIGNUM *bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(x), NULL);
        char *hex = bn ? BN_bn2hex(bn) : NULL;

        (void) snprintf(buf, n, "%s", hex ?: "?");
        OPENSSL_free(hex);
        BN_free(bn);
}

int serve_check_run(const ServeCheckConfig *sc, const char *cert_path, uint64_t timeout_usec, ServeCheckResult *ret,
                    NsError *error) {
        _cleanup_(X509_freep) X509 *served = NULL, *file = NULL;
        _cleanup_close_ int fd = -EBADF;
        ServeCheckResult result = {};
        ServeCheckAddress a;
        char why[160];
        int r;

        r = serve_check_parse_address(sc->address, sc->protocol, &a, why, sizeof(why));
        if (r < 0)
                return ns_error_set(error, r, "serve_check address \"%s\": %s", sc->address, why);
        r = read_file_leaf(cert_path, &file, error);
        if (r < 0)
                return r;
        r = connect_with_timeout(&a, timeout_usec, &fd);
        if (r < 0)
                return ns_error_set(error, r, "Failed to connect to %s: %m", sc->address);
        if (sc->protocol == SERVE_CHECK_POSTGRES)
                r = preamble_postgres(fd, error);
        else if (sc->protocol == SERVE_CHECK_MYSQL)
                r = preamble_mysql(fd, error);
        if (r >= 0)
                r = tls_fetch_leaf(fd, &served, error);
        if (r < 0)
                return ns_error_prefix(error, r, "%s (%s)", sc->address, serve_check_protocol_to_string(sc->protocol));

        result.match = X509_cmp(served, file) == 0;
        result.served_not_after = not_after_usec(served);
        result.file_not_after = not_after_usec(file);
        serial_hex(served, result.served_serial, sizeof(result.served_serial));
        *ret = result;
        return 0;
}
