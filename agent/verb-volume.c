/* SPDX-License-Identifier: Apache-2.0 */
/* The verbs on one volume: recover (its LUKS2 header from the backup) and reencrypt (under a new volume key). */
#include <getopt.h>
#include <inttypes.h>
#include <string.h>
#include <stdio.h>
#include <unistd.h>

#include "header-backup.h"
#include "log.h"
#include "secret.h"
#include "secure.h"
#include "volume-reencrypt.h"
#include "probe.h"
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

/* The volume named on the command line. */
static const VolumeConfig *find_volume(const Config *c, const char *name) {
        for (size_t i = 0; i < c->n_volumes; i++)
                if (streq(c->volumes[i].name, name))
                        return c->volumes + i;
        log_error("No volume \"%s\" in the configuration", name);
        return NULL;
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
        v = find_volume(c, argv[optind]);
        if (!v)
                return -ENOENT;
        verb_lock_memory();
        r = secret_source_new(c, &source, &error);
        if (r >= 0)
                r = header_backup_recover(v, source, confirm, &yes, &error);
        if (r < 0)
                return log_error_errno(r, "Recovering volume %s failed: %s", v->name, ns_error_message(&error, r));
        return 0;
}

/* A progress bar on a terminal, nothing otherwise (the log says every tenth). */
static void progress_bar(const VolumeConfig *v, const ReencryptStatus *st, void *userdata) {
        char bar[128];

        if (!*(bool *) userdata || (st->state != REENCRYPT_STATE_RUNNING && st->state != REENCRYPT_STATE_DONE))
                return;
        reencrypt_format_bar(st->done, st->total, 40, bar, sizeof(bar));
        fprintf(stderr, "\r%s %s %" PRIu64 "/%" PRIu64 " MiB, %" PRIu64 " MiB/s", v->name, bar, st->done >> 20,
                st->total >> 20, st->rate >> 20);
        if (st->state == REENCRYPT_STATE_DONE)
                fputc('\n', stderr);
}

/* The request "<key>.reencrypt": there, or created (random, stored and read back) where the
 * source may create keys. */
static int ensure_request(const VolumeConfig *v, SecretSource *s, NsError *error) {
        _cleanup_(secret_value_freep) SecretValue *have = NULL, *fresh = NULL, *stored = NULL;
        _cleanup_free_ char *name = NULL;
        NsError e = {};
        int r;

        if (asprintf(&name, "%s%s", v->key ?: v->name, REENCRYPT_REQUEST_SUFFIX) < 0)
                return -ENOMEM;
        r = secret_source_get(s, s->config->secrets.keys_secret, name, &have, &e);
        if (r >= 0)
                return 0;
        if ((r != -ENOENT && r != -ENOKEY) || !secret_source_generates_keys(s))
                return ns_error_set(error, r == -ENOKEY ? -ENOENT : r,
                                    "No re-encryption request for volume %s: put a new random key (at least %d bytes) under \"%s\" in Secret %s",
                                    v->name, VOLUME_KEY_MIN_BYTES, name, s->config->secrets.keys_secret);
        r = secret_value_new(64, &fresh);
        if (r >= 0)
                r = random_bytes(fresh->data, fresh->size);
        if (r < 0)
                return r;
        return secret_source_put_if_missing(s, s->config->secrets.keys_secret, name, fresh, &stored, error);
}

int verb_reencrypt(int argc, char *argv[]) {
        _cleanup_(secret_source_freep) SecretSource *source = NULL;
        _cleanup_(config_freep) Config *c = NULL;
        _cleanup_free_ char *device = NULL;
        const VolumeConfig *v;
        NsError error = {}, no_request = {};
        bool tty = isatty(STDERR_FILENO);
        int r, missing = 0;

        if (argc == 2 && (streq(argv[1], "-h") || streq(argv[1], "--help"))) {
                fputs("Usage: nodeseal reencrypt VOLUME\n\n"
                      "Re-encrypts VOLUME under a new volume key, online when it is open, as \"<key>.reencrypt\"\n"
                      "in the keys Secret requests (created when the Secret source may create keys). Resumes\n"
                      "one that was interrupted, and finishes one under way whose request was replaced\n"
                      "(first; then the new one) or removed. A progress bar on a terminal.\n", stdout);
                return 0;
        }
        if (argc != 2 || argv[1][0] == '-')
                return log_error_errno(-EINVAL, "%s: expects one volume name (nodeseal reencrypt VOLUME)", argv[0]);
        r = verb_load_config(&c);
        if (r < 0)
                return r;
        v = find_volume(c, argv[1]);
        if (!v)
                return -ENOENT;
        verb_lock_memory();
        r = secret_source_new(c, &source, &error);
        if (r >= 0) {
                /* No request: one of nodeseal's under way (its request removed) is still finished. */
                missing = ensure_request(v, source, &no_request);
                if (missing < 0 && missing != -ENOENT) {
                        error = no_request;
                        r = missing;
                }
        }
        if (r >= 0)
                r = probe_resolve_device(v->device, &device, &error);
        if (r >= 0)
                r = volume_reencrypt(v, source, device, progress_bar, &tty, &error);
        if (r == 0 && missing < 0) {
                error = no_request;
                r = missing;
        }
        if (r < 0)
                return log_error_errno(r, "Re-encrypting volume %s failed: %s", v->name, ns_error_message(&error, r));
        if (r == 0)
                log_info("Volume %s: the re-encryption this request asks for was already carried out; to re-encrypt again, "
                         "replace \"%s%s\" with a new random key.", v->name, v->key ?: v->name, REENCRYPT_REQUEST_SUFFIX);
        return 0;
}
