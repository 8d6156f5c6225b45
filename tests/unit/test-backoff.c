/* SPDX-License-Identifier: Apache-2.0 */
/* Backoff: growth to the maximum, jitter that only shortens, the random draw. */
#include "backoff.h"
#include "tests.h"

static const RetryConfig retry = {
        .initial_usec = USEC_PER_SEC,
        .max_usec = 60 * USEC_PER_SEC,
        .multiplier = 2.0,
        .jitter = 0.2,
};

TEST(backoff_grows_to_the_maximum) {
        ASSERT_EQ(backoff_retry_usec(&retry, 1, 0.0), USEC_PER_SEC);
        ASSERT_EQ(backoff_retry_usec(&retry, 2, 0.0), 2 * USEC_PER_SEC);
        ASSERT_EQ(backoff_retry_usec(&retry, 3, 0.0), 4 * USEC_PER_SEC);
        ASSERT_EQ(backoff_retry_usec(&retry, 6, 0.0), 32 * USEC_PER_SEC);
        ASSERT_EQ(backoff_retry_usec(&retry, 7, 0.0), 60 * USEC_PER_SEC);
        ASSERT_EQ(backoff_retry_usec(&retry, 100, 0.0), 60 * USEC_PER_SEC);
        /* No overflow however long it has been failing. */
        ASSERT_EQ(backoff_retry_usec(&retry, 4000000000u, 0.0), 60 * USEC_PER_SEC);
        /* attempt 0 is treated like the first. */
        ASSERT_EQ(backoff_retry_usec(&retry, 0, 0.0), USEC_PER_SEC);
}

TEST(backoff_jitter_only_shortens) {
        for (double x = 0.0; x < 1.0; x += 0.05) {
                uint64_t d = backoff_retry_usec(&retry, 3, x);
                ASSERT_TRUE(d <= 4 * USEC_PER_SEC);
                ASSERT_TRUE(d >= 4 * USEC_PER_SEC * 8 / 10);
                d = backoff_retry_usec(&retry, 50, x);
                ASSERT_TRUE(d <= 60 * USEC_PER_SEC);
                ASSERT_TRUE(d >= 48 * USEC_PER_SEC);
        }
        ASSERT_EQ(backoff_retry_usec(&retry, 1, 0.5), 900000);
        /* Out-of-range randomness does not stretch the wait. */
        ASSERT_EQ(backoff_retry_usec(&retry, 1, 7.0), USEC_PER_SEC);
        ASSERT_EQ(backoff_retry_usec(&retry, 1, -1.0), USEC_PER_SEC);
}

TEST(backoff_without_jitter_or_growth) {
        RetryConfig r = { .initial_usec = 500000, .max_usec = 500000, .multiplier = 1.0, .jitter = 0.0 };
        ASSERT_EQ(backoff_retry_usec(&r, 1, 0.9), 500000);
        ASSERT_EQ(backoff_retry_usec(&r, 9, 0.9), 500000);
}

/* The API client's retries count attempts from 0: the wait after attempt a is backoff a + 1. */
TEST(backoff_bounds) {
        RetryConfig r = { .initial_usec = USEC_PER_SEC, .max_usec = 60 * USEC_PER_SEC, .multiplier = 2.0, .jitter = 0.2 };
        RetryConfig nj = r;

        nj.jitter = 0;
        ASSERT_EQ(backoff_retry_usec(&nj, 0 + 1, 0.3), USEC_PER_SEC);
        ASSERT_EQ(backoff_retry_usec(&nj, 1 + 1, 0.3), 2 * USEC_PER_SEC);
        ASSERT_EQ(backoff_retry_usec(&nj, 5 + 1, 0.3), 32 * USEC_PER_SEC);
        ASSERT_EQ(backoff_retry_usec(&nj, 6 + 1, 0.3), 60 * USEC_PER_SEC);
        ASSERT_EQ(backoff_retry_usec(&nj, 1000000 + 1, 0.3), 60 * USEC_PER_SEC);

        for (unsigned a = 0; a < 40; a++)
                for (double x = 0; x < 1.0; x += 0.0625) {
                        uint64_t d = backoff_retry_usec(&r, a + 1, x), base = backoff_retry_usec(&nj, a + 1, x);
                        ASSERT_TRUE(d <= r.max_usec);
                        ASSERT_TRUE((double) d >= (double) base * 0.8 - 1);
                        ASSERT_TRUE((double) d <= (double) base * 1.2 + 1);
                        /* One meaning of jitter for the client too: it only shortens. */
                        ASSERT_TRUE(d <= base);
                }
        /* The jitter spreads: lowest and highest draws differ. The client's jitter used to be ±;
         * now that it only shortens, the highest draw gives the shortest wait. */
        ASSERT_TRUE(backoff_retry_usec(&r, 2 + 1, 0.0) > backoff_retry_usec(&r, 2 + 1, 0.999));
        for (int i = 0; i < 1000; i++) {
                double x = backoff_random01();
                ASSERT_TRUE(x >= 0 && x < 1);
        }
}

TEST(backoff_delay_arguments) {
        /* 3 failures: 100 ms × 3² = 900 ms, under the 1 s cap; a draw of 0.5 with 10 % jitter takes 5 %. */
        ASSERT_EQ(backoff_delay_usec(3, 100000, USEC_PER_SEC, 3.0, 0.1, 0.0), 900000);
        ASSERT_EQ(backoff_delay_usec(3, 100000, USEC_PER_SEC, 3.0, 0.1, 0.5), 855000);
        ASSERT_EQ(backoff_delay_usec(4, 100000, USEC_PER_SEC, 3.0, 0.1, 0.0), USEC_PER_SEC);
        /* Never 0, even from a zero initial delay. */
        ASSERT_EQ(backoff_delay_usec(1, 0, USEC_PER_SEC, 2.0, 0.2, 0.5), 1);
}
