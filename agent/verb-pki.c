/* SPDX-License-Identifier: Apache-2.0 */
/* The ca and bootstrap verbs: print the trust bundle; make a new CA and volume keys as Secrets. */
#define OPENSSL_API_COMPAT 30000
#define OPENSSL_NO_DEPRECATED 1

#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <sys/stat.h>

#include "json-util.h"
#include <openssl/evp.h>

#include "intermediate.h"
#include "log.h"
#include "path-util.h"
#include "pki.h"
#include "secret.h"
#include "verbs.h"

#define BOOTSTRAP_KEY_BYTES 64
#define BOOTSTRAP_CA_DAYS 3650
#define BOOTSTRAP_CA_NAME "nodeseal CA"
#define BOOTSTRAP_NAMESPACE "nodeseal"

int verb_ca(int argc, char *argv[]) {
        _cleanup_(secret_source_freep) SecretSource *source = NULL;
        _cleanup_(config_freep) Config *c = NULL;
        _cleanup_(ca_freep) Ca *ca = NULL;
        _cleanup_free_ char *pem = NULL;
        NsError error = {};
        int r;

        r = verb_parse_simple(argc, argv,
                              "Usage: nodeseal ca\n\n"
                              "Fetches the CA Secret, validates it (CA:TRUE, keyCertSign, valid now, key matches)\n"
                              "and prints the certificates clients and peers should trust (PEM) on stdout.\n");
        if (r <= 0)
                return r;

        r = verb_load_config(&c);
        if (r < 0)
                return r;
        r = secret_source_new(c, &source, &error);
        if (r < 0)
                return log_error_errno(r, "%s", ns_error_message(&error, r));
        r = signer_load(c, source, &ca, &error);
        if (r < 0)
                return log_error_errno(r, "CA (Secret %s) is not usable: %s", c->secrets.ca_secret,
                                       ns_error_message(&error, r));
        r = ca_trust_pem(ca, &pem);
        if (r < 0)
                return log_error_errno(r, "Failed to encode the CA trust bundle: %m");

        fputs(pem, stdout);
        if (fflush(stdout) != 0)
                return log_error_errno(-EIO, "Failed to write to stdout: %m");
        return 0;
}

/* ---- bootstrap ---- */

typedef struct BootstrapItem {
        char *secret;           /* Secret name */
        char *key;              /* key in it */
        SecretValue *value;
} BootstrapItem;

typedef struct Bootstrap {
        BootstrapItem *items;
        size_t n_items;
} Bootstrap;

static void bootstrap_done(Bootstrap *b) {
        for (size_t i = 0; i < b->n_items; i++) {
                free(b->items[i].secret);
                free(b->items[i].key);
                secret_value_free(b->items[i].value);
        }
        free(b->items);
        *b = (Bootstrap) {};
}

/* Takes value over, also on failure. */
static int bootstrap_add(Bootstrap *b, const char *secret, const char *key, SecretValue *value) {
        BootstrapItem *l;
        char *s = NULL, *k = NULL;

        l = reallocarray(b->items, b->n_items + 1, sizeof(BootstrapItem));
        if (l)
                b->items = l;
        if (!l || !(s = strdup(secret)) || !(k = strdup(key))) {
                free(s);
                secret_value_free(value);
                return -ENOMEM;
        }
        b->items[b->n_items++] = (BootstrapItem) { .secret = s, .key = k, .value = value };
        return 0;
}

/* The keys_secret template as written in the config file ("nodeseal-keys-{node}" by default): the
 * loaded config holds it expanded for this node only. */
static int keys_secret_template(const Config *c, bool from_file, char **ret) {
        _cleanup_(cJSON_Deletep) cJSON *root = NULL;
        _cleanup_free_ char *text = NULL;
        const cJSON *s;
        size_t size;
        char *t;
        int r;

        if (from_file) {
                r = read_full_file(c->path, 1024 * 1024, &text, &size);
                if (r < 0)
                        return r;
                root = cJSON_ParseWithLength(text, size);
                s = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(root, "secrets"), "keys_secret");
                if (cJSON_IsString(s) && s->valuestring) {
                        t = strdup(s->valuestring);
                        goto done;
                }
        }
        t = strdup(CONFIG_DEFAULT_KEYS_SECRET);
