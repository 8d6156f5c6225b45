/* SPDX-License-Identifier: Apache-2.0 */
/* Clocks and UTC times: the formats every module prints. */
#include "tests.h"
#include "time-util.h"

TEST(format_utc) {
        ASSERT_STREQ(FORMAT_UTC_SEC(0), "1970-01-01 00:00:00 UTC");
        ASSERT_STREQ(FORMAT_UTC_SEC(1738324800), "2025-01-31 12:00:00 UTC");
        ASSERT_STREQ(FORMAT_UTC_SEC(-86400), "1969-12-31 00:00:00 UTC");
        ASSERT_STREQ(FORMAT_UTC_USEC(0), "n/a");
        ASSERT_STREQ(FORMAT_UTC_USEC(1738324800 * USEC_PER_SEC + 999999), "2025-01-31 12:00:00 UTC");
}

TEST(format_iso8601) {
        char buf[ISO8601_TIME_MAX];

        ASSERT_STREQ(format_iso8601_usec(1738324800 * USEC_PER_SEC + 42, false, buf, sizeof(buf)),
                     "2025-01-31T12:00:00Z");
        ASSERT_STREQ(format_iso8601_usec(1738324800 * USEC_PER_SEC + 42, true, buf, sizeof(buf)),
                     "2025-01-31T12:00:00.000042Z");
}

TEST(clocks) {
        uint64_t a = now_usec(CLOCK_MONOTONIC), b = now_usec(CLOCK_MONOTONIC);

        ASSERT_TRUE(b >= a);
        /* After 2020. */
        ASSERT_TRUE(now_usec(CLOCK_REALTIME) > UINT64_C(1577836800) * USEC_PER_SEC);
}
