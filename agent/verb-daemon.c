/* SPDX-License-Identifier: Apache-2.0 */
/* The run and status verbs: the daemon's command line, and its status read back over D-Bus or from the file. */
#include <inttypes.h>
#include <limits.h>
#include <getopt.h>
#include <signal.h>
#include <time.h>

#include "json-util.h"

#include "bus.h"
#include "log.h"
#include "manager.h"
#include "secure.h"
#include "time-util.h"
#include "verbs.h"
#include "volume-reencrypt.h"

int verb_run(int argc, char *argv[]) {
        enum { ARG_BUS_ADDRESS = 0x100 };
        static const struct option options[] = {
                { "help", no_argument, NULL, 'h' },
                { "bus-address", required_argument, NULL, ARG_BUS_ADDRESS },
                {}
        };
        _cleanup_(manager_freep) Manager *m = NULL;
        _cleanup_(config_freep) Config *c = NULL;
        const char *bus_address = NULL;
        int opt, r;

        optind = 0;
        while ((opt = getopt_long(argc, argv, "h", options, NULL)) >= 0)
                switch (opt) {
                case 'h':
                        fputs("Usage: nodeseal run [--bus-address ADDRESS]\n\n"
                              "The daemon: provisions every volume and certificate, retrying with backoff; tells\n"
                              "systemd READY=1 once all is in place; then renews certificates, follows changes of\n"
                              "the Secrets, re-checks the volumes, runs reload hooks, and serves org.nodeseal.Agent1\n"
                              "on the system bus. SIGHUP reloads the configuration; SIGTERM stops (volumes stay\n"
                              "mounted unless \"daemon\": {\"close_on_stop\": true}).\n\n"
                              "  --bus-address ADDRESS  serve on this D-Bus address instead of the system bus\n",
                              stdout);
                        return 0;
                case ARG_BUS_ADDRESS:
                        bus_address = optarg;
                        break;
                default:
                        return -EINVAL;
                }
        if (optind < argc)
                return log_error_errno(-EINVAL, "run: unexpected argument \"%s\"", argv[optind]);

        r = verb_load_config(&c);
        if (r < 0)
                return r;
        /* Long-running, and it provisions on its loop: keys and Secret bodies pass through it. */
        verb_lock_memory();

        r = verb_block_loop_signals();
        if (r < 0)
                return r;

        r = manager_new(TAKE_PTR(c), arg_config, bus_address, &m);
        if (r < 0)
                return log_error_errno(r, "Failed to set up the daemon: %m");
        log_info("nodeseal daemon starting: %zu volume(s), %zu certificate(s), %s secret source.", m->n_volumes,
                 m->n_certificates, secret_source_type_to_string(m->config->secrets.type));
        r = manager_run(m);
        return r < 0 ? r : r > 0 ? 1 : 0;
}

/* ---- status ---- */

static int describe_from_bus(const char *address, char **ret) {
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        sd_bus_error error = SD_BUS_ERROR_NULL;
        const char *json;
        char *s;
        int r;

        r = bus_connect_client(address, &bus);
        if (r < 0)
                return log_debug_errno(r, "No bus: %m");
        r = sd_bus_call_method(bus, BUS_NAME, BUS_PATH, BUS_INTERFACE, "Describe", &error, &reply, "");
        if (r < 0) {
                log_debug_errno(r, "Describe() failed: %s", error.message ?: strerror(-r));
                sd_bus_error_free(&error);
                return r;
        }
        r = sd_bus_message_read(reply, "s", &json);
        if (r < 0)
                return r;
        s = strdup(json);
        if (!s)
                return -ENOMEM;
        *ret = s;
        return 0;
}

static void print_time(const char *label, double usec) {
        printf("%-13s %s\n", label, FORMAT_UTC_USEC(usec > 0 ? (uint64_t) usec : 0));
}

