/* SPDX-License-Identifier: Apache-2.0 */
/* Fuzz target: what a datastore says before TLS starts, as serve_check reads it: a MySQL/MariaDB
 * greeting (fed in growing prefixes, as recv() would) and PostgreSQL's answer to an SSLRequest. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "serve-check.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        uint8_t request[MYSQL_SSL_REQUEST_SIZE];
        MysqlGreeting g;
        int r;

        (void) serve_check_postgres_reply(data, size);
        for (size_t n = 0; n <= size; n += n < 64 ? 1 : 61) {
                memset(&g, 0xaa, sizeof(g));
                r = serve_check_mysql_greeting(data, n, &g);
                if (r >= 0) {
                        /* The packet fits in what was read, the version is a printable string. */
                        if ((size_t) r > n || r < 4 || strnlen(g.version, sizeof(g.version)) >= sizeof(g.version))
                                abort();
                        for (const char *p = g.version; *p; p++)
                                if (*p < 0x20 || *p >= 0x7f)
                                        abort();
                        if (!(g.capabilities & MYSQL_CLIENT_SSL))
                                abort();
                        serve_check_mysql_ssl_request(&g, request);
                        if (request[0] != 32 || request[3] != (uint8_t) (g.sequence + 1))
                                abort();
                        break;
                }
                if (r != -EAGAIN && r != -EPROTO && r != -ECONNREFUSED && r != -EPROTONOSUPPORT)
                        abort();
                if (r != -EAGAIN)
                        break;
        }
        return 0;
}
