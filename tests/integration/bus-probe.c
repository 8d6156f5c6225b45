/* SPDX-License-Identifier: Apache-2.0 */
/* bus-probe: calls Describe() on org.nodeseal.Agent1 again and again for a while and prints how
 * long the answers took; exits 1 when two calls in a row took longer than the limit, or one did not
 * come within ten times the limit. (A daemon whose loop is busy is slow for every call meanwhile;
 * one slow call alone is this shared machine preempting the probe or the daemon.) */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include <systemd/sd-bus.h>

#include "bus.h"

static uint64_t now_usec(void) {
        struct timespec ts;
        (void) clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t) ts.tv_sec * USEC_PER_SEC + (uint64_t) ts.tv_nsec / 1000;
}

static int cmp_u64(const void *a, const void *b) {
        uint64_t x = *(const uint64_t *) a, y = *(const uint64_t *) b;
        return x < y ? -1 : x > y;
}

/* One Describe() call; its duration in µs, or UINT64_MAX when it failed. */
static uint64_t probe_once(sd_bus *bus, uint64_t timeout_usec) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *call = NULL, *reply = NULL;
        sd_bus_error error = SD_BUS_ERROR_NULL;
        uint64_t t0 = now_usec();
        int r;

        r = sd_bus_message_new_method_call(bus, &call, BUS_NAME, BUS_PATH, BUS_INTERFACE, "Describe");
        if (r >= 0)
                r = sd_bus_call(bus, call, timeout_usec, &error, &reply);
        if (r < 0) {
                fprintf(stderr, "Describe() failed after %.0f ms: %s\n", (double) (now_usec() - t0) / 1000,
                        error.message ?: strerror(-r));
                sd_bus_error_free(&error);
                return UINT64_MAX;
        }
        return now_usec() - t0;
}

int main(int argc, char *argv[]) {
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        uint64_t *d = NULL, end, limit;
        size_t n = 0, cap = 0, failed = 0, slow = 0, run = 0, worst_run = 0;
        int r;

        if (argc != 4) {
                fprintf(stderr, "Usage: bus-probe ADDRESS SECONDS LIMIT_MS\n");
                return 2;
        }
        r = bus_connect_client(argv[1], &bus);
        if (r < 0) {
                fprintf(stderr, "Cannot connect to %s: %s\n", argv[1], strerror(-r));
                return 2;
        }
        end = now_usec() + (uint64_t) (atof(argv[2]) * 1e6);
        limit = (uint64_t) (atof(argv[3]) * 1000);
        while (now_usec() < end) {
                if (n == cap && !(d = realloc(d, (cap = cap * 2 + 64) * sizeof(*d))))
                        return 2;
                /* A call that waits more than ten times the limit has failed already. */
                d[n] = probe_once(bus, limit * 10);
                run = d[n] > limit ? run + 1 : 0;
                slow += d[n] > limit;
                worst_run = MAX(worst_run, d[n] == UINT64_MAX ? 2 : run);
                n++;
                (void) nanosleep(&(struct timespec) { .tv_nsec = 20 * 1000 * 1000 }, NULL);
        }
        if (n == 0)
                return 2;
        qsort(d, n, sizeof(*d), cmp_u64);
        for (size_t i = 0; i < n; i++)
                if (d[i] == UINT64_MAX)
                        failed++;
        if (failed == n)
                printf("%zu calls, none answered within %.0f ms\n", n, (double) limit * 10 / 1000);
        else
                printf("%zu calls (%zu unanswered, %zu over %.0f ms): median %.1f ms, slowest answer %.1f ms\n", n,
                       failed, slow, (double) limit / 1000, (double) d[n / 2] / 1000, (double) d[n - 1 - failed] / 1000);
        r = worst_run >= 2 ? 1 : 0;
        free(d);
        return r;
}
