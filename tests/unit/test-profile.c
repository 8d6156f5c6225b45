/* SPDX-License-Identifier: Apache-2.0 */
/* Profiles: the documented file names per datastore, paths, owners, modes and their refusals. */
#include <pwd.h>

#include "profile.h"
#include "tests.h"

static CertificateConfig cert_config(ProfileType p, const char *owner, const char *group) {
        return (CertificateConfig) {
                .name = (char *) "c",
                .profile = p,
                .directory = (char *) "/srv/tls",
                .owner = (char *) owner,
                .group = (char *) group,
        };
}

TEST(table) {
        static const struct {
                ProfileType type;
                const char *cert, *key, *ca, *owner, *hook;
                ProfileReload cert_reload, ca_reload;
                const char *since;
        } expected[] = {
                { PROFILE_POSTGRESQL, "server.crt", "server.key", "root.crt", "postgres", "postgresql",
                  PROFILE_RELOAD_HOOK, PROFILE_RELOAD_HOOK, NULL },
                { PROFILE_MYSQL, "server-cert.pem", "server-key.pem", "ca.pem", "mysql", "mysql", PROFILE_RELOAD_HOOK,
                  PROFILE_RELOAD_HOOK, NULL },
                { PROFILE_REDIS, "redis.crt", "redis.key", "ca.crt", "redis", "redis", PROFILE_RELOAD_HOOK,
                  PROFILE_RELOAD_HOOK, NULL },
                { PROFILE_TIKV, "server.pem", "server-key.pem", "ca.pem", "tidb", NULL, PROFILE_RELOAD_MTIME,
                  PROFILE_RELOAD_MTIME, NULL },
                { PROFILE_RQLITE, "node.crt", "node.key", "ca.crt", "rqlite", NULL, PROFILE_RELOAD_MTIME,
                  PROFILE_RELOAD_RESTART, "rqlite 8.37" },
                { PROFILE_BANYANDB, "server.crt", "server.key", "ca.crt", NULL, NULL, PROFILE_RELOAD_WATCH,
                  PROFILE_RELOAD_RESTART, "BanyanDB 0.9" },
                { PROFILE_GENERIC, "tls.crt", "tls.key", "ca.crt", NULL, NULL, PROFILE_RELOAD_HOOK,
                  PROFILE_RELOAD_HOOK, NULL },
                { PROFILE_ETCD, "server.crt", "server.key", "ca.crt", "etcd", NULL, PROFILE_RELOAD_HANDSHAKE,
                  PROFILE_RELOAD_RESTART, NULL },
                { PROFILE_PD, "server.pem", "server-key.pem", "ca.pem", "tidb", NULL, PROFILE_RELOAD_HANDSHAKE,
                  PROFILE_RELOAD_RESTART, NULL },
        };

        ASSERT_EQ(ELEMENTSOF(expected), _PROFILE_TYPE_MAX);
        for (size_t i = 0; i < ELEMENTSOF(expected); i++) {
                const Profile *p = profile_get(expected[i].type);

                ASSERT_TRUE(p);
                ASSERT_EQ(p->type, expected[i].type);
                ASSERT_STREQ(p->cert_file, expected[i].cert);
                ASSERT_STREQ(p->key_file, expected[i].key);
                ASSERT_STREQ(p->ca_file, expected[i].ca);
                ASSERT_TRUE(expected[i].owner ? p->default_owner && streq(p->default_owner, expected[i].owner)
                                              : !p->default_owner);
                ASSERT_TRUE(expected[i].hook ? p->reload_hook && streq(p->reload_hook, expected[i].hook)
                                             : !p->reload_hook);
                ASSERT_EQ(p->cert_reload, expected[i].cert_reload);
                ASSERT_EQ(p->ca_reload, expected[i].ca_reload);
                ASSERT_TRUE(expected[i].since ? p->reload_since && streq(p->reload_since, expected[i].since)
                                              : !p->reload_since);
                /* A hook mode needs a hook, or it is the generic profile's reload_command. */
                if (p->cert_reload == PROFILE_RELOAD_HOOK || p->ca_reload == PROFILE_RELOAD_HOOK)
                        ASSERT_TRUE(p->reload_hook || p->type == PROFILE_GENERIC);
                /* Refusals come with a reason. */
                ASSERT_EQ(!!(p->refused_node_keys | p->refused_ca_keys), !!p->refused_reason);
                /* Three distinct files in every layout. */
                ASSERT_FALSE(streq(p->cert_file, p->key_file));
                ASSERT_FALSE(streq(p->cert_file, p->ca_file));
                ASSERT_FALSE(streq(p->key_file, p->ca_file));
        }
        ASSERT_TRUE(profile_get(PROFILE_POSTGRESQL)->group_key_needs_root);
        ASSERT_FALSE(profile_get(PROFILE_REDIS)->group_key_needs_root);
        ASSERT_TRUE(profile_get(_PROFILE_TYPE_INVALID) == NULL);
        ASSERT_TRUE(profile_get(_PROFILE_TYPE_MAX) == NULL);
        for (ProfileReload r = 0; r < _PROFILE_RELOAD_MAX; r++)
                ASSERT_EQ(profile_reload_from_string(profile_reload_to_string(r)), r);
}