static const char *json_string(const cJSON *o, const char *name) {
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);
        return cJSON_IsString(v) ? v->valuestring : "";
}

static double json_number(const cJSON *o, const char *name) {
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);
        /* What the casts below can take (µs since the epoch, a pid): a hand-edited or damaged status
         * file must not make them undefined. */
        return cJSON_IsNumber(v) && v->valuedouble >= 0 && v->valuedouble < 1e19 ? v->valuedouble : 0;
}

/* A reload that is not simply done: its state and why (the message says until when a certificate
 * still served is valid). */
static void print_reload(const cJSON *reload) {
        const char *state = json_string(reload, "state");

        if (isempty(state) || streq(state, "idle") || streq(state, "done") || streq(state, "confirmed"))
                return;
        printf("    reload %s: %s\n", state,
               isempty(json_string(reload, "message")) ? "-" : json_string(reload, "message"));
}

/* A volume's re-encryption under its line: a bar on a terminal, the same in words otherwise. */
static void print_reencrypt(const cJSON *re, bool bar) {
        ReencryptStatus st;
        char done[128], limit[64];

        if (reencrypt_status_from_json(re, &st) < 0 || st.state == REENCRYPT_STATE_NONE)
                return;
        if (bar && st.total > 0)
                reencrypt_format_bar(st.done, st.total, 30, done, sizeof(done));
        else if (st.total > 0)
                (void) snprintf(done, sizeof(done), "%.0f%%", MIN((double) st.done * 100 / (double) st.total, 100.0));
        else
                (void) snprintf(done, sizeof(done), "progress not known yet");
        if (st.limit > 0)
                (void) snprintf(limit, sizeof(limit), "limit %" PRIu64 " MiB/s", st.limit >> 20);
        else
                (void) snprintf(limit, sizeof(limit), "no limit");
        printf("    re-encryption %s%s: %s, %" PRIu64 " of %" PRIu64 " MiB, %" PRIu64 " MiB/s (%s), started %s\n",
               reencrypt_state_to_string(st.state), st.resumed ? " (resumed)" : "", done, st.done >> 20, st.total >> 20,
               st.rate >> 20, limit, FORMAT_UTC_USEC(st.started_at));
}

int status_print_table(const char *json, const char *from) {
        _cleanup_(cJSON_Deletep) cJSON *root = NULL;
        const cJSON *item;
        double pid;

        root = cJSON_Parse(json);
        if (!cJSON_IsObject(root))
                return log_error_errno(-EBADMSG, "The status from %s is not a JSON object.", from);

        printf("%-13s %s\n", "State:", json_string(root, "state"));
        printf("%-13s %s\n", "Ready:", cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(root, "ready")) ? "yes" : "no");
        printf("%-13s %s\n", "Status:", json_string(root, "status"));
        if (!isempty(json_string(root, "last_error")))
                printf("%-13s %s\n", "Last error:", json_string(root, "last_error"));
        printf("%-13s %s\n", "Node:", json_string(root, "node"));
        print_time("CA expires:", json_number(root, "ca_not_after"));
        const cJSON *rot = cJSON_GetObjectItemCaseSensitive(root, "ca_rotation");
        if (cJSON_IsObject(rot)) {
                const char *w = json_string(rot, "waiting");
                printf("%-13s this node: %s; CA Secret: %s%s%s\n", "CA rotation:", json_string(rot, "node_stage"),
                       json_string(rot, "secret_stage"), isempty(w) ? "" : "; waiting: ", w);
        }
        pid = json_number(root, "pid");
        printf("%-13s %s", "From:", from);
        if (!streq(from, "D-Bus") && pid > 0 && pid <= INT_MAX && !streq(json_string(root, "state"), "stopped") &&
            kill((pid_t) pid, 0) < 0 && errno == ESRCH)
                printf(" (stale: the daemon, pid %.0f, is gone)", pid);
        printf("\n");

        printf("\nVolumes:\n");
        printf("  %-20s %-8s %s\n", "NAME", "STATE", "MOUNTPOINT");
        cJSON_ArrayForEach(item, cJSON_GetObjectItemCaseSensitive(root, "volumes")) {
                printf("  %-20s %-8s %s\n", json_string(item, "name"), json_string(item, "state"),
                       json_string(item, "mountpoint"));
                print_reencrypt(cJSON_GetObjectItemCaseSensitive(item, "reencrypt"), isatty(STDOUT_FILENO));
        }

        printf("\nCertificates:\n");
        printf("  %-20s %-8s %-24s %s\n", "NAME", "STATE", "NOT AFTER", "RENEW FROM");
        cJSON_ArrayForEach(item, cJSON_GetObjectItemCaseSensitive(root, "certificates")) {
                double na = json_number(item, "not_after"), ra = json_number(item, "renew_at");

                printf("  %-20s %-8s %-24s %s\n", json_string(item, "name"), json_string(item, "state"),
                       FORMAT_UTC_USEC(na > 0 ? (uint64_t) na : 0), FORMAT_UTC_USEC(ra > 0 ? (uint64_t) ra : 0));
                print_reload(cJSON_GetObjectItemCaseSensitive(item, "reload"));
        }
        return 0;
}

