/* SPDX-License-Identifier: Apache-2.0 */
/* Per-datastore certificate layout, taken from each datastore's own documentation. */
#include "profile.h"

/* Every datastore below reads a chain from its certificate file (PostgreSQL ssl_cert_file,
 * MySQL/MariaDB ssl_cert, Redis tls-cert-file via SSL_CTX_use_certificate_chain_file, and the Go and
 * Rust TLS stacks of TiKV/PD, rqlite and BanyanDB), so the intermediates follow the node certificate
 * there and no separate chain file is written. The CA file holds only the trust anchors. */
static const Profile profiles[_PROFILE_TYPE_MAX] = {
        /* PostgreSQL: ssl_cert_file/ssl_key_file default to server.crt/server.key; root.crt is the
         * name its documentation uses for ssl_ca_file. The server refuses a key file with group or
         * world access, except 0640 when root owns it. */
        [PROFILE_POSTGRESQL] = {
                .type = PROFILE_POSTGRESQL,
                .cert_file = "server.crt",
                .key_file = "server.key",
                .ca_file = "root.crt",
                .default_owner = "postgres",
                .reload_hook = "postgresql",
                .group_key_needs_root = true,
        },
        /* MySQL/MariaDB: the names mysqld's auto-generated TLS files use (ssl_cert, ssl_key, ssl_ca). */
        [PROFILE_MYSQL] = {
                .type = PROFILE_MYSQL,
                .cert_file = "server-cert.pem",
                .key_file = "server-key.pem",
                .ca_file = "ca.pem",
                .default_owner = "mysql",
                .reload_hook = "mysql",
        },
        /* Redis: tls-cert-file, tls-key-file, tls-ca-cert-file as in redis.conf and its test certs. */
        [PROFILE_REDIS] = {
                .type = PROFILE_REDIS,
                .cert_file = "redis.crt",
                .key_file = "redis.key",
                .ca_file = "ca.crt",
                .default_owner = "redis",
                .reload_hook = "redis",
        },
        /* TiKV and PD: [security] cert-path, key-path, ca-path; both re-read the files when they
         * change. TiUP deploys the cluster as user "tidb". */
        [PROFILE_TIKV] = {
                .type = PROFILE_TIKV,
                .cert_file = "server.pem",
                .key_file = "server-key.pem",
                .ca_file = "ca.pem",
                .default_owner = "tidb",
                .watches_files = true,
        },
        /* rqlite: one pair for -node-cert/-node-key/-node-ca-cert (Raft, mutual TLS) and
         * -http-cert/-http-key/-http-ca-cert. rqlite 8 reloads its certificate and key when the
         * files change, so there is no hook; older versions need a restart (reload_command). */
        [PROFILE_RQLITE] = {
                .type = PROFILE_RQLITE,
                .cert_file = "node.crt",
                .key_file = "node.key",
                .ca_file = "ca.crt",
                .default_owner = "rqlite",
                .watches_files = true,
        },
        /* BanyanDB: --tls --cert-file --key-file (and --http-cert-file/--http-key-file/
         * --http-grpc-cert-file); clients get the CA (bydbctl --cert). It re-reads changed files.
         * Its images run as root, so there is no dedicated user to default to. */
        [PROFILE_BANYANDB] = {
                .type = PROFILE_BANYANDB,
                .cert_file = "server.crt",
                .key_file = "server.key",
                .ca_file = "ca.crt",
                .watches_files = true,
        },
        /* The layout of a kubernetes.io/tls Secret. */
        [PROFILE_GENERIC] = {
                .type = PROFILE_GENERIC,
                .cert_file = "tls.crt",
                .key_file = "tls.key",
                .ca_file = "ca.crt",
        },
};

const Profile *profile_get(ProfileType type) {
        if ((int) type < 0 || type >= _PROFILE_TYPE_MAX)
                return NULL;
        return profiles + type;
}

void profile_files_done(ProfileFiles *f) {
        if (!f)
                return;
        free(f->cert_path);
        free(f->key_path);
        free(f->ca_path);
        *f = PROFILE_FILES_NULL;
}

int profile_files_paths(const CertificateConfig *cc, ProfileFiles *ret) {
        _cleanup_free_ char *cert = NULL, *key = NULL, *ca = NULL;
        const Profile *p = profile_get(cc->profile);

        if (!p)
                return -EINVAL;
        if (asprintf(&cert, "%s/%s", cc->directory, p->cert_file) < 0 ||
            asprintf(&key, "%s/%s", cc->directory, p->key_file) < 0 ||
            asprintf(&ca, "%s/%s", cc->directory, p->ca_file) < 0)
                return -ENOMEM;

        *ret = PROFILE_FILES_NULL;
        ret->cert_path = TAKE_PTR(cert);
        ret->key_path = TAKE_PTR(key);
        ret->ca_path = TAKE_PTR(ca);
        ret->key_mode = 0600;
        ret->cert_mode = 0644;
        ret->ca_mode = 0644;
        return 0;
}

int profile_files_resolve(const CertificateConfig *cc, ProfileFiles *ret, NsError *error) {
        const Profile *p = profile_get(cc->profile);
        const char *owner;
        ProfileFiles f;
        uid_t uid;
        gid_t gid, group_gid;
        int r;

        if (!p)
                return ns_error_set(error, -EINVAL, "Unknown profile");

        owner = cc->owner ?: p->default_owner;
        r = config_resolve_user(owner, &uid, &gid);
        if (r == -ESRCH) {
                if (cc->owner)
                        return ns_error_set(error, r, "owner \"%s\" is not a user on this machine", owner);
                return ns_error_set(error, r,
                                    "user \"%s\" (the default owner of the %s profile's files) does not exist on this "
                                    "machine; set \"owner\" in the certificate's configuration",
                                    owner, profile_type_to_string(p->type));
        }
        if (r < 0)
                return ns_error_set(error, r, "Failed to resolve user \"%s\": %s", owner, strerror(-r));

        if (cc->group) {
                r = config_resolve_group(cc->group, &group_gid);
                if (r == -ESRCH)
                        return ns_error_set(error, r, "group \"%s\" is not a group on this machine", cc->group);
                if (r < 0)
                        return ns_error_set(error, r, "Failed to resolve group \"%s\": %s", cc->group, strerror(-r));
                gid = group_gid;

                /* Checked here rather than found out when the datastore refuses to start. */
                if (p->group_key_needs_root && uid != 0 && !(uid == (uid_t) -1 && geteuid() == 0))
                        return ns_error_set(error, -EINVAL,
                                            "%s refuses a group-readable key file unless root owns it: with \"group\" "
                                            "set, set \"owner\" to \"root\" too",
                                            profile_type_to_string(p->type));
        }

        r = profile_files_paths(cc, &f);
        if (r < 0)
                return r;
        f.uid = uid;
        f.gid = gid;
        if (cc->group)
                f.key_mode = 0640;
        *ret = f;
        return 0;
}
