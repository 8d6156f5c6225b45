/* SPDX-License-Identifier: Apache-2.0 */
/* The reload sidecar's decisions: a burst coalesced into one reload, what changed named for the
 * reload, incomplete or inconsistent sets held back, later changes not lost; its file stamps and probe.
 * (Running the reload, retrying and confirming it is reload.c's, tested in test-reload.c.) */
#include <fcntl.h>
#include <stdio.h>
#include <unistd.h>

#include "reload.h"
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

static SidecarPhase feed_stamp(SidecarState *st, const SidecarStamp *s, uint64_t now, unsigned *changes,
                               uint64_t *wake) {
        SidecarPhase p = sidecar_state_update(st, s, now, SETTLE, changes, wake);
        if (p == SIDECAR_CHANGED)
                sidecar_state_handed(st);   /* what the sidecar does once the set checked out */
        return p;
}

static SidecarPhase feed(SidecarState *st, unsigned gen, uint64_t now, unsigned *changes, uint64_t *wake) {
        SidecarStamp s = stamp(gen);
        return feed_stamp(st, &s, now, changes, wake);
}

TEST(sidecar_reloads_the_certificate_once_at_start) {
        SidecarState st = {};
        unsigned changes;
        uint64_t wake;

        /* What the datastore started with is not known to be loaded: one reload, after settling. */
        ASSERT_EQ(feed(&st, 1, 10 * S, &changes, &wake), SIDECAR_SETTLING);
        ASSERT_EQ(changes, 0);
        ASSERT_EQ(wake, 12 * S);
        ASSERT_EQ(feed(&st, 1, 12 * S, &changes, &wake), SIDECAR_CHANGED);
        ASSERT_EQ(changes, RELOAD_CHANGE_CERT);
        ASSERT_EQ(feed(&st, 1, 15 * S, &changes, &wake), SIDECAR_IDLE);
        ASSERT_EQ(changes, 0);
        ASSERT_EQ(wake, UINT64_MAX);
}

TEST(sidecar_burst_coalesced) {
        SidecarState st = {};
        unsigned changes, runs = 0;
        uint64_t wake;

        ASSERT_EQ(feed(&st, 1, 0, &changes, &wake), SIDECAR_SETTLING);
        ASSERT_EQ(feed(&st, 1, 3 * S, &changes, &wake), SIDECAR_CHANGED);

        /* key at 100 s, certificate at 101 s, CA at 102.5 s: one reload, 2 s after the last. */
        for (uint64_t t = 100 * S; t <= 110 * S; t += S / 2) {
                unsigned gen = t < 101 * S ? 2 : t < 102 * S + S / 2 ? 3 : 4;
                SidecarPhase p = feed(&st, gen, t, &changes, &wake);
                if (p == SIDECAR_CHANGED) {
                        ASSERT_EQ(t, 104 * S + S / 2);
                        ASSERT_EQ(changes, RELOAD_CHANGE_CERT | RELOAD_CHANGE_CA);
                        runs++;
                } else if (t < 104 * S + S / 2) {
                        ASSERT_EQ(p, SIDECAR_SETTLING);
                        ASSERT_TRUE(wake <= 104 * S + S / 2);
                } else
                        ASSERT_EQ(p, SIDECAR_IDLE);
        }
        ASSERT_EQ(runs, 1);
}

TEST(sidecar_changes_named) {
        SidecarStamp zero = {}, a = stamp(1), b;

        ASSERT_EQ(sidecar_stamp_changes(&zero, &zero), 0);
        ASSERT_EQ(sidecar_stamp_changes(&zero, &a), RELOAD_CHANGE_CERT);
        ASSERT_EQ(sidecar_stamp_changes(&a, &a), 0);
        b = a;
        b.file[3].ctime.tv_nsec++;   /* the CA file only: what TiKV and etcd tell apart */
        ASSERT_EQ(sidecar_stamp_changes(&a, &b), RELOAD_CHANGE_CA);
        b = a;
        b.file[2].size++;            /* the key */
        ASSERT_EQ(sidecar_stamp_changes(&a, &b), RELOAD_CHANGE_CERT);
        b = a;
        b.file[1].mtime.tv_sec++;    /* the certificate */
        ASSERT_EQ(sidecar_stamp_changes(&a, &b), RELOAD_CHANGE_CERT);
        b = a;
        b.file[0].ino++;             /* the directory replaced: anything may have */
        ASSERT_EQ(sidecar_stamp_changes(&a, &b), RELOAD_CHANGE_CERT | RELOAD_CHANGE_CA);
}

