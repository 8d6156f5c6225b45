/* SPDX-License-Identifier: Apache-2.0 */
/* serve_check: which certificate a datastore on this node serves, compared with its file. */
#pragma once

#include <stdint.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <netinet/in.h>

#include "config.h"
#include "error.h"

typedef struct ServeCheckAddress {
        union {
                struct sockaddr sa;
                struct sockaddr_in in;
                struct sockaddr_in6 in6;
                struct sockaddr_un un;
        };
        socklen_t size;
} ServeCheckAddress;

/* "host:port" with a loopback host (127.0.0.0/8, [::1], localhost), or an absolute Unix socket path
 * (protocol tls only: PostgreSQL and MySQL never negotiate TLS on their Unix sockets). On failure
 * -EINVAL and the reason in why. */
int serve_check_parse_address(const char *s, ServeCheckProtocol protocol, ServeCheckAddress *ret, char *why,
                              size_t why_size);

/* PostgreSQL's one-byte answer to an SSLRequest: 1 for 'S' (go on with TLS); -EPROTONOSUPPORT for
 * 'N' (SSL is off); -EPROTO for anything else. */
int serve_check_postgres_reply(const uint8_t *buf, size_t n);

/* What matters of a MySQL/MariaDB server greeting (protocol 10 handshake packet). */
typedef struct MysqlGreeting {
        uint8_t sequence;          /* the packet's sequence number; the answer carries the next */
        uint32_t capabilities;     /* lower and, when present, upper capability flags */
        char version[64];          /* the server version, printable, truncated */
} MysqlGreeting;

#define MYSQL_CLIENT_SSL 0x00000800u
#define MYSQL_SSL_REQUEST_SIZE 36  /* 4 bytes of header, 32 of payload */

/* Parses a greeting packet (header included, as read from the wire): -EAGAIN when n is shorter than
 * the packet says (read more), -ECONNREFUSED for an error packet (0xff: too many connections, host
 * blocked), -EPROTONOSUPPORT when it does not offer SSL, -EPROTO when malformed. Returns the packet's
 * full size on success. Pure: outside input. */
int serve_check_mysql_greeting(const uint8_t *buf, size_t n, MysqlGreeting *ret);
/* The SSL request packet that answers g. */
void serve_check_mysql_ssl_request(const MysqlGreeting *g, uint8_t ret[MYSQL_SSL_REQUEST_SIZE]);

typedef struct ServeCheckResult {
        bool match;                /* the served leaf is byte for byte the file's first certificate */
        uint64_t served_not_after; /* µs since the epoch */
        char served_serial[72];    /* hex */
        uint64_t file_not_after;
} ServeCheckResult;

/* Connects to sc (blocking, bounded by timeout_usec: for "check" and the daemon's child, never the
 * daemon's loop), negotiates TLS without checking trust, and compares the leaf the server sends
 * with the first certificate of cert_path. 0 with ret filled (match or not), or a negative errno
 * and the reason in error. */
int serve_check_run(const ServeCheckConfig *sc, const char *cert_path, uint64_t timeout_usec, ServeCheckResult *ret,
                    NsError *error);
