/* SPDX-License-Identifier: Apache-2.0 */
/* What a change needs of each profile's datastore: hook, restart, or nothing. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "profile.h"
#include "reload.h"
#include "tests.h"

static CertificateConfig cc_of(ProfileType p) {
        return (CertificateConfig) { .name = (char *) "c", .profile = p, .directory = (char *) "/srv/tls",
                                     .reload = true };
}

TEST(actions) {
        char *restart[] = { (char *) "/bin/systemctl", (char *) "restart", (char *) "etcd", NULL };
        char *reload[] = { (char *) "/usr/local/bin/reload", NULL };
        CertificateConfig cc;

        /* Hooks where the datastore takes one, for a certificate and a CA alike. */
        for (ProfileType t = 0; t < _PROFILE_TYPE_MAX; t++) {
                const Profile *p = profile_get(t);
                cc = cc_of(t);
                if (p->reload_hook) {
                        ASSERT_EQ(reload_action(&cc, RELOAD_CHANGE_CERT), RELOAD_ACTION_HOOK);
                        ASSERT_EQ(reload_action(&cc, RELOAD_CHANGE_CA), RELOAD_ACTION_HOOK);
                }
                ASSERT_EQ(reload_action(&cc, 0), RELOAD_ACTION_NONE);
        }

        /* etcd and PD: the certificate per handshake, the CA at start only. */
        cc = cc_of(PROFILE_ETCD);
        ASSERT_EQ(reload_action(&cc, RELOAD_CHANGE_CERT), RELOAD_ACTION_NONE);
        ASSERT_EQ(reload_action(&cc, RELOAD_CHANGE_CA), RELOAD_ACTION_RESTART_MISSING);
        ASSERT_EQ(reload_action(&cc, RELOAD_CHANGE_CA | RELOAD_CHANGE_CERT), RELOAD_ACTION_RESTART_MISSING);
        cc.restart_command = restart;
        ASSERT_EQ(reload_action(&cc, RELOAD_CHANGE_CA), RELOAD_ACTION_RESTART);
        ASSERT_EQ(reload_action(&cc, RELOAD_CHANGE_CERT), RELOAD_ACTION_NONE);
        cc = cc_of(PROFILE_PD);
        ASSERT_EQ(reload_action(&cc, RELOAD_CHANGE_CA), RELOAD_ACTION_RESTART_MISSING);

        /* TiKV re-reads everything when the certificate's mtime moves (nodeseal rewrites it). */
        cc = cc_of(PROFILE_TIKV);
        ASSERT_EQ(reload_action(&cc, RELOAD_CHANGE_CERT | RELOAD_CHANGE_CA), RELOAD_ACTION_NONE);

        /* rqlite and BanyanDB: the certificate by themselves, a CA with a restart. */
        cc = cc_of(PROFILE_RQLITE);
        ASSERT_EQ(reload_action(&cc, RELOAD_CHANGE_CERT), RELOAD_ACTION_NONE);
        ASSERT_EQ(reload_action(&cc, RELOAD_CHANGE_CA), RELOAD_ACTION_RESTART_MISSING);
        cc = cc_of(PROFILE_BANYANDB);
        ASSERT_EQ(reload_action(&cc, RELOAD_CHANGE_CA), RELOAD_ACTION_RESTART_MISSING);

        /* reload_command runs after any change; "reload": false silences the hook but not a restart. */
        cc = cc_of(PROFILE_ETCD);
        cc.reload_command = reload;
        ASSERT_EQ(reload_action(&cc, RELOAD_CHANGE_CERT), RELOAD_ACTION_HOOK);
        cc = cc_of(PROFILE_POSTGRESQL);
        cc.reload = false;
        ASSERT_EQ(reload_action(&cc, RELOAD_CHANGE_CERT), RELOAD_ACTION_NONE);
        cc = cc_of(PROFILE_GENERIC);
        ASSERT_EQ(reload_action(&cc, RELOAD_CHANGE_CERT), RELOAD_ACTION_NONE);

        for (ReloadState s = 0; s < _RELOAD_STATE_MAX; s++)
                ASSERT_TRUE(reload_state_to_string(s) != NULL);
}

