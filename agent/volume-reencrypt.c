/* SPDX-License-Identifier: Apache-2.0 */
/* Online re-encryption under a new volume key: a leaked volume key (a header dump, a memory image)
 * stays good as long as the data is encrypted with it, whatever passphrase rotation does; only
 * rewriting every block under a new key retires it.
 *
 * The steps, each safe to interrupt: (1) a new key slot, bound to no segment yet, with a new random
 * volume key under the volume's passphrase from the Secret (an unbound slot found again on a rerun
 * is reused); (2) a LUKS2 token records the request's digest (the request is in the Secret and was
 * read back: nothing rewrites a block before it is stored); (3) crypt_reencrypt_init_by_passphrase
 * with "checksum" resilience, which writes the reencryption segments; (4) crypt_reencrypt_run,
 * whose progress is made durable in the header hotzone by hotzone, so a kill or a power loss resumes
 * (the next open recovers the hotzone, the next pass resumes); at the end libcryptsetup drops the
 * old volume key's slots and digest; (5) the token says done. */
#include <inttypes.h>
#include <libcryptsetup.h>
#include <openssl/evp.h>
#include <signal.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "crypt-util.h"
#include "log.h"
#include "seam.h"
#include "time-util.h"
#include "volume-reencrypt.h"
#include "volume.h"

#define TOKEN_TYPE "nodeseal-reencrypt"
#define HOTZONE_BYTES (UINT64_C(1) << 20)

/* The first 16 bytes of the request's SHA-256, in hex: what the header records. */
static int request_id(const SecretValue *request, char ret[static 33]) {
        unsigned char md[EVP_MAX_MD_SIZE];
        unsigned n = 0;

        if (EVP_Digest(request->data, request->size, md, &n, EVP_sha256(), NULL) != 1 || n < 16)
                return -EIO;
        for (int i = 0; i < 16; i++)
                (void) snprintf(ret + 2 * i, 3, "%02x", md[i]);
        return 0;
}

/* The number of nodeseal's re-encryption token, with the request id and state it records, or -ENOENT. */
static int find_token(struct crypt_device *cd, char ret_id[static 33], char ret_state[static 16]) {
        for (int t = 0; t < 32; t++) {
                const char *type = NULL, *json = NULL, *p;
                crypt_token_info i = crypt_token_status(cd, t, &type);

                if (i == CRYPT_TOKEN_INVALID || i == CRYPT_TOKEN_INACTIVE || !type || !streq(type, TOKEN_TYPE))
                        continue;
                if (crypt_token_json_get(cd, t, &json) < 0)
                        continue;
                ret_id[0] = ret_state[0] = '\0';
                if ((p = strstr(json, "\"id\":\"")))
                        (void) sscanf(p + 6, "%32[0-9a-f]", ret_id);
                if ((p = strstr(json, "\"state\":\"")))
                        (void) sscanf(p + 9, "%15[a-z]", ret_state);
                return t;
        }
        return -ENOENT;
}

static int set_token(struct crypt_device *cd, int token, const char *id, const char *state) {
        char json[256];

        (void) snprintf(json, sizeof(json), "{\"type\":\"" TOKEN_TYPE "\",\"keyslots\":[],\"id\":\"%s\",\"state\":\"%s\"}",
                        id, state);
        return crypt_token_json_set(cd, token, json);
}

/* An unbound key slot (a new volume key bound to no segment yet) that key opens, or -ENOENT. */
static int unbound_slot(struct crypt_device *cd, const SecretValue *key) {
        int max = crypt_keyslot_max(CRYPT_LUKS2);
        size_t size = (size_t) crypt_get_volume_key_size(cd);
        char vk[256];

        for (int i = 0; i < max; i++) {
                if (crypt_keyslot_status(cd, i) != CRYPT_SLOT_UNBOUND)
                        continue;
                size = sizeof(vk);
                if (crypt_volume_key_get(cd, i, vk, &size, (const char *) key->data, key->size) >= 0) {
                        explicit_bzero(vk, sizeof(vk));
                        return i;
                }
        }
        explicit_bzero(vk, sizeof(vk));
        return -ENOENT;
}

typedef struct RunState {
        const VolumeConfig *v;
        ReencryptProgress progress;
        void *userdata;
        uint64_t start_usec, start_offset, limit;   /* bytes per second, 0 none */
        unsigned kill_percent;
        int kill_signal;
        bool stopped;                               /* asked to stop: a signal is pending */
} RunState;

/* Signals that stop a re-encryption: held while it runs, looked at between hotzones, so that it
 * stops where libcryptsetup can tear its device stack down and a later pass resumes online. */
static void stop_signals(sigset_t *ret) {
        sigemptyset(ret);
        sigaddset(ret, SIGTERM);
        sigaddset(ret, SIGINT);
        sigaddset(ret, SIGHUP);
}

