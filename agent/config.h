/* SPDX-License-Identifier: Apache-2.0 */
/* The configuration: /etc/nodeseal/nodeseal.json, validated field by field. */
#pragma once

#include <stdint.h>
#include <sys/types.h>

#include "error.h"
#include "macro.h"

#define CONFIG_DEFAULT_PATH "/etc/nodeseal/nodeseal.json"
#define CONFIG_DEFAULT_RUNTIME_DIR "/run/nodeseal"
#define CONFIG_DEFAULT_CA_SECRET "nodeseal-ca"
#define CONFIG_DEFAULT_KEYS_SECRET "nodeseal-keys-{node}"
#define CONFIG_DEFAULT_SECRETS_DIR "/etc/nodeseal/secrets"
#define CONFIG_DEFAULT_SERVICE_ACCOUNT_DIR "/var/run/secrets/kubernetes.io/serviceaccount"
#define VOLUME_KEY_MIN_BYTES 32

typedef enum SecretSourceType {
        SECRET_SOURCE_DIRECTORY,
        SECRET_SOURCE_KUBERNETES,
        _SECRET_SOURCE_TYPE_MAX,
        _SECRET_SOURCE_TYPE_INVALID = -EINVAL,
} SecretSourceType;

/* "secrets.signer": what signs this node's certificates. */
typedef enum SignerType {
        SIGNER_CA,                 /* the CA Secret's tls.crt/tls.key (default) */
        SIGNER_INTERMEDIATE,       /* this node's intermediate CA (intermediate.h); never the root key */
        _SIGNER_TYPE_MAX,
        _SIGNER_TYPE_INVALID = -EINVAL,
} SignerType;

typedef enum FormatPolicy {
        FORMAT_IF_BLANK,
        FORMAT_NEVER,
        _FORMAT_POLICY_MAX,
        _FORMAT_POLICY_INVALID = -EINVAL,
} FormatPolicy;

typedef enum PbkdfType {
        PBKDF_PBKDF2,
        PBKDF_ARGON2ID,
        _PBKDF_TYPE_MAX,
        _PBKDF_TYPE_INVALID = -EINVAL,
} PbkdfType;

/* A setting that is true, false, or decided by nodeseal from the device ("auto"). */
typedef enum AutoBool {
        AUTO_BOOL_FALSE,
        AUTO_BOOL_TRUE,
        AUTO_BOOL_AUTO,
        _AUTO_BOOL_MAX,
        _AUTO_BOOL_INVALID = -EINVAL,
} AutoBool;

typedef enum FilesystemType {
        FILESYSTEM_EXT4,
        FILESYSTEM_XFS,
        _FILESYSTEM_TYPE_MAX,
        _FILESYSTEM_TYPE_INVALID = -EINVAL,
} FilesystemType;

typedef enum KeyType {
        KEY_TYPE_EC_P256,
        KEY_TYPE_EC_P384,
        KEY_TYPE_RSA_2048,
        KEY_TYPE_RSA_3072,
        KEY_TYPE_RSA_4096,
        KEY_TYPE_ED25519,
        _KEY_TYPE_MAX,
        _KEY_TYPE_INVALID = -EINVAL,
} KeyType;

typedef enum ProfileType {
        PROFILE_POSTGRESQL,
        PROFILE_MYSQL,
        PROFILE_REDIS,
        PROFILE_TIKV,
        PROFILE_RQLITE,
        PROFILE_BANYANDB,
        PROFILE_GENERIC,
        PROFILE_ETCD,
        PROFILE_PD,
        _PROFILE_TYPE_MAX,
        _PROFILE_TYPE_INVALID = -EINVAL,
} ProfileType;

typedef enum ServeCheckProtocol {
        SERVE_CHECK_TLS,           /* TLS from the first byte: Redis, etcd, TiKV/PD, rqlite, BanyanDB */
        SERVE_CHECK_POSTGRES,      /* PostgreSQL's SSLRequest, then TLS */
        SERVE_CHECK_MYSQL,         /* the server's greeting, an SSL request packet, then TLS */
        _SERVE_CHECK_PROTOCOL_MAX,
        _SERVE_CHECK_PROTOCOL_INVALID = -EINVAL,
} ServeCheckProtocol;

/* "serve_check" of a certificate: where its datastore serves it on this node. */
typedef struct ServeCheckConfig {
        char *address;             /* host:port on loopback, or a Unix socket path (tls only); NULL: none */
        ServeCheckProtocol protocol;
} ServeCheckConfig;

/* "kubernetes" section. Unset strings mean "in-cluster": KUBERNETES_SERVICE_HOST/_PORT and the
 * service-account files under /var/run/secrets/kubernetes.io/serviceaccount/. */