static unsigned lines_of(const char *path) {
        FILE *f = fopen(path, "re");
        unsigned n = 0;
        int c;

        if (!f)
                return 0;
        while ((c = fgetc(f)) != EOF)
                n += c == '\n';
        fclose(f);
        return n;
}

/* Runs the loop until done(r) or 20 s. */
static void run_until(sd_event *e, Reload *r, bool (*done)(Reload *r)) {
        for (int i = 0; i < 400 && !done(r); i++)
                ASSERT_TRUE(sd_event_run(e, 50 * USEC_PER_MSEC) >= 0);
        ASSERT_TRUE(done(r));
}

static bool restarted_and_failed(Reload *r) {
        return reload_actions_run(r) >= 1 && reload_failures(r) >= 1;
}

static bool failed_three_times(Reload *r) {
        return reload_failures(r) >= 3;
}

/* etcd needs a restart for a new CA and nothing for a new certificate. A restart whose datastore is
 * not serving yet is checked again; a certificate change arriving meanwhile needs no restart of
 * its own, so the datastore is not restarted a second time (it was: one more leader election, seen
 * as three etcd starts where two were expected). */
TEST(restart_not_repeated_for_certificate_change) {
        char dir[] = "/tmp/test-reload-XXXXXX", log[64], cmd[160];
        _cleanup_(sd_event_unrefp) sd_event *e = NULL;
        _cleanup_(reload_freep) Reload *r = NULL;
        RetryConfig retry = { .initial_usec = 20 * USEC_PER_MSEC, .max_usec = 40 * USEC_PER_MSEC, .multiplier = 2.0 };
        CertificateConfig cc = cc_of(PROFILE_ETCD);
        sigset_t ss;

        ASSERT_TRUE(mkdtemp(dir) != NULL);
        (void) snprintf(log, sizeof(log), "%s/restarts", dir);
        (void) snprintf(cmd, sizeof(cmd), "echo restart >>%s", log);
        char *restart[] = { (char *) "/bin/sh", (char *) "-c", cmd, NULL };
        cc.directory = dir;
        cc.restart_command = restart;
        /* Nothing listens there: every serve check fails, as while etcd comes back. */
        cc.serve_check = (ServeCheckConfig) { .address = (char *) "127.0.0.1:1", .protocol = SERVE_CHECK_TLS };

        ASSERT_OK(sigemptyset(&ss));
        ASSERT_OK(sigaddset(&ss, SIGCHLD));
        ASSERT_OK(sigprocmask(SIG_BLOCK, &ss, NULL));
        ASSERT_OK(sd_event_new(&e));
        ReloadSettings rs = { .config = &cc, .retry = &retry, .timeout_usec = 5 * USEC_PER_SEC, .binary = "/bin/false" };
        ASSERT_OK(reload_new(e, &rs, NULL, NULL, &r));

        reload_request(r, RELOAD_CHANGE_CA);
        run_until(e, r, restarted_and_failed);
        ASSERT_EQ(lines_of(log), 1u);

        reload_request(r, RELOAD_CHANGE_CERT);
        run_until(e, r, failed_three_times);
        ASSERT_EQ(lines_of(log), 1u);
        ASSERT_EQ(reload_state(r), RELOAD_RETRYING);

        /* A CA change after the restart began is one the datastore has not read: restart again. */
        reload_request(r, RELOAD_CHANGE_CA);
        for (int i = 0; i < 400 && lines_of(log) < 2; i++)
                ASSERT_TRUE(sd_event_run(e, 50 * USEC_PER_MSEC) >= 0);
        ASSERT_EQ(lines_of(log), 2u);

        r = reload_free(r);
        (void) unlink(log);
        ASSERT_OK(rmdir(dir));
}
