/* SPDX-License-Identifier: Apache-2.0 */
/* Per-datastore certificate layout, taken from each datastore's own documentation. */
#include "profile.h"

#include "string-table.h"

DEFINE_STRING_TABLE(profile_reload, ProfileReload, PROFILE_RELOAD,
                    [PROFILE_RELOAD_HOOK] = "hook", [PROFILE_RELOAD_HANDSHAKE] = "per-handshake",
                    [PROFILE_RELOAD_MTIME] = "on-mtime", [PROFILE_RELOAD_WATCH] = "on-change",
                    [PROFILE_RELOAD_RESTART] = "restart");

#define KEY(t) (1u << (t))

/* gRPC's C core (TiKV's grpcio; PD's certificate is what TiKV's gRPC client checks, and PD's client
 * certificate is what TiKV's server checks) fixed its ECDH curve to P-256 until grpc 1.60 and
 * has no Ed25519 (grpc/grpc issues 22591 and 23083; ECDSA failures in tikv/tikv issue 12617). */
#define GRPC_REFUSED (KEY(KEY_TYPE_ED25519) | KEY(KEY_TYPE_EC_P384))
#define GRPC_REASON                                                                                 \
        "gRPC's C core in TiKV (and TiKV's view of PD) handshakes only with RSA and ECDSA P-256 " \
        "certificates; Ed25519 and P-384 fail to connect"

/* Every datastore below reads a chain from its certificate file (PostgreSQL ssl_cert_file,
 * MySQL/MariaDB ssl_cert, Redis tls-cert-file via SSL_CTX_use_certificate_chain_file, and the Go and
 * Rust TLS stacks of TiKV/PD, etcd, rqlite and BanyanDB), so the intermediates follow the node
 * certificate there and no separate chain file is written. The CA file holds only the trust anchors.
 *
 * How each picks up new files was read in its sources; the comment of each entry says where. */
