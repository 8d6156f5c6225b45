/* SPDX-License-Identifier: Apache-2.0 */
/* kube-get: the public secret-source API from the command line, for the integration scenarios.
 * Prints SHA-256 digests of key values, never the values. */
#include <getopt.h>
#include <openssl/evp.h>

#include "config.h"
#include "kube-watch.h"
#include "log.h"
#include "secret.h"

static const char *arg_config = NULL;
static bool arg_no_read = false;
static unsigned arg_count = 0;
static unsigned events = 0;

static void print_digest(const char *label, const SecretValue *v) {
        unsigned char md[EVP_MAX_MD_SIZE];
        unsigned n = 0;

        if (EVP_Digest(v->data, v->size, md, &n, EVP_sha256(), NULL) != 1) {
                printf("%s digest-failed\n", label);
                return;
        }
        printf("%s sha256=", label);
        for (unsigned i = 0; i < n; i++)
                printf("%02x", md[i]);
        printf(" size=%zu\n", v->size);
        fflush(stdout);
}

static int on_change(SecretSource *s, const char *secret, void *userdata) {
        sd_event *e = userdata;

        printf("changed %s\n", secret);
        fflush(stdout);
        if (arg_count > 0 && ++events >= arg_count)
                (void) sd_event_exit(e, 0);
        return 0;
}

static int on_timeout(sd_event_source *s, uint64_t usec, void *userdata) {
        return sd_event_exit(sd_event_source_get_event(s), -ETIME);
}

static int do_watch(SecretSource *source, unsigned timeout_sec, char **names) {
        _cleanup_(sd_event_unrefp) sd_event *event = NULL;
        NsError error = {};
        int r;

        if (!arg_no_read)
                /* Read first, as the daemon does: the watch then starts from exactly what was read. */
                STRV_FOREACH(n, names) {
                        _cleanup_(secret_value_freep) SecretValue *v = NULL;
                        NsError e = {};
                        r = secret_source_get(source, *n, "probe-no-such-key", &v, &e);
                        if (r < 0 && r != -ENOKEY && r != -ENOENT)
                                return log_error_errno(r, "%s", ns_error_message(&e, r));
                }

        r = sd_event_default(&event);
        if (r < 0)
                return log_error_errno(r, "Failed to get an event loop: %m");
        r = secret_source_watch(source, event, names, on_change, event, &error);
        if (r < 0)
                return log_error_errno(r, "Failed to watch: %s", ns_error_message(&error, r));
        if (timeout_sec > 0) {
                r = sd_event_add_time_relative(event, NULL, CLOCK_MONOTONIC, timeout_sec * USEC_PER_SEC, 0, on_timeout,
                                               NULL);
                if (r < 0)
                        return log_error_errno(r, "Failed to add a timer: %m");
        }
        printf("watching\n");
        fflush(stdout);
        r = sd_event_loop(event);
        STRV_FOREACH(n, names) {
                NsError e = {};
                unsigned requests = 0;
                bool streaming = false;
                if (secret_source_kubernetes_watch_state(source, *n, &requests, &streaming, &e) >= 0)
                        printf("state %s requests=%u streaming=%s last_error=%s\n", *n, requests,
                               streaming ? "yes" : "no", e.code != 0 ? e.message : "none");
        }
        fflush(stdout);
        if (r == -ETIME)
                return log_error_errno(r, "Timed out after %u s with %u change(s).", timeout_sec, events);
        return r;
}

int main(int argc, char *argv[]) {
        static const struct option options[] = {
                { "config", required_argument, NULL, 'c' },
                { "no-read", no_argument, NULL, 'n' },
                {}
        };
        _cleanup_(secret_source_freep) SecretSource *source = NULL;
        _cleanup_(config_freep) Config *c = NULL;
        NsError error = {};
        const char *verb;
        int opt, r;

        log_setup_default();
        (void) secure_process_setup();
        while ((opt = getopt_long(argc, argv, "c:n", options, NULL)) >= 0)
                switch (opt) {
                case 'c':
                        arg_config = optarg;
                        break;
                case 'n':
                        arg_no_read = true;
                        break;
                default:
                        return 2;
                }
        if (optind >= argc) {
                fprintf(stderr, "Usage: kube-get [--config FILE] get SECRET KEY | put SECRET KEY |\n"
                                "       watch COUNT TIMEOUT_SEC SECRET... | config\n");
                return 2;
        }
        verb = argv[optind];

        r = config_load(arg_config, &c, &error);
        if (r < 0) {
                log_error_errno(r, "Invalid configuration: %s", ns_error_message(&error, r));
                return 1;
        }
        if (streq(verb, "config") && argc - optind == 1) {
                /* The config parsed: for the manifest checks. */
                printf("ok source=%s keys_secret=%s volumes=%zu certificates=%zu\n",
                       secret_source_type_to_string(c->secrets.type), c->secrets.keys_secret, c->n_volumes,
                       c->n_certificates);
                return 0;
        }
        r = secret_source_new(c, &source, &error);
        if (r < 0) {
                log_error_errno(r, "%s", ns_error_message(&error, r));
                return 1;
        }

        if (streq(verb, "get") && argc - optind == 3) {
                _cleanup_(secret_value_freep) SecretValue *v = NULL;

                r = secret_source_get(source, argv[optind + 1], argv[optind + 2], &v, &error);
                if (r < 0) {
                        log_error_errno(r, "%s", ns_error_message(&error, r));
                        return r == -ENOENT ? 4 : r == -ENOKEY ? 5 : 1;
                }
                print_digest("value", v);
                return 0;
        }
        if (streq(verb, "put") && argc - optind == 3) {
                _cleanup_(secret_value_freep) SecretValue *mine = NULL, *stored = NULL;

                r = secret_value_new(64, &mine);
                if (r >= 0)
                        r = random_bytes(mine->data, mine->size);
                if (r < 0)
                        return 1;
                r = secret_source_put_if_missing(source, argv[optind + 1], argv[optind + 2], mine, &stored, &error);
                if (r < 0) {
                        log_error_errno(r, "%s", ns_error_message(&error, r));
                        return 1;
                }
                print_digest(secret_value_equal(mine, stored) ? "stored-mine" : "stored-other", stored);
                return 0;
        }
        if (streq(verb, "watch") && argc - optind >= 4) {
                arg_count = (unsigned) atoi(argv[optind + 1]);
                r = do_watch(source, (unsigned) atoi(argv[optind + 2]), argv + optind + 3);
                return r < 0 ? 1 : 0;
        }
        fprintf(stderr, "kube-get: bad arguments\n");
        return 2;
}
