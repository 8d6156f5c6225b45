/* SPDX-License-Identifier: Apache-2.0 */
/* recover-key: a wrapped volume key opened with the operator's offline recovery key. */
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <libcryptsetup.h>

#include "log.h"
#include "probe.h"
#include "seam.h"
#include "secret.h"
#include "path-util.h"
#include "secure.h"
#include "verbs.h"
#include "wrap.h"

/* Writes the key to a new file (never over an existing one, never through a symlink), 0600, in a
 * directory only root can change: a key left where a user could read or swap it is a leaked key. */
static int write_new_key_file(const char *path, const SecretValue *key, NsError *error) {
        _cleanup_free_ char *dir = NULL;
        _cleanup_close_ int dfd = -EBADF, fd = -EBADF;
        const char *name = strrchr(path, '/');
        int r;

        if (!name || name[1] == '\0')
                return ns_error_set(error, -EINVAL, "--output must be an absolute file path, not \"%s\"", path);
        dir = strndup(path, name - path);
        if (!dir)
                return -ENOMEM;
        r = path_open_dir_safe(isempty(dir) ? "/" : dir, 0, (uid_t) -1, (gid_t) -1, &dfd, error);
        if (r < 0)
                return r;
        fd = openat(dfd, name + 1, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
        if (fd < 0)
                return ns_error_set(error, -errno, "Cannot create %s: %m", path);
        if (write(fd, key->data, key->size) != (ssize_t) key->size || fsync(fd) < 0) {
                r = -errno ?: -EIO;
                (void) unlinkat(dfd, name + 1, 0);
                return ns_error_set(error, r, "Failed to write %s: %m", path);
        }
        return 0;
}

int verb_recover_key(int argc, char *argv[]) {
        enum { ARG_RECOVERY_KEY = 0x100, ARG_OUTPUT };
        static const struct option options[] = {
                { "help", no_argument, NULL, 'h' },
                { "recovery-key", required_argument, NULL, ARG_RECOVERY_KEY },
                { "output", required_argument, NULL, ARG_OUTPUT },
                {}
        };
        _cleanup_(secret_value_freep) SecretValue *text = NULL, *key = NULL;
        _cleanup_(EVP_PKEY_freep) EVP_PKEY *rec = NULL;
        const char *recovery = NULL, *output = NULL, *input;
        _cleanup_close_ int fd = -EBADF;
        NsError error = {};
        WrapRecord w;
        int opt, r;

        optind = 0;
        while ((opt = getopt_long(argc, argv, "h", options, NULL)) >= 0)
                switch (opt) {
                case 'h':
                        fputs("Usage: nodeseal recover-key --recovery-key PRIVATE.pem --output FILE WRAPPED|-\n\n"
                              "Opens a wrapped volume key (the value of \"<key>.wrapped\" in the keys Secret, in a\n"
                              "file or on stdin) with the operator's X25519 recovery private key, without the node it\n"
                              "was wrapped to, and writes the volume key to FILE (created, 0600; never overwritten),\n"
                              "for example for: cryptsetup open --key-file FILE DEVICE NAME\n",
                              stdout);
                        return 0;
                case ARG_RECOVERY_KEY:
                        recovery = optarg;
                        break;
                case ARG_OUTPUT:
                        output = optarg;
                        break;
                default:
                        return -EINVAL;
                }
        if (!recovery || !output || optind != argc - 1)
                return log_error_errno(-EINVAL, "recover-key needs --recovery-key, --output and one wrapped key (a file, or - for stdin)");
        input = argv[optind];
        verb_lock_memory();

        fd = streq(input, "-") ? fcntl(STDIN_FILENO, F_DUPFD_CLOEXEC, 3) : open(input, O_RDONLY | O_CLOEXEC | O_NOCTTY);
        if (fd < 0)
                return log_error_errno(-errno, "Cannot open %s: %m", input);
        r = streq(input, "-") ? read_secret_stream(fd, WRAP_TEXT_MAX, &text) : read_secret_fd(fd, WRAP_TEXT_MAX, &text);
        if (r < 0)
                return log_error_errno(r, "Cannot read the wrapped key from %s: %m", input);
        r = wrap_recovery_load(recovery, true, &rec, &error);
        if (r < 0)
                return log_error_errno(r, "%s", ns_error_message(&error, r));
        r = unwrap_key_recovery((const char *) text->data, text->size, rec, &key, &w, &error);
        if (r < 0)
                return log_error_errno(r, "%s: %s", input, ns_error_message(&error, r));
        r = write_new_key_file(output, key, &error);
        if (r < 0)
                return log_error_errno(r, "%s", ns_error_message(&error, r));
        log_info("Recovered the key of volume \"%s\" of node \"%s\" (%zu bytes) into %s.", w.volume, w.node, key->size,
                 output);
        explicit_bzero(&w, sizeof(w));
        return 0;
}

int verb_enrol(int argc, char *argv[]) {
        _cleanup_(config_freep) Config *c = NULL;
        const WrappingConfig *w;
        WrapKek kek = {};
        NsError error = {};
        int r;

        r = verb_parse_simple(argc, argv,
                              "Usage: nodeseal enrol\n\n"
                              "Makes this node's key for secrets.wrapping when there is none (32 random bytes, sealed\n"
                              "in the TPM with node_key \"tpm2\", or in a root-only file with \"file\"), loads it back,\n"
                              "and prints its type and id: the id every key wrapped to this node names.\n");
        if (r <= 0)
                return r;
        r = verb_load_config(&c);
        if (r < 0)
                return r;
        w = &c->secrets.wrapping;
        if (!w->enabled)
                return log_error_errno(-EINVAL, "enrol: secrets.wrapping is not configured; there is no node key to make");
        verb_lock_memory();
        r = wrap_kek_load_config(w, true, &kek, &error);
        if (r < 0)
                return log_error_errno(r, "%s", ns_error_message(&error, r));
        printf("node %s: node key %s %s (%s)\n", c->node_name, wrap_kek_type_to_string(kek.type), kek.id,
               w->node_key_file);
        wrap_kek_done(&kek);
        return 0;
}

/* Whether key opens a key slot of the LUKS header on v's device (no mapping is made): 1 yes, 0 no,
 * -ENODEV when the device holds no LUKS header (not formatted yet). */
static int key_opens_device(const VolumeConfig *v, const SecretValue *key, char **ret_path, NsError *error) {
        _cleanup_free_ char *path = NULL;
        struct crypt_device *cd = NULL;
        int r;

        r = probe_resolve_device(v->device, &path, error);
        if (r < 0)
                return r;
        r = crypt_init(&cd, path);
        if (r >= 0)
                r = crypt_load(cd, CRYPT_LUKS, NULL);
        if (r < 0) {
                crypt_free(cd);
                *ret_path = TAKE_PTR(path);
                return -ENODEV;
        }
        r = crypt_activate_by_passphrase(cd, NULL, CRYPT_ANY_SLOT, (const char *) key->data, key->size, 0);
        crypt_free(cd);
        *ret_path = TAKE_PTR(path);
        return r >= 0 ? 1 : 0;
}

/* One plain key of v ("<key>" or "<key>.previous") wrapped in place: stored wrapped, read back and
 * compared, tried on the device, and only then the plain key removed (if it is still that key).
 * Each step is safe to repeat: killed anywhere, the next run finds the wrapped form and goes on. */
static int wrap_one(SecretSource *s, const Config *c, const VolumeConfig *v, bool previous, unsigned *ret_removed) {
        _cleanup_(secret_value_freep) SecretValue *plain = NULL, *back = NULL;
        _cleanup_free_ char *path = NULL;
        char name[300];
        NsError e = {};
        int r;

        (void) snprintf(name, sizeof(name), "%s%s", v->key ?: v->name, previous ? ".previous" : "");
        r = secret_source_get(s, c->secrets.keys_secret, name, &plain, &e);
        if (r == -ENOKEY || r == -ENOENT) {
                if (!previous)
                        log_info("Volume %s: no plain key \"%s\" (wrapped already, or none yet).", v->name, name);
                return 0;
        }
        if (r < 0)
                return log_error_errno(r, "Volume %s: %s", v->name, ns_error_message(&e, r));

        r = secret_source_wrap_volume_key(s, v, previous, plain, &back, &e);
        if (r < 0)
                return log_error_errno(r, "Volume %s: %s", v->name, ns_error_message(&e, r));
        if (!secret_value_equal(plain, back))
                return log_error_errno(-EBADMSG,
                                       "Volume %s: \"%s.wrapped\" in Secret %s holds another key than \"%s\"; both are "
                                       "left as they are (find out which one opens the device)",
                                       v->name, name, c->secrets.keys_secret, name);
        seam_pause("wrap-keys-stored");

        r = key_opens_device(v, back, &path, &e);
        if (r == -ENODEV) {
                log_notice("Volume %s: \"%s\" is stored wrapped; the plain key stays because %s is not formatted yet "
                           "(the wrapped key could not be tried on it).", v->name, name, strna(path));
                return 0;
        }
        if (r < 0)
                return log_error_errno(r, "Volume %s: %s", v->name, ns_error_message(&e, r));
        if (r == 0) {
                log_notice("Volume %s: \"%s\" is stored wrapped; the plain key stays because it does not open %s.",
                           v->name, name, path);
                return 0;
        }
        seam_pause("wrap-keys-verified");

        r = secret_source_remove_key_if(s, c->secrets.keys_secret, name, plain, &e);
        if (r == -ENOKEY)
                return 0;
        if (r < 0)
                return log_error_errno(r, "Volume %s: %s", v->name, ns_error_message(&e, r));
        log_info("Volume %s: \"%s\" wrapped to this node, read back, opened %s; the plain key is removed.", v->name,
                 name, path);
        (*ret_removed)++;
        return 0;
}

int verb_wrap_keys(int argc, char *argv[]) {
        _cleanup_(secret_source_freep) SecretSource *source = NULL;
        _cleanup_(config_freep) Config *c = NULL;
        NsError error = {};
        unsigned removed = 0;
        int r, ret = 0;

        r = verb_parse_simple(argc, argv,
                              "Usage: nodeseal wrap-keys\n\n"
                              "Wraps this node's plain volume keys in place (secrets.wrapping): each is stored as\n"
                              "\"<key>.wrapped\", read back, tried on its device, and only then removed in plain.\n"
                              "Safe to run again, also after it was interrupted.\n");
        if (r <= 0)
                return r;
        r = verb_load_config(&c);
        if (r < 0)
                return r;
        if (!c->secrets.wrapping.enabled)
                return log_error_errno(-EINVAL, "wrap-keys: secrets.wrapping is not configured");
        verb_lock_memory();
        r = secret_source_new(c, &source, &error);
        if (r < 0)
                return log_error_errno(r, "%s", ns_error_message(&error, r));
        for (size_t i = 0; i < c->n_volumes; i++)
                for (int previous = 0; previous <= 1; previous++) {
                        r = wrap_one(source, c, &c->volumes[i], previous, &removed);
                        if (r < 0 && ret == 0)
                                ret = r;
                }
        log_info("%u plain key(s) wrapped and removed.", removed);
        return ret;
}