static const Profile profiles[_PROFILE_TYPE_MAX] = {
        /* PostgreSQL: ssl_cert_file/ssl_key_file default to server.crt/server.key; root.crt is the
         * name its documentation uses for ssl_ca_file. The server refuses a key file with group or
         * world access, except 0640 when root owns it. A configuration reload (SIGHUP,
         * pg_reload_conf()) reads all three SSL files again (PostgreSQL 10 and later); when that
         * fails it keeps the old ones and only logs, so only a serve_check confirms the reload.
         * libpq's default channel binding (tls-server-end-point, RFC 5929) hashes the server
         * certificate with the digest of its signature algorithm, i.e. the CA's: an Ed25519 CA
         * signature has none and every SCRAM login fails ("could not find digest for NID UNDEF").
         * The node's own key type does not enter that hash. */
        [PROFILE_POSTGRESQL] = {
                .type = PROFILE_POSTGRESQL,
                .cert_file = "server.crt",
                .key_file = "server.key",
                .ca_file = "root.crt",
                .default_owner = "postgres",
                .reload_hook = "postgresql",
                .group_key_needs_root = true,
                .cert_reload = PROFILE_RELOAD_HOOK,
                .ca_reload = PROFILE_RELOAD_HOOK,
                .refused_ca_keys = KEY(KEY_TYPE_ED25519),
                .refused_reason = "libpq's default SCRAM channel binding hashes the server certificate with its "
                                  "signature's digest, and an Ed25519 signature has none (\"could not find digest "
                                  "for NID UNDEF\")",
        },
        /* MySQL/MariaDB: the names mysqld's auto-generated TLS files use (ssl_cert, ssl_key, ssl_ca).
         * MariaDB 10.4+ FLUSH SSL and MySQL 8.0.16+ ALTER INSTANCE RELOAD TLS read all three again. */
        [PROFILE_MYSQL] = {
                .type = PROFILE_MYSQL,
                .cert_file = "server-cert.pem",
                .key_file = "server-key.pem",
                .ca_file = "ca.pem",
                .default_owner = "mysql",
                .reload_hook = "mysql",
                .cert_reload = PROFILE_RELOAD_HOOK,
                .ca_reload = PROFILE_RELOAD_HOOK,
        },
        /* Redis: tls-cert-file, tls-key-file, tls-ca-cert-file as in redis.conf and its test certs.
         * CONFIG SET of the three (Redis 6+) builds a new SSL_CTX from all of them. */
        [PROFILE_REDIS] = {
                .type = PROFILE_REDIS,
                .cert_file = "redis.crt",
                .key_file = "redis.key",
                .ca_file = "ca.crt",
                .default_owner = "redis",
                .reload_hook = "redis",
                .cert_reload = PROFILE_RELOAD_HOOK,
                .ca_reload = PROFILE_RELOAD_HOOK,
        },
        /* TiKV: [security] ca-path, cert-path, key-path. components/security's is_modified() compares
         * the mtime of cert-path only; when it moved, the gRPC and status servers load all three
         * files again. A new CA file alone goes unseen: nodeseal rewrites the certificate file too.
         * TiUP deploys the cluster as user "tidb". */
        [PROFILE_TIKV] = {
                .type = PROFILE_TIKV,
                .cert_file = "server.pem",
                .key_file = "server-key.pem",
                .ca_file = "ca.pem",
                .default_owner = "tidb",
                .cert_reload = PROFILE_RELOAD_MTIME,
                .ca_reload = PROFILE_RELOAD_MTIME,
                .refused_node_keys = GRPC_REFUSED,
                .refused_ca_keys = GRPC_REFUSED,
                .refused_reason = GRPC_REASON,
        },
        /* rqlite: one pair for -node-cert/-node-key/-node-ca-cert (Raft, mutual TLS) and
         * -http-cert/-http-key/-http-ca-cert. From 8.37.0 (internal/rtls CertReloader) every
         * handshake compares the certificate's and key's mtimes and loads them again when newer;
         * the CA pool is built once at start (rtls.setCertPool): a new CA needs a restart, and so
         * does anything older than 8.37. */
        [PROFILE_RQLITE] = {
                .type = PROFILE_RQLITE,
                .cert_file = "node.crt",
                .key_file = "node.key",
                .ca_file = "ca.crt",
                .default_owner = "rqlite",
                .cert_reload = PROFILE_RELOAD_MTIME,
                .ca_reload = PROFILE_RELOAD_RESTART,
                .reload_since = "rqlite 8.37",
        },
        /* BanyanDB: --tls --cert-file --key-file (and --http-cert-file/--http-key-file/
         * --http-grpc-cert-file); clients get the CA (bydbctl --cert). From 0.9.0 the liaison's gRPC
         * and HTTP servers watch their certificate and key (pkg/tls Reloader: fsnotify, re-added
         * after a replace, content hashed); the data nodes' internal server and the clients' CA
         * (--internal-ca-cert) are read at start only. Its images run as root, so there is no
         * dedicated user to default to. */
        [PROFILE_BANYANDB] = {
                .type = PROFILE_BANYANDB,
                .cert_file = "server.crt",
                .key_file = "server.key",
                .ca_file = "ca.crt",
                .cert_reload = PROFILE_RELOAD_WATCH,
                .ca_reload = PROFILE_RELOAD_RESTART,
                .reload_since = "BanyanDB 0.9",
        },
        /* The layout of a kubernetes.io/tls Secret; what picks it up is the reload_command's job. */
        [PROFILE_GENERIC] = {
                .type = PROFILE_GENERIC,
                .cert_file = "tls.crt",
                .key_file = "tls.key",
                .ca_file = "ca.crt",
                .cert_reload = PROFILE_RELOAD_HOOK,
                .ca_reload = PROFILE_RELOAD_HOOK,
        },
        /* etcd (Debian's etcd-server 3.4, user etcd): --cert-file, --key-file, --trusted-ca-file,
         * --client-cert-auth, and the same three files for --peer-cert-file, --peer-key-file,
         * --peer-trusted-ca-file with --peer-client-cert-auth. pkg/transport's TLSInfo loads the
         * certificate and key in GetCertificate/GetClientCertificate, i.e. on every handshake
         * ("this only reloads certs when there's a client request"); the CA pools (ClientCAs,
         * RootCAs) are built once at start: a new CA needs a restart. */
        [PROFILE_ETCD] = {
                .type = PROFILE_ETCD,
                .cert_file = "server.crt",
                .key_file = "server.key",
                .ca_file = "ca.crt",
                .default_owner = "etcd",
                .cert_reload = PROFILE_RELOAD_HANDSHAKE,
                .ca_reload = PROFILE_RELOAD_RESTART,
        },
        /* PD: [security] cacert-path (not TiKV's ca-path), cert-path, key-path; its TLSConfig becomes
         * an embedded etcd's transport.TLSInfo, so it behaves as etcd: certificate and key per
         * handshake, CA at start only. Same TiUP user as TiKV, and TiKV's gRPC talks to it. */
        [PROFILE_PD] = {
                .type = PROFILE_PD,
                .cert_file = "server.pem",
                .key_file = "server-key.pem",
                .ca_file = "ca.pem",
                .default_owner = "tidb",
                .cert_reload = PROFILE_RELOAD_HANDSHAKE,
                .ca_reload = PROFILE_RELOAD_RESTART,
                .refused_node_keys = GRPC_REFUSED,
                .refused_ca_keys = GRPC_REFUSED,
                .refused_reason = GRPC_REASON,
        },
};

const char *profile_refuses_key(const Profile *p, KeyType t, bool as_ca) {
        unsigned set = as_ca ? p->refused_ca_keys : p->refused_node_keys;

        if ((int) t < 0 || t >= _KEY_TYPE_MAX || !(set & KEY(t)))
                return NULL;
        return p->refused_reason;
}

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