TEST(refused_keys) {
        const Profile *pg = profile_get(PROFILE_POSTGRESQL), *tikv = profile_get(PROFILE_TIKV),
                      *pd = profile_get(PROFILE_PD), *etcd = profile_get(PROFILE_ETCD);

        /* The CA's signature is what channel binding hashes; the node's own key does not enter it. */
        ASSERT_TRUE(profile_refuses_key(pg, KEY_TYPE_ED25519, true) != NULL);
        ASSERT_TRUE(profile_refuses_key(pg, KEY_TYPE_ED25519, false) == NULL);
        ASSERT_TRUE(profile_refuses_key(pg, KEY_TYPE_EC_P384, true) == NULL);
        for (int as_ca = 0; as_ca <= 1; as_ca++) {
                ASSERT_TRUE(profile_refuses_key(tikv, KEY_TYPE_ED25519, as_ca) != NULL);
                ASSERT_TRUE(profile_refuses_key(tikv, KEY_TYPE_EC_P384, as_ca) != NULL);
                ASSERT_TRUE(profile_refuses_key(pd, KEY_TYPE_EC_P384, as_ca) != NULL);
                ASSERT_TRUE(profile_refuses_key(tikv, KEY_TYPE_EC_P256, as_ca) == NULL);
                ASSERT_TRUE(profile_refuses_key(tikv, KEY_TYPE_RSA_2048, as_ca) == NULL);
                ASSERT_TRUE(profile_refuses_key(etcd, KEY_TYPE_ED25519, as_ca) == NULL);
        }
        ASSERT_TRUE(profile_refuses_key(tikv, _KEY_TYPE_INVALID, false) == NULL);
}

TEST(paths) {
        CertificateConfig cc = cert_config(PROFILE_MYSQL, NULL, NULL);
        ProfileFiles f = PROFILE_FILES_NULL;

        ASSERT_OK(profile_files_paths(&cc, &f));
        ASSERT_STREQ(f.cert_path, "/srv/tls/server-cert.pem");
        ASSERT_STREQ(f.key_path, "/srv/tls/server-key.pem");
        ASSERT_STREQ(f.ca_path, "/srv/tls/ca.pem");
        ASSERT_EQ(f.key_mode, 0600);
        ASSERT_EQ(f.cert_mode, 0644);
        ASSERT_EQ(f.ca_mode, 0644);
        ASSERT_EQ(f.uid, (uid_t) -1);
        profile_files_done(&f);
        ASSERT_TRUE(f.cert_path == NULL);
        profile_files_done(&f);   /* twice is fine */
        profile_files_done(NULL);
}

