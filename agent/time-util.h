/* SPDX-License-Identifier: Apache-2.0 */
/* Clocks and UTC times, once for every module. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "macro.h"

/* µs on the given clock (CLOCK_MONOTONIC for intervals, CLOCK_REALTIME for certificates). */
uint64_t now_usec(clockid_t clock);

#define UTC_TIME_MAX 40
/* "2025-01-31 12:00:00 UTC" for seconds since the epoch; "@SECONDS" if the year does not fit. Returns buf. */
const char *format_utc_sec(int64_t sec, char *buf, size_t size);
#define FORMAT_UTC_SEC(sec) format_utc_sec((sec), (char[UTC_TIME_MAX]) {}, UTC_TIME_MAX)
/* The same for µs since the epoch; "n/a" for 0. Returns buf. */
const char *format_utc_usec(uint64_t usec, char *buf, size_t size);
#define FORMAT_UTC_USEC(usec) format_utc_usec((usec), (char[UTC_TIME_MAX]) {}, UTC_TIME_MAX)

#define ISO8601_TIME_MAX 40
/* ISO 8601 in UTC for µs since the epoch, as records and JSON logs carry it: "2025-01-31T12:00:00Z",
 * or with_usec "2025-01-31T12:00:00.123456Z"; "unknown" if the year does not fit. Returns buf. */
const char *format_iso8601_usec(uint64_t usec, bool with_usec, char *buf, size_t size);