typedef struct KubeConfig {
        char *api_url;              /* https://host:port; http:// is refused at load */
        char *ca_file;
        char *token_file;
        char *client_certificate;   /* PEM file, with client_key */
        char *client_key;
        char *namespace;
        char *service_account_dir;       /* where the in-cluster files are; default CONFIG_DEFAULT_SERVICE_ACCOUNT_DIR */
        uint64_t connect_timeout_usec;   /* default 5 s */
        uint64_t request_timeout_usec;   /* default 30 s */
        uint64_t watch_timeout_usec;     /* length of one watch request before it is renewed; default 300 s */
        bool generate_missing_keys;      /* default false */
} KubeConfig;

/* "secrets.wrapping": volume keys stored wrapped to this node (wrap.h). */
#define CONFIG_DEFAULT_NODE_KEY_FILE "/var/lib/nodeseal/node.key"
typedef struct WrappingConfig {
        bool enabled;                    /* the section is there */
        char *node_key;                  /* where the node's key-encryption key lives: "file" */
        char *node_key_file;             /* default CONFIG_DEFAULT_NODE_KEY_FILE */
        char *recovery_public_key;       /* the operator's X25519 public key (PEM); required */
        bool accept_plain_keys;          /* take plain keys too (the migration); default false */
        char *tpm_tcti;                  /* tpm2: the TCTI ("device:/dev/tpmrm0"); NULL: tpm2-tss's default */
        uint32_t pcrs[24];               /* tpm2: the SHA-256 PCRs the sealed key is bound to; none by default */
        size_t n_pcrs;
} WrappingConfig;

/* "secrets" section. */
typedef struct SourceConfig {
        SecretSourceType type;     /* default directory */
        char *directory;           /* directory source root, default CONFIG_DEFAULT_SECRETS_DIR */
        char *ca_secret;           /* default "nodeseal-ca" */
        char *keys_secret;         /* default "nodeseal-keys-{node}", already expanded */
        KubeConfig kubernetes;
        WrappingConfig wrapping;
        SignerType signer;         /* default ca */
} SourceConfig;

/* "retry" section: exponential backoff with jitter between provisioning attempts. */
typedef struct RetryConfig {
        uint64_t initial_usec;     /* default 1 s */
        uint64_t max_usec;         /* default 60 s */
        double multiplier;         /* default 2.0 */
        double jitter;             /* fraction, default 0.2 */
        unsigned max_attempts;     /* 0 = forever (daemon); "provision" uses 1 unless set */
} RetryConfig;

/* "daemon" section: how "nodeseal run" behaves once it is up. */
typedef struct DaemonConfig {
        bool close_on_stop;           /* close the volumes on SIGTERM; default false: they stay mounted */
        uint64_t recheck_usec;        /* re-check volumes and certificate files; default 60 s */
        uint64_t poll_usec;           /* directory source: look for changed Secret files; default 10 s */
        uint64_t hook_timeout_usec;   /* a reload hook still running after this is killed; default 60 s */
        uint64_t renew_jitter_usec;   /* renewals spread over up to this much past the renewal point; default 1 h */
        uint64_t attempt_timeout_usec; /* a provisioning worker still running after this is stopped; default 10 min */
        uint64_t rotation_jitter_usec; /* CA rotation: reissues under the activated CA spread over this; default 60 s */
} DaemonConfig;

/* "metrics" section: Prometheus text format, both off unless set. */
typedef struct MetricsConfig {
        char *textfile;               /* for node_exporter's textfile collector (a *.prom file), written atomically */
        char *listen;                 /* "ADDRESS:PORT" of the HTTP /metrics endpoint: "127.0.0.1:9464", "[::]:9464" */
} MetricsConfig;

/* "luks" section of a volume. */
typedef struct LuksConfig {
        char *cipher;              /* default "aes-xts-plain64" (cipher "aes", mode "xts-plain64") */
        unsigned key_size_bits;    /* default 512 */
        unsigned sector_size;      /* default 4096 */
        PbkdfType pbkdf;           /* default pbkdf2 at minimum iterations */
        uint32_t argon2_time;      /* iterations, default 4 */
        uint32_t argon2_memory_kib;/* default 65536 */
        uint32_t argon2_parallel;  /* default 1 */
        bool allow_discards;       /* default false: discards reveal which blocks are free */
        AutoBool no_read_workqueue;  /* default auto: on for a non-rotational device */
        AutoBool no_write_workqueue; /* default auto: on for a non-rotational device */
        uint32_t reencrypt_mib_per_sec; /* bandwidth limit of a re-encryption; default 64, 0 none */
} LuksConfig;

