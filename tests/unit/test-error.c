/* SPDX-License-Identifier: Apache-2.0 */
/* error.c: first error wins, reset overwrites, prefixes add context, long messages stay bounded. */
#include "error.h"
#include "tests.h"

TEST(set_keeps_first) {
        NsError e = {};

        ASSERT_EQ(ns_error_set(&e, -ENOENT, "Secret %s not found", "a"), -ENOENT);
        ASSERT_EQ(ns_error_set(&e, EIO, "later %d", 1), -EIO);   /* positive codes come back negative */
        ASSERT_EQ(e.code, -ENOENT);
        ASSERT_STREQ(e.message, "Secret a not found");
        ASSERT_TRUE(ns_error_is_set(&e));
        ASSERT_EQ(ns_error_set(NULL, -EPERM, "no error object"), -EPERM);
}

TEST(reset_and_prefix) {
        NsError e = {};

        (void) ns_error_set(&e, -ENOENT, "first");
        ASSERT_EQ(ns_error_reset(&e, -EBUSY, "second"), -EBUSY);
        ASSERT_STREQ(e.message, "second");
        ASSERT_EQ(ns_error_prefix(&e, -EBUSY, "Volume %s", "pgdata"), -EBUSY);
        ASSERT_STREQ(e.message, "Volume pgdata: second");

        e = NS_ERROR_NULL;
        ASSERT_EQ(ns_error_prefix(&e, -EACCES, "Volume x"), -EACCES);
        ASSERT_CONTAINS(e.message, "Volume x");
        ASSERT_STREQ(ns_error_message(&NS_ERROR_NULL, -ENOENT), strerror(ENOENT));
}

TEST(long_messages_bounded) {
        char big[4096];
        NsError e = {};

        memset(big, 'x', sizeof(big) - 1);
        big[sizeof(big) - 1] = '\0';
        (void) ns_error_set(&e, -EINVAL, "%s", big);
        ASSERT_EQ(strlen(e.message), sizeof(e.message) - 1);
        (void) ns_error_prefix(&e, -EINVAL, "%s", "prefix");
        ASSERT_EQ(strlen(e.message), sizeof(e.message) - 1);
        ASSERT_TRUE(strncmp(e.message, "prefix: ", 8) == 0);
}

TEST(percent_m_is_the_code) {
        NsError e = {};

        errno = EPERM;
        ASSERT_EQ(ns_error_set(&e, -ENOENT, "Secret %s: %m", "ca"), -ENOENT);
        ASSERT_STREQ(e.message, "Secret ca: No such file or directory");
        ASSERT_EQ(errno, EPERM);
}
