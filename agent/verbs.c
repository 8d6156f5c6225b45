/* SPDX-License-Identifier: Apache-2.0 */
/* The verbs that work on the whole config: provision, check, close; and what all verbs share. */
#include <getopt.h>
#include <time.h>

#include "log.h"
#include "provision.h"
#include "secure.h"
#include "time-util.h"
#include "verbs.h"
#include "worker.h"

const char *arg_config = NULL;

int verb_load_config(Config **ret) {
        NsError error = {};
        int r;

        r = config_load(arg_config, ret, &error);
        if (r < 0)
                return log_error_errno(r, "Invalid configuration: %s", ns_error_message(&error, r));
        return 0;
}

void verb_lock_memory(void) {
        int r;

        r = secure_memory_lock();
        if (r < 0)
                log_warning_errno(r, "Cannot lock this process's memory (%m): volume keys, the CA key and Secret "
                                  "bodies may be written to swap. nodeseal needs CAP_IPC_LOCK (nodeseal.service "
                                  "grants it).");
}

int verb_parse_simple(int argc, char *argv[], const char *usage) {
        static const struct option options[] = {
                { "help", no_argument, NULL, 'h' },
                {}
        };
        int c;

        optind = 0;
        while ((c = getopt_long(argc, argv, "h", options, NULL)) >= 0)
                switch (c) {
                case 'h':
                        fputs(usage, stdout);
                        return 0;
                default:
                        return -EINVAL;
                }
        if (optind < argc)
                return log_error_errno(-EINVAL, "%s: unexpected argument \"%s\"", argv[0], argv[optind]);
        return 1;
}

/* The daemon's worker: "provision --report-fd=N [--config-fd=N] [--attempt=KIND]", not in --help. */
typedef struct WorkerArgs {
        int report_fd;
        int config_fd;
        AttemptKind kind;
} WorkerArgs;

static int parse_fd(const char *s, int *ret) {
        char *end;
        long v;

        errno = 0;
        v = strtol(s, &end, 10);
        if (errno != 0 || end == s || *end || v < 3 || v > 1024)
                return -EINVAL;
        *ret = (int) v;
        return 0;
}

static int parse_provision_args(int argc, char *argv[], WorkerArgs *w) {
        enum { ARG_REPORT_FD = 0x100, ARG_CONFIG_FD, ARG_ATTEMPT };
        static const struct option options[] = {
                { "help", no_argument, NULL, 'h' },
                { "report-fd", required_argument, NULL, ARG_REPORT_FD },
                { "config-fd", required_argument, NULL, ARG_CONFIG_FD },
                { "attempt", required_argument, NULL, ARG_ATTEMPT },
                {}
        };
        int c;

        optind = 0;
        while ((c = getopt_long(argc, argv, "h", options, NULL)) >= 0)
                switch (c) {
                case 'h':
                        fputs("Usage: nodeseal provision\n\n"
                              "One pass: fetch the secrets, open (formatting only blank devices) and mount\n"
                              "every volume, then issue or reuse every certificate. Exits 0 when all is in place.\n",
                              stdout);
                        return 0;
                case ARG_REPORT_FD:
                        if (parse_fd(optarg, &w->report_fd) < 0)
                                return log_error_errno(-EINVAL, "--report-fd: not a file descriptor: %s", optarg);
                        break;
                case ARG_CONFIG_FD:
                        if (parse_fd(optarg, &w->config_fd) < 0)
                                return log_error_errno(-EINVAL, "--config-fd: not a file descriptor: %s", optarg);
                        break;
                case ARG_ATTEMPT:
                        w->kind = attempt_kind_from_string(optarg);
                        if (w->kind < 0)
                                return log_error_errno(-EINVAL, "--attempt: check, provision or renew, not %s", optarg);
                        break;
                default:
                        return -EINVAL;
                }
        if (optind < argc)
                return log_error_errno(-EINVAL, "%s: unexpected argument \"%s\"", argv[0], argv[optind]);
        return 1;
}

/* The configuration the daemon runs with, from the fd it passed (named as its file for messages). */
static int load_config_fd(int fd, Config **ret) {
        _cleanup_free_ char *path = NULL, *text = NULL;
        NsError error = {};
        size_t size;
        int r;

        if (asprintf(&path, "/proc/self/fd/%d", fd) < 0)
                return log_oom();
        r = read_full_file(path, 1024 * 1024, &text, &size);
        if (r < 0)
                return log_error_errno(r, "Failed to read the configuration from fd %d: %m", fd);
        r = config_parse(text, size, arg_config ?: CONFIG_DEFAULT_PATH, ret, &error);
        if (r < 0)
                return log_error_errno(r, "Invalid configuration: %s", ns_error_message(&error, r));
        return 0;
}

static int provision_worker(const WorkerArgs *w) {
        _cleanup_(config_freep) Config *c = NULL;
        int r;

        r = w->config_fd >= 0 ? load_config_fd(w->config_fd, &c) : verb_load_config(&c);
        if (r < 0)
                return r;
        /* Whatever the attempt's outcome, it is in the report; the daemon logs it. */
        r = worker_main(c, w->kind, w->report_fd);
        if (r < 0)
                return log_error_errno(r, "Failed to report the attempt to the daemon: %m");
        return 0;
}

