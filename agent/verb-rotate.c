/* SPDX-License-Identifier: Apache-2.0 */
/* The ca-rotate verb: one command per stage of a CA rotation, acting on the CA Secret. */
#include <getopt.h>
#include <time.h>

#include "log.h"
#include "pki.h"
#include "rotation.h"
#include "secret.h"
#include "verbs.h"

#define ROTATE_CA_DAYS 3650

typedef struct RotateArgs {
        RotationStep step;
        bool status;
        bool print;
        const char *ca_name;
        unsigned long ca_days;
        KeyType key_type;
} RotateArgs;

static int parse_args(int argc, char *argv[], RotateArgs *a) {
        enum { ARG_CA_DAYS = 0x100, ARG_CA_NAME, ARG_KEY_TYPE, ARG_PRINT };
        static const struct option options[] = {
                { "help", no_argument, NULL, 'h' },
                { "print", no_argument, NULL, ARG_PRINT },
                { "ca-days", required_argument, NULL, ARG_CA_DAYS },
                { "ca-name", required_argument, NULL, ARG_CA_NAME },
                { "key-type", required_argument, NULL, ARG_KEY_TYPE },
                {}
        };
        char *end;
        int opt;

        optind = 0;
        while ((opt = getopt_long(argc, argv, "h", options, NULL)) >= 0)
                switch (opt) {
                case 'h':
                        fputs("Usage: nodeseal ca-rotate [--print] [--ca-name CN] [--ca-days N] [--key-type T] STEP\n\n"
                              "Replaces the CA in stages, with old and new trusted side by side, one command per\n"
                              "stage; each is a no-op when already done and refused, naming the stage, otherwise:\n"
                              "  prepare   make a new CA (next.crt, next.key); ca.crt = old + new; the old CA signs\n"
                              "  activate  the new CA signs (tls.crt, tls.key); the old one kept as previous.*\n"
                              "  finish    the old CA leaves ca.crt and the Secret\n"
                              "  rollback  from activated: the old CA signs again (prepared)\n"
                              "  abort     from prepared: the new CA leaves ca.crt and the Secret\n"
                              "  status    print the stage of the CA Secret\n\n"
                              "Run each step only once every node reports the stage before it (nodeseal status).\n"
                              "The directory source is changed in place (one atomic swap of the Secret's\n"
                              "directory); the kubernetes source, or --print, prints the new Secret on stdout for\n"
                              "\"kubectl replace -f -\" (it holds the CA keys: pipe it, do not store it).\n\n"
                              "  --print        print the new Secret instead of writing it\n"
                              "  --ca-name CN   common name of the new CA (default \"nodeseal CA YYYY-MM-DD\")\n"
                              "  --ca-days N    validity of the new CA in days (default 3650)\n"
                              "  --key-type T   ec-p256 (default), ec-p384, rsa-2048, rsa-3072, rsa-4096, ed25519\n",
                              stdout);
                        return 0;
                case ARG_PRINT:
                        a->print = true;
                        break;
                case ARG_CA_DAYS:
                        errno = 0;
                        a->ca_days = strtoul(optarg, &end, 10);
                        if (errno != 0 || end == optarg || *end || a->ca_days < 1 || a->ca_days > 36500)
                                return log_error_errno(-EINVAL, "--ca-days: \"%s\" is not a number of days from 1 to 36500",
                                                       optarg);
                        break;
                case ARG_CA_NAME:
                        if (isempty(optarg) || strlen(optarg) > 64)
                                return log_error_errno(-EINVAL, "--ca-name: must be 1 to 64 characters");
                        a->ca_name = optarg;
                        break;
                case ARG_KEY_TYPE:
                        a->key_type = key_type_from_string(optarg);
                        if (a->key_type < 0)
                                return log_error_errno(-EINVAL, "--key-type: unknown key type \"%s\"", optarg);
                        break;
                default:
                        return -EINVAL;
                }
        if (optind + 1 != argc)
                return log_error_errno(-EINVAL, "ca-rotate: give one step: prepare, activate, finish, rollback, abort "
                                                "or status (see --help)");
        a->status = streq(argv[optind], "status");
        a->step = rotation_step_from_string(argv[optind]);
        if (!a->status && a->step < 0)
                return log_error_errno(-EINVAL, "ca-rotate: unknown step \"%s\" (prepare, activate, finish, rollback, "
                                                "abort, status)", argv[optind]);
        return 1;
}

static int read_ca_secret(SecretSource *s, const char *name, CaSecret *ret, NsError *error) {
        _cleanup_(ca_secret_done) CaSecret cs = {};

        for (CaSecretKey k = 0; k < _CA_SECRET_KEY_MAX; k++) {
                int r = secret_source_get(s, name, ca_secret_key_to_string(k), &cs.v[k], error);
                if (r == -ENOKEY) {
                        *error = (NsError) {};
                        continue;
                }
                if (r < 0)
                        return r;
        }
        *ret = cs;
        cs = (CaSecret) {};
        return 0;
}

/* The whole Secret as a manifest for "kubectl replace -f -": every value base64 in secret memory,
 * every name validated, so nothing needs escaping. */
