/* SPDX-License-Identifier: Apache-2.0 */
/* The verbs that work on the whole config: provision, check, close; and what all verbs share. */
#include <getopt.h>
#include <signal.h>
#include <time.h>

#include "json-util.h"
#include "log.h"
#include "profile.h"
#include "provision.h"
#include "serve-check.h"
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

int verb_block_loop_signals(void) {
        sigset_t mask;

        /* sd-event takes these through signalfd and child sources: they must be blocked first. */
        sigemptyset(&mask);
        sigaddset(&mask, SIGTERM);
        sigaddset(&mask, SIGINT);
        sigaddset(&mask, SIGHUP);
        sigaddset(&mask, SIGCHLD);
        if (sigprocmask(SIG_BLOCK, &mask, NULL) < 0)
                return log_error_errno(negative_errno(), "Failed to block signals: %m");
        (void) signal(SIGPIPE, SIG_IGN);
        return 0;
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

/* The daemon's worker: "provision --report-fd=N [--config-fd=N] [--progress-fd=N] [--attempt=KIND]",
 * not in --help. */
typedef struct WorkerArgs {
        int report_fd;
        int config_fd;
        int progress_fd;
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
        enum { ARG_REPORT_FD = 0x100, ARG_CONFIG_FD, ARG_PROGRESS_FD, ARG_ATTEMPT };
        static const struct option options[] = {
                { "help", no_argument, NULL, 'h' },
                { "report-fd", required_argument, NULL, ARG_REPORT_FD },
                { "config-fd", required_argument, NULL, ARG_CONFIG_FD },
                { "progress-fd", required_argument, NULL, ARG_PROGRESS_FD },
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
                case ARG_PROGRESS_FD:
                        if (parse_fd(optarg, &w->progress_fd) < 0)
                                return log_error_errno(-EINVAL, "--progress-fd: not a file descriptor: %s", optarg);
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
        r = worker_main(c, w->kind, w->report_fd, w->progress_fd);
        if (r < 0)
                return log_error_errno(r, "Failed to report the attempt to the daemon: %m");
        return 0;
}

int verb_provision(int argc, char *argv[]) {
        _cleanup_(secret_source_freep) SecretSource *source = NULL;
        _cleanup_(config_freep) Config *c = NULL;
        WorkerArgs w = { .report_fd = -EBADF, .config_fd = -EBADF, .progress_fd = -EBADF, .kind = ATTEMPT_PROVISION };
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

#define SERVE_CHECK_TIMEOUT_USEC (5 * USEC_PER_SEC)

/* --serving: every certificate with a serve_check is what its datastore serves. */
static int check_serving(const Config *c, NsError *error) {
        for (size_t i = 0; i < c->n_certificates; i++) {
                const CertificateConfig *cc = c->certificates + i;
                _cleanup_(profile_files_done) ProfileFiles f = PROFILE_FILES_NULL;
                ServeCheckResult res = {};
                char until[UTC_TIME_MAX];
                int r;

                if (!cc->serve_check.address)
                        continue;
                r = profile_files_paths(cc, &f);
                if (r < 0)
                        return ns_error_set(error, r, "Certificate %s: %m", cc->name);
                r = serve_check_run(&cc->serve_check, f.cert_path, SERVE_CHECK_TIMEOUT_USEC, &res, error);
                if (r < 0) {
                        (void) ns_error_prefix(error, r, "Certificate %s: serve_check", cc->name);
                        return CHECK_EXIT_NOT_SERVING;
                }
                if (!res.match) {
                        format_utc_usec(res.served_not_after, until, sizeof(until));
                        (void) ns_error_set(error, -ESTALE,
                                            "Certificate %s: the datastore at %s still serves another certificate "
                                            "(serial %s, valid until %s), not %s",
                                            cc->name, cc->serve_check.address, res.served_serial, until, f.cert_path);
                        return CHECK_EXIT_NOT_SERVING;
                }
        }
        return CHECK_EXIT_OK;
}

/* The daemon's serve check child: "check --serve-probe=PROTOCOL:ADDRESS --cert-file=PATH
 * --report-fd=N", not in --help. The JSON result goes to the fd; exit 0 when the check ran. */
static int serve_probe(const char *probe, const char *cert_file, int report_fd) {
        _cleanup_(cJSON_Deletep) cJSON *root = cJSON_CreateObject();
        _cleanup_free_ char *text = NULL, *proto = NULL;
        ServeCheckConfig sc = {};
        ServeCheckResult res = {};
        NsError error = {};
        const char *colon = strchr(probe, ':');
        char buf[32];
        int r;

        if (!root)
                return log_oom();
        if (!colon || !cert_file || report_fd < 0 || !(proto = strndup(probe, colon - probe)))
                return log_error_errno(-EINVAL, "--serve-probe needs PROTOCOL:ADDRESS, --cert-file and --report-fd");
        sc.protocol = serve_check_protocol_from_string(proto);
        sc.address = (char *) colon + 1;
        if ((int) sc.protocol < 0)
                return log_error_errno(-EINVAL, "--serve-probe: unknown protocol \"%s\"", proto);
        r = serve_check_run(&sc, cert_file, SERVE_CHECK_TIMEOUT_USEC, &res, &error);
        if (r < 0) {
                if (!cJSON_AddStringToObject(root, "error", ns_error_message(&error, r)))
                        return log_oom();
        } else {
                (void) snprintf(buf, sizeof(buf), "%llu", (unsigned long long) res.served_not_after);
                if (!cJSON_AddBoolToObject(root, "match", res.match) ||
                    !cJSON_AddRawToObject(root, "served_not_after", buf) ||
                    !cJSON_AddStringToObject(root, "served_serial", res.served_serial))
                        return log_oom();
        }
        text = cJSON_PrintUnformatted(root);
        if (!text)
                return log_oom();
        r = write_full_fd(report_fd, text, strlen(text));
        if (r < 0)
                return log_error_errno(r, "Failed to write the serve check's result: %m");
        return 0;
}

int verb_check(int argc, char *argv[]) {
        enum { ARG_SERVE_PROBE = 0x100, ARG_CERT_FILE, ARG_REPORT_FD };
        static const struct option options[] = {
                { "help", no_argument, NULL, 'h' },
                { "wait", required_argument, NULL, 'w' },
                { "quiet", no_argument, NULL, 'q' },
                { "serving", no_argument, NULL, 's' },
                { "serve-probe", required_argument, NULL, ARG_SERVE_PROBE },
                { "cert-file", required_argument, NULL, ARG_CERT_FILE },
                { "report-fd", required_argument, NULL, ARG_REPORT_FD },
                {}
        };
        _cleanup_(config_freep) Config *c = NULL;
        uint64_t wait_usec = 0, deadline;
        bool quiet = false, waited = false, serving = false;
        const char *probe = NULL, *cert_file = NULL;
        int opt, r, report_fd = -1;

        optind = 0;
        while ((opt = getopt_long(argc, argv, "hw:qs", options, NULL)) >= 0)
                switch (opt) {
                case 'h':
                        fputs("Usage: nodeseal check [--wait SECS] [--quiet] [--serving]\n\n"
                              "Exits 0 only if every volume is open, mounted from its own dm-crypt device and\n"
                              "writable, and every certificate is valid, matches its key, chains to the current\n"
                              "CA and does not expire within the margin. Needs no daemon.\n\n"
                              "  --wait SECS   retry once a second until all is in place or SECS have passed\n"
                              "  --quiet       print nothing on success\n"
                              "  --serving     also connect to each certificate's serve_check address and\n"
                              "                require that the datastore serves the certificate in its file\n\n"
                              "Exit codes: 0 ok, 1 error, 3 volume, 4 certificate or CA missing,\n"
                              "5 certificate expired or expiring, 6 certificate invalid, 7 --wait timed out,\n"
                              "8 a datastore serves another certificate (or cannot be asked).\n",
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
                case 's':
                        serving = true;
                        break;
                case ARG_SERVE_PROBE:
                        probe = optarg;
                        break;
                case ARG_CERT_FILE:
                        cert_file = optarg;
                        break;
                case ARG_REPORT_FD:
                        if (parse_fd(optarg, &report_fd) < 0)
                                return log_error_errno(-EINVAL, "--report-fd: \"%s\" is not a file descriptor", optarg);
                        break;
                default:
                        return -EINVAL;
                }
        if (optind < argc)
                return log_error_errno(-EINVAL, "check: unexpected argument \"%s\"", argv[optind]);
        if (probe)
                return serve_probe(probe, cert_file, report_fd) < 0 ? CHECK_EXIT_FAILURE : CHECK_EXIT_OK;

        r = verb_load_config(&c);
        if (r < 0)
                return CHECK_EXIT_FAILURE;

        deadline = now_usec(CLOCK_MONOTONIC) + wait_usec;
        for (;;) {
                NsError error = {};

                r = check_all(c, &error);
                if (r == CHECK_EXIT_OK && serving)
                        r = check_serving(c, &error);
                if (r == CHECK_EXIT_OK) {
                        if (!quiet)
                                printf("ok: %zu volume(s) and %zu certificate(s) in place%s\n", c->n_volumes,
                                       c->n_certificates, serving ? ", and served" : "");
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
