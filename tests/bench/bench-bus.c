/* SPDX-License-Identifier: Apache-2.0 */
/* bench-bus: calls one D-Bus method at a fixed rate (calls per second) for a while and prints the
 * latency distribution (p50, p99, max) and the rate reached. Calls are paced against a schedule:
 * one that comes back late makes the next ones go at once, so a slow answer shows as latency, not
 * as a lower rate hidden from the figures. Given two methods, each tick calls both, one after the
 * other (a method and its floor, measured under the same conditions). Failed calls are counted, not fatal: only a method that
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

typedef struct Method {
        const char *dest, *path, *iface, *name;
        uint64_t *d;
        size_t n, failed;
} Method;

static void call_once(sd_bus *bus, Method *m) {
        sd_bus_error error = SD_BUS_ERROR_NULL;
        sd_bus_message *reply = NULL;
        uint64_t t0 = now_ns();
        int r;

        r = sd_bus_call_method(bus, m->dest, m->path, m->iface, m->name, &error, &reply, "");
        m->d[m->n++] = now_ns() - t0;
        if (r < 0 && m->failed++ == 0)
                fprintf(stderr, "%s() failed: %s\n", m->name, error.message ?: strerror(-r));
        sd_bus_error_free(&error);
        sd_bus_message_unref(reply);
}

int main(int argc, char *argv[]) {
        sd_bus *bus = NULL;
        Method methods[2] = {};
        uint64_t start, end, interval, next;
        size_t n_methods, cap;
        double seconds, rate, elapsed;
        int r, ret = 0;

        if (argc != 8 && argc != 12) {
                fprintf(stderr, "Usage: bench-bus ADDRESS SECONDS CALLS_PER_SECOND DESTINATION PATH INTERFACE METHOD "
                                "[DESTINATION PATH INTERFACE METHOD]\n");
                return 2;
        }
        seconds = atof(argv[2]);
        rate = atof(argv[3]);
        if (seconds <= 0 || rate <= 0)
                return 2;
        n_methods = argc == 12 ? 2 : 1;
        cap = (size_t) (seconds * rate) + 16;
        for (size_t i = 0; i < n_methods; i++) {
                methods[i] = (Method) { argv[4 + 4 * i], argv[5 + 4 * i], argv[6 + 4 * i], argv[7 + 4 * i],
                                        calloc(cap, sizeof(uint64_t)), 0, 0 };
                if (!methods[i].d)
                        return 2;
        }
        r = connect_bus(argv[1], &bus);
        if (r < 0) {
                fprintf(stderr, "Cannot connect to %s: %s\n", argv[1], strerror(-r));
                return 1;
        }
        /* Each tick calls every method once, so that they see the same machine at the same time. */
        interval = (uint64_t) (1e9 / rate);
        start = next = now_ns();
        end = start + (uint64_t) (seconds * 1e9);
        while (methods[0].n < cap) {
                uint64_t t0 = now_ns();

                if (t0 >= end)
                        break;
                if (t0 < next) {
                        uint64_t w = next - t0;
                        (void) nanosleep(&(struct timespec) { .tv_sec = (time_t) (w / 1000000000u),
                                                              .tv_nsec = (long) (w % 1000000000u) }, NULL);
                }
                for (size_t i = 0; i < n_methods; i++)
                        call_once(bus, &methods[i]);
                next += interval;
        }
        elapsed = (double) (now_ns() - start) / 1e9;
        for (size_t i = 0; i < n_methods; i++) {
                Method *m = &methods[i];
                if (m->n == 0 || m->failed == m->n) {
                        fprintf(stderr, "No call of %s() was answered\n", m->name);
                        ret = 1;
                        continue;
                }
                qsort(m->d, m->n, sizeof(uint64_t), cmp_u64);
                printf("method=%s calls=%zu failed=%zu rate=%.0f p50_ms=%.3f p99_ms=%.3f max_ms=%.3f\n", m->name, m->n,
                       m->failed, (double) m->n / elapsed, (double) m->d[m->n / 2] / 1e6,
                       (double) m->d[(m->n * 99) / 100] / 1e6, (double) m->d[m->n - 1] / 1e6);
                free(m->d);
        }
        sd_bus_flush_close_unref(bus);
        return ret;
}
