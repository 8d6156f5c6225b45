/* SPDX-License-Identifier: Apache-2.0 */
/* Exponential backoff with jitter: one function, one meaning of jitter, for the daemon and the API client. */
#include "backoff.h"
#include "secure.h"

uint64_t backoff_delay_usec(unsigned failures, uint64_t initial_usec, uint64_t max_usec, double multiplier,
                            double jitter, double random01) {
        double d = (double) initial_usec;

        for (unsigned i = 1; i < failures && d < (double) max_usec; i++)
                d *= multiplier;
        if (d > (double) max_usec)
                d = (double) max_usec;
        if (random01 < 0.0 || !(random01 < 1.0))
                random01 = 0.0;
        d -= d * jitter * random01;
        return d < 1.0 ? 1 : (uint64_t) d;
}

uint64_t backoff_retry_usec(const RetryConfig *r, unsigned failures, double random01) {
        return backoff_delay_usec(failures, r->initial_usec, r->max_usec, r->multiplier, r->jitter, random01);
}

double backoff_random01(void) {
        uint64_t x = 0;

        if (random_bytes(&x, sizeof(x)) < 0)
                return 0.5;
        return (double) (x >> 11) / (double) (UINT64_C(1) << 53);
}
