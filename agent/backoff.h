/* SPDX-License-Identifier: Apache-2.0 */
/* Exponential backoff with jitter: one function, one meaning of jitter, for the daemon and the API client. */
#pragma once

#include <stdint.h>

#include "config.h"

/* The wait after `failures` consecutive failures (1 after the first; 0 counts as 1):
 * initial_usec × multiplier^(failures − 1), capped at max_usec, then shortened at random by up to
 * the fraction `jitter` (0.2: between 80 % and 100 % of that). random01 is a draw in [0, 1): 0
 * shortens nothing, values towards 1 shorten by up to jitter; a draw outside [0, 1) shortens
 * nothing. Jitter never lengthens a wait, so max_usec stays a maximum. Never less than 1 µs. */
uint64_t backoff_delay_usec(unsigned failures, uint64_t initial_usec, uint64_t max_usec, double multiplier,
                            double jitter, double random01);
/* backoff_delay_usec() with the "retry" section of the config. */
uint64_t backoff_retry_usec(const RetryConfig *r, unsigned failures, double random01);
/* A uniformly distributed draw in [0, 1) from getrandom (0.5 if that fails). */
double backoff_random01(void);
