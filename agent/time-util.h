/* SPDX-License-Identifier: Apache-2.0 */
/* Clocks and UTC times, once for every module. */
#pragma once

#include <stdint.h>
#include <time.h>

#include "macro.h"

/* µs on the given clock (CLOCK_MONOTONIC for intervals, CLOCK_REALTIME for certificates). */
uint64_t now_usec(clockid_t clock);

#define UTC_TIME_MAX 40
/* "2025-01-31 12:00:00 UTC" for µs since the epoch; "n/a" for 0. Returns buf. */
const char *format_utc_usec(uint64_t usec, char *buf, size_t size);
#define FORMAT_UTC_USEC(usec) format_utc_usec((usec), (char[UTC_TIME_MAX]) {}, UTC_TIME_MAX)
