/* SPDX-License-Identifier: Apache-2.0 */
/* Loads and validates the JSON configuration; every error names the file, the field and the reason. */
#include <arpa/inet.h>
#include <ctype.h>
#include <grp.h>
#include <math.h>
#include <pwd.h>
#include <stddef.h>

#include "json-util.h"

#include "config.h"
#include "metrics-server.h"
#include "profile.h"
#include "secret.h"
#include "secure.h"
#include "serve-check.h"
#include "string-table.h"

#define CONFIG_SIZE_MAX (1024 * 1024)

/* ---- string tables ---- */

DEFINE_STRING_TABLE(secret_source_type, SecretSourceType, SECRET_SOURCE_TYPE,
                    [SECRET_SOURCE_DIRECTORY] = "directory", [SECRET_SOURCE_KUBERNETES] = "kubernetes");
DEFINE_STRING_TABLE(signer_type, SignerType, SIGNER_TYPE,
                    [SIGNER_CA] = "ca", [SIGNER_INTERMEDIATE] = "intermediate");
DEFINE_STRING_TABLE(format_policy, FormatPolicy, FORMAT_POLICY,
                    [FORMAT_IF_BLANK] = "if-blank", [FORMAT_NEVER] = "never");
DEFINE_STRING_TABLE(pbkdf_type, PbkdfType, PBKDF_TYPE,
                    [PBKDF_PBKDF2] = "pbkdf2", [PBKDF_ARGON2ID] = "argon2id");
DEFINE_STRING_TABLE(auto_bool, AutoBool, AUTO_BOOL,
                    [AUTO_BOOL_FALSE] = "false", [AUTO_BOOL_TRUE] = "true", [AUTO_BOOL_AUTO] = "auto");
DEFINE_STRING_TABLE(filesystem_type, FilesystemType, FILESYSTEM_TYPE,
                    [FILESYSTEM_EXT4] = "ext4", [FILESYSTEM_XFS] = "xfs");
DEFINE_STRING_TABLE(key_type, KeyType, KEY_TYPE,
                    [KEY_TYPE_EC_P256] = "ec-p256", [KEY_TYPE_EC_P384] = "ec-p384",
                    [KEY_TYPE_RSA_2048] = "rsa-2048", [KEY_TYPE_RSA_3072] = "rsa-3072",
                    [KEY_TYPE_RSA_4096] = "rsa-4096", [KEY_TYPE_ED25519] = "ed25519");
DEFINE_STRING_TABLE(profile_type, ProfileType, PROFILE_TYPE,
                    [PROFILE_POSTGRESQL] = "postgresql", [PROFILE_MYSQL] = "mysql", [PROFILE_REDIS] = "redis",
                    [PROFILE_TIKV] = "tikv", [PROFILE_RQLITE] = "rqlite", [PROFILE_BANYANDB] = "banyandb",
                    [PROFILE_GENERIC] = "generic", [PROFILE_ETCD] = "etcd", [PROFILE_PD] = "pd");

DEFINE_STRING_TABLE(serve_check_protocol, ServeCheckProtocol, SERVE_CHECK_PROTOCOL,
                    [SERVE_CHECK_TLS] = "tls", [SERVE_CHECK_POSTGRES] = "postgres", [SERVE_CHECK_MYSQL] = "mysql");

/* ---- the dispatcher: a table of fields per JSON object ---- */

typedef struct Ctx {
        const char *file;
        NsError *error;
} Ctx;

typedef int (*FieldParser)(Ctx *ctx, const char *path, const cJSON *v, void *dst);

typedef struct Field {
        const char *name;
        FieldParser parse;
        size_t offset;
        bool required;
} Field;

static int fail(Ctx *ctx, const char *path, const char *format, ...) _printf_(3, 4);
static int fail(Ctx *ctx, const char *path, const char *format, ...) {
        char reason[768];
        va_list ap;

        va_start(ap, format);
        (void) vsnprintf(reason, sizeof(reason), format, ap);
        va_end(ap);
        return ns_error_set(ctx->error, -EINVAL, "%s: %s: %s", ctx->file, path, reason);
}

static const char *json_type_name(const cJSON *v) {
        if (cJSON_IsString(v))
                return "a string";
        if (cJSON_IsNumber(v))
                return "a number";
        if (cJSON_IsBool(v))
                return "a boolean";
        if (cJSON_IsArray(v))
                return "an array";
        if (cJSON_IsObject(v))
                return "an object";
        if (cJSON_IsNull(v))
                return "null";
        return "an invalid value";
}

static void join_path(char *buf, size_t n, const char *parent, const char *name) {
        if (isempty(parent))
                (void) snprintf(buf, n, "%s", name);
        else
                (void) snprintf(buf, n, "%s.%s", parent, name);
}

static int dispatch(Ctx *ctx, const char *path, const cJSON *obj, const Field *fields, void *base) {
        const cJSON *item;
        int r;

        if (!cJSON_IsObject(obj))
                return fail(ctx, isempty(path) ? "(top level)" : path, "must be an object, not %s",
                            json_type_name(obj));

        cJSON_ArrayForEach(item, obj) {
                const Field *f = NULL;
                char sub[512];

                join_path(sub, sizeof(sub), path, item->string);
                for (const Field *i = fields; i->name; i++)
                        if (streq(i->name, item->string)) {
                                f = i;
                                break;
                        }
                if (!f)
                        return fail(ctx, sub, "unknown field");

                /* A duplicate key would make one of the two silently win. */
                for (const cJSON *j = obj->child; j != item; j = j->next)
                        if (streq(j->string, item->string))
                                return fail(ctx, sub, "field given twice");

                r = f->parse(ctx, sub, item, (uint8_t *) base + f->offset);
                if (r < 0)
                        return r;
        }

        for (const Field *i = fields; i->name; i++)
                if (i->required && !cJSON_GetObjectItemCaseSensitive(obj, i->name)) {
                        char sub[512];
                        join_path(sub, sizeof(sub), path, i->name);
                        return fail(ctx, sub, "required field missing");
                }
        return 0;
}

static int parse_string(Ctx *ctx, const char *path, const cJSON *v, void *dst) {
        char **s = dst, *copy;

        if (!cJSON_IsString(v))
                return fail(ctx, path, "must be a string, not %s", json_type_name(v));
        if (isempty(v->valuestring))
                return fail(ctx, path, "must not be empty");
        copy = strdup(v->valuestring);
        if (!copy)
                return -ENOMEM;
        free(*s);
        *s = copy;
        return 0;
}

static int parse_path(Ctx *ctx, const char *path, const cJSON *v, void *dst) {
        int r = parse_string(ctx, path, v, dst);
        if (r < 0)
                return r;
        if ((*(char **) dst)[0] != '/')
                return fail(ctx, path, "must be an absolute path, not \"%s\"", *(char **) dst);
        return 0;
}