int verb_provision(int argc, char *argv[]) {
        _cleanup_(secret_source_freep) SecretSource *source = NULL;
        _cleanup_(config_freep) Config *c = NULL;
        WorkerArgs w = { .report_fd = -EBADF, .config_fd = -EBADF, .kind = ATTEMPT_PROVISION };
        NsError error = {};
        int r;

        r = parse_provision_args(argc, argv, &w);
        if (r <= 0)
                return r;
        if (w.report_fd >= 0)
                return provision_worker(&w);

        r = verb_load_config(&c);
        if (r < 0)
                return r;

        /* This process holds the volume keys and the CA key (the daemon runs it as its worker). */
        verb_lock_memory();
        r = secret_source_new(c, &source, &error);
        if (r < 0)
                return log_error_errno(r, "%s", ns_error_message(&error, r));

        r = provision_all(c, source, NULL, &error);
        if (r < 0)
                return log_error_errno(r, "Provisioning failed: %s", ns_error_message(&error, r));

        log_info("All %zu volume(s) and %zu certificate(s) in place%s.", c->n_volumes, c->n_certificates,
                 r > 0 ? "" : " (nothing changed)");
        return 0;
}

int parse_seconds_arg(const char *s, uint64_t *ret) {
        char *end;
        double d;

        errno = 0;
        d = strtod(s, &end);
        if (errno != 0 || end == s || *end || d < 0 || d > 86400.0 * 365)
                return -EINVAL;
        *ret = (uint64_t) (d * USEC_PER_SEC);
        return 0;
}

int verb_check(int argc, char *argv[]) {
        static const struct option options[] = {
                { "help", no_argument, NULL, 'h' },
                { "wait", required_argument, NULL, 'w' },
                { "quiet", no_argument, NULL, 'q' },
                {}
        };
        _cleanup_(config_freep) Config *c = NULL;
        uint64_t wait_usec = 0, deadline;
        bool quiet = false, waited = false;
        int opt, r;

        optind = 0;
        while ((opt = getopt_long(argc, argv, "hw:q", options, NULL)) >= 0)
                switch (opt) {
                case 'h':
                        fputs("Usage: nodeseal check [--wait SECS] [--quiet]\n\n"
                              "Exits 0 only if every volume is open, mounted from its own dm-crypt device and\n"
                              "writable, and every certificate is valid, matches its key, chains to the current\n"
                              "CA and does not expire within the margin. Needs no daemon.\n\n"
                              "  --wait SECS   retry once a second until all is in place or SECS have passed\n"
                              "  --quiet       print nothing on success\n\n"
                              "Exit codes: 0 ok, 1 error, 3 volume, 4 certificate or CA missing,\n"
                              "5 certificate expired or expiring, 6 certificate invalid, 7 --wait timed out.\n",
                              stdout);
                        return 0;
                case 'w':
                        if (parse_seconds_arg(optarg, &wait_usec) < 0)
                                return log_error_errno(-EINVAL, "--wait: \"%s\" is not a number of seconds", optarg);
                        waited = true;
                        break;
                case 'q':
                        quiet = true;
                        break;
                default:
                        return -EINVAL;
                }
        if (optind < argc)
                return log_error_errno(-EINVAL, "check: unexpected argument \"%s\"", argv[optind]);

        r = verb_load_config(&c);
        if (r < 0)
                return CHECK_EXIT_FAILURE;

        deadline = now_usec(CLOCK_MONOTONIC) + wait_usec;
        for (;;) {
                NsError error = {};

                r = check_all(c, &error);
                if (r == CHECK_EXIT_OK) {
                        if (!quiet)
                                printf("ok: %zu volume(s) and %zu certificate(s) in place\n", c->n_volumes,
                                       c->n_certificates);
                        return CHECK_EXIT_OK;
                }
                if (!waited || now_usec(CLOCK_MONOTONIC) >= deadline) {
                        /* The one-line reason goes to stdout too: it is what a probe's output shows. */
                        printf("not ready: %s\n", ns_error_message(&error, -EIO));
                        if (waited) {
                                log_error("Gave up waiting after %.0f s.", (double) wait_usec / USEC_PER_SEC);
                                return CHECK_EXIT_TIMEOUT;
                        }
                        return r < 0 ? CHECK_EXIT_FAILURE : r;
                }
                (void) usleep(500 * 1000);
        }
}

int verb_close(int argc, char *argv[]) {
        _cleanup_(config_freep) Config *c = NULL;
        NsError error = {};
        int r;

        r = verb_parse_simple(argc, argv,
                              "Usage: nodeseal close\n\n"
                              "Unmounts and closes every volume. Refuses, naming the holder, while a mountpoint is busy.\n");
        if (r <= 0)
                return r;
        r = verb_load_config(&c);
        if (r < 0)
                return r;
        r = close_all(c, &error);
        if (r < 0)
                return log_error_errno(r, "Close failed: %s", ns_error_message(&error, r));
        return 0;
}
