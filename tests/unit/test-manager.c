/* SPDX-License-Identifier: Apache-2.0 */
/* The daemon's pure parts: retry backoff and renewal jitter. */
#include "manager.h"
#include "tests.h"

static const RetryConfig retry = {
        .initial_usec = USEC_PER_SEC,
        .max_usec = 60 * USEC_PER_SEC,
        .multiplier = 2.0,
        .jitter = 0.2,
};

TEST(backoff_grows_to_the_maximum) {
        ASSERT_EQ(manager_backoff_usec(&retry, 1, 0.0), USEC_PER_SEC);
        ASSERT_EQ(manager_backoff_usec(&retry, 2, 0.0), 2 * USEC_PER_SEC);
        ASSERT_EQ(manager_backoff_usec(&retry, 3, 0.0), 4 * USEC_PER_SEC);
        ASSERT_EQ(manager_backoff_usec(&retry, 6, 0.0), 32 * USEC_PER_SEC);
        ASSERT_EQ(manager_backoff_usec(&retry, 7, 0.0), 60 * USEC_PER_SEC);
        ASSERT_EQ(manager_backoff_usec(&retry, 100, 0.0), 60 * USEC_PER_SEC);
        /* No overflow however long it has been failing. */
        ASSERT_EQ(manager_backoff_usec(&retry, 4000000000u, 0.0), 60 * USEC_PER_SEC);
        /* attempt 0 is treated like the first. */
        ASSERT_EQ(manager_backoff_usec(&retry, 0, 0.0), USEC_PER_SEC);
}

TEST(backoff_jitter_only_shortens) {
        for (double x = 0.0; x < 1.0; x += 0.05) {
                uint64_t d = manager_backoff_usec(&retry, 3, x);
                ASSERT_TRUE(d <= 4 * USEC_PER_SEC);
                ASSERT_TRUE(d >= 4 * USEC_PER_SEC * 8 / 10);
                d = manager_backoff_usec(&retry, 50, x);
                ASSERT_TRUE(d <= 60 * USEC_PER_SEC);
                ASSERT_TRUE(d >= 48 * USEC_PER_SEC);
        }
        ASSERT_EQ(manager_backoff_usec(&retry, 1, 0.5), 900000);
        /* Out-of-range randomness does not stretch the wait. */
        ASSERT_EQ(manager_backoff_usec(&retry, 1, 7.0), USEC_PER_SEC);
        ASSERT_EQ(manager_backoff_usec(&retry, 1, -1.0), USEC_PER_SEC);
}

TEST(backoff_without_jitter_or_growth) {
        RetryConfig r = { .initial_usec = 500000, .max_usec = 500000, .multiplier = 1.0, .jitter = 0.0 };
        ASSERT_EQ(manager_backoff_usec(&r, 1, 0.9), 500000);
        ASSERT_EQ(manager_backoff_usec(&r, 9, 0.9), 500000);
}

TEST(renewal_jitter_bounds) {
        uint64_t renew = 1000 * USEC_PER_SEC, not_after = 2000 * USEC_PER_SEC;

        /* Never before the renewal point. */
        ASSERT_EQ(manager_renewal_jitter(renew, not_after, 3600 * USEC_PER_SEC, 0.0), renew);
        /* At most a tenth of the window (100 s here) ... */
        ASSERT_TRUE(manager_renewal_jitter(renew, not_after, 3600 * USEC_PER_SEC, 0.999) < renew + 100 * USEC_PER_SEC);
        ASSERT_EQ(manager_renewal_jitter(renew, not_after, 3600 * USEC_PER_SEC, 0.5), renew + 50 * USEC_PER_SEC);
        /* ... and at most jitter_max. */
        ASSERT_EQ(manager_renewal_jitter(renew, not_after, 10 * USEC_PER_SEC, 0.5), renew + 5 * USEC_PER_SEC);
        /* A window already closed gets no jitter. */
        ASSERT_EQ(manager_renewal_jitter(renew, renew, 3600 * USEC_PER_SEC, 0.5), renew);
        ASSERT_EQ(manager_renewal_jitter(not_after, renew, 3600 * USEC_PER_SEC, 0.5), not_after);
}

TEST(state_names) {
        ASSERT_STREQ(manager_state_to_string(MANAGER_READY), "ready");
        ASSERT_STREQ(manager_state_to_string(MANAGER_WAITING), "waiting");
        ASSERT_TRUE(manager_state_to_string(_MANAGER_STATE_MAX) == NULL);
        ASSERT_STREQ(item_state_to_string(ITEM_PENDING), "pending");
        ASSERT_TRUE(item_state_to_string((ItemState) -1) == NULL);
}
