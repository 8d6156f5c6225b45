/* SPDX-License-Identifier: Apache-2.0 */
/* serve_check: address rules, the PostgreSQL and MySQL preambles, and a real TLS server's leaf. */
#include <arpa/inet.h>

#include "serve-check.h"
#include "tests.h"

TEST(addresses) {
        ServeCheckAddress a;
        char why[160];

        ASSERT_OK(serve_check_parse_address("127.0.0.1:5432", SERVE_CHECK_POSTGRES, &a, why, sizeof(why)));
        ASSERT_EQ(a.sa.sa_family, AF_INET);
        ASSERT_EQ(ntohs(a.in.sin_port), 5432);
        ASSERT_OK(serve_check_parse_address("localhost:6379", SERVE_CHECK_TLS, &a, why, sizeof(why)));
        ASSERT_EQ(a.sa.sa_family, AF_INET);
        ASSERT_OK(serve_check_parse_address("127.1.2.3:1", SERVE_CHECK_MYSQL, &a, why, sizeof(why)));
        ASSERT_OK(serve_check_parse_address("[::1]:2379", SERVE_CHECK_TLS, &a, why, sizeof(why)));
        ASSERT_EQ(a.sa.sa_family, AF_INET6);
        ASSERT_OK(serve_check_parse_address("/run/etcd.sock", SERVE_CHECK_TLS, &a, why, sizeof(why)));
        ASSERT_EQ(a.sa.sa_family, AF_UNIX);

        ASSERT_ERROR(serve_check_parse_address("10.0.0.1:5432", SERVE_CHECK_POSTGRES, &a, why, sizeof(why)), EINVAL);
        ASSERT_TRUE(strstr(why, "loopback") != NULL);
        ASSERT_ERROR(serve_check_parse_address("[2001:db8::1]:5432", SERVE_CHECK_TLS, &a, why, sizeof(why)), EINVAL);
        ASSERT_ERROR(serve_check_parse_address("db.example:5432", SERVE_CHECK_TLS, &a, why, sizeof(why)), EINVAL);
        ASSERT_ERROR(serve_check_parse_address("127.0.0.1:0", SERVE_CHECK_TLS, &a, why, sizeof(why)), EINVAL);
        ASSERT_ERROR(serve_check_parse_address("127.0.0.1:65536", SERVE_CHECK_TLS, &a, why, sizeof(why)), EINVAL);
        ASSERT_ERROR(serve_check_parse_address("127.0.0.1", SERVE_CHECK_TLS, &a, why, sizeof(why)), EINVAL);
        ASSERT_ERROR(serve_check_parse_address("127.0.0.1:-1", SERVE_CHECK_TLS, &a, why, sizeof(why)), EINVAL);
        ASSERT_ERROR(serve_check_parse_address("", SERVE_CHECK_TLS, &a, why, sizeof(why)), EINVAL);
        /* PostgreSQL never does SSL on its Unix socket. */
        ASSERT_ERROR(serve_check_parse_address("/run/postgresql/.s.PGSQL.5432", SERVE_CHECK_POSTGRES, &a, why,
                                               sizeof(why)), EINVAL);
        ASSERT_TRUE(strstr(why, "Unix socket") != NULL);
}

TEST(postgres_reply) {
        ASSERT_EQ(serve_check_postgres_reply((const uint8_t *) "S", 1), 1);
        ASSERT_ERROR(serve_check_postgres_reply((const uint8_t *) "N", 1), EPROTONOSUPPORT);
        ASSERT_ERROR(serve_check_postgres_reply((const uint8_t *) "E", 1), EPROTO);
        ASSERT_ERROR(serve_check_postgres_reply(NULL, 0), EPROTO);
}

/* A MariaDB 10.11 greeting as it comes off the wire (auth data zeroed). */
static size_t greeting(uint8_t *buf, uint16_t caps_lower, bool with_upper) {
        static const char version[] = "5.5.5-10.11.6-MariaDB-0+deb12u1";
        uint8_t *p = buf + 4;

        *p++ = 10;
        memcpy(p, version, sizeof(version));
        p += sizeof(version);
        memset(p, 0, 4 + 8 + 1);
        p += 4 + 8 + 1;
        *p++ = caps_lower & 0xff;
        *p++ = caps_lower >> 8;
        if (with_upper) {
                *p++ = 45;
                *p++ = 2;
                *p++ = 0;
                *p++ = 0xff;
                *p++ = 0x81;
                memset(p, 0, 11);
                p += 11;
        }
        size_t len = (size_t) (p - buf - 4);
        buf[0] = len & 0xff;
        buf[1] = (len >> 8) & 0xff;
        buf[2] = 0;
        buf[3] = 0;
        return len + 4;
}

TEST(mysql_greeting) {
        uint8_t buf[256], req[MYSQL_SSL_REQUEST_SIZE];
        MysqlGreeting g;
        size_t n = greeting(buf, 0xfffe, true);

        ASSERT_EQ(serve_check_mysql_greeting(buf, n, &g), (int) n);
        ASSERT_STREQ(g.version, "5.5.5-10.11.6-MariaDB-0+deb12u1");
        ASSERT_TRUE(g.capabilities & MYSQL_CLIENT_SSL);
        ASSERT_EQ(g.capabilities >> 16, 0x81ffu);
        serve_check_mysql_ssl_request(&g, req);
        ASSERT_EQ(req[0], 32);
        ASSERT_EQ(req[3], 1);
        ASSERT_TRUE(req[5] & 0x08);     /* CLIENT_SSL, bit 11 */

        /* Short reads ask for more, at every length. */
        for (size_t k = 0; k < n; k++)
                ASSERT_ERROR(serve_check_mysql_greeting(buf, k, &g), EAGAIN);
        /* Without the upper half of the flags (old servers). */
        n = greeting(buf, 0xfffe, false);
        ASSERT_EQ(serve_check_mysql_greeting(buf, n, &g), (int) n);
        /* SSL not offered. */
        n = greeting(buf, 0xfffe & ~0x0800, true);
        ASSERT_ERROR(serve_check_mysql_greeting(buf, n, &g), EPROTONOSUPPORT);
        /* An error packet: "Host is blocked" and the like. */
        buf[4] = 0xff;
        ASSERT_ERROR(serve_check_mysql_greeting(buf, n, &g), ECONNREFUSED);
        /* Another protocol, a version without its NUL, a zero or huge length. */
        n = greeting(buf, 0xfffe, true);
        buf[4] = 9;
        ASSERT_ERROR(serve_check_mysql_greeting(buf, n, &g), EPROTO);
        memcpy(buf, "\x28\0\0\0", 4);
        memset(buf + 4, 'x', 40);
        buf[4] = 10;
        ASSERT_ERROR(serve_check_mysql_greeting(buf, 44, &g), EPROTO);
        memcpy(buf, "\0\0\0\0", 4);
        ASSERT_ERROR(serve_check_mysql_greeting(buf, 4, &g), EPROTO);
        memcpy(buf, "\xff\xff\xff\0", 4);
        ASSERT_ERROR(serve_check_mysql_greeting(buf, 4, &g), EPROTO);
}

TEST(connect_refused_named) {
        ServeCheckConfig sc = { .address = (char *) "127.0.0.1:1", .protocol = SERVE_CHECK_TLS };
        ServeCheckResult res;
        NsError e = {};
        char path[512];

        snprintf(path, sizeof(path), "%s/none.crt", test_tmpdir);
        ASSERT_TRUE(serve_check_run(&sc, path, USEC_PER_SEC, &res, &e) < 0);
        ASSERT_TRUE(strstr(e.message, path) != NULL);
}