TEST(generic_defaults) {
        CertificateConfig cc = cert_config(PROFILE_GENERIC, NULL, NULL);
        ProfileFiles f = PROFILE_FILES_NULL;
        NsError e = {};

        /* No default owner: the files belong to the agent (root in production). */
        ASSERT_OK(profile_files_resolve(&cc, &f, &e));
        ASSERT_EQ(f.uid, (uid_t) -1);
        ASSERT_EQ(f.gid, (gid_t) -1);
        ASSERT_EQ(f.key_mode, 0600);
        ASSERT_STREQ(f.cert_path, "/srv/tls/tls.crt");
        profile_files_done(&f);
}

TEST(owner_and_group) {
        CertificateConfig cc = cert_config(PROFILE_REDIS, "root", "0");
        ProfileFiles f = PROFILE_FILES_NULL;
        NsError e = {};

        ASSERT_OK(profile_files_resolve(&cc, &f, &e));
        ASSERT_EQ(f.uid, 0);
        ASSERT_EQ(f.gid, 0);
        ASSERT_EQ(f.key_mode, 0640);   /* a group is set */
        ASSERT_EQ(f.cert_mode, 0644);
        profile_files_done(&f);

        cc = cert_config(PROFILE_REDIS, "4321", NULL);
        ASSERT_OK(profile_files_resolve(&cc, &f, &e));
        ASSERT_EQ(f.uid, 4321);
        ASSERT_EQ(f.key_mode, 0600);
        profile_files_done(&f);
}

TEST(unknown_users_named) {
        CertificateConfig cc = cert_config(PROFILE_GENERIC, "nodeseal-no-such-user", NULL);
        ProfileFiles f = PROFILE_FILES_NULL;
        NsError e = {};

        ASSERT_ERROR(profile_files_resolve(&cc, &f, &e), ESRCH);
        ASSERT_CONTAINS(e.message, "owner \"nodeseal-no-such-user\"");

        e = (NsError) {};
        cc = cert_config(PROFILE_GENERIC, NULL, "nodeseal-no-such-group");
        ASSERT_ERROR(profile_files_resolve(&cc, &f, &e), ESRCH);
        ASSERT_CONTAINS(e.message, "group \"nodeseal-no-such-group\"");
}

TEST(default_owner_missing) {
        /* Whichever datastore user this machine lacks: the error names it and says what to set. */
        for (ProfileType t = 0; t < _PROFILE_TYPE_MAX; t++) {
                const Profile *p = profile_get(t);
                CertificateConfig cc = cert_config(t, NULL, NULL);
                ProfileFiles f = PROFILE_FILES_NULL;
                NsError e = {};
                int r;

                if (!p->default_owner || getpwnam(p->default_owner))
                        continue;
                r = profile_files_resolve(&cc, &f, &e);
                ASSERT_EQ(r, -ESRCH);
                ASSERT_CONTAINS(e.message, p->default_owner);
                ASSERT_CONTAINS(e.message, "set \"owner\"");
                ASSERT_CONTAINS(e.message, profile_type_to_string(t));
        }
}

TEST(postgresql_group_key_needs_root) {
        CertificateConfig cc = cert_config(PROFILE_POSTGRESQL, "4321", "0");
        ProfileFiles f = PROFILE_FILES_NULL;
        NsError e = {};

        ASSERT_ERROR(profile_files_resolve(&cc, &f, &e), EINVAL);
        ASSERT_CONTAINS(e.message, "set \"owner\" to \"root\"");

        cc = cert_config(PROFILE_POSTGRESQL, "root", "0");
        ASSERT_OK(profile_files_resolve(&cc, &f, &e));
        ASSERT_EQ(f.key_mode, 0640);
        ASSERT_STREQ(f.key_path, "/srv/tls/server.key");
        ASSERT_STREQ(f.ca_path, "/srv/tls/root.crt");
        profile_files_done(&f);

        /* Without a group the datastore user may own its 0600 key. */
        cc = cert_config(PROFILE_POSTGRESQL, "4321", NULL);
        ASSERT_OK(profile_files_resolve(&cc, &f, &e));
        ASSERT_EQ(f.key_mode, 0600);
        profile_files_done(&f);
}