/* An absolute path, or false for none (NULL). */
static int parse_path_or_false(Ctx *ctx, const char *path, const cJSON *v, void *dst) {
        if (cJSON_IsFalse(v)) {
                free(*(char **) dst);
                *(char **) dst = NULL;
                return 0;
        }
        if (!cJSON_IsString(v))
                return fail(ctx, path, "must be an absolute path or false, not %s", json_type_name(v));
        return parse_path(ctx, path, v, dst);
}

/* header_backup: a directory, false, or { "secret": NAME, "directory": PATH or false (default) }. */
static int parse_header_backup(Ctx *ctx, const char *path, const cJSON *v, void *dst) {
        static const Field fields[] = {
                { "secret", parse_string, offsetof(VolumeConfig, header_backup_secret), true },
                { "directory", parse_path_or_false, offsetof(VolumeConfig, header_backup) },
                {}
        };
        VolumeConfig *vc = (VolumeConfig *) ((uint8_t *) dst - offsetof(VolumeConfig, header_backup));

        if (!cJSON_IsObject(v)) {
                if (!cJSON_IsFalse(v) && !cJSON_IsString(v))
                        return fail(ctx, path, "must be an absolute path, false or an object with \"secret\", not %s",
                                    json_type_name(v));
                return parse_path_or_false(ctx, path, v, dst);
        }
        /* An object names where backups go: only the places it names. */
        free(vc->header_backup);
        vc->header_backup = NULL;
        return dispatch(ctx, path, v, fields, vc);
}

static int parse_bool(Ctx *ctx, const char *path, const cJSON *v, void *dst) {
        if (!cJSON_IsBool(v))
                return fail(ctx, path, "must be true or false, not %s", json_type_name(v));
        *(bool *) dst = cJSON_IsTrue(v);
        return 0;
}

/* true, false or "auto". */
static int parse_auto_bool(Ctx *ctx, const char *path, const cJSON *v, void *dst) {
        if (cJSON_IsBool(v)) {
                *(AutoBool *) dst = cJSON_IsTrue(v) ? AUTO_BOOL_TRUE : AUTO_BOOL_FALSE;
                return 0;
        }
        if (!cJSON_IsString(v) || !streq(v->valuestring, "auto"))
                return fail(ctx, path, "must be true, false or \"auto\", not %s%s%s%s", json_type_name(v),
                            cJSON_IsString(v) ? " \"" : "", cJSON_IsString(v) ? v->valuestring : "",
                            cJSON_IsString(v) ? "\"" : "");
        *(AutoBool *) dst = AUTO_BOOL_AUTO;
        return 0;
}

static int get_number(Ctx *ctx, const char *path, const cJSON *v, double lo, double hi, double *ret) {
        if (!cJSON_IsNumber(v))
                return fail(ctx, path, "must be a number, not %s", json_type_name(v));
        if (!isfinite(v->valuedouble) || v->valuedouble < lo || v->valuedouble > hi)
                return fail(ctx, path, "must be between %g and %g, not %g", lo, hi, v->valuedouble);
        *ret = v->valuedouble;
        return 0;
}

static int get_integer(Ctx *ctx, const char *path, const cJSON *v, double lo, double hi, uint32_t *ret) {
        double d = 0;
        int r = get_number(ctx, path, v, lo, hi, &d);
        if (r < 0)
                return r;
        if (d != floor(d))
                return fail(ctx, path, "must be a whole number, not %g", d);
        *ret = (uint32_t) d;
        return 0;
}

/* Durations are given in (possibly fractional) seconds, at most a year. */
static int parse_seconds(Ctx *ctx, const char *path, const cJSON *v, void *dst) {
        double d = 0;
        int r = get_number(ctx, path, v, 0.001, 365.0 * 86400, &d);
        if (r < 0)
                return r;
        *(uint64_t *) dst = (uint64_t) (d * USEC_PER_SEC);
        return 0;
}

static int parse_days_usec(Ctx *ctx, const char *path, const cJSON *v, void *dst) {
        double d = 0;
        int r = get_number(ctx, path, v, 0, 3650, &d);
        if (r < 0)
                return r;
        *(uint64_t *) dst = (uint64_t) (d * (double) USEC_PER_DAY);
        return 0;
}

static int parse_mode(Ctx *ctx, const char *path, const cJSON *v, void *dst) {
        unsigned long m;
        char *end;

        /* A JSON number would be read as decimal (700 != 0700): insist on the octal string form. */
        if (!cJSON_IsString(v))
                return fail(ctx, path, "must be an octal string such as \"0750\", not %s", json_type_name(v));
        errno = 0;
        m = strtoul(v->valuestring, &end, 8);
        if (errno != 0 || end == v->valuestring || *end != '\0' || m > 07777 || v->valuestring[0] == '-')
                return fail(ctx, path, "must be an octal mode such as \"0750\", not \"%s\"", v->valuestring);
        *(mode_t *) dst = (mode_t) m;
        return 0;
}

static int parse_strv(Ctx *ctx, const char *path, const cJSON *v, void *dst) {
        _cleanup_strv_free_ char **l = NULL;
        const cJSON *e;
        size_t n = 0, i = 0;

        if (!cJSON_IsArray(v))
                return fail(ctx, path, "must be an array of strings, not %s", json_type_name(v));
        n = (size_t) cJSON_GetArraySize(v);
        l = calloc(n + 1, sizeof(char *));
        if (!l)
                return -ENOMEM;
        cJSON_ArrayForEach(e, v) {
                char sub[512];
                (void) snprintf(sub, sizeof(sub), "%s[%zu]", path, i);
                if (!cJSON_IsString(e))
                        return fail(ctx, sub, "must be a string, not %s", json_type_name(e));
                if (isempty(e->valuestring))
                        return fail(ctx, sub, "must not be empty");
                l[i] = strdup(e->valuestring);
                if (!l[i])
                        return -ENOMEM;
                i++;
        }
        strv_free(*(char ***) dst);
        *(char ***) dst = TAKE_PTR(l);
        return 0;
}