/* One entry of "volumes". */
typedef struct VolumeConfig {
        char *name;                /* [a-z0-9][a-z0-9_.-]*, at most 63; mapper name nodeseal-<name> */
        char *device;              /* path, UUID=, LABEL=, PARTLABEL=, or a regular file */
        char *key;                 /* key name in the keys Secret; default = name */
        char *mountpoint;          /* absolute */
        FilesystemType filesystem; /* default ext4 */
        char *mount_options;       /* default "defaults" (comma list passed to mount(2) data/flags) */
        FormatPolicy format;       /* default if-blank */
        bool adopt;                /* open a foreign LUKS device; default false */
        char *owner;               /* of the filesystem root; user name or numeric; NULL = root */
        char *group;
        mode_t mode;               /* of the filesystem root; default 0755 */
        LuksConfig luks;
        char *header_backup;       /* directory of the LUKS2 header backups; NULL = none (false) */
        char *header_backup_secret; /* Secret that also holds the header backup ({node} expanded); NULL = none */
} VolumeConfig;

#define HEADER_BACKUP_DEFAULT_DIR "/var/lib/nodeseal/luks-headers"

/* One entry of "certificates". */
typedef struct CertificateConfig {
        char *name;                /* identifier, unique */
        ProfileType profile;       /* default generic */
        char *directory;           /* where the profile's files go; absolute */
        KeyType key_type;          /* default ec-p256 */
        char **dns_names;          /* SAN templates with {node}/{hostname}; default ["{node}"] */
        char **ip_addresses;       /* literal SAN IPs */
        bool include_node_ips;     /* add the node's own non-loopback addresses */
        uint32_t validity_days;    /* default 90 */
        double renew_fraction;     /* renew in the last fraction of life; default 1/3 */
        char *owner;               /* override the profile's owner; NULL = profile default */
        char *group;               /* key file becomes 0640 when a group is set */
        bool reload;               /* run the profile's reload hook after a change; default true */
        char **reload_command;     /* override the hook (argv); NULL = profile default */
        char **restart_command;    /* argv run where the profile's datastore needs a restart to use
                                    * what changed (a CA for etcd, PD, rqlite, BanyanDB); NULL none */
        ServeCheckConfig serve_check; /* confirms the datastore serves the file's certificate */
} CertificateConfig;

typedef struct Config {
        char *path;                /* the file it came from, for messages */
        char *text;                /* the JSON it was parsed from: the daemon hands it to its workers */
        size_t text_size;
        char *node_name;           /* "node_name", else $NODE_NAME, else the hostname */
        char *hostname;
        char *runtime_dir;         /* default /run/nodeseal */
        SourceConfig secrets;
        RetryConfig retry;
        DaemonConfig daemon;
        uint64_t check_margin_usec;    /* "check": {"expiry_margin_days"}, default 7 days */
        VolumeConfig *volumes;
        size_t n_volumes;
        CertificateConfig *certificates;
        size_t n_certificates;
        MetricsConfig metrics;
} Config;

/* Loads and validates path (NULL: the default path). Every failure fills error with
 * "<file>: <json path>: <reason>" and returns a negative errno (-EINVAL for bad content). */
int config_load(const char *path, Config **ret, NsError *error);
/* Parses a JSON text as if read from the named file (used by load, tests and the fuzzer). */
int config_parse(const char *text, size_t size, const char *name, Config **ret, NsError *error);
Config *config_free(Config *c);
DEFINE_TRIVIAL_CLEANUP_FUNC(Config *, config_free);

/* Replaces {node} and {hostname} in a template. Unknown {...} is an error (-EINVAL). */
int config_expand(const Config *c, const char *template, char **ret);

/* Resolves a user/group name or number; NULL name → -1 ("leave as is"). -ESRCH if unknown. */
int config_resolve_user(const char *name, uid_t *ret_uid, gid_t *ret_primary_gid);
int config_resolve_group(const char *name, gid_t *ret);

const char *secret_source_type_to_string(SecretSourceType t) _pure_;
SecretSourceType secret_source_type_from_string(const char *s) _pure_;
const char *signer_type_to_string(SignerType t) _pure_;
SignerType signer_type_from_string(const char *s) _pure_;
const char *format_policy_to_string(FormatPolicy p) _pure_;
FormatPolicy format_policy_from_string(const char *s) _pure_;
const char *pbkdf_type_to_string(PbkdfType t) _pure_;
PbkdfType pbkdf_type_from_string(const char *s) _pure_;
const char *auto_bool_to_string(AutoBool b) _pure_;
AutoBool auto_bool_from_string(const char *s) _pure_;
const char *filesystem_type_to_string(FilesystemType t) _pure_;
FilesystemType filesystem_type_from_string(const char *s) _pure_;
const char *key_type_to_string(KeyType t) _pure_;
KeyType key_type_from_string(const char *s) _pure_;
const char *profile_type_to_string(ProfileType t) _pure_;
const char *serve_check_protocol_to_string(ServeCheckProtocol p) _pure_;
ServeCheckProtocol serve_check_protocol_from_string(const char *s) _pure_;
ProfileType profile_type_from_string(const char *s) _pure_;
