/* SPDX-License-Identifier: Apache-2.0 */
/* The reload sidecar's decisions: a burst coalesced into one reload, incomplete or inconsistent sets
 * held back, failures retried after the backoff, changes during a run not lost; its file stamps and probe. */
#include <fcntl.h>
#include <stdio.h>
#include <unistd.h>

#include "sidecar.h"
#include "tests.h"

#define S USEC_PER_SEC
#define SETTLE (2 * S)

/* A stamp whose four files are present, told apart by gen. */
static SidecarStamp stamp(unsigned gen) {
        SidecarStamp s;
        memset(&s, 0, sizeof(s));
        for (size_t i = 0; i < ELEMENTSOF(s.file); i++) {
                s.file[i].present = true;
                s.file[i].ino = 100 * (i + 1) + gen;
        }
        return s;
}

static SidecarPhase feed(SidecarState *st, unsigned gen, uint64_t now, bool *run, uint64_t *wake) {
        SidecarStamp s = stamp(gen);
        return sidecar_state_update(st, &s, now, SETTLE, run, wake);
}

TEST(sidecar_reloads_once_at_start) {
        SidecarState st = {};
        uint64_t wake;
        bool run;

        /* What the datastore started with is not known to be loaded: one reload, after settling. */
        ASSERT_EQ(feed(&st, 1, 10 * S, &run, &wake), SIDECAR_SETTLING);
        ASSERT_FALSE(run);
        ASSERT_EQ(wake, 12 * S);
        ASSERT_EQ(feed(&st, 1, 12 * S, &run, &wake), SIDECAR_RELOADING);
        ASSERT_TRUE(run);
        sidecar_state_started(&st);
        ASSERT_EQ(feed(&st, 1, 13 * S, &run, &wake), SIDECAR_RELOADING);
        ASSERT_FALSE(run);
        sidecar_state_finished(&st, true, 14 * S, 0);
        ASSERT_EQ(feed(&st, 1, 15 * S, &run, &wake), SIDECAR_IDLE);
        ASSERT_FALSE(run);
        ASSERT_EQ(wake, UINT64_MAX);
}

TEST(sidecar_burst_coalesced) {
        SidecarState st = {};
        uint64_t wake;
        bool run;
        unsigned runs = 0;

        ASSERT_EQ(feed(&st, 1, 0, &run, &wake), SIDECAR_SETTLING);
        ASSERT_EQ(feed(&st, 1, 3 * S, &run, &wake), SIDECAR_RELOADING);
        sidecar_state_started(&st);
        sidecar_state_finished(&st, true, 3 * S, 0);

        /* key at 100 s, certificate at 101 s, CA at 102.5 s: one reload, 2 s after the last. */
        for (uint64_t t = 100 * S; t <= 110 * S; t += S / 2) {
                unsigned gen = t < 101 * S ? 2 : t < 102 * S + S / 2 ? 3 : 4;
                SidecarPhase p = feed(&st, gen, t, &run, &wake);
                if (run) {
                        ASSERT_EQ(t, 104 * S + S / 2);
                        ASSERT_EQ(p, SIDECAR_RELOADING);
                        sidecar_state_started(&st);
                        sidecar_state_finished(&st, true, t, 0);
                        runs++;
                } else if (t < 104 * S + S / 2) {
                        ASSERT_EQ(p, SIDECAR_SETTLING);
                        ASSERT_TRUE(wake <= 104 * S + S / 2);
                } else
                        ASSERT_EQ(p, SIDECAR_IDLE);
        }
        ASSERT_EQ(runs, 1);
}

TEST(sidecar_incomplete_set_held_back) {
        SidecarState st = {};
        SidecarStamp s = stamp(1);
        uint64_t wake;
        bool run;

        s.file[2].present = false;   /* the key is missing */
        memset(&s.file[2], 0, sizeof(s.file[2]));
        ASSERT_FALSE(sidecar_stamp_complete(&s));
        ASSERT_EQ(sidecar_state_update(&st, &s, 0, SETTLE, &run, &wake), SIDECAR_INCOMPLETE);
        ASSERT_EQ(sidecar_state_update(&st, &s, 60 * S, SETTLE, &run, &wake), SIDECAR_INCOMPLETE);
        ASSERT_FALSE(run);

        /* Complete but not consistent (a key of another certificate): held until the files change. */
        ASSERT_EQ(feed(&st, 2, 61 * S, &run, &wake), SIDECAR_SETTLING);
        ASSERT_EQ(feed(&st, 2, 63 * S, &run, &wake), SIDECAR_RELOADING);
        ASSERT_TRUE(run);
        sidecar_state_consistent(&st, false);
        ASSERT_EQ(feed(&st, 2, 64 * S, &run, &wake), SIDECAR_INCOMPLETE);
        ASSERT_EQ(feed(&st, 2, 600 * S, &run, &wake), SIDECAR_INCOMPLETE);
        ASSERT_FALSE(run);
        ASSERT_EQ(feed(&st, 3, 601 * S, &run, &wake), SIDECAR_SETTLING);
        ASSERT_EQ(feed(&st, 3, 603 * S, &run, &wake), SIDECAR_RELOADING);
        ASSERT_TRUE(run);
}

