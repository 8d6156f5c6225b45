/* SPDX-License-Identifier: Apache-2.0 */
/* bench-bus: calls one D-Bus method at a fixed rate (calls per second) for a while and prints the
 * latency distribution (p50, p99, max) and the rate reached. Calls are paced against a schedule:
 * one that comes back late makes the next ones go at once, so a slow answer shows as latency, not
 * as a lower rate hidden from the figures. Failed calls are counted, not fatal: only a method that
 * never answers makes it fail. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <systemd/sd-bus.h>

static uint64_t now_ns(void) {
        struct timespec ts;
        (void) clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t) ts.tv_sec * 1000000000u + (uint64_t) ts.tv_nsec;
}

static int cmp_u64(const void *a, const void *b) {
        uint64_t x = *(const uint64_t *) a, y = *(const uint64_t *) b;
        return x < y ? -1 : x > y;
}

static int connect_bus(const char *address, sd_bus **ret) {
        sd_bus *bus = NULL;
        int r = sd_bus_new(&bus);
        if (r >= 0)
                r = sd_bus_set_address(bus, address);
        if (r >= 0)
                r = sd_bus_set_bus_client(bus, 1);
        if (r >= 0)
                r = sd_bus_start(bus);
        if (r < 0) {
                sd_bus_unref(bus);
                return r;
        }
        *ret = bus;
        return 0;
}

int main(int argc, char *argv[]) {
        sd_bus *bus = NULL;
        uint64_t *d, start, end, interval, next;
        size_t n = 0, cap, failed = 0;
        double seconds, rate;
        int r;

        if (argc != 8) {
                fprintf(stderr, "Usage: bench-bus ADDRESS DESTINATION PATH INTERFACE METHOD SECONDS CALLS_PER_SECOND\n");
                return 2;
        }
        seconds = atof(argv[6]);
        rate = atof(argv[7]);
        if (seconds <= 0 || rate <= 0)
                return 2;
        r = connect_bus(argv[1], &bus);
        if (r < 0) {
                fprintf(stderr, "Cannot connect to %s: %s\n", argv[1], strerror(-r));
                return 1;
        }
        cap = (size_t) (seconds * rate) + 16;
        d = calloc(cap, sizeof(*d));
        if (!d)
                return 2;
        interval = (uint64_t) (1e9 / rate);
        start = next = now_ns();
        end = start + (uint64_t) (seconds * 1e9);
        while (n < cap) {
                sd_bus_error error = SD_BUS_ERROR_NULL;
                sd_bus_message *reply = NULL;
                uint64_t t0 = now_ns();

                if (t0 >= end)
                        break;
                if (t0 < next) {
                        uint64_t w = next - t0;
                        (void) nanosleep(&(struct timespec) { .tv_sec = (time_t) (w / 1000000000u),
                                                              .tv_nsec = (long) (w % 1000000000u) }, NULL);
                }
                t0 = now_ns();
                r = sd_bus_call_method(bus, argv[2], argv[3], argv[4], argv[5], &error, &reply, "");
                d[n] = now_ns() - t0;
                if (r < 0) {
                        if (failed++ == 0)
                                fprintf(stderr, "%s() failed: %s\n", argv[5], error.message ?: strerror(-r));
                }
                sd_bus_error_free(&error);
                sd_bus_message_unref(reply);
                n++;
                next += interval;
        }
        if (n == 0 || failed == n) {
                fprintf(stderr, "No call of %s() was answered\n", argv[5]);
                return 1;
        }
        qsort(d, n, sizeof(*d), cmp_u64);
        printf("method=%s calls=%zu failed=%zu rate=%.0f p50_ms=%.3f p99_ms=%.3f max_ms=%.3f\n", argv[5], n, failed,
               (double) n / ((double) (now_ns() - start) / 1e9), (double) d[n / 2] / 1e6,
               (double) d[(n * 99) / 100] / 1e6, (double) d[n - 1] / 1e6);
        free(d);
        sd_bus_flush_close_unref(bus);
        return 0;
}