static int print_secret(const Config *c, SecretSource *s, const CaSecret *cs) {
        const char *ns = c->secrets.kubernetes.namespace ?: "nodeseal", *rv = NULL;
        const SecretVersion *versions;
        bool first = true;
        size_t n;

        secret_source_versions(s, &versions, &n);
        for (size_t i = 0; i < n; i++)
                if (streq(versions[i].name, c->secrets.ca_secret))
                        rv = versions[i].resource_version;
        printf("{\n  \"apiVersion\": \"v1\",\n  \"kind\": \"Secret\",\n  \"metadata\": {\n    \"name\": \"%s\",\n"
               "    \"namespace\": \"%s\",%s%s%s\n    \"labels\": { \"app.kubernetes.io/managed-by\": \"nodeseal\" }\n  },\n"
               "  \"type\": \"kubernetes.io/tls\",\n  \"data\": {",
               c->secrets.ca_secret, ns, rv ? "\n    \"resourceVersion\": \"" : "", strempty(rv), rv ? "\"," : "");
        for (CaSecretKey k = 0; k < _CA_SECRET_KEY_MAX; k++) {
                _cleanup_(secret_value_freep) SecretValue *enc = NULL;
                int r;

                if (!cs->v[k])
                        continue;
                r = verb_base64(cs->v[k], &enc);
                if (r < 0)
                        return r;
                printf("%s\n    \"%s\": \"%.*s\"", first ? "" : ",", ca_secret_key_to_string(k), (int) enc->size,
                       (const char *) enc->data);
                first = false;
        }
        printf("\n  }\n}\n");
        return fflush(stdout) == 0 ? 0 : -EIO;
}

static int write_secret(const Config *c, SecretSource *s, const CaSecret *before, const CaSecret *after,
                        NsError *error) {
        const char *keys[_CA_SECRET_KEY_MAX];

        for (CaSecretKey k = 0; k < _CA_SECRET_KEY_MAX; k++)
                keys[k] = ca_secret_key_to_string(k);
        return secret_source_replace(s, c->secrets.ca_secret, keys, before->v, after->v, _CA_SECRET_KEY_MAX, error);
}

static int new_ca(const RotateArgs *a, SecretValue **ret_crt, SecretValue **ret_key, NsError *error) {
        _cleanup_free_ char *pem = NULL;
        char name[65];
        time_t now = time(NULL);
        struct tm tm;
        int r;

        if (a->ca_name)
                (void) snprintf(name, sizeof(name), "%s", a->ca_name);
        else
                (void) strftime(name, sizeof(name), "nodeseal CA %Y-%m-%d", gmtime_r(&now, &tm));
        r = ca_generate(name, a->key_type, (uint32_t) a->ca_days, &pem, ret_key, error);
        if (r < 0)
                return r;
        return secret_value_new_copy(pem, strlen(pem), ret_crt);
}

int verb_ca_rotate(int argc, char *argv[]) {
        _cleanup_(secret_value_freep) SecretValue *new_crt = NULL, *new_key = NULL;
        _cleanup_(secret_source_freep) SecretSource *source = NULL;
        _cleanup_(ca_secret_done) CaSecret before = {}, after = {};
        _cleanup_(config_freep) Config *c = NULL;
        _cleanup_free_ char *notes = NULL;
        RotateArgs a = { .ca_days = ROTATE_CA_DAYS, .key_type = KEY_TYPE_EC_P256 };
        RotationStage stage;
        NsError error = {};
        int r;

        r = parse_args(argc, argv, &a);
        if (r <= 0)
                return r;
        verb_lock_memory();
        r = verb_load_config(&c);
        if (r < 0)
                return r;
        r = secret_source_new(c, &source, &error);
        if (r < 0)
                return log_error_errno(r, "%s", ns_error_message(&error, r));
        r = read_ca_secret(source, c->secrets.ca_secret, &before, &error);
        if (r < 0)
                return log_error_errno(r, "CA Secret %s: %s", c->secrets.ca_secret, ns_error_message(&error, r));
        r = rotation_stage_of(&before, &stage, &error);
        if (r < 0)
                return log_error_errno(r, "CA Secret %s: %s", c->secrets.ca_secret, ns_error_message(&error, r));
        if (a.status) {
                printf("%s\n", rotation_stage_to_string(stage));
                return 0;
        }

        if (a.step == ROTATION_STEP_PREPARE && stage == ROTATION_NONE) {
                r = new_ca(&a, &new_crt, &new_key, &error);
                if (r < 0)
                        return log_error_errno(r, "Failed to create the new CA: %s", ns_error_message(&error, r));
        }
        r = rotation_step(&before, a.step, new_crt, new_key, &after, &notes, &error);
        if (r < 0)
                return log_error_errno(r, "CA Secret %s: %s", c->secrets.ca_secret, ns_error_message(&error, r));
        if (r == 0) {
                log_info("CA Secret %s is already %s: nothing to do.", c->secrets.ca_secret,
                         rotation_stage_to_string(stage));
                return 0;
        }
        if (notes)
                log_warning("Left out of the trust bundle: %s.", notes);

        if (!a.print && source->vtable->replace) {
                r = write_secret(c, source, &before, &after, &error);
                if (r < 0)
                        return log_error_errno(r, "Failed to write the CA Secret %s: %s", c->secrets.ca_secret,
                                               ns_error_message(&error, r));
        } else {
                r = print_secret(c, source, &after);
                if (r < 0)
                        return log_error_errno(r, "Failed to print the CA Secret: %m");
        }
        r = rotation_stage_of(&after, &stage, &error);
        if (r < 0)
                return r;
        log_info("CA Secret %s: %s %s; it is now %s.", c->secrets.ca_secret, rotation_step_to_string(a.step),
                 a.print || !source->vtable->replace ? "printed (apply it with kubectl replace -f -)" : "done",
                 rotation_stage_to_string(stage));
        if (a.step == ROTATION_STEP_ACTIVATE)
                log_notice("Nodes that sign with an intermediate CA (secrets.signer \"intermediate\") still sign under "
                           "the old CA: re-issue each node's intermediate now (nodeseal intermediate issue --node NODE "
                           "--dns NAME...), and run finish only once every node has moved.");
        return 0;
}