TEST(sidecar_failure_retried_after_backoff) {
        SidecarState st = {};
        uint64_t wake;
        bool run;

        ASSERT_EQ(feed(&st, 1, 0, &run, &wake), SIDECAR_SETTLING);
        ASSERT_EQ(feed(&st, 1, 2 * S, &run, &wake), SIDECAR_RELOADING);
        sidecar_state_started(&st);
        sidecar_state_finished(&st, false, 3 * S, 6 * S);
        ASSERT_EQ(st.failures, 1);
        ASSERT_EQ(feed(&st, 1, 4 * S, &run, &wake), SIDECAR_RETRY_WAIT);
        ASSERT_FALSE(run);
        ASSERT_EQ(wake, 9 * S);
        /* A new set during the backoff does not cut it short: the admin channel is what failed. */
        ASSERT_EQ(feed(&st, 2, 5 * S, &run, &wake), SIDECAR_SETTLING);
        ASSERT_EQ(feed(&st, 2, 7 * S, &run, &wake), SIDECAR_RETRY_WAIT);
        ASSERT_FALSE(run);
        ASSERT_EQ(feed(&st, 2, 9 * S, &run, &wake), SIDECAR_RELOADING);
        ASSERT_TRUE(run);
        sidecar_state_started(&st);
        sidecar_state_finished(&st, false, 10 * S, 8 * S);
        ASSERT_EQ(st.failures, 2);
        ASSERT_EQ(feed(&st, 2, 16 * S, &run, &wake), SIDECAR_RETRY_WAIT);
        ASSERT_EQ(feed(&st, 2, 18 * S, &run, &wake), SIDECAR_RELOADING);
        ASSERT_TRUE(run);
        sidecar_state_started(&st);
        sidecar_state_finished(&st, true, 18 * S, 0);
        ASSERT_EQ(st.failures, 0);
        ASSERT_EQ(feed(&st, 2, 18 * S, &run, &wake), SIDECAR_IDLE);
}

TEST(sidecar_change_during_run_not_lost) {
        SidecarState st = {};
        uint64_t wake;
        bool run;

        ASSERT_EQ(feed(&st, 1, 0, &run, &wake), SIDECAR_SETTLING);
        ASSERT_EQ(feed(&st, 1, 2 * S, &run, &wake), SIDECAR_RELOADING);
        sidecar_state_started(&st);
        /* The files change while the hook runs: its success covers the old set only. */
        ASSERT_EQ(feed(&st, 2, 3 * S, &run, &wake), SIDECAR_RELOADING);
        ASSERT_FALSE(run);
        sidecar_state_finished(&st, true, 4 * S, 0);
        ASSERT_EQ(feed(&st, 2, 4 * S, &run, &wake), SIDECAR_SETTLING);
        ASSERT_EQ(feed(&st, 2, 5 * S, &run, &wake), SIDECAR_RELOADING);
        ASSERT_TRUE(run);
}

static void write_file(const char *dir, const char *name, const char *text) {
        char tmp[512], path[512];
        FILE *f;

        snprintf(tmp, sizeof(tmp), "%s/.%s.tmp", dir, name);
        snprintf(path, sizeof(path), "%s/%s", dir, name);
        f = fopen(tmp, "we");
        fputs(text, f);
        fclose(f);
        (void) rename(tmp, path);
}

TEST(sidecar_stamp_sees_atomic_rename) {
        char dir[512], cert[600], key[600], ca[600];
        SidecarStamp a, b, c;

        snprintf(dir, sizeof(dir), "%s/certs", test_tmpdir);
        ASSERT_OK(mkdir(dir, 0755) < 0 ? -errno : 0);
        snprintf(cert, sizeof(cert), "%s/c.crt", dir);
        snprintf(key, sizeof(key), "%s/c.key", dir);
        snprintf(ca, sizeof(ca), "%s/ca.crt", dir);

        sidecar_stamp_read(dir, cert, key, ca, &a);
        ASSERT_TRUE(a.file[0].present);
        ASSERT_FALSE(sidecar_stamp_complete(&a));
        write_file(dir, "c.crt", "one");
        write_file(dir, "c.key", "one");
        write_file(dir, "ca.crt", "one");
        sidecar_stamp_read(dir, cert, key, ca, &a);
        ASSERT_TRUE(sidecar_stamp_complete(&a));
        sidecar_stamp_read(dir, cert, key, ca, &b);
        ASSERT_EQ(memcmp(&a, &b, sizeof(a)), 0);
        /* The same size and content, written by rename in the same second: still a new file. */
        write_file(dir, "c.crt", "one");
        sidecar_stamp_read(dir, cert, key, ca, &c);
        ASSERT_TRUE(memcmp(&a, &c, sizeof(a)) != 0);
        ASSERT_TRUE(a.file[1].ino != c.file[1].ino);
}

TEST(sidecar_probe_reads_status) {
        char path[512];
        _cleanup_free_ char *line = NULL, *line2 = NULL, *line3 = NULL;

        snprintf(path, sizeof(path), "%s/status", test_tmpdir);
        ASSERT_ERROR(sidecar_probe(path, &line), ENOENT);
        write_file(test_tmpdir, "status", "phase=idle failures=0 reloads=2 last_reload=x last_result=ok certificate=c\n");
        ASSERT_OK(sidecar_probe(path, &line));
        ASSERT_STREQ(line, "phase=idle failures=0 reloads=2 last_reload=x last_result=ok certificate=c");
        write_file(test_tmpdir, "status", "phase=retry-wait failures=3 reloads=2 last_reload=x last_result=failed certificate=c\n");
        ASSERT_ERROR(sidecar_probe(path, &line2), EBUSY);
        ASSERT_CONTAINS(line2, "failures=3");
        write_file(test_tmpdir, "status", "something else\n");
        ASSERT_ERROR(sidecar_probe(path, &line3), EBADMSG);
}