done:
        if (!t)
                return -ENOMEM;
        *ret = t;
        return 0;
}

int verb_base64(const SecretValue *v, SecretValue **ret) {
        _cleanup_(secret_value_freep) SecretValue *out = NULL;
        int r, n;

        if (v->size > INT_MAX / 2)
                return -EFBIG;
        r = secret_value_new(4 * ((v->size + 2) / 3) + 1, &out);
        if (r < 0)
                return r;
        n = EVP_EncodeBlock(out->data, v->data, (int) v->size);
        if (n < 0)
                return -EIO;
        out->size = (size_t) n;
        *ret = TAKE_PTR(out);
        return 0;
}

/* The manifests are written by hand rather than through cJSON so that the private key and the
 * volume keys exist only in secret memory; every name in them is validated (DNS subdomains and
 * Secret key characters) and every value is base64, so nothing needs escaping. */
static int print_manifests(const Bootstrap *b, const char *namespace, const char *ca_secret) {
        bool first_item = true;

        printf("{\n  \"apiVersion\": \"v1\",\n  \"kind\": \"List\",\n  \"items\": [");
        for (size_t i = 0; i < b->n_items; i++) {
                const BootstrapItem *it = b->items + i;
                bool new_secret = i == 0 || !streq(b->items[i - 1].secret, it->secret);
                bool last_key = i + 1 == b->n_items || !streq(b->items[i + 1].secret, it->secret);
                _cleanup_(secret_value_freep) SecretValue *enc = NULL;
                int r;

                if (new_secret) {
                        printf("%s\n    {\n      \"apiVersion\": \"v1\",\n      \"kind\": \"Secret\",\n"
                               "      \"metadata\": {\n        \"name\": \"%s\",\n        \"namespace\": \"%s\",\n"
                               "        \"labels\": { \"app.kubernetes.io/managed-by\": \"nodeseal\" }\n      },\n"
                               "      \"type\": \"%s\",\n      \"data\": {",
                               first_item ? "" : ",", it->secret, namespace,
                               streq(it->secret, ca_secret) ? "kubernetes.io/tls" : "Opaque");
                        first_item = false;
                }
                r = verb_base64(it->value, &enc);
                if (r < 0)
                        return r;
                printf("%s\n        \"%s\": \"%.*s\"", new_secret ? "" : ",", it->key, (int) enc->size,
                       (const char *) enc->data);
                if (last_key)
                        printf("\n      }\n    }");
        }
        printf("\n  ]\n}\n");
        return fflush(stdout) == 0 ? 0 : -EIO;
}

/* Creates dfd/name with the content, never replacing anything: written under a temporary name,
 * fsync'ed, then link()ed into place, which fails if the name exists. */
static int create_new_file(int dfd, const char *name, const SecretValue *v) {
        _cleanup_close_ int fd = -EBADF;
        char tmp[NAME_MAX + 1];
        uint64_t rnd;
        size_t done = 0;
        int r;

        r = random_bytes(&rnd, sizeof(rnd));
        if (r < 0)
                return r;
        (void) snprintf(tmp, sizeof(tmp), ".#%s.%016llx", name, (unsigned long long) rnd);
        fd = openat(dfd, tmp, O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC | O_NOFOLLOW, 0600);
        if (fd < 0)
                return -errno;
        while (done < v->size) {
                ssize_t k = write(fd, v->data + done, v->size - done);
                if (k < 0) {
                        if (errno == EINTR)
                                continue;
                        r = -errno;
                        goto fail;
                }
                done += (size_t) k;
        }
        if (fsync(fd) < 0) {
                r = -errno;
                goto fail;
        }
        r = linkat(dfd, tmp, dfd, name, 0) < 0 ? -errno : 0;
fail:
        (void) unlinkat(dfd, tmp, 0);
        return r;
}