static int on_progress(uint64_t size, uint64_t offset, void *usrptr) {
        RunState *st = usrptr;

        if (st->progress)
                st->progress(st->v, offset, size, st->userdata);
        /* Test seam: NODESEAL_TEST_KILL_AT=reencrypt-<percent> (SIGKILL) or reencrypt-term-<percent>
         * (SIGTERM) once that much is done. */
        if (st->kill_percent && size && offset * 100 >= size * st->kill_percent) {
                st->kill_percent = 0;
                log_warning("NODESEAL_TEST_KILL_AT: signal %d at %" PRIu64 " of %" PRIu64 " bytes.", st->kill_signal, offset, size);
                (void) raise(st->kill_signal);
        }
        {
                sigset_t set, pending;

                stop_signals(&set);
                if (sigpending(&pending) == 0)
                        for (int sig = 1; sig < NSIG; sig++)
                                if (sigismember(&set, sig) && sigismember(&pending, sig)) {
                                        st->stopped = true;
                                        return 1;
                                }
        }
        if (st->limit && offset > st->start_offset) {
                /* The bandwidth limit: sleep until the bytes done so far fit in the time spent. */
                uint64_t due = st->start_usec + (offset - st->start_offset) * USEC_PER_SEC / st->limit;
                uint64_t now = now_usec(CLOCK_MONOTONIC);
                if (due > now) {
                        struct timespec ts = { .tv_sec = (time_t) ((due - now) / USEC_PER_SEC),
                                               .tv_nsec = (long) ((due - now) % USEC_PER_SEC) * 1000 };
                        (void) nanosleep(&ts, NULL);
                }
        }
        return 0;
}

/* Steps 1-3: the new slot, the token, the reencryption metadata; or the metadata of one under way. */
static int begin(const VolumeConfig *v, struct crypt_device *cd, const char *name, const SecretValue *key,
                 const char *id, bool resume, NsError *error) {
        struct crypt_params_luks2 luks2 = { .sector_size = crypt_get_sector_size(cd) };
        struct crypt_params_reencrypt params = {
                .mode = CRYPT_REENCRYPT_REENCRYPT,
                .direction = CRYPT_REENCRYPT_FORWARD,
                .resilience = "checksum",
                .hash = "sha256",
                .max_hotzone_size = HOTZONE_BYTES / 512,
                .luks2 = &luks2,
                .flags = resume ? CRYPT_REENCRYPT_RESUME_ONLY : 0,
        };
        char state[16], other[33];
        int r, old_slot, new_slot, token;

        if (resume) {
                r = crypt_reencrypt_init_by_passphrase(cd, name, (const char *) key->data, key->size, CRYPT_ANY_SLOT,
                                                       CRYPT_ANY_SLOT, NULL, NULL, &params);
                if (r < 0 && name)
                        return ns_error_set(error, r,
                                            "Volume %s: cannot resume its re-encryption while it is open (%s): a process that ran it was killed "
                                            "outright mid-way and left its device stack in place; the data is safe, and it resumes once the volume is "
                                            "closed and opened again (nodeseal close, then provision; or a reboot)",
                                            v->name, strerror(-r));
                if (r < 0)
                        return ns_error_set(error, r, "Volume %s: cannot resume its re-encryption: %s", v->name, strerror(-r));
                return 0;
        }
        old_slot = crypt_activate_by_passphrase(cd, NULL, CRYPT_ANY_SLOT, (const char *) key->data, key->size, 0);
        if (old_slot < 0)
                return ns_error_set(error, -EKEYREJECTED, "Volume %s: its key does not open its device; not re-encrypting", v->name);
        new_slot = unbound_slot(cd, key);
        if (new_slot < 0) {
                new_slot = crypt_keyslot_add_by_key(cd, CRYPT_ANY_SLOT, NULL, (size_t) crypt_get_volume_key_size(cd),
                                                    (const char *) key->data, key->size, CRYPT_VOLUME_KEY_NO_SEGMENT);
                if (new_slot < 0)
                        return ns_error_set(error, new_slot, "Volume %s: adding the key slot of the new volume key failed: %s",
                                            v->name, strerror(-new_slot));
                seam_kill("reencrypt-slot");
        }
        token = find_token(cd, other, state);
        r = set_token(cd, token >= 0 ? token : CRYPT_ANY_TOKEN, id, "running");
        if (r < 0)
                return ns_error_set(error, r, "Volume %s: recording the re-encryption in the header failed: %s", v->name,
                                    strerror(-r));
        log_info("Volume %s: re-encrypting under a new volume key (request %s, key slot %d -> %d).", v->name, id, old_slot,
                 new_slot);
        r = crypt_reencrypt_init_by_passphrase(cd, name, (const char *) key->data, key->size, old_slot, new_slot,
                                               crypt_get_cipher(cd), crypt_get_cipher_mode(cd), &params);
        if (r < 0)
                return ns_error_set(error, r, "Volume %s: starting the re-encryption failed: %s", v->name, strerror(-r));
        seam_kill("reencrypt-init");
        return 0;
}