int verb_status(int argc, char *argv[]) {
        enum { ARG_BUS_ADDRESS = 0x100, ARG_JSON };
        static const struct option options[] = {
                { "help", no_argument, NULL, 'h' },
                { "json", no_argument, NULL, ARG_JSON },
                { "bus-address", required_argument, NULL, ARG_BUS_ADDRESS },
                {}
        };
        _cleanup_free_ char *json = NULL, *path = NULL, *from = NULL;
        _cleanup_(config_freep) Config *c = NULL;
        const char *bus_address = NULL, *runtime_dir = CONFIG_DEFAULT_RUNTIME_DIR;
        bool as_json = false;
        NsError error = {};
        int opt, r;

        optind = 0;
        while ((opt = getopt_long(argc, argv, "h", options, NULL)) >= 0)
                switch (opt) {
                case 'h':
                        fputs("Usage: nodeseal status [--json] [--bus-address ADDRESS]\n\n"
                              "Shows the daemon's status: asks it over D-Bus (Describe()), or, without a bus or\n"
                              "a daemon on it, reads the status file it keeps in the runtime directory.\n\n"
                              "  --json                 print the status as JSON\n"
                              "  --bus-address ADDRESS  ask on this D-Bus address instead of the system bus\n",
                              stdout);
                        return 0;
                case ARG_JSON:
                        as_json = true;
                        break;
                case ARG_BUS_ADDRESS:
                        bus_address = optarg;
                        break;
                default:
                        return -EINVAL;
                }
        if (optind < argc)
                return log_error_errno(-EINVAL, "status: unexpected argument \"%s\"", argv[optind]);

        r = describe_from_bus(bus_address, &json);
        if (r >= 0)
                from = strdup("D-Bus");
        else {
                int k = config_load(arg_config, &c, &error);
                if (k < 0)
                        log_warning("Cannot read the configuration (%s); looking in %s.", ns_error_message(&error, k),
                                    runtime_dir);
                else
                        runtime_dir = c->runtime_dir;
                if (asprintf(&path, "%s/status.json", runtime_dir) < 0)
                        return log_oom();
                k = read_full_file(path, 1024 * 1024, &json, NULL);
                if (k < 0)
                        return log_error_errno(k, "No daemon answers on the bus (%s) and %s cannot be read: %m",
                                               strerror(-r), path);
                from = strdup(path);
        }
        if (!from)
                return log_oom();

        if (as_json) {
                size_t n = strlen(json);
                while (n > 0 && json[n - 1] == '\n')
                        json[--n] = '\0';
                puts(json);
                return 0;
        }
        return status_print_table(json, from);
}