#define DEFINE_ENUM_PARSER(fname, type, lookup, what)                                               \
        static int fname(Ctx *ctx, const char *path, const cJSON *v, void *dst) {                   \
                type t;                                                                             \
                if (!cJSON_IsString(v))                                                             \
                        return fail(ctx, path, "must be a string, not %s", json_type_name(v));     \
                t = lookup##_from_string(v->valuestring);                                           \
                if ((int) t < 0)                                                                    \
                        return fail(ctx, path, "unknown %s \"%s\" (expected %s)", what,            \
                                    v->valuestring, fname##_choices);                              \
                *(type *) dst = t;                                                                  \
                return 0;                                                                           \
        }

static const char parse_source_type_choices[] = "directory or kubernetes";
static const char parse_signer_choices[] = "ca or intermediate";
static const char parse_format_policy_choices[] = "if-blank or never";
static const char parse_pbkdf_choices[] = "pbkdf2 or argon2id";
static const char parse_filesystem_choices[] = "ext4 or xfs";
static const char parse_key_type_choices[] = "ec-p256, ec-p384, rsa-2048, rsa-3072, rsa-4096 or ed25519";
static const char parse_serve_check_protocol_choices[] = "tls, postgres or mysql";
static const char parse_profile_choices[] = "postgresql, mysql, redis, tikv, pd, etcd, rqlite, banyandb or generic";

DEFINE_ENUM_PARSER(parse_source_type, SecretSourceType, secret_source_type, "secret source");
DEFINE_ENUM_PARSER(parse_signer, SignerType, signer_type, "signer");
DEFINE_ENUM_PARSER(parse_format_policy, FormatPolicy, format_policy, "format policy");
DEFINE_ENUM_PARSER(parse_pbkdf, PbkdfType, pbkdf_type, "PBKDF");
DEFINE_ENUM_PARSER(parse_filesystem, FilesystemType, filesystem_type, "filesystem");
DEFINE_ENUM_PARSER(parse_key_type, KeyType, key_type, "key type");
DEFINE_ENUM_PARSER(parse_profile, ProfileType, profile_type, "profile");
DEFINE_ENUM_PARSER(parse_serve_check_protocol, ServeCheckProtocol, serve_check_protocol, "protocol");

/* ---- sections ---- */

static int parse_u32(Ctx *ctx, const char *path, const cJSON *v, void *dst) {
        return get_integer(ctx, path, v, 0, 4294967295.0, dst);
}

static int parse_u32_positive(Ctx *ctx, const char *path, const cJSON *v, void *dst) {
        return get_integer(ctx, path, v, 1, 4294967295.0, dst);
}

static int parse_multiplier(Ctx *ctx, const char *path, const cJSON *v, void *dst) {
        return get_number(ctx, path, v, 1.0, 10.0, dst);
}

static int parse_fraction(Ctx *ctx, const char *path, const cJSON *v, void *dst) {
        return get_number(ctx, path, v, 0.0, 1.0, dst);
}

static int parse_attempts(Ctx *ctx, const char *path, const cJSON *v, void *dst) {
        uint32_t n = 0;
        int r = get_integer(ctx, path, v, 0, 1000000, &n);
        if (r < 0)
                return r;
        *(unsigned *) dst = n;
        return 0;
}

static int parse_kubernetes(Ctx *ctx, const char *path, const cJSON *v, void *dst) {
        static const Field fields[] = {
                { "api_url", parse_string, offsetof(KubeConfig, api_url) },
                { "ca_file", parse_path, offsetof(KubeConfig, ca_file) },
                { "token_file", parse_path, offsetof(KubeConfig, token_file) },
                { "client_certificate", parse_path, offsetof(KubeConfig, client_certificate) },
                { "client_key", parse_path, offsetof(KubeConfig, client_key) },
                { "namespace", parse_string, offsetof(KubeConfig, namespace) },
                { "service_account_dir", parse_path, offsetof(KubeConfig, service_account_dir) },
                { "connect_timeout_sec", parse_seconds, offsetof(KubeConfig, connect_timeout_usec) },
                { "request_timeout_sec", parse_seconds, offsetof(KubeConfig, request_timeout_usec) },
                { "watch_timeout_sec", parse_seconds, offsetof(KubeConfig, watch_timeout_usec) },
                { "generate_missing_keys", parse_bool, offsetof(KubeConfig, generate_missing_keys) },
                {}
        };
        return dispatch(ctx, path, v, fields, dst);
}

static int parse_pcrs(Ctx *ctx, const char *path, const cJSON *v, void *dst) {
        WrappingConfig *w = (WrappingConfig *) ((char *) dst - offsetof(WrappingConfig, pcrs));
        const cJSON *p;

        if (!cJSON_IsArray(v))
                return fail(ctx, path, "must be an array of PCR numbers, not %s", json_type_name(v));
        w->n_pcrs = 0;
        cJSON_ArrayForEach(p, v) {
                uint32_t n = 0;
                int r = get_integer(ctx, path, p, 0, 23, &n);
                if (r < 0)
                        return r;
                for (size_t i = 0; i < w->n_pcrs; i++)
                        if (w->pcrs[i] == n)
                                return fail(ctx, path, "lists PCR %u twice", n);
                w->pcrs[w->n_pcrs++] = n;
        }
        return 0;
}

static int parse_wrapping(Ctx *ctx, const char *path, const cJSON *v, void *dst) {
        static const Field fields[] = {
                { "node_key", parse_string, offsetof(WrappingConfig, node_key) },
                { "node_key_file", parse_path, offsetof(WrappingConfig, node_key_file) },
                { "recovery_public_key", parse_path, offsetof(WrappingConfig, recovery_public_key) },
                { "accept_plain_keys", parse_bool, offsetof(WrappingConfig, accept_plain_keys) },
                { "tpm_tcti", parse_string, offsetof(WrappingConfig, tpm_tcti) },
                { "pcrs", parse_pcrs, offsetof(WrappingConfig, pcrs) },
                {}
        };
        ((WrappingConfig *) dst)->enabled = true;
        return dispatch(ctx, path, v, fields, dst);
}

static int parse_secrets(Ctx *ctx, const char *path, const cJSON *v, void *dst) {
        static const Field fields[] = {
                { "source", parse_source_type, offsetof(SourceConfig, type) },
                { "directory", parse_path, offsetof(SourceConfig, directory) },
                { "ca_secret", parse_string, offsetof(SourceConfig, ca_secret) },
                { "keys_secret", parse_string, offsetof(SourceConfig, keys_secret) },
                { "kubernetes", parse_kubernetes, offsetof(SourceConfig, kubernetes) },
                { "wrapping", parse_wrapping, offsetof(SourceConfig, wrapping) },
                { "signer", parse_signer, offsetof(SourceConfig, signer) },
                {}
        };
        return dispatch(ctx, path, v, fields, dst);
}

static int parse_retry(Ctx *ctx, const char *path, const cJSON *v, void *dst) {
        static const Field fields[] = {
                { "initial_sec", parse_seconds, offsetof(RetryConfig, initial_usec) },
                { "max_sec", parse_seconds, offsetof(RetryConfig, max_usec) },
                { "multiplier", parse_multiplier, offsetof(RetryConfig, multiplier) },
                { "jitter", parse_fraction, offsetof(RetryConfig, jitter) },
                { "max_attempts", parse_attempts, offsetof(RetryConfig, max_attempts) },
                {}
        };
        return dispatch(ctx, path, v, fields, dst);
}

static int parse_daemon(Ctx *ctx, const char *path, const cJSON *v, void *dst) {
        static const Field fields[] = {
                { "close_on_stop", parse_bool, offsetof(DaemonConfig, close_on_stop) },
                { "recheck_sec", parse_seconds, offsetof(DaemonConfig, recheck_usec) },
                { "poll_sec", parse_seconds, offsetof(DaemonConfig, poll_usec) },
                { "hook_timeout_sec", parse_seconds, offsetof(DaemonConfig, hook_timeout_usec) },
                { "renew_jitter_sec", parse_seconds, offsetof(DaemonConfig, renew_jitter_usec) },
                { "attempt_timeout_sec", parse_seconds, offsetof(DaemonConfig, attempt_timeout_usec) },
                { "rotation_jitter_sec", parse_seconds, offsetof(DaemonConfig, rotation_jitter_usec) },
                {}
        };
        return dispatch(ctx, path, v, fields, dst);
}

static int parse_metrics_textfile(Ctx *ctx, const char *path, const cJSON *v, void *dst) {
        int r = parse_path(ctx, path, v, dst);
        size_t n;
        if (r < 0)
                return r;
        /* node_exporter's textfile collector reads *.prom files only. */
        n = strlen(*(char **) dst);
        if (n < 6 || !streq(*(char **) dst + n - 5, ".prom"))
                return fail(ctx, path, "must name a file ending in .prom (the textfile collector reads only "
                            "those), not \"%s\"", *(char **) dst);
        return 0;
}

static int parse_metrics_listen(Ctx *ctx, const char *path, const cJSON *v, void *dst) {
        struct sockaddr_storage sa;
        socklen_t len;
        int r = parse_string(ctx, path, v, dst);
        if (r < 0)
                return r;
        if (metrics_server_parse_address(*(char **) dst, &sa, &len) < 0)
                return fail(ctx, path, "must be a numeric IP address and a port, as \"127.0.0.1:9464\" or "
                            "\"[::1]:9464\", not \"%s\"", *(char **) dst);
        return 0;
}

static int parse_metrics(Ctx *ctx, const char *path, const cJSON *v, void *dst) {
        static const Field fields[] = {
                { "textfile", parse_metrics_textfile, offsetof(MetricsConfig, textfile) },
                { "listen", parse_metrics_listen, offsetof(MetricsConfig, listen) },
                {}
        };
        return dispatch(ctx, path, v, fields, dst);
}

static int parse_check(Ctx *ctx, const char *path, const cJSON *v, void *dst) {
        static const Field fields[] = {
                { "expiry_margin_days", parse_days_usec, 0 },
                {}
        };
        return dispatch(ctx, path, v, fields, dst);
}

static int parse_luks(Ctx *ctx, const char *path, const cJSON *v, void *dst) {
        static const Field fields[] = {
                { "cipher", parse_string, offsetof(LuksConfig, cipher) },
                { "key_size", parse_u32_positive, offsetof(LuksConfig, key_size_bits) },
                { "sector_size", parse_u32_positive, offsetof(LuksConfig, sector_size) },
                { "pbkdf", parse_pbkdf, offsetof(LuksConfig, pbkdf) },
                { "argon2_time", parse_u32_positive, offsetof(LuksConfig, argon2_time) },
                { "argon2_memory_kib", parse_u32_positive, offsetof(LuksConfig, argon2_memory_kib) },
                { "argon2_parallel", parse_u32_positive, offsetof(LuksConfig, argon2_parallel) },
                { "allow_discards", parse_bool, offsetof(LuksConfig, allow_discards) },
                { "no_read_workqueue", parse_auto_bool, offsetof(LuksConfig, no_read_workqueue) },
                { "no_write_workqueue", parse_auto_bool, offsetof(LuksConfig, no_write_workqueue) },
                { "reencrypt_mib_per_sec", parse_u32, offsetof(LuksConfig, reencrypt_mib_per_sec) },
                {}
        };
        return dispatch(ctx, path, v, fields, dst);
}

typedef int (*ElementInit)(void *element);

static int parse_array(Ctx *ctx, const char *path, const cJSON *v, void **array, size_t *n, size_t element_size,
                       ElementInit init, const Field *fields) {
        const cJSON *e;
        size_t i = 0, count;
        uint8_t *a;

        if (!cJSON_IsArray(v))
                return fail(ctx, path, "must be an array of objects, not %s", json_type_name(v));
        count = (size_t) cJSON_GetArraySize(v);
        if (count == 0) {
                *n = 0;
                return 0;
        }
        a = calloc(count, element_size);
        if (!a)
                return -ENOMEM;
        /* Owned by the config from here on, so config_free() cleans up after a failure half-way. */
        *array = a;
        *n = 0;
        cJSON_ArrayForEach(e, v) {
                char sub[512];
                int r;

                (void) snprintf(sub, sizeof(sub), "%s[%zu]", path, i);
                r = init(a + i * element_size);
                if (r < 0)
                        return r;
                *n = ++i;
                r = dispatch(ctx, sub, e, fields, a + (i - 1) * element_size);
                if (r < 0)
                        return r;
        }
        return 0;
}

static int volume_init(void *p) {
        VolumeConfig *v = p;
        *v = (VolumeConfig) {
                .filesystem = FILESYSTEM_EXT4,
                .format = FORMAT_IF_BLANK,
                .mode = 0755,
                .luks = {
                        .key_size_bits = 512,
                        .sector_size = 4096,
                        .pbkdf = PBKDF_PBKDF2,
                        .argon2_time = 4,
                        .argon2_memory_kib = 65536,
                        .argon2_parallel = 1,
                        .no_read_workqueue = AUTO_BOOL_AUTO,
                        .no_write_workqueue = AUTO_BOOL_AUTO,
                        .reencrypt_mib_per_sec = 64,
                },
        };
        v->luks.cipher = strdup("aes-xts-plain64");
        v->mount_options = strdup("defaults");
        v->header_backup = strdup(HEADER_BACKUP_DEFAULT_DIR);
        return v->luks.cipher && v->mount_options && v->header_backup ? 0 : -ENOMEM;
}

static int certificate_init(void *p) {
        CertificateConfig *c = p;
        *c = (CertificateConfig) {
                .profile = PROFILE_GENERIC,
                .key_type = KEY_TYPE_EC_P256,
                .validity_days = 90,
                .renew_fraction = 1.0 / 3.0,
                .reload = true,
        };
        return 0;
}

static int parse_volumes(Ctx *ctx, const char *path, const cJSON *v, void *dst) {
        static const Field fields[] = {
                { "name", parse_string, offsetof(VolumeConfig, name), true },
                { "device", parse_string, offsetof(VolumeConfig, device), true },
                { "key", parse_string, offsetof(VolumeConfig, key) },
                { "mountpoint", parse_path, offsetof(VolumeConfig, mountpoint), true },
                { "filesystem", parse_filesystem, offsetof(VolumeConfig, filesystem) },
                { "mount_options", parse_string, offsetof(VolumeConfig, mount_options) },
                { "format", parse_format_policy, offsetof(VolumeConfig, format) },
                { "adopt", parse_bool, offsetof(VolumeConfig, adopt) },
                { "owner", parse_string, offsetof(VolumeConfig, owner) },
                { "group", parse_string, offsetof(VolumeConfig, group) },
                { "mode", parse_mode, offsetof(VolumeConfig, mode) },
                { "luks", parse_luks, offsetof(VolumeConfig, luks) },
                { "header_backup", parse_header_backup, offsetof(VolumeConfig, header_backup) },
                {}
        };
        Config *c = (Config *) ((uint8_t *) dst - offsetof(Config, volumes));
        return parse_array(ctx, path, v, (void **) &c->volumes, &c->n_volumes, sizeof(VolumeConfig), volume_init,
                           fields);
}

static int parse_ip_list(Ctx *ctx, const char *path, const cJSON *v, void *dst) {
        int r = parse_strv(ctx, path, v, dst);
        size_t i = 0;

        if (r < 0)
                return r;
        STRV_FOREACH(s, *(char ***) dst) {
                unsigned char buf[sizeof(struct in6_addr)];
                char sub[512];
                (void) snprintf(sub, sizeof(sub), "%s[%zu]", path, i++);
                if (inet_pton(AF_INET, *s, buf) != 1 && inet_pton(AF_INET6, *s, buf) != 1)
                        return fail(ctx, sub, "\"%s\" is not an IPv4 or IPv6 address", *s);
        }
        return 0;
}

static int parse_serve_check(Ctx *ctx, const char *path, const cJSON *v, void *dst) {
        static const Field fields[] = {
                { "address", parse_string, offsetof(ServeCheckConfig, address), true },
                { "protocol", parse_serve_check_protocol, offsetof(ServeCheckConfig, protocol), true },
                {}
        };
        ServeCheckConfig *sc = dst;
        ServeCheckAddress a = {};
        char sub[512], why[160];
        int r;

        r = dispatch(ctx, path, v, fields, dst);
        if (r < 0)
                return r;
        (void) snprintf(sub, sizeof(sub), "%s.address", path);
        if (serve_check_parse_address(sc->address, sc->protocol, &a, why, sizeof(why)) < 0)
                return fail(ctx, sub, "\"%s\": %s", sc->address, why);
        return 0;
}

static int parse_certificates(Ctx *ctx, const char *path, const cJSON *v, void *dst) {
        static const Field fields[] = {
                { "name", parse_string, offsetof(CertificateConfig, name), true },
                { "profile", parse_profile, offsetof(CertificateConfig, profile) },
                { "directory", parse_path, offsetof(CertificateConfig, directory), true },
                { "key_type", parse_key_type, offsetof(CertificateConfig, key_type) },
                { "dns_names", parse_strv, offsetof(CertificateConfig, dns_names) },
                { "ip_addresses", parse_ip_list, offsetof(CertificateConfig, ip_addresses) },
                { "include_node_ips", parse_bool, offsetof(CertificateConfig, include_node_ips) },
                { "validity_days", parse_u32_positive, offsetof(CertificateConfig, validity_days) },
                { "renew_fraction", parse_fraction, offsetof(CertificateConfig, renew_fraction) },
                { "owner", parse_string, offsetof(CertificateConfig, owner) },
                { "group", parse_string, offsetof(CertificateConfig, group) },
                { "reload", parse_bool, offsetof(CertificateConfig, reload) },
                { "reload_command", parse_strv, offsetof(CertificateConfig, reload_command) },
                { "restart_command", parse_strv, offsetof(CertificateConfig, restart_command) },
                { "serve_check", parse_serve_check, offsetof(CertificateConfig, serve_check) },
                {}
        };
        Config *c = (Config *) ((uint8_t *) dst - offsetof(Config, certificates));
        return parse_array(ctx, path, v, (void **) &c->certificates, &c->n_certificates, sizeof(CertificateConfig),
                           certificate_init, fields);
}

/* ---- validation of what the types alone cannot say ---- */

static bool volume_name_is_valid(const char *s) {
        size_t n = strlen(s);

        if (n == 0 || n > 63 || !(islower((unsigned char) s[0]) || isdigit((unsigned char) s[0])))
                return false;
        for (; *s; s++)
                if (!(islower((unsigned char) *s) || isdigit((unsigned char) *s) || strchr("_.-", *s)))
                        return false;
        return true;
}

static int check_template(Ctx *ctx, const char *path, const Config *c, const char *t) {
        _cleanup_free_ char *x = NULL;
        if (config_expand(c, t, &x) < 0)
                return fail(ctx, path, "\"%s\": only {node} and {hostname} may be used in braces", t);
        return 0;
}

/* A Secret's name from the config: {node} and {hostname} expanded in place, then checked. */
static int expand_secret_name(Ctx *ctx, const char *path, const Config *c, char **name) {
        char *x;
        int r;

        r = check_template(ctx, path, c, *name);
        if (r < 0)
                return r;
        r = config_expand(c, *name, &x);
        if (r < 0)
                return r;
        free(*name);
        *name = x;
        if (!secret_name_is_valid(x))
                return fail(ctx, path, "\"%s\" (after expanding {node}) is not a valid Secret name (lower-case DNS subdomain)", x);
        return 0;
}

static int validate_volumes(Ctx *ctx, const Config *c) {
        for (size_t i = 0; i < c->n_volumes; i++) {
                const VolumeConfig *v = c->volumes + i;
                const LuksConfig *l = &v->luks;
                char p[128];

#define VPATH(field) (snprintf(p, sizeof(p), "volumes[%zu]%s", i, field), p)
                if (!volume_name_is_valid(v->name))
                        return fail(ctx, VPATH(".name"),
                                    "\"%s\" must be 1-63 characters of a-z, 0-9, '_', '.', '-', starting with a letter or digit",
                                    v->name);
                if (!secret_key_is_valid(v->key ?: v->name))
                        return fail(ctx, VPATH(".key"), "\"%s\" is not a valid Secret key", v->key);
                /* The keys Secret holds the node's intermediate CA under these names. */
                if (strneq(v->key ?: v->name, "intermediate.", 13))
                        return fail(ctx, VPATH(v->key ? ".key" : ".name"),
                                    "\"%s\": Secret keys starting with \"intermediate.\" are reserved for the node's "
                                    "intermediate CA", v->key ?: v->name);
                if (v->device[0] != '/' && !strneq(v->device, "UUID=", 5) && !strneq(v->device, "LABEL=", 6) &&
                    !strneq(v->device, "PARTLABEL=", 10))
                        return fail(ctx, VPATH(".device"),
                                    "\"%s\" must be an absolute path or UUID=, LABEL=, PARTLABEL=", v->device);
                if (streq(v->mountpoint, "/"))
                        return fail(ctx, VPATH(".mountpoint"), "must not be /");
                if (!strchr(l->cipher, '-') || l->cipher[0] == '-')
                        return fail(ctx, VPATH(".luks.cipher"), "\"%s\" must be cipher-mode, e.g. aes-xts-plain64",
                                    l->cipher);
                if (l->key_size_bits % 8 != 0 || l->key_size_bits < 128 || l->key_size_bits > 1024)
                        return fail(ctx, VPATH(".luks.key_size"), "%u bits: must be a multiple of 8 from 128 to 1024",
                                    l->key_size_bits);
                if (strstr(l->cipher, "-xts-") && l->key_size_bits != 256 && l->key_size_bits != 512)
                        return fail(ctx, VPATH(".luks.key_size"), "%u bits: XTS needs 256 or 512", l->key_size_bits);
                if (l->sector_size != 512 && l->sector_size != 1024 && l->sector_size != 2048 &&
                    l->sector_size != 4096)
                        return fail(ctx, VPATH(".luks.sector_size"), "%u: must be 512, 1024, 2048 or 4096",
                                    l->sector_size);
                if (l->argon2_memory_kib < 32 || l->argon2_memory_kib > 4 * 1024 * 1024)
                        return fail(ctx, VPATH(".luks.argon2_memory_kib"), "%u: must be from 32 to 4194304",
                                    l->argon2_memory_kib);
                if (l->argon2_parallel > 64)
                        return fail(ctx, VPATH(".luks.argon2_parallel"), "%u: must be at most 64", l->argon2_parallel);
                if (l->argon2_time > 1000)
                        return fail(ctx, VPATH(".luks.argon2_time"), "%u: must be at most 1000", l->argon2_time);

                for (size_t j = 0; j < i; j++) {
                        if (streq(c->volumes[j].name, v->name))
                                return fail(ctx, VPATH(".name"), "\"%s\" is also the name of volumes[%zu]", v->name, j);
                        if (streq(c->volumes[j].mountpoint, v->mountpoint))
                                return fail(ctx, VPATH(".mountpoint"), "%s is also the mountpoint of volumes[%zu]",
                                            v->mountpoint, j);
                        if (streq(c->volumes[j].device, v->device))
                                return fail(ctx, VPATH(".device"), "%s is also the device of volumes[%zu]", v->device, j);
                }
#undef VPATH
        }
        return 0;
}

/* A header backup Secret: {node} expanded, a valid name, and a Secret of its own (a header backup
 * is nearly as large as a Secret may be). */
static int validate_header_backups(Ctx *ctx, Config *c) {
        for (size_t i = 0; i < c->n_volumes; i++) {
                VolumeConfig *v = c->volumes + i;
                char p[128];
                char *x;
                int r;

                if (!v->header_backup_secret)
                        continue;
                (void) snprintf(p, sizeof(p), "volumes[%zu].header_backup.secret", i);
                r = expand_secret_name(ctx, p, c, &v->header_backup_secret);
                if (r < 0)
                        return r;
                x = v->header_backup_secret;
                if (streq(x, c->secrets.keys_secret) || streq(x, c->secrets.ca_secret))
                        return fail(ctx, p, "\"%s\" is the %s Secret: a header backup (up to 1 MiB) needs a Secret of its own", x,
                                    streq(x, c->secrets.keys_secret) ? "keys" : "CA");
                for (size_t j = 0; j < i; j++)
                        if (c->volumes[j].header_backup_secret && streq(c->volumes[j].header_backup_secret, x))
                                return fail(ctx, p, "\"%s\" is also the header backup Secret of volumes[%zu]: each volume needs "
                                            "a Secret of its own (a Secret holds at most 1 MiB)", x, j);
        }
        return 0;
}

static int validate_certificates(Ctx *ctx, Config *c) {
        for (size_t i = 0; i < c->n_certificates; i++) {
                CertificateConfig *cc = c->certificates + i;
                const char *reason;
                char p[128];
                size_t k = 0;
                int r;

#define CPATH(field) (snprintf(p, sizeof(p), "certificates[%zu]%s", i, field), p)
                if (!volume_name_is_valid(cc->name))
                        return fail(ctx, CPATH(".name"),
                                    "\"%s\" must be 1-63 characters of a-z, 0-9, '_', '.', '-'", cc->name);
                if (cc->validity_days > 3650)
                        return fail(ctx, CPATH(".validity_days"), "%u: must be at most 3650", cc->validity_days);
                if (cc->renew_fraction <= 0.0 || cc->renew_fraction >= 1.0)
                        return fail(ctx, CPATH(".renew_fraction"), "%g: must be greater than 0 and less than 1",
                                    cc->renew_fraction);
                /* A certificate is renewed no later than the check margin before it expires; one that
                 * lives no longer than the margin would fail "nodeseal check" from the start. */
                if ((uint64_t) cc->validity_days * USEC_PER_DAY <= c->check_margin_usec)
                        return fail(ctx, CPATH(".validity_days"),
                                    "%u day(s) is not longer than check.expiry_margin_days (%g): every certificate "
                                    "would fail \"nodeseal check\" as soon as it is issued",
                                    cc->validity_days, (double) c->check_margin_usec / (double) USEC_PER_DAY);
                if (!cc->dns_names) {
                        cc->dns_names = calloc(2, sizeof(char *));
                        if (!cc->dns_names || !(cc->dns_names[0] = strdup("{node}")))
                                return -ENOMEM;
                }
                STRV_FOREACH(s, cc->dns_names) {
                        char sub[160];
                        (void) snprintf(sub, sizeof(sub), "%s[%zu]", CPATH(".dns_names"), k++);
                        r = check_template(ctx, sub, c, *s);
                        if (r < 0)
                                return r;
                }
                reason = profile_refuses_key(profile_get(cc->profile), cc->key_type, false);
                if (reason)
                        return fail(ctx, CPATH(".key_type"), "%s is refused for the %s profile: %s",
                                    key_type_to_string(cc->key_type), profile_type_to_string(cc->profile), reason);
                if (cc->reload_command && !cc->reload_command[0])
                        return fail(ctx, CPATH(".reload_command"),
                                    "must not be empty: it is the hook's argv (omit it for the profile's hook, or "
                                    "set \"reload\": false for none)");
                if (cc->reload_command && cc->reload_command[0][0] != '/')
                        return fail(ctx, CPATH(".reload_command[0]"), "\"%s\" must be an absolute path",
                                    cc->reload_command[0]);
                if (cc->restart_command && !cc->restart_command[0])
                        return fail(ctx, CPATH(".restart_command"), "must not be empty: it is the restart's argv");
                if (cc->restart_command && cc->restart_command[0][0] != '/')
                        return fail(ctx, CPATH(".restart_command[0]"), "\"%s\" must be an absolute path",
                                    cc->restart_command[0]);
                for (size_t j = 0; j < i; j++) {
                        if (streq(c->certificates[j].name, cc->name))
                                return fail(ctx, CPATH(".name"), "\"%s\" is also the name of certificates[%zu]",
                                            cc->name, j);
                        if (streq(c->certificates[j].directory, cc->directory))
                                return fail(ctx, CPATH(".directory"), "%s is also the directory of certificates[%zu]",
                                            cc->directory, j);
                }
#undef CPATH
        }
        return 0;
}

static int validate_wrapping(Ctx *ctx, WrappingConfig *w) {
        if (!w->enabled)
                return 0;
        if (!w->node_key && !(w->node_key = strdup("file")))
                return -ENOMEM;
        if (!streq(w->node_key, "file") && !streq(w->node_key, "tpm2"))
                return fail(ctx, "secrets.wrapping.node_key",
                            "must be \"tpm2\" (sealed in the node's TPM) or \"file\" (a root-only key file), not \"%s\"",
                            w->node_key);
        if (streq(w->node_key, "file") && (w->tpm_tcti || w->n_pcrs > 0))
                return fail(ctx, w->tpm_tcti ? "secrets.wrapping.tpm_tcti" : "secrets.wrapping.pcrs",
                            "applies to node_key \"tpm2\" only");
        if (!w->node_key_file && !(w->node_key_file = strdup(CONFIG_DEFAULT_NODE_KEY_FILE)))
                return -ENOMEM;
        /* Without a recovery copy, a lost node key (a reinstalled node, a dead TPM) loses the data. */
        if (!w->recovery_public_key)
                return fail(ctx, "secrets.wrapping.recovery_public_key",
                            "is required: every wrapped key is also wrapped to the operator's offline recovery key "
                            "(an X25519 public key in PEM), so that a lost node key does not lose the volume");
        return 0;
}

static int validate_secrets(Ctx *ctx, Config *c) {
        SourceConfig *s = &c->secrets;
        KubeConfig *k = &s->kubernetes;
        int r;

        if (!s->ca_secret && !(s->ca_secret = strdup(CONFIG_DEFAULT_CA_SECRET)))
                return -ENOMEM;
        if (!s->keys_secret && !(s->keys_secret = strdup(CONFIG_DEFAULT_KEYS_SECRET)))
                return -ENOMEM;
        if (!s->directory && !(s->directory = strdup(CONFIG_DEFAULT_SECRETS_DIR)))
                return -ENOMEM;

        if (!secret_name_is_valid(s->ca_secret))
                return fail(ctx, "secrets.ca_secret", "\"%s\" is not a valid Secret name (lower-case DNS subdomain)",
                            s->ca_secret);
        r = expand_secret_name(ctx, "secrets.keys_secret", c, &s->keys_secret);
        if (r < 0)
                return r;

        if (k->api_url) {
                if (strncasecmp(k->api_url, "http://", 7) == 0)
                        return fail(ctx, "secrets.kubernetes.api_url",
                                    "\"%s\": plain http:// is refused; the API server must be reached over https://",
                                    k->api_url);
                if (strncasecmp(k->api_url, "https://", 8) != 0 || k->api_url[8] == '\0')
                        return fail(ctx, "secrets.kubernetes.api_url", "\"%s\" must be an https:// URL", k->api_url);
        }
        if (!k->client_certificate != !k->client_key)
                return fail(ctx, k->client_key ? "secrets.kubernetes.client_certificate" : "secrets.kubernetes.client_key",
                            "client_certificate and client_key must be given together");
        if (k->namespace && !secret_name_is_valid(k->namespace))
                return fail(ctx, "secrets.kubernetes.namespace", "\"%s\" is not a valid namespace name", k->namespace);
        /* The API server takes whole seconds, and caps a watch at its own --min-request-timeout range. */
        if (k->watch_timeout_usec < USEC_PER_SEC || k->watch_timeout_usec > 3600 * USEC_PER_SEC)
                return fail(ctx, "secrets.kubernetes.watch_timeout_sec", "must be between 1 and 3600 seconds");
        if (c->retry.max_usec < c->retry.initial_usec)
                return fail(ctx, "retry.max_sec", "must not be less than retry.initial_sec");
        /* The intermediate's key is stored wrapped to this node: no wrapping, no intermediate. */
        if (s->signer == SIGNER_INTERMEDIATE && !s->wrapping.enabled)
                return fail(ctx, "secrets.signer",
                            "\"intermediate\" needs secrets.wrapping: the intermediate CA's key is stored wrapped to "
                            "this node, so that no other node can read it");
        return validate_wrapping(ctx, &s->wrapping);
}

static int resolve_node_name(Ctx *ctx, Config *c, bool from_file) {
        char host[256] = {};
        const char *e;

        if (gethostname(host, sizeof(host) - 1) < 0)
                return -errno;
        c->hostname = strdup(host);
        if (!c->hostname)
                return -ENOMEM;

        if (!c->node_name) {
                e = getenv("NODE_NAME");
                c->node_name = strdup(!isempty(e) ? e : host);
                if (!c->node_name)
                        return -ENOMEM;
                from_file = false;
        }
        /* {node} lands in a Secret's name and in certificate names: hold it to a DNS subdomain. */
        if (!secret_name_is_valid(c->node_name))
                return fail(ctx, from_file ? "node_name" : "node_name (from $NODE_NAME or the hostname)",
                            "\"%s\" is not a valid node name (lower-case letters, digits, '-' and '.')", c->node_name);
        return 0;
}

/* ---- entry points ---- */

Config *config_free(Config *c) {
        if (!c)
                return NULL;
        for (size_t i = 0; i < c->n_volumes; i++) {
                VolumeConfig *v = c->volumes + i;
                free(v->name);
                free(v->device);
                free(v->key);
                free(v->mountpoint);
                free(v->mount_options);
                free(v->owner);
                free(v->group);
                free(v->luks.cipher);
                free(v->header_backup);
                free(v->header_backup_secret);
        }
        free(c->volumes);
        for (size_t i = 0; i < c->n_certificates; i++) {
                CertificateConfig *cc = c->certificates + i;
                free(cc->name);
                free(cc->directory);
                strv_free(cc->dns_names);
                strv_free(cc->ip_addresses);
                free(cc->owner);
                free(cc->group);
                strv_free(cc->reload_command);
                strv_free(cc->restart_command);
                free(cc->serve_check.address);
        }
        free(c->certificates);
        free(c->secrets.directory);
        free(c->secrets.ca_secret);
        free(c->secrets.keys_secret);
        free(c->secrets.wrapping.node_key);
        free(c->secrets.wrapping.node_key_file);
        free(c->secrets.wrapping.recovery_public_key);
        free(c->secrets.wrapping.tpm_tcti);
        free(c->secrets.kubernetes.api_url);
        free(c->secrets.kubernetes.ca_file);
        free(c->secrets.kubernetes.token_file);
        free(c->secrets.kubernetes.client_certificate);
        free(c->secrets.kubernetes.client_key);
        free(c->secrets.kubernetes.namespace);
        free(c->secrets.kubernetes.service_account_dir);
        free(c->node_name);
        free(c->hostname);
        free(c->runtime_dir);
        free(c->metrics.textfile);
        free(c->metrics.listen);
        free(c->path);
        free(c->text);
        free(c);
        return NULL;
}

int config_parse(const char *text, size_t size, const char *name, Config **ret, NsError *error) {
        static const Field fields[] = {
                { "node_name", parse_string, offsetof(Config, node_name) },
                { "runtime_directory", parse_path, offsetof(Config, runtime_dir) },
                { "secrets", parse_secrets, offsetof(Config, secrets) },
                { "retry", parse_retry, offsetof(Config, retry) },
                { "daemon", parse_daemon, offsetof(Config, daemon) },
                { "check", parse_check, offsetof(Config, check_margin_usec) },
                { "volumes", parse_volumes, offsetof(Config, volumes) },
                { "certificates", parse_certificates, offsetof(Config, certificates) },
                { "metrics", parse_metrics, offsetof(Config, metrics) },
                {}
        };
        _cleanup_(config_freep) Config *c = NULL;
        _cleanup_(cJSON_Deletep) cJSON *root = NULL;
        Ctx ctx = { .file = name, .error = error };
        const char *end = NULL;
        int r;

        root = cJSON_ParseWithLengthOpts(text, size, &end, false);
        if (root) {
                /* Only white space may follow the value: "{} x" is not a config. */
                while (end < text + size && strchr(" \t\r\n", *end) && *end)
                        end++;
                if (end < text + size && *end) {
                        cJSON_Delete(TAKE_PTR(root));
                }
        }
        if (!root) {
                size_t line = 1, col = 1;
                const char *at = end && end > text ? end : cJSON_GetErrorPtr();
                if (at && at >= text && at <= text + size)
                        for (const char *p = text; p < at; p++) {
                                if (*p == '\n') {
                                        line++;
                                        col = 1;
                                } else
                                        col++;
                        }
                return ns_error_set(error, -EINVAL, "%s: line %zu, column %zu: not valid JSON", name, line, col);
        }

        c = calloc(1, sizeof(*c));
        if (!c)
                return -ENOMEM;
        c->path = strdup(name);
        c->text = strndup(text, size);
        if (!c->path || !c->text)
                return -ENOMEM;
        c->text_size = size;
        c->secrets.type = SECRET_SOURCE_DIRECTORY;
        c->secrets.kubernetes.connect_timeout_usec = 5 * USEC_PER_SEC;
        c->secrets.kubernetes.request_timeout_usec = 30 * USEC_PER_SEC;
        c->secrets.kubernetes.watch_timeout_usec = 300 * USEC_PER_SEC;
        c->retry = (RetryConfig) {
                .initial_usec = USEC_PER_SEC,
                .max_usec = 60 * USEC_PER_SEC,
                .multiplier = 2.0,
                .jitter = 0.2,
        };
        c->daemon = (DaemonConfig) {
                .recheck_usec = 60 * USEC_PER_SEC,
                .poll_usec = 10 * USEC_PER_SEC,
                .hook_timeout_usec = 60 * USEC_PER_SEC,
                .renew_jitter_usec = 3600 * USEC_PER_SEC,
                .attempt_timeout_usec = 600 * USEC_PER_SEC,
                .rotation_jitter_usec = 60 * USEC_PER_SEC,
        };
        c->check_margin_usec = 7 * USEC_PER_DAY;

        r = dispatch(&ctx, "", root, fields, c);
        if (r < 0)
                return r;

        if (!c->runtime_dir && !(c->runtime_dir = strdup(CONFIG_DEFAULT_RUNTIME_DIR)))
                return -ENOMEM;

        r = resolve_node_name(&ctx, c, true);
        if (r < 0)
                return r;
        r = validate_secrets(&ctx, c);
        if (r < 0)
                return r;
        r = validate_volumes(&ctx, c);
        if (r < 0)
                return r;
        r = validate_header_backups(&ctx, c);
        if (r < 0)
                return r;
        r = validate_certificates(&ctx, c);
        if (r < 0)
                return r;

        *ret = TAKE_PTR(c);
        return 0;
}

int config_load(const char *path, Config **ret, NsError *error) {
        _cleanup_free_ char *text = NULL;
        size_t size;
        int r;

        if (!path)
                path = CONFIG_DEFAULT_PATH;

        r = read_full_file(path, CONFIG_SIZE_MAX, &text, &size);
        if (r == -EFBIG)
                return ns_error_set(error, r, "%s: larger than %d bytes", path, CONFIG_SIZE_MAX);
        if (r < 0)
                return ns_error_set(error, r, "%s: %s", path, strerror(-r));

        return config_parse(text, size, path, ret, error);
}

int config_expand(const Config *c, const char *template, char **ret) {
        _cleanup_free_ char *out = NULL;
        size_t n = 0, alloc = strlen(template) + 1;
        const char *p = template;

        out = malloc(alloc);
        if (!out)
                return -ENOMEM;

        while (*p) {
                const char *add;
                size_t len;

                if (*p == '{') {
                        if (strneq(p, "{node}", 6)) {
                                add = c->node_name;
                                p += 6;
                        } else if (strneq(p, "{hostname}", 10)) {
                                add = c->hostname;
                                p += 10;
                        } else
                                return -EINVAL;
                        add = strempty(add);
                        len = strlen(add);
                } else if (*p == '}')
                        return -EINVAL;
                else {
                        add = p++;
                        len = 1;
                }
                if (n + len + 1 > alloc) {
                        char *q;
                        alloc = (n + len + 1) * 2;
                        q = realloc(out, alloc);
                        if (!q)
                                return -ENOMEM;
                        out = q;
                }
                memcpy(out + n, add, len);
                n += len;
        }
        out[n] = '\0';
        *ret = TAKE_PTR(out);
        return 0;
}

static int parse_id(const char *s, unsigned *ret) {
        char *end;
        unsigned long u;

        errno = 0;
        u = strtoul(s, &end, 10);
        if (errno != 0 || end == s || *end || u >= (unsigned long) UINT32_MAX)
                return -EINVAL;
        *ret = (unsigned) u;
        return 0;
}

int config_resolve_user(const char *name, uid_t *ret_uid, gid_t *ret_primary_gid) {
        struct passwd pw, *res = NULL;
        char buf[4096];
        unsigned id;

        if (!name) {
                *ret_uid = (uid_t) -1;
                if (ret_primary_gid)
                        *ret_primary_gid = (gid_t) -1;
                return 0;
        }
        if (parse_id(name, &id) >= 0) {
                *ret_uid = (uid_t) id;
                if (ret_primary_gid) {
                        struct passwd *p = NULL;
                        *ret_primary_gid = getpwuid_r(id, &pw, buf, sizeof(buf), &p) == 0 && p ? p->pw_gid : (gid_t) -1;
                }
                return 0;
        }
        if (getpwnam_r(name, &pw, buf, sizeof(buf), &res) != 0 || !res)
                return -ESRCH;
        *ret_uid = res->pw_uid;
        if (ret_primary_gid)
                *ret_primary_gid = res->pw_gid;
        return 0;
}

int config_resolve_group(const char *name, gid_t *ret) {
        struct group gr, *res = NULL;
        char buf[4096];
        unsigned id;

        if (!name) {
                *ret = (gid_t) -1;
                return 0;
        }
        if (parse_id(name, &id) >= 0) {
                *ret = (gid_t) id;
                return 0;
        }
        if (getgrnam_r(name, &gr, buf, sizeof(buf), &res) != 0 || !res)
                return -ESRCH;
        *ret = res->gr_gid;
        return 0;
}
