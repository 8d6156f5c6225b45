/* SPDX-License-Identifier: Apache-2.0 */
/* nodeseal recover VOLUME: restore a volume's LUKS2 header from its backup, after showing the plan. */
#include <getopt.h>
#include <stdio.h>
#include <unistd.h>

#include "header-backup.h"
#include "log.h"
#include "secret.h"
#include "verbs.h"

static int confirm(const char *plan, void *userdata) {
        bool yes = *(bool *) userdata;
        char line[16] = "";

        fputs(plan, stdout);
        if (yes)
                return 1;
        if (!isatty(STDIN_FILENO)) {
                fputs("Not restored: run again with --yes to restore (standard input is not a terminal to ask on).\n", stdout);
                return 0;
        }
        fputs("Type \"yes\" to restore: ", stdout);
        fflush(stdout);
        if (!fgets(line, sizeof(line), stdin))
                return 0;
        return streq(line, "yes\n");
}

int verb_recover(int argc, char *argv[]) {
        static const struct option options[] = {
                { "help", no_argument, NULL, 'h' },
                { "yes", no_argument, NULL, 'y' },
                {}
        };
        _cleanup_(secret_source_freep) SecretSource *source = NULL;
        _cleanup_(config_freep) Config *c = NULL;
        const VolumeConfig *v = NULL;
        NsError error = {};
        bool yes = false;
        int r, o;

        optind = 0;
        while ((o = getopt_long(argc, argv, "hy", options, NULL)) >= 0)
                switch (o) {
                case 'h':
                        fputs("Usage: nodeseal recover [--yes] VOLUME\n\n"
                              "Restores the LUKS2 header of VOLUME from its backup onto its device, whose header is\n"
                              "damaged. Shows what it will do and asks first (--yes: do not ask). Refused, writing\n"
                              "nothing, unless the backup's UUID is the one the volume's format record names and the\n"
                              "device's data decrypts with the backup to the volume's filesystem.\n", stdout);
                        return 0;
                case 'y':
                        yes = true;
                        break;
                default:
                        return -EINVAL;
                }
        if (optind + 1 != argc)
                return log_error_errno(-EINVAL, "%s: expects one volume name (nodeseal recover [--yes] VOLUME)", argv[0]);
        r = verb_load_config(&c);
        if (r < 0)
                return r;
        for (size_t i = 0; i < c->n_volumes; i++)
                if (streq(c->volumes[i].name, argv[optind]))
                        v = c->volumes + i;
        if (!v)
                return log_error_errno(-ENOENT, "No volume \"%s\" in the configuration", argv[optind]);
        verb_lock_memory();
        r = secret_source_new(c, &source, &error);
        if (r >= 0)
                r = header_backup_recover(v, source, confirm, &yes, &error);
        if (r < 0)
                return log_error_errno(r, "Recovering volume %s failed: %s", v->name, ns_error_message(&error, r));
        return 0;
}