static int write_directory(const Bootstrap *b, const char *dir) {
        _cleanup_close_ int root = -EBADF;
        size_t written = 0;
        NsError e = {};
        int r;

        /* Everything is checked before anything is written. */
        for (size_t i = 0; i < b->n_items; i++) {
                _cleanup_free_ char *p = NULL;
                struct stat st;

                if (asprintf(&p, "%s/%s/%s", dir, b->items[i].secret, b->items[i].key) < 0)
                        return log_oom();
                if (lstat(p, &st) >= 0)
                        return log_error_errno(-EEXIST, "%s already exists; refusing to overwrite anything, nothing written.", p);
        }

        /* Keys are written here: reached without symlinks, below directories only root can change;
         * a directory made for them is root's alone. */
        bool existed = access(dir, F_OK) >= 0;
        r = path_open_dir_safe(dir, PATH_SAFE_MKDIR, (uid_t) -1, (gid_t) -1, &root, &e);
        if (r < 0)
                return log_error_errno(r, "%s", e.message);
        if (!existed && fchmod(root, 0700) < 0)
                return log_error_errno(-errno, "Failed to make %s private: %m", dir);

        for (; written < b->n_items; written++) {
                const BootstrapItem *it = b->items + written;
                _cleanup_close_ int dfd = -EBADF;

                if (mkdirat(root, it->secret, 0700) < 0 && errno != EEXIST) {
                        r = log_error_errno(-errno, "Failed to create %s/%s: %m", dir, it->secret);
                        break;
                }
                dfd = openat(root, it->secret, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
                if (dfd < 0) {
                        r = log_error_errno(-errno, "Failed to open %s/%s: %m", dir, it->secret);
                        break;
                }
                r = create_new_file(dfd, it->key, it->value);
                if (r < 0) {
                        log_error_errno(r, "Failed to create %s/%s/%s: %m", dir, it->secret, it->key);
                        break;
                }
                (void) fsync(dfd);
        }
        if (written < b->n_items) {
                /* Take back what this run wrote: a half-bootstrapped directory helps nobody. */
                for (size_t i = 0; i < written; i++) {
                        _cleanup_free_ char *p = NULL;
                        if (asprintf(&p, "%s/%s/%s", dir, b->items[i].secret, b->items[i].key) >= 0)
                                (void) unlink(p);
                }
                return r < 0 ? r : -EIO;
        }
        log_info("Wrote %zu secret file(s) under %s.", b->n_items, dir);
        return 0;
}

static int strv_push(char ***l, const char *s) {
        size_t n = strv_length(*l);
        char **x, *d;

        d = strdup(s);
        x = d ? reallocarray(*l, n + 2, sizeof(char *)) : NULL;
        if (!x) {
                free(d);
                return -ENOMEM;
        }
        x[n] = d;
        x[n + 1] = NULL;
        *l = x;
        return 0;
}

static int load_config_or_defaults(char * const *nodes, Config **ret, bool *ret_from_file) {
        _cleanup_free_ char *json = NULL;
        NsError error = {};
        int r;

        if (arg_config || access(CONFIG_DEFAULT_PATH, F_OK) >= 0) {
                *ret_from_file = true;
                return verb_load_config(ret);
        }

        log_info("No configuration at %s: using the built-in defaults.", CONFIG_DEFAULT_PATH);
        /* With --node, the first one stands in for this machine (whose hostname need not be a
         * valid node name). */
        if (nodes && nodes[0])
                r = asprintf(&json, "{\"node_name\": \"%s\"}", nodes[0]);
        else
                r = asprintf(&json, "{}");
        if (r < 0)
                return log_oom();
        r = config_parse(json, strlen(json), "(built-in defaults)", ret, &error);
        if (r < 0)
                return log_error_errno(r, "%s", ns_error_message(&error, r));
        *ret_from_file = false;
        return 0;
}

int verb_bootstrap(int argc, char *argv[]) {
        enum { ARG_CA_DAYS = 0x100, ARG_CA_NAME };
        static const struct option options[] = {
                { "help", no_argument, NULL, 'h' },
                { "directory", required_argument, NULL, 'd' },
                { "namespace", required_argument, NULL, 'n' },
                { "node", required_argument, NULL, 'N' },
                { "volume", required_argument, NULL, 'v' },
                { "ca-days", required_argument, NULL, ARG_CA_DAYS },
                { "ca-name", required_argument, NULL, ARG_CA_NAME },
                {}
        };
        _cleanup_strv_free_ char **nodes = NULL, **volumes = NULL;
        _cleanup_(secret_value_freep) SecretValue *ca_key = NULL;
        _cleanup_(bootstrap_done) Bootstrap b = {};
        _cleanup_(config_freep) Config *c = NULL;
        _cleanup_free_ char *ca_cert = NULL, *template = NULL;
        const char *directory = NULL, *namespace = NULL, *ca_name = BOOTSTRAP_CA_NAME;
        unsigned long ca_days = BOOTSTRAP_CA_DAYS;
        bool from_file = false;
        NsError error = {};
        int opt, r;

        optind = 0;
        while ((opt = getopt_long(argc, argv, "hd:n:N:v:", options, NULL)) >= 0)
                switch (opt) {
                case 'h':
                        fputs("Usage: nodeseal bootstrap [--directory DIR] [--namespace NS] [--node NAME]...\n"
                              "                          [--volume NAME]... [--ca-days N] [--ca-name CN]\n\n"
                              "Makes a new CA and new random volume keys (64 bytes each): one per volume of the\n"
                              "configuration (or per --volume), for the configured node (or each --node).\n"
                              "Prints them as Kubernetes Secret manifests (a JSON v1 List) on stdout, or with\n"
                              "--directory writes the directory secret source layout DIR/<secret>/<key>,\n"
                              "refusing if any of those files exists. Works without a configuration file.\n\n"
                              "  --directory DIR   write DIR/<secret>/<key> (dirs 0700, files 0600) instead\n"
                              "  --namespace NS    namespace of the manifests (default: the configuration's\n"
                              "                    kubernetes.namespace, else \"" BOOTSTRAP_NAMESPACE "\")\n"
                              "  --node NAME       a node to make volume keys for (repeatable)\n"
                              "  --volume NAME     a volume key to make (repeatable)\n"
                              "  --ca-days N       validity of the CA in days (default 3650)\n"
                              "  --ca-name CN      common name of the CA (default \"" BOOTSTRAP_CA_NAME "\")\n",
                              stdout);
                        return 0;
                case 'd':
                        directory = optarg;
                        break;
                case 'n':
                        if (!secret_name_is_valid(optarg))
                                return log_error_errno(-EINVAL, "--namespace: \"%s\" is not a valid namespace name", optarg);
                        namespace = optarg;
                        break;
                case 'N':
                        if (!secret_name_is_valid(optarg))
                                return log_error_errno(-EINVAL, "--node: \"%s\" is not a valid node name", optarg);
                        if (strv_push(&nodes, optarg) < 0)
                                return log_oom();
                        break;
                case 'v':
                        if (!secret_key_is_valid(optarg))
                                return log_error_errno(-EINVAL, "--volume: \"%s\" is not a valid Secret key name", optarg);
                        if (strv_push(&volumes, optarg) < 0)
                                return log_oom();
                        break;
                case ARG_CA_DAYS: {
                        char *end;
                        errno = 0;
                        ca_days = strtoul(optarg, &end, 10);
                        if (errno != 0 || end == optarg || *end || ca_days < 1 || ca_days > 36500)
                                return log_error_errno(-EINVAL, "--ca-days: \"%s\" is not a number of days from 1 to 36500",
                                                       optarg);
                        break;
                }
                case ARG_CA_NAME:
                        if (isempty(optarg) || strlen(optarg) > 64)
                                return log_error_errno(-EINVAL, "--ca-name: must be 1 to 64 characters");
                        ca_name = optarg;
                        break;
                default:
                        return -EINVAL;
                }
        if (optind < argc)
                return log_error_errno(-EINVAL, "bootstrap: unexpected argument \"%s\"", argv[optind]);

        r = load_config_or_defaults(nodes, &c, &from_file);
        if (r < 0)
                return r;
        if (!namespace)
                namespace = c->secrets.kubernetes.namespace ?: BOOTSTRAP_NAMESPACE;
        if (!nodes && strv_push(&nodes, c->node_name) < 0)
                return log_oom();
        if (!volumes)
                for (size_t i = 0; i < c->n_volumes; i++)
                        if (strv_push(&volumes, c->volumes[i].key ?: c->volumes[i].name) < 0)
                                return log_oom();
        if (!volumes)
                log_notice("No volumes configured and no --volume given: making the CA only.");

        /* The CA. */
        r = ca_generate(ca_name, KEY_TYPE_EC_P256, (uint32_t) ca_days, &ca_cert, &ca_key, &error);
        if (r < 0)
                return log_error_errno(r, "Failed to create the CA: %s", ns_error_message(&error, r));
        {
                _cleanup_(secret_value_freep) SecretValue *cert = NULL, *bundle = NULL, *key = NULL;
                _cleanup_(ca_freep) Ca *check = NULL;

                /* What we hand out must pass our own validation. */
                if (secret_value_new_copy(ca_cert, strlen(ca_cert), &cert) < 0 ||
                    secret_value_new_copy(ca_cert, strlen(ca_cert), &bundle) < 0 ||
                    secret_value_new_copy(ca_key->data, ca_key->size, &key) < 0)
                        return log_oom();
                r = ca_from_pem(cert, key, NULL, &check, &error);
                if (r < 0)
                        return log_error_errno(r, "The new CA does not validate: %s", ns_error_message(&error, r));
                if (bootstrap_add(&b, c->secrets.ca_secret, "tls.crt", TAKE_PTR(cert)) < 0 ||
                    bootstrap_add(&b, c->secrets.ca_secret, "tls.key", TAKE_PTR(key)) < 0 ||
                    bootstrap_add(&b, c->secrets.ca_secret, "ca.crt", TAKE_PTR(bundle)) < 0)
                        return log_oom();
        }

        /* The volume keys, one Secret per node. */
        r = keys_secret_template(c, from_file, &template);
        if (r < 0)
                return log_error_errno(r, "Failed to read secrets.keys_secret from %s: %m", c->path);
        STRV_FOREACH(node, nodes) {
                _cleanup_free_ char *secret = NULL;
                Config per_node = *c;

                per_node.node_name = *node;
                r = config_expand(&per_node, template, &secret);
                if (r < 0 || !secret_name_is_valid(secret))
                        return log_error_errno(-EINVAL, "secrets.keys_secret \"%s\" does not give a valid Secret name for node %s",
                                               template, *node);
                if (streq(secret, c->secrets.ca_secret))
                        return log_error_errno(-EINVAL, "The keys Secret of node %s would be the CA Secret %s", *node, secret);
                for (char **n = nodes; n < node; n++) {
                        _cleanup_free_ char *other = NULL;
                        per_node.node_name = *n;
                        if (config_expand(&per_node, template, &other) >= 0 && streq(other, secret))
                                return log_error_errno(-EINVAL, "Nodes %s and %s would share the keys Secret %s; "
                                                       "secrets.keys_secret must contain {node}", *n, *node, secret);
                }
                STRV_FOREACH(v, volumes) {
                        SecretValue *k = NULL;

                        for (char **w = volumes; w < v; w++)
                                if (streq(*w, *v))
                                        return log_error_errno(-EINVAL, "Volume key \"%s\" given twice", *v);
                        r = secret_value_new(BOOTSTRAP_KEY_BYTES, &k);
                        if (r < 0)
                                return log_oom();
                        r = random_bytes(k->data, k->size);
                        if (r < 0) {
                                secret_value_free(k);
                                return log_error_errno(r, "Failed to get random bytes: %m");
                        }
                        if (bootstrap_add(&b, secret, *v, k) < 0)
                                return log_oom();
                }
        }

        if (directory)
                return write_directory(&b, directory);

        r = print_manifests(&b, namespace, c->secrets.ca_secret);
        if (r < 0)
                return log_error_errno(r, "Failed to write the manifests: %m");
        return 0;
}

/* ---- intermediate ---- */

static int intermediate_request_main(int argc, char *argv[]) {
        static const struct option options[] = {
                { "help", no_argument, NULL, 'h' },
                { "key-type", required_argument, NULL, 't' },
                {}
        };
        _cleanup_(secret_source_freep) SecretSource *source = NULL;
        _cleanup_(config_freep) Config *c = NULL;
        _cleanup_free_ char *csr = NULL;
        KeyType t = KEY_TYPE_EC_P256;
        char sha[65];
        NsError error = {};
        bool made = false;
        int opt, r;

        optind = 0;
        while ((opt = getopt_long(argc, argv, "ht:", options, NULL)) >= 0)
                switch (opt) {
                case 'h':
                        fputs("Usage: nodeseal intermediate request [--key-type ec-p256|ec-p384|ed25519]\n\n"
                              "On the node: makes this node's intermediate CA key unless its keys Secret has one,\n"
                              "stores it there wrapped to this node (and to the recovery key) as\n"
                              "\"" INTERMEDIATE_KEY_WRAPPED "\", and stores a certificate request for it as\n"
                              "\"" INTERMEDIATE_CSR "\". Prints the key's SHA-256 (for issue --key-sha256) and\n"
                              "the request. Needs secrets.wrapping.\n",
                              stdout);
                        return 0;
                case 't':
                        t = key_type_from_string(optarg);
                        if ((int) t < 0)
                                return log_error_errno(-EINVAL, "--key-type: unknown key type \"%s\"", optarg);
                        break;
                default:
                        return -EINVAL;
                }
        if (optind < argc)
                return log_error_errno(-EINVAL, "intermediate request: unexpected argument \"%s\"", argv[optind]);

        r = verb_load_config(&c);
        if (r < 0)
                return r;
        verb_lock_memory();
        r = secret_source_new(c, &source, &error);
        if (r >= 0)
                r = intermediate_request(c, source, t, &csr, &made, &error);
        if (r < 0)
                return log_error_errno(r, "Intermediate CA request of node %s: %s", c->node_name,
                                       ns_error_message(&error, r));
        r = intermediate_csr_key_sha256(csr, strlen(csr), sha, &error);
        if (r < 0)
                return log_error_errno(r, "The request just made: %s", ns_error_message(&error, r));
        log_info("%s the intermediate CA key of node %s (Secret %s, %s); its request is in %s.",
                 made ? "Made" : "Kept", c->node_name, c->secrets.keys_secret, INTERMEDIATE_KEY_WRAPPED, INTERMEDIATE_CSR);
        /* What the operator passes to "intermediate issue --key-sha256", read from here over a channel
         * they trust: the keys Secret itself can be written by every node. */
        printf("key-sha256: %s\n", sha);
        fputs(csr, stdout);
        return fflush(stdout) == 0 ? 0 : log_error_errno(-EIO, "Failed to write to stdout: %m");
}

static int intermediate_issue_main(int argc, char *argv[]) {
        static const struct option options[] = {
                { "help", no_argument, NULL, 'h' },
                { "node", required_argument, NULL, 'N' },
                { "dns", required_argument, NULL, 'D' },
                { "ip", required_argument, NULL, 'I' },
                { "days", required_argument, NULL, 'd' },
                { "key-sha256", required_argument, NULL, 'K' },
                {}
        };
        _cleanup_(intermediate_names_done) IntermediateNames names = {};
        _cleanup_(secret_source_freep) SecretSource *source = NULL;
        _cleanup_free_ char *template = NULL, *secret = NULL, *pem = NULL, *info = NULL;
        _cleanup_(config_freep) Config *c = NULL;
        _cleanup_(ca_freep) Ca *ca = NULL;
        unsigned long days = INTERMEDIATE_DEFAULT_DAYS;
        const char *node = NULL, *key_sha256 = NULL;
        NsError error = {};
        char certified[65];
        int opt, r;

        optind = 0;
        while ((opt = getopt_long(argc, argv, "hN:D:I:d:K:", options, NULL)) >= 0)
                switch (opt) {
                case 'h':
                        fputs("Usage: nodeseal intermediate issue --node NODE --dns NAME... [--ip ADDR[/BITS]...]\n"
                              "                                   [--days N]\n\n"
                              "Where the root CA's key is (the CA Secret's tls.key): certifies the key of node\n"
                              "NODE's request (\"" INTERMEDIATE_CSR "\" in its keys Secret) as its intermediate CA,\n"
                              "allowed to sign only the names and addresses given here (name constraints), and\n"
                              "stores it as \"" INTERMEDIATE_CRT "\" there. The request's names are ignored.\n\n"
                              "  --node NODE   the node (its keys Secret is secrets.keys_secret for it)\n"
                              "  --dns NAME    a DNS name it may sign, with the names below it (\".NAME\": only\n"
                              "                those below); repeatable, at least one\n"
                              "  --ip RANGE    an address or CIDR range it may sign; repeatable; none: no address\n"
                              "  --days N      validity in days (default 365; never past the CA's)\n"
                              "  --key-sha256 H  refuse unless the request's key has this SHA-256 (what\n"
                              "                \"intermediate request\" printed on the node): any node can\n"
                              "                write any keys Secret, so only this proves the request is NODE's\n",
                              stdout);
                        return 0;
                case 'N':
                        if (!secret_name_is_valid(optarg))
                                return log_error_errno(-EINVAL, "--node: \"%s\" is not a valid node name", optarg);
                        node = optarg;
                        break;
                case 'D':
                        r = intermediate_names_add_dns(&names, optarg, &error);
                        if (r < 0)
                                return log_error_errno(r, "%s", ns_error_message(&error, r));
                        break;
                case 'I':
                        r = intermediate_names_add_range(&names, optarg, &error);
                        if (r < 0)
                                return log_error_errno(r, "%s", ns_error_message(&error, r));
                        break;
                case 'K':
                        if (strlen(optarg) != 64 || strspn(optarg, "0123456789abcdefABCDEF") != 64)
                                return log_error_errno(-EINVAL, "--key-sha256: \"%s\" is not 64 hexadecimal digits", optarg);
                        key_sha256 = optarg;
                        break;
                case 'd': {
                        char *end;
                        errno = 0;
                        days = strtoul(optarg, &end, 10);
                        if (errno != 0 || end == optarg || *end || days < 1 || days > 3650)
                                return log_error_errno(-EINVAL, "--days: \"%s\" is not a number of days from 1 to 3650",
                                                       optarg);
                        break;
                }
                default:
                        return -EINVAL;
                }
        if (optind < argc)
                return log_error_errno(-EINVAL, "intermediate issue: unexpected argument \"%s\"", argv[optind]);
        if (!node)
                return log_error_errno(-EINVAL, "intermediate issue: --node is required");
        if ((!names.dns || !names.dns[0]))
                return log_error_errno(-EINVAL, "intermediate issue: no --dns given for node %s; its intermediate CA may "
                                       "sign only names the operator gives", node);

        r = verb_load_config(&c);
        if (r < 0)
                return r;
        verb_lock_memory();
        r = keys_secret_template(c, true, &template);
        if (r < 0)
                return log_error_errno(r, "Failed to read secrets.keys_secret from %s: %m", c->path);
        {
                Config per_node = *c;
                per_node.node_name = (char *) node;
                r = config_expand(&per_node, template, &secret);
                if (r < 0 || !secret_name_is_valid(secret))
                        return log_error_errno(-EINVAL, "secrets.keys_secret \"%s\" does not give a valid Secret name "
                                               "for node %s", template, node);
        }
        r = secret_source_new(c, &source, &error);
        if (r >= 0)
                r = ca_load(source, &ca, &error);
        if (r < 0)
                return log_error_errno(r, "CA (Secret %s) is not usable: %s", c->secrets.ca_secret,
                                       ns_error_message(&error, r));
        r = intermediate_issue_for(source, ca, node, secret, &names, key_sha256, (uint32_t) days, &pem, certified,
                                   &error);
        if (r < 0)
                return log_error_errno(r, "Intermediate CA of node %s: %s", node, ns_error_message(&error, r));
        if (!key_sha256)
                log_notice("Certified the key with SHA-256 %s without --key-sha256: compare it with what \"nodeseal "
                           "intermediate request\" printed on node %s (any node can replace another's request).",
                           certified, node);
        if (intermediate_cert_info(pem, strlen(pem), &info, NULL) >= 0)
                fputs(info, stdout);
        log_info("Stored the intermediate CA of node %s as %s in Secret %s.", node, INTERMEDIATE_CRT, secret);
        return fflush(stdout) == 0 ? 0 : log_error_errno(-EIO, "Failed to write to stdout: %m");
}

int verb_intermediate(int argc, char *argv[]) {
        if (argc < 2 || streq(argv[1], "--help") || streq(argv[1], "-h")) {
                fputs("Usage: nodeseal intermediate request|issue [OPTIONS]\n\n"
                      "Per-node intermediate CAs (secrets.signer \"intermediate\"):\n"
                      "  request   on the node: make the wrapped key and the certificate request\n"
                      "  issue     where the root key is: certify a node's request for the given names\n",
                      argc < 2 ? stderr : stdout);
                return argc < 2 ? -EINVAL : 0;
        }
        if (streq(argv[1], "request"))
                return intermediate_request_main(argc - 1, argv + 1);
        if (streq(argv[1], "issue"))
                return intermediate_issue_main(argc - 1, argv + 1);
        return log_error_errno(-EINVAL, "intermediate: unknown command \"%s\" (request or issue)", argv[1]);
}
