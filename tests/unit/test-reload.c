/* SPDX-License-Identifier: Apache-2.0 */
/* What a change needs of each profile's datastore: hook, restart, or nothing. */
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
