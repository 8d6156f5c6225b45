/* SPDX-License-Identifier: Apache-2.0 */
/* nodeseal: parse the global options and hand over to a verb. */
#include <getopt.h>

#include "build-config.h"
#include "log.h"
#include "secure.h"
#include "verbs.h"

const Verb verbs[] = {
        { "provision", verb_provision, "one pass: open and mount volumes, issue certificates" },
        { "run", verb_run, "the daemon: provision with retry, notify systemd, renew, serve D-Bus" },
        { "check", verb_check, "exit 0 only if every volume and certificate is in place" },
        { "status", verb_status, "show the daemon's status (D-Bus, or the status file)" },
        { "ca", verb_ca, "print the CA certificate clients should trust" },
        { "ca-rotate", verb_ca_rotate, "replace the CA in stages: prepare, activate, finish" },
        { "close", verb_close, "unmount and close the volumes" },
        { "bootstrap", verb_bootstrap, "print Secrets with a new CA and new volume keys" },
        { "intermediate", verb_intermediate, "per-node intermediate CAs: request (node), issue (operator)" },
        { "enrol", verb_enrol, "make or load this node's key for wrapped volume keys; print its id" },
        { "wrap-keys", verb_wrap_keys, "wrap this node's plain volume keys in place (migration)" },
        { "recover-key", verb_recover_key, "open a wrapped volume key with the offline recovery key" },
        { "reload-sidecar", verb_reload_sidecar, "beside a datastore: reload it when its certificate files change" },
        { "recover", verb_recover, "restore a volume's LUKS2 header from its backup" },
        { "reencrypt", verb_reencrypt, "re-encrypt a volume under a new volume key, online" },
        {}
};

static void help(void) {
        printf("Usage: nodeseal [OPTIONS] COMMAND [ARGS...]\n\n"
               "Makes a datastore node safe to start: LUKS2 volumes and TLS certificates from\n"
               "Kubernetes Secrets (or a directory of them), and a gate that holds the datastore back\n"
               "until both are in place.\n\n"
               "Commands:\n");
        for (const Verb *v = verbs; v->name; v++)
                printf("  %-15s %s\n", v->name, v->summary);
        printf("\nOptions:\n"
               "  -c, --config PATH        configuration file (default " CONFIG_DEFAULT_PATH ")\n"
               "      --log-format FORMAT  journal, text or json\n"
               "      --log-level LEVEL    debug, info, notice, warning or err\n"
               "  -h, --help               show this help\n"
               "      --version            show the version\n\n"
               "\"nodeseal COMMAND --help\" shows the options of a command.\n");
}

static int run(int argc, char *argv[]) {
        enum { ARG_LOG_FORMAT = 0x100, ARG_LOG_LEVEL, ARG_VERSION };
        static const struct option options[] = {
                { "config", required_argument, NULL, 'c' },
                { "log-format", required_argument, NULL, ARG_LOG_FORMAT },
                { "log-level", required_argument, NULL, ARG_LOG_LEVEL },
                { "help", no_argument, NULL, 'h' },
                { "version", no_argument, NULL, ARG_VERSION },
                {}
        };
        int c, r;

        /* Before anything makes OpenSSL allocate: it accepts its allocator only before that. */
        r = secure_openssl_memory_setup();
        log_setup_default();
        if (r < 0)
                log_debug_errno(r, "OpenSSL's memory will not be wiped on free: %m");
        r = secure_process_setup();
        if (r < 0)
                log_warning_errno(r, "Failed to disable core dumps: %m");

        /* "+": stop at the verb, whose own options follow it. */
        while ((c = getopt_long(argc, argv, "+c:h", options, NULL)) >= 0)
                switch (c) {
                case 'c':
                        arg_config = optarg;
                        break;
                case ARG_LOG_FORMAT: {
                        LogFormat f = log_format_from_string(optarg);
                        if (f < 0)
                                return log_error_errno(-EINVAL, "--log-format: \"%s\" is not journal, text or json", optarg);
                        log_set_format(f);
                        break;
                }
                case ARG_LOG_LEVEL:
                        r = log_level_from_string(optarg);
                        if (r < 0)
                                return log_error_errno(r, "--log-level: unknown level \"%s\"", optarg);
                        log_set_max_level(r);
                        break;
                case 'h':
                        help();
                        return 0;
                case ARG_VERSION:
                        printf("nodeseal %s\n", NODESEAL_VERSION);
                        return 0;
                default:
                        return -EINVAL;
                }

        if (optind >= argc) {
                help();
                return -EINVAL;
        }

        for (const Verb *v = verbs; v->name; v++)
                if (streq(v->name, argv[optind]))
                        return v->func(argc - optind, argv + optind);

        return log_error_errno(-EINVAL, "Unknown command \"%s\"; see \"nodeseal --help\".", argv[optind]);
}

int main(int argc, char *argv[]) {
        int r = run(argc, argv);
        return r < 0 ? 1 : r;
}