TEST(sidecar_incomplete_set_held_back) {
        SidecarState st = {};
        SidecarStamp s = stamp(1);
        unsigned changes;
        uint64_t wake;

        memset(&s.file[2], 0, sizeof(s.file[2]));   /* the key is missing */
        ASSERT_FALSE(sidecar_stamp_complete(&s));
        ASSERT_EQ(feed_stamp(&st, &s, 0, &changes, &wake), SIDECAR_INCOMPLETE);
        ASSERT_EQ(feed_stamp(&st, &s, 60 * S, &changes, &wake), SIDECAR_INCOMPLETE);
        ASSERT_EQ(changes, 0);

        /* Complete but not consistent (a key of another certificate): held until the files change. */
        ASSERT_EQ(feed(&st, 2, 61 * S, &changes, &wake), SIDECAR_SETTLING);
        s = stamp(2);
        ASSERT_EQ(sidecar_state_update(&st, &s, 63 * S, SETTLE, &changes, &wake), SIDECAR_CHANGED);
        sidecar_state_inconsistent(&st);
        ASSERT_EQ(feed(&st, 2, 64 * S, &changes, &wake), SIDECAR_INCOMPLETE);
        ASSERT_EQ(feed(&st, 2, 600 * S, &changes, &wake), SIDECAR_INCOMPLETE);
        ASSERT_EQ(changes, 0);
        ASSERT_EQ(feed(&st, 3, 601 * S, &changes, &wake), SIDECAR_SETTLING);
        ASSERT_EQ(feed(&st, 3, 603 * S, &changes, &wake), SIDECAR_CHANGED);
        ASSERT_EQ(changes, RELOAD_CHANGE_CERT);   /* nothing was handed over before: the start's */
}

TEST(sidecar_change_after_handing_over_not_lost) {
        SidecarState st = {};
        unsigned changes;
        uint64_t wake;

        ASSERT_EQ(feed(&st, 1, 0, &changes, &wake), SIDECAR_SETTLING);
        ASSERT_EQ(feed(&st, 1, 2 * S, &changes, &wake), SIDECAR_CHANGED);
        /* The files change again right away (the reload may still run: it queues the change). */
        ASSERT_EQ(feed(&st, 2, 2 * S + 1, &changes, &wake), SIDECAR_SETTLING);
        ASSERT_EQ(feed(&st, 2, 4 * S + 1, &changes, &wake), SIDECAR_CHANGED);
        ASSERT_EQ(changes, RELOAD_CHANGE_CERT | RELOAD_CHANGE_CA);
        ASSERT_EQ(feed(&st, 2, 5 * S, &changes, &wake), SIDECAR_IDLE);
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
        _cleanup_free_ char *line = NULL, *line2 = NULL, *line3 = NULL, *line4 = NULL;

        snprintf(path, sizeof(path), "%s/status", test_tmpdir);
        ASSERT_ERROR(sidecar_probe(path, &line), ENOENT);
        write_file(test_tmpdir, "status", "phase=idle reload=confirmed failures=0 reloads=2 certificate=c message=\n");
        ASSERT_OK(sidecar_probe(path, &line));
        ASSERT_STREQ(line, "phase=idle reload=confirmed failures=0 reloads=2 certificate=c message=");
        write_file(test_tmpdir, "status", "phase=idle reload=retrying failures=3 reloads=2 message=hook failed\n");
        ASSERT_ERROR(sidecar_probe(path, &line2), EBUSY);
        ASSERT_CONTAINS(line2, "failures=3");
        write_file(test_tmpdir, "status", "phase=idle reload=needs-restart failures=0 message=etcd reads\n");
        ASSERT_ERROR(sidecar_probe(path, &line3), EBUSY);
        /* Running again after a failure is still failing until it succeeds. */
        free(line3);
        line3 = NULL;
        write_file(test_tmpdir, "status", "phase=idle reload=running failures=1 message=hook killed\n");
        ASSERT_ERROR(sidecar_probe(path, &line3), EBUSY);
        write_file(test_tmpdir, "status", "something else\n");
        ASSERT_ERROR(sidecar_probe(path, &line4), EBADMSG);
}
