/* SPDX-License-Identifier: Apache-2.0 */
/* Clocks and UTC times. */
#include "time-util.h"

uint64_t now_usec(clockid_t clock) {
        struct timespec ts;
        (void) clock_gettime(clock, &ts);
        return (uint64_t) ts.tv_sec * USEC_PER_SEC + (uint64_t) ts.tv_nsec / 1000;
}

const char *format_utc_sec(int64_t sec, char *buf, size_t size) {
        time_t t = (time_t) sec;
        struct tm tm;

        if (!gmtime_r(&t, &tm) || strftime(buf, size, "%Y-%m-%d %H:%M:%S UTC", &tm) == 0)
                (void) snprintf(buf, size, "@%lld", (long long) sec);
        return buf;
}

const char *format_utc_usec(uint64_t usec, char *buf, size_t size) {
        if (usec == 0) {
                (void) snprintf(buf, size, "n/a");
                return buf;
        }
        return format_utc_sec((int64_t) (usec / USEC_PER_SEC), buf, size);
}

const char *format_iso8601_usec(uint64_t usec, bool with_usec, char *buf, size_t size) {
        time_t t = (time_t) (usec / USEC_PER_SEC);
        char date[32];
        struct tm tm;

        if (!gmtime_r(&t, &tm) || strftime(date, sizeof(date), "%Y-%m-%dT%H:%M:%S", &tm) == 0)
                (void) snprintf(buf, size, "unknown");
        else if (with_usec)
                (void) snprintf(buf, size, "%s.%06uZ", date, (unsigned) (usec % USEC_PER_SEC));
        else
                (void) snprintf(buf, size, "%sZ", date);
        return buf;
}
