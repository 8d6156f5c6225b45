/* SPDX-License-Identifier: Apache-2.0 */
/* The reload-sidecar verb: the command line of the sidecar that reloads a datastore in its own pod. */
#include <getopt.h>

#include "log.h"
#include "sidecar.h"
#include "verbs.h"

static const char sidecar_usage[] =
        "Usage: nodeseal reload-sidecar [--certificate NAME] [--directory DIR] [--status-file PATH]\n"
        "                               [--poll-sec SECS] [--settle-sec SECS] [--once]\n"
        "       nodeseal reload-sidecar --probe --status-file PATH\n\n"
        "Runs beside a datastore (in its pod, or as its own service), where the datastore's local admin\n"
        "channel is reachable: watches the directory the agent writes the certificate NAME's files to\n"
        "(the only certificate of the configuration when there is one), and once they changed and\n"
        "settled, and the key matches the certificate that chains to the CA file beside it, does what\n"
        "the profile says the change needs (reload_command or the profile's hook, restart_command, or\n"
        "nothing), confirms it with the certificate's serve_check if it has one, and retries with the\n"
        "\"retry\" backoff until that succeeds. It also reloads the certificate once at start, so\n"
        "that a restart never loses a pending reload. SIGTERM stops it.\n\n"
        "  --certificate NAME  which certificate of the configuration\n"
        "  --directory DIR     where its files are seen here, if not at its \"directory\"\n"
        "  --status-file PATH  keep a status line there (phase, failures, reloads, last reload)\n"
        "  --poll-sec SECS     how often the files' metadata is read (default 2)\n"
        "  --settle-sec SECS   quiet time after the last change before reloading (default 2)\n"
        "  --once              exit 0 once a reload is done (confirmed, with a serve_check)\n"
        "  --probe             exit 1 while the status file says the reload fails or needs a\n"
        "                      restart, else 0\n";

typedef struct SidecarArgs {
        const char *certificate;
        const char *directory;
        bool probe;
        SidecarOptions o;
} SidecarArgs;

static int parse_sidecar_args(int argc, char *argv[], SidecarArgs *a) {
        enum { ARG_CERTIFICATE = 0x100, ARG_DIRECTORY, ARG_STATUS_FILE, ARG_POLL, ARG_SETTLE, ARG_ONCE, ARG_PROBE };
        static const struct option options[] = {
                { "help", no_argument, NULL, 'h' },
                { "certificate", required_argument, NULL, ARG_CERTIFICATE },
                { "directory", required_argument, NULL, ARG_DIRECTORY },
                { "status-file", required_argument, NULL, ARG_STATUS_FILE },
                { "poll-sec", required_argument, NULL, ARG_POLL },
                { "settle-sec", required_argument, NULL, ARG_SETTLE },
                { "once", no_argument, NULL, ARG_ONCE },
                { "probe", no_argument, NULL, ARG_PROBE },
                {}
        };
        int opt;

        optind = 0;
        while ((opt = getopt_long(argc, argv, "h", options, NULL)) >= 0)
                switch (opt) {
                case 'h':
                        fputs(sidecar_usage, stdout);
                        return 0;
                case ARG_CERTIFICATE:
                        a->certificate = optarg;
                        break;
                case ARG_DIRECTORY:
                        if (optarg[0] != '/')
                                return log_error_errno(-EINVAL, "--directory: \"%s\" is not an absolute path", optarg);
                        a->directory = optarg;
                        break;
                case ARG_STATUS_FILE:
                        a->o.status_path = optarg;
                        break;
                case ARG_POLL:
                case ARG_SETTLE: {
                        uint64_t *t = opt == ARG_POLL ? &a->o.poll_usec : &a->o.settle_usec;
                        if (parse_seconds_arg(optarg, t) < 0 || (opt == ARG_POLL && *t < USEC_PER_SEC / 10))
                                return log_error_errno(-EINVAL, "--%s: \"%s\" is not a number of seconds%s",
                                                       opt == ARG_POLL ? "poll-sec" : "settle-sec", optarg,
                                                       opt == ARG_POLL ? " of at least 0.1" : "");
                        break;
                }
                case ARG_ONCE:
                        a->o.once = true;
                        break;
                case ARG_PROBE:
                        a->probe = true;
                        break;
                default:
                        return -EINVAL;
                }
        if (optind < argc)
                return log_error_errno(-EINVAL, "reload-sidecar: unexpected argument \"%s\"", argv[optind]);
        if (a->probe && !a->o.status_path)
                return log_error_errno(-EINVAL, "reload-sidecar: --probe needs --status-file");
        return 1;
}

static int sidecar_probe_verb(const char *path) {
        _cleanup_free_ char *line = NULL;
        int r;

        r = sidecar_probe(path, &line);
        if (r == -EBUSY) {
                printf("%s\n", line);
                return log_error_errno(r, "The datastore's reload is failing, or it needs a restart (%s).", path);
        }
        if (r == -EBADMSG)
                return log_error_errno(r, "%s is not a reload-sidecar status file.", path);
        if (r < 0)
                return log_error_errno(r, "Cannot read the status file %s: %m", path);
        printf("%s\n", line);
        return 0;
}

/* The certificate of the configuration: the one named, or the only one. */
static int find_certificate(const Config *c, const char *name, const CertificateConfig **ret) {
        if (!name) {
                if (c->n_certificates != 1)
                        return log_error_errno(-EINVAL, "%s has %zu certificates: say which with --certificate NAME",
                                               c->path, c->n_certificates);
                *ret = c->certificates;
                return 0;
        }
        for (size_t i = 0; i < c->n_certificates; i++)
                if (streq(c->certificates[i].name, name)) {
                        *ret = c->certificates + i;
                        return 0;
                }
        return log_error_errno(-ENOENT, "%s has no certificate named \"%s\"", c->path, name);
}

int verb_reload_sidecar(int argc, char *argv[]) {
        SidecarArgs a = { .o = { .poll_usec = 2 * USEC_PER_SEC, .settle_usec = 2 * USEC_PER_SEC } };
        /* The sidecar borrows the config's strings: it goes first. */
        _cleanup_(config_freep) Config *c = NULL;
        _cleanup_(sidecar_freep) Sidecar *s = NULL;
        const CertificateConfig *found = NULL;
        CertificateConfig cc;
        int r;

        r = parse_sidecar_args(argc, argv, &a);
        if (r <= 0)
                return r;
        if (a.probe)
                return sidecar_probe_verb(a.o.status_path);

        r = verb_load_config(&c);
        if (r < 0)
                return r;
        r = find_certificate(c, a.certificate, &found);
        if (r < 0)
                return r;
        cc = *found;
        if (a.directory)
                cc.directory = (char *) a.directory;
        if (!cc.reload)
                return log_error_errno(-EINVAL, "Certificate %s has \"reload\": false: there is nothing to run.", cc.name);
        a.o.hook_timeout_usec = c->daemon.hook_timeout_usec;

        r = verb_block_loop_signals();
        if (r < 0)
                return r;

        r = sidecar_new(&cc, &c->retry, &a.o, &s);
        if (r == -ENOEXEC)
                return log_error_errno(r, "Certificate %s: its %s profile needs nothing done after a change (the "
                                       "datastore re-reads its files itself) and it has no serve_check: there is "
                                       "nothing for a sidecar to do.",
                                       cc.name, profile_type_to_string(cc.profile));
        if (r < 0)
                return log_error_errno(r, "Failed to set up the reload sidecar: %m");
        r = sidecar_run(s);
        return r < 0 ? log_error_errno(r, "The reload sidecar failed: %m") : 0;
}