int volume_reencrypt(const VolumeConfig *v, SecretSource *s, const char *device, ReencryptProgress progress,
                     void *userdata, NsError *error) {
        _cleanup_(crypt_freep) struct crypt_device *cd = NULL;
        _cleanup_(secret_value_freep) SecretValue *request = NULL, *key = NULL;
        _cleanup_free_ char *request_key = NULL;
        const char *at = secure_getenv("NODESEAL_TEST_KILL_AT");
        char name[128], id[33], state[16], recorded[33];
        RunState st = { .v = v, .progress = progress, .userdata = userdata };
        crypt_reencrypt_info info;
        NsError e = {};
        int r, token;

        if (asprintf(&request_key, "%s%s", v->key ?: v->name, REENCRYPT_REQUEST_SUFFIX) < 0)
                return -ENOMEM;
        r = secret_source_get(s, s->config->secrets.keys_secret, request_key, &request, &e);
        if (r == -ENOENT || r == -ENOKEY)
                return 0;
        if (r < 0)
                return ns_error_set(error, r, "Volume %s: %s", v->name, ns_error_message(&e, r));
        if (request->size < VOLUME_KEY_MIN_BYTES)
                return ns_error_set(error, -EMSGSIZE, "Key \"%s\" of Secret %s is shorter than %d bytes: not a re-encryption request",
                                    request_key, s->config->secrets.keys_secret, VOLUME_KEY_MIN_BYTES);
        r = request_id(request, id);
        if (r < 0)
                return r;
        r = secret_source_get_volume_key(s, v, false, &key, error);
        if (r < 0)
                return r;

        (void) snprintf(name, sizeof(name), "%s%s", VOLUME_MAPPER_PREFIX, v->name);
        r = crypt_status(NULL, name) == CRYPT_ACTIVE || crypt_status(NULL, name) == CRYPT_BUSY ? crypt_init_by_name(&cd, name)
                                                                                              : crypt_init(&cd, device);
        if (r >= 0 && !crypt_get_type(cd))
                r = crypt_load(cd, CRYPT_LUKS2, NULL);
        if (r < 0)
                return ns_error_set(error, r, "Volume %s: cannot load its header to re-encrypt: %s", v->name, strerror(-r));
        if (crypt_status(NULL, name) != CRYPT_ACTIVE && crypt_status(NULL, name) != CRYPT_BUSY)
                name[0] = '\0';   /* offline */

        info = crypt_reencrypt_status(cd, NULL);
        token = find_token(cd, recorded, state);
        if (token >= 0 && !streq(recorded, id))
                token = -ESTALE;   /* the record of an earlier request */
        if (info == CRYPT_REENCRYPT_NONE && token >= 0 && streq(state, "done"))
                return 0;
        if (info == CRYPT_REENCRYPT_NONE && token >= 0 && streq(state, "running") && unbound_slot(cd, key) < 0) {
                /* Finished (the new slot is bound), killed before the token said so. Killed
                 * before it started, the unbound slot is still there: it begins below. */
                r = set_token(cd, token, id, "done");
                return r < 0 ? ns_error_set(error, r, "Volume %s: %s", v->name, strerror(-r)) : 1;
        }
        if (info == CRYPT_REENCRYPT_INVALID)
                return ns_error_set(error, -EUCLEAN, "Volume %s: its header's re-encryption state is invalid; refusing", v->name);
        if (info != CRYPT_REENCRYPT_NONE && token < 0)
                return ns_error_set(error, -EUCLEAN,
                                    "Volume %s: a re-encryption is under way that is not the one \"%s\" requests (finish it with cryptsetup reencrypt --resume-only); refusing",
                                    v->name, request_key);

        r = begin(v, cd, name[0] ? name : NULL, key, id, info != CRYPT_REENCRYPT_NONE, error);
        if (r < 0)
                return r;
        st.start_usec = now_usec(CLOCK_MONOTONIC);
        st.limit = (uint64_t) v->luks.reencrypt_mib_per_sec << 20;
        if (at && strneq(at, "reencrypt-", 10) && at[10] >= '0' && at[10] <= '9') {
                st.kill_percent = (unsigned) atoi(at + 10);
                st.kill_signal = SIGKILL;
        } else if (at && strneq(at, "reencrypt-term-", 15)) {
                st.kill_percent = (unsigned) atoi(at + 15);
                st.kill_signal = SIGTERM;
        }
        {
                sigset_t set, old;

                stop_signals(&set);
                (void) sigprocmask(SIG_BLOCK, &set, &old);
                r = crypt_reencrypt_run(cd, on_progress, &st);
                if (st.stopped) {
                        log_warning("Volume %s: re-encryption stopped by a signal; it resumes at the next pass.", v->name);
                        (void) sigprocmask(SIG_SETMASK, &old, NULL);   /* the pending signal ends the process now */
                        return ns_error_set(error, -EINTR, "Volume %s: the re-encryption was stopped (it resumes at the next pass)", v->name);
                }
                (void) sigprocmask(SIG_SETMASK, &old, NULL);
        }
        if (r < 0)
                return ns_error_set(error, r, "Volume %s: the re-encryption stopped: %s (it resumes at the next attempt)", v->name,
                                    strerror(-r));
        token = find_token(cd, recorded, state);
        if (token >= 0)
                (void) set_token(cd, token, id, "done");
        log_info("Volume %s: re-encrypted under a new volume key; the old one no longer opens it.", v->name);
        return 1;
}
