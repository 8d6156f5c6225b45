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
#include <fcntl.h>
#include <inttypes.h>
#include <libcryptsetup.h>
#include <limits.h>
#include <openssl/evp.h>
#include <signal.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "crypt-util.h"
#include "device-pin.h"
#include "format-record.h"
#include "log.h"
#include "probe.h"
#include "reencrypt-finish.h"
#include "reencrypt-stack.h"
#include "seam.h"
#include "string-table.h"
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

DEFINE_STRING_TABLE(reencrypt_state, ReencryptState, REENCRYPT_STATE,
                    [REENCRYPT_STATE_NONE] = "none",
                    [REENCRYPT_STATE_PENDING] = "pending",
                    [REENCRYPT_STATE_RUNNING] = "running",
                    [REENCRYPT_STATE_PAUSED] = "paused",
                    [REENCRYPT_STATE_DONE] = "done");

/* What nodeseal's token in the header records: the request's id, its state, when it began. */
typedef struct TokenRecord {
        char id[33];
        char state[16];
        uint64_t started;   /* µs since the epoch, 0 unknown (a token of an earlier version) */
} TokenRecord;

/* The number of nodeseal's re-encryption token, with what it records, or -ENOENT. */
static int find_token(struct crypt_device *cd, TokenRecord *ret) {
        for (int t = 0; t < 32; t++) {
                const char *type = NULL, *json = NULL, *p;
                crypt_token_info i = crypt_token_status(cd, t, &type);

                if (i == CRYPT_TOKEN_INVALID || i == CRYPT_TOKEN_INACTIVE || !type || !streq(type, TOKEN_TYPE))
                        continue;
                if (crypt_token_json_get(cd, t, &json) < 0)
                        continue;
                *ret = (TokenRecord) {};
                if ((p = strstr(json, "\"id\":\"")))
                        (void) sscanf(p + 6, "%32[0-9a-f]", ret->id);
                if ((p = strstr(json, "\"state\":\"")))
                        (void) sscanf(p + 9, "%15[a-z]", ret->state);
                if ((p = strstr(json, "\"started\":")))
                        (void) sscanf(p + 10, "%" SCNu64, &ret->started);
                return t;
        }
        return -ENOENT;
}

static int set_token(struct crypt_device *cd, int token, const char *id, const char *state, uint64_t started) {
        char json[256];

        (void) snprintf(json, sizeof(json),
                        "{\"type\":\"" TOKEN_TYPE "\",\"keyslots\":[],\"id\":\"%s\",\"state\":\"%s\",\"started\":%" PRIu64 "}",
                        id, state, started);
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

static bool any_unbound_slot(struct crypt_device *cd) {
        int max = crypt_keyslot_max(CRYPT_LUKS2);

        for (int i = 0; i < max; i++)
                if (crypt_keyslot_status(cd, i) == CRYPT_SLOT_UNBOUND)
                        return true;
        return false;
}

/* ---- the status: JSON, a bar, and the worker's progress lines ---- */

int reencrypt_status_to_json(const ReencryptStatus *st, cJSON **ret) {
        _cleanup_(cJSON_Deletep) cJSON *o = cJSON_CreateObject();

        if (!o || !cJSON_AddStringToObject(o, "state", reencrypt_state_to_string(st->state)) ||
            !cJSON_AddBoolToObject(o, "resumed", st->resumed) || !json_add_u64(o, "done_bytes", st->done) ||
            !json_add_u64(o, "total_bytes", st->total) || !json_add_u64(o, "rate_bytes_per_sec", st->rate) ||
            !json_add_u64(o, "limit_bytes_per_sec", st->limit) || !json_add_u64(o, "started_at", st->started_at))
                return -ENOMEM;
        *ret = TAKE_PTR(o);
        return 0;
}

int reencrypt_status_from_json(const cJSON *o, ReencryptStatus *ret) {
        ReencryptState state;

        if (!cJSON_IsObject(o))
                return -EBADMSG;
        state = reencrypt_state_from_string(cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(o, "state")));
        if (state < 0)
                return -EBADMSG;
        *ret = (ReencryptStatus) {
                .state = state,
                .resumed = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(o, "resumed")),
                .done = json_get_u64(o, "done_bytes"),
                .total = json_get_u64(o, "total_bytes"),
                .rate = json_get_u64(o, "rate_bytes_per_sec"),
                .limit = json_get_u64(o, "limit_bytes_per_sec"),
                .started_at = json_get_u64(o, "started_at"),
        };
        return 0;
}

void reencrypt_format_bar(uint64_t done, uint64_t total, unsigned width, char *buf, size_t size) {
        /* In floating point: done * width would overflow past 2^64 / width bytes. */
        double f = total > 0 ? MIN((double) done / (double) total, 1.0) : 0.0;
        unsigned filled = (unsigned) (f * width), percent = done >= total && total > 0 ? 100 : MIN((unsigned) (f * 100), 99u);
        char bar[81];

        width = MIN(width, 80u);
        filled = MIN(filled, width);
        memset(bar, '#', filled);
        memset(bar + filled, '.', width - filled);
        bar[width] = '\0';
        (void) snprintf(buf, size, "[%s] %3u%%", bar, percent);
}

static int worker_fd = -EBADF;
static uint64_t worker_stop_at;
static bool worker_unfinished;

void volume_reencrypt_set_worker(int progress_fd, uint64_t stop_at_usec) {
        worker_fd = progress_fd;
        worker_stop_at = stop_at_usec;
}

bool volume_reencrypt_unfinished(void) {
        return worker_unfinished;
}

/* One line to the daemon, whole or not at all: a pipe write of at most PIPE_BUF bytes is atomic,
 * and a full pipe (a daemon busy for a moment) loses a line, never stalls the re-encryption. */
static void worker_line(const VolumeConfig *v, const ReencryptStatus *st) {
        _cleanup_(cJSON_Deletep) cJSON *root = NULL;
        _cleanup_free_ char *text = NULL, *line = NULL;
        cJSON *o = NULL;
        int n;

        if (worker_fd < 0)
                return;
        root = cJSON_CreateObject();
        if (!root || !cJSON_AddStringToObject(root, "volume", v->name) || reencrypt_status_to_json(st, &o) < 0)
                return;
        if (!cJSON_AddItemToObject(root, "reencrypt", o)) {
                cJSON_Delete(o);
                return;
        }
        text = cJSON_PrintUnformatted(root);
        if (!text)
                return;
        n = asprintf(&line, "%s\n", text);
        if (n < 0 || (size_t) n > PIPE_BUF)
                return;
        if (write(worker_fd, line, (size_t) n) < 0 && errno != EAGAIN)
                log_debug("Volume %s: a progress line to the daemon was lost: %m", v->name);
}

/* ---- running it ---- */

typedef struct RunState {
        const VolumeConfig *v;
        ReencryptProgress progress;
        void *userdata;
        ReencryptStatus status;
        uint64_t start_usec, start_offset;          /* of this run: the first offset it reports */
        uint64_t limit;                             /* bytes per second, 0 none */
        uint64_t line_usec;                         /* the last progress line to the daemon */
        bool started;
        unsigned kill_percent;
        int kill_signal;
        char kill_marker[PATH_MAX];
        bool stopped;                               /* asked to stop: a signal is pending */
        bool budget_spent;                          /* the worker's time for it is over */
} RunState;

/* The status to whoever watches: the caller's callback each time, the daemon at most once a
 * second while it runs and at every change of state. */
static void emit(RunState *st, ReencryptState state) {
        uint64_t now = now_usec(CLOCK_MONOTONIC);
        bool changed = st->status.state != state;

        st->status.state = state;
        if (st->started && now > st->start_usec && st->status.done > st->start_offset)
                st->status.rate = (uint64_t) ((double) (st->status.done - st->start_offset) * USEC_PER_SEC /
                                              (double) (now - st->start_usec));
        if (st->progress)
                st->progress(st->v, &st->status, st->userdata);
        if (changed || now >= st->line_usec + USEC_PER_SEC) {
                worker_line(st->v, &st->status);
                st->line_usec = now;
        }
}

/* Signals that stop a re-encryption: held while it runs, looked at between hotzones, so that it
 * stops where libcryptsetup can tear its device stack down and a later pass resumes online. */
static void stop_signals(sigset_t *ret) {
        sigemptyset(ret);
        sigaddset(ret, SIGTERM);
        sigaddset(ret, SIGINT);
        sigaddset(ret, SIGHUP);
}

static bool stop_signal_pending(void) {
        sigset_t set, pending;

        stop_signals(&set);
        if (sigpending(&pending) < 0)
                return false;
        for (int sig = 1; sig < NSIG; sig++)
                if (sigismember(&set, sig) && sigismember(&pending, sig))
                        return true;
        return false;
}

/* The bandwidth limit: sleep until the bytes done in this run fit in the time it has taken. */
static void throttle(const RunState *st, uint64_t offset) {
        uint64_t due, now;

        if (!st->limit || offset <= st->start_offset)
                return;
        /* In floating point: bytes times 10^6 overflows 64 bits past 18 TB. */
        due = st->start_usec + (uint64_t) ((double) (offset - st->start_offset) * USEC_PER_SEC / (double) st->limit);
        now = now_usec(CLOCK_MONOTONIC);
        if (due > now) {
                struct timespec ts = { .tv_sec = (time_t) ((due - now) / USEC_PER_SEC),
                                       .tv_nsec = (long) ((due - now) % USEC_PER_SEC) * 1000 };
                (void) nanosleep(&ts, NULL);
        }
}

static int on_progress(uint64_t size, uint64_t offset, void *usrptr) {
        RunState *st = usrptr;

        if (!st->started) {
                /* A resumed run starts where the last one stopped: the limit counts from here. */
                st->started = true;
                st->start_offset = offset;
                st->start_usec = now_usec(CLOCK_MONOTONIC);
        }
        st->status.done = offset;
        st->status.total = size;
        emit(st, REENCRYPT_STATE_RUNNING);
        /* Test seam: NODESEAL_TEST_KILL_AT=reencrypt-<percent> (SIGKILL) or reencrypt-term-<percent>
         * (SIGTERM) at the first report at or past that much, between two hotzones, once per
         * re-encryption (a daemon's later workers inherit the variable): a marker in the runtime
         * directory, made before the signal, says it fired. (Judged from where a run started, it
         * fired again at times in the run resumed at that very point, and again, for ever.) */
        if (st->kill_percent && size && offset * 100 >= size * st->kill_percent) {
                _cleanup_close_ int fd = open(st->kill_marker, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);

                st->kill_percent = 0;
                log_warning("NODESEAL_TEST_KILL_AT: signal %d at %" PRIu64 " of %" PRIu64 " bytes.", st->kill_signal, offset, size);
                (void) raise(st->kill_signal);
        }
        if (stop_signal_pending()) {
                st->stopped = true;
                return 1;
        }
        if (worker_stop_at && offset < size && now_usec(CLOCK_MONOTONIC) >= worker_stop_at) {
                st->budget_spent = true;
                return 1;
        }
        throttle(st, offset);
        return 0;
}

/* Steps 1-3: the new slot, the token, the reencryption metadata; or the metadata of one under way. */
static int begin(const VolumeConfig *v, struct crypt_device *cd, const char *name, const SecretValue *key,
                 const char *id, bool resume, uint64_t started, NsError *error) {
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
        TokenRecord other;
        int r, old_slot, new_slot, token;

        if (resume) {
                r = crypt_reencrypt_init_by_passphrase(cd, name, (const char *) key->data, key->size, CRYPT_ANY_SLOT,
                                                       CRYPT_ANY_SLOT, NULL, NULL, &params);
                if (r < 0)
                        return ns_error_set(error, r, "Volume %s: cannot resume its re-encryption%s: %s", v->name,
                                            name ? " online" : "", strerror(-r));
                return 0;
        }
        old_slot = crypt_activate_by_passphrase(cd, NULL, CRYPT_ANY_SLOT, (const char *) key->data, key->size, 0);
        if (old_slot < 0)
                return ns_error_set(error, -EKEYREJECTED, "Volume %s: its key does not open its device; not re-encrypting", v->name);
        new_slot = unbound_slot(cd, key);
        if (new_slot < 0) {
                /* The volume's PBKDF, not libcryptsetup's default (argon2id, benchmarked to 2 s and up
                 * to 1 GiB): it took a daemon's worker past its deadline before the first hotzone. */
                r = volume_set_pbkdf(cd, &v->luks, error);
                if (r < 0)
                        return r;
                new_slot = crypt_keyslot_add_by_key(cd, CRYPT_ANY_SLOT, NULL, (size_t) crypt_get_volume_key_size(cd),
                                                    (const char *) key->data, key->size, CRYPT_VOLUME_KEY_NO_SEGMENT);
                if (new_slot < 0)
                        return ns_error_set(error, new_slot, "Volume %s: adding the key slot of the new volume key failed: %s",
                                            v->name, strerror(-new_slot));
                seam_kill("reencrypt-slot");
        }
        token = find_token(cd, &other);
        r = set_token(cd, token >= 0 ? token : CRYPT_ANY_TOKEN, id, "running", started);
        if (r < 0)
                return ns_error_set(error, r, "Volume %s: recording the re-encryption in the header failed: %s", v->name,
                                    strerror(-r));
        seam_kill("reencrypt-token");
        log_info("Volume %s: re-encrypting under a new volume key (request %s, key slot %d -> %d).", v->name, id, old_slot,
                 new_slot);
        r = crypt_reencrypt_init_by_passphrase(cd, name, (const char *) key->data, key->size, old_slot, new_slot,
                                               crypt_get_cipher(cd), crypt_get_cipher_mode(cd), &params);
        if (r < 0)
                return ns_error_set(error, r, "Volume %s: starting the re-encryption failed: %s", v->name, strerror(-r));
        seam_kill("reencrypt-init");
        return 0;
}

/* The header, from the device (the mapping's table may be the helper stack of a killed
 * re-encryption, whose device is not the header's); 1 when the mapping is active (online). */
static int load_header(const VolumeConfig *v, const char *name, const char *device, struct crypt_device **ret,
                       NsError *error) {
        _cleanup_(crypt_freep) struct crypt_device *cd = NULL;
        crypt_status_info ci = crypt_status(NULL, name);
        int r;

        r = crypt_init(&cd, device);
        if (r >= 0)
                r = crypt_load(cd, CRYPT_LUKS2, NULL);
        if (r < 0)
                return ns_error_set(error, r, "Volume %s: cannot load its header to re-encrypt: %s", v->name, strerror(-r));
        *ret = TAKE_PTR(cd);
        return ci == CRYPT_ACTIVE || ci == CRYPT_BUSY;
}

static void kill_seam_parse(RunState *st, const char *runtime_dir) {
        const char *at = secure_getenv("NODESEAL_TEST_KILL_AT");

        if (at && strneq(at, "reencrypt-", 10) && at[10] >= '0' && at[10] <= '9') {
                st->kill_percent = (unsigned) atoi(at + 10);
                st->kill_signal = SIGKILL;
        } else if (at && strneq(at, "reencrypt-term-", 15)) {
                st->kill_percent = (unsigned) atoi(at + 15);
                st->kill_signal = SIGTERM;
        }
        if (!st->kill_percent)
                return;
        (void) mkdir(runtime_dir, 0700);
        (void) snprintf(st->kill_marker, sizeof(st->kill_marker), "%s/test-seam-%s-%" PRIu64, runtime_dir, at,
                        st->status.started_at);
        if (access(st->kill_marker, F_OK) == 0)
                st->kill_percent = 0;   /* fired in this re-encryption already */
}

/* Step 4, with the stop signals held; -EINTR (the signal then ends the process) when one came. */
static int run(struct crypt_device *cd, RunState *st, NsError *error) {
        sigset_t set, old;
        int r;

        stop_signals(&set);
        (void) sigprocmask(SIG_BLOCK, &set, &old);
        r = crypt_reencrypt_run(cd, on_progress, st);
        if (st->stopped) {
                log_warning("Volume %s: re-encryption stopped by a signal; it resumes at the next pass.", st->v->name);
                emit(st, REENCRYPT_STATE_PAUSED);
                (void) sigprocmask(SIG_SETMASK, &old, NULL);   /* the pending signal ends the process now */
                return ns_error_set(error, -EINTR, "Volume %s: the re-encryption was stopped (it resumes at the next pass)",
                                    st->v->name);
        }
        (void) sigprocmask(SIG_SETMASK, &old, NULL);
        if (r < 0) {
                emit(st, REENCRYPT_STATE_PAUSED);
                return ns_error_set(error, r, "Volume %s: the re-encryption stopped: %s (it resumes at the next attempt)",
                                    st->v->name, strerror(-r));
        }
        return 0;
}

int volume_reencrypt_finish(const VolumeConfig *v, SecretSource *s, struct crypt_device *cd, const char *device,
                            const SecretValue *key, NsError *error) {
        _cleanup_(secret_value_freep) SecretValue *previous = NULL;
        NsError e = {};
        int r;

        r = reencrypt_finish_interrupted(cd, v->name, device, key, &e);
        if (r == -EKEYREJECTED && secret_source_get_volume_key(s, v, true, &previous, NULL) >= 0 &&
            !secret_value_equal(previous, key)) {
                /* A key rotation waiting for the re-encryption's end: the previous key opens. */
                e = NS_ERROR_NULL;
                r = reencrypt_finish_interrupted(cd, v->name, device, previous, &e);
        }
        if (r < 0 && error && !ns_error_is_set(error))
                *error = e;
        return r;
}

/* *io_key when it opens cd's header; else "<key>.previous" when that opens it (a key rotation
 * waiting for a re-encryption's end: LUKS2 takes no new key slot during one), and 1. */
static int opening_key(struct crypt_device *cd, const VolumeConfig *v, SecretSource *s, SecretValue **io_key) {
        _cleanup_(secret_value_freep) SecretValue *previous = NULL;

        if (crypt_activate_by_passphrase(cd, NULL, CRYPT_ANY_SLOT, (const char *) (*io_key)->data, (*io_key)->size, 0) >= 0)
                return 0;
        if (secret_source_get_volume_key(s, v, true, &previous, NULL) < 0 ||
            crypt_activate_by_passphrase(cd, NULL, CRYPT_ANY_SLOT, (const char *) previous->data, previous->size, 0) < 0)
                return 0;
        secret_value_free(*io_key);
        *io_key = TAKE_PTR(previous);
        return 1;
}

/* After an earlier request's re-encryption was finished: the present request's, if there is one
 * (a new pass; nothing carries over but the header). 1: something was re-encrypted. */
static int again(const VolumeConfig *v, SecretSource *s, const char *device, ReencryptProgress progress,
                 void *userdata, bool earlier, NsError *error) {
        int r;

        if (!earlier)
                return 1;
        r = volume_reencrypt(v, s, device, progress, userdata, error);
        return r < 0 ? r : 1;
}

int volume_reencrypt(const VolumeConfig *v, SecretSource *s, const char *device, ReencryptProgress progress,
                     void *userdata, NsError *error) {
        _cleanup_(crypt_freep) struct crypt_device *cd = NULL;
        _cleanup_(secret_value_freep) SecretValue *request = NULL, *key = NULL;
        _cleanup_free_ char *request_key = NULL;
        char name[128], id[33];
        RunState st = { .v = v, .progress = progress, .userdata = userdata };
        TokenRecord rec;
        crypt_reencrypt_info info;
        _cleanup_close_ int dev_fd = -EBADF;
        char handle[32];
        FormatRecord frec;
        NsError e = {};
        bool earlier = false;
        int r, token;

        if (asprintf(&request_key, "%s%s", v->key ?: v->name, REENCRYPT_REQUEST_SUFFIX) < 0)
                return -ENOMEM;
        r = secret_source_get(s, s->config->secrets.keys_secret, request_key, &request, &e);
        if (r < 0 && r != -ENOENT && r != -ENOKEY)
                return ns_error_set(error, r, "Volume %s: %s", v->name, ns_error_message(&e, r));
        if (request) {
                if (request->size < VOLUME_KEY_MIN_BYTES)
                        return ns_error_set(error, -EMSGSIZE,
                                            "Key \"%s\" of Secret %s is shorter than %d bytes: not a re-encryption request",
                                            request_key, s->config->secrets.keys_secret, VOLUME_KEY_MIN_BYTES);
                r = request_id(request, id);
                if (r < 0)
                        return r;
        } else
                id[0] = '\0';   /* none: only one of nodeseal's under way is finished (below) */

        /* The device by its handle from here on: a path re-pointed meanwhile (a swapped by-* link)
         * does not move libcryptsetup's reads and writes to another disk. */
        r = device_open_safe(device, &dev_fd, request ? error : &e);
        if (r < 0)
                return request ? ns_error_prefix(error, r, "Volume %s", v->name) : 0;
        (void) snprintf(handle, sizeof(handle), "/proc/self/fd/%d", dev_fd);
        (void) snprintf(name, sizeof(name), "%s%s", VOLUME_MAPPER_PREFIX, v->name);
        r = load_header(v, name, handle, &cd, request ? error : &e);
        if (r < 0)
                return request ? r : 0;   /* no request: not this module's to report */
        if (r == 0)
                name[0] = '\0';   /* offline */

        info = crypt_reencrypt_status(cd, NULL);
        token = find_token(cd, &rec);
        if (token >= 0 && !streq(rec.id, id)) {
                if (info != CRYPT_REENCRYPT_NONE && streq(rec.state, "running") && rec.id[0]) {
                        /* An earlier request's, under way (its request replaced or removed since). It
                         * cannot be taken back, and half-way the data is under two volume keys: it is
                         * finished first, under its own record; the new request follows. */
                        earlier = true;
                        log_info("Volume %s: finishing the re-encryption of an earlier request (%s) first%s.", v->name,
                                 rec.id, request ? "; the new one follows" : ", although its request was removed");
                        memcpy(id, rec.id, sizeof(id));
                } else
                        token = -ESTALE;   /* the record of an earlier request */
        }
        if (!request && !earlier)
                return 0;
        /* The volume's disk, by the UUID its format record names: never another LUKS2 disk that
         * the path names now and the key happens to open. */
        r = format_record_read(s, v, &frec, error);
        if (r < 0)
                return r;
        if (frec.uuid[0] && strcasecmp(frec.uuid, strempty(crypt_get_uuid(cd))) != 0)
                return ns_error_set(error, -EUCLEAN,
                                    "Volume %s: %s holds the LUKS2 header of UUID %s, but the format record of volume %s names %s: "
                                    "not the volume's disk; not re-encrypting it (nothing written)",
                                    v->name, device, strna(crypt_get_uuid(cd)), v->name, frec.uuid);
        r = secret_source_get_volume_key(s, v, false, &key, error);
        if (r < 0)
                return r;

        if (info == CRYPT_REENCRYPT_CLEAN) {
                /* Killed in libcryptsetup's last steps: finished on disk, but no key opens the header. */
                r = volume_reencrypt_finish(v, s, cd, device, key, error);
                if (r < 0)
                        return r;
                if (r > 0)
                        info = crypt_reencrypt_status(cd, NULL);
        }
        if (info == CRYPT_REENCRYPT_NONE && token >= 0 && streq(rec.state, "done"))
                return 0;
        if (info == CRYPT_REENCRYPT_NONE && token >= 0 && streq(rec.state, "running") && !any_unbound_slot(cd)) {
                /* Finished (the new slot is bound), killed before the token said so. Killed
                 * before it started, the unbound slot is still there: it begins below. (Any
                 * unbound slot, not one the key opens: the key may have been rotated since.) */
                r = set_token(cd, token, id, "done", rec.started);
                if (r < 0)
                        return ns_error_set(error, r, "Volume %s: %s", v->name, strerror(-r));
                log_info("Volume %s: re-encrypted under a new volume key (its end was recorded after an interruption).", v->name);
                return again(v, s, device, progress, userdata, earlier, error);
        }
        if (info == CRYPT_REENCRYPT_INVALID)
                return ns_error_set(error, -EUCLEAN, "Volume %s: its header's re-encryption state is invalid; refusing", v->name);
        if (info != CRYPT_REENCRYPT_NONE && token < 0)
                return ns_error_set(error, -EUCLEAN,
                                    "Volume %s: a re-encryption is under way that is not the one \"%s\" requests (finish it with cryptsetup reencrypt --resume-only); refusing",
                                    v->name, request_key);

        /* A key rotation that waits for this re-encryption's end: the previous key opens. */
        if (opening_key(cd, v, s, &key) > 0)
                log_info("Volume %s: the key rotation waits for this re-encryption's end; it goes on with \"%s.previous\".",
                         v->name, v->key ?: v->name);

        st.limit = (uint64_t) v->luks.reencrypt_mib_per_sec << 20;
        st.status = (ReencryptStatus) {
                .resumed = info != CRYPT_REENCRYPT_NONE,
                .limit = st.limit,
                .started_at = token >= 0 && rec.started ? rec.started : now_usec(CLOCK_REALTIME),
        };
        emit(&st, info != CRYPT_REENCRYPT_NONE ? REENCRYPT_STATE_PAUSED : REENCRYPT_STATE_PENDING);
        if (info != CRYPT_REENCRYPT_NONE && name[0]) {
                /* Killed outright while running online: its helper mappings are still in place. */
                r = reencrypt_stack_restore(cd, name, key, error);
                if (r < 0)
                        return ns_error_prefix(error, r, "Volume %s: cannot resume its re-encryption online", v->name);
                if (r > 0)
                        log_info("Volume %s: resuming its re-encryption online, the volume open and mounted throughout.", v->name);
        }
        r = begin(v, cd, name[0] ? name : NULL, key, id, info != CRYPT_REENCRYPT_NONE, st.status.started_at, error);
        if (r < 0)
                return r;
        kill_seam_parse(&st, s->config->runtime_dir);
        r = run(cd, &st, error);
        if (r < 0)
                return r;
        if (crypt_reencrypt_status(cd, NULL) != CRYPT_REENCRYPT_NONE) {
                /* The worker's time was up: stopped between two hotzones, the next attempt resumes. */
                worker_unfinished = true;
                emit(&st, REENCRYPT_STATE_PAUSED);
                log_info("Volume %s: re-encryption paused at %" PRIu64 " of %" PRIu64 " MiB for this attempt; the next one resumes it.",
                         v->name, st.status.done >> 20, st.status.total >> 20);
                return 0;
        }
        token = find_token(cd, &rec);
        if (token >= 0)
                (void) set_token(cd, token, id, "done", st.status.started_at);
        st.status.done = st.status.total;
        emit(&st, REENCRYPT_STATE_DONE);
        log_info("Volume %s: re-encrypted under a new volume key; the old one no longer opens it.", v->name);
        return again(v, s, device, progress, userdata, earlier, error);
}

int volume_reencrypt_probe(const VolumeConfig *v, ReencryptStatus *ret) {
        _cleanup_(crypt_freep) struct crypt_device *cd = NULL;
        _cleanup_free_ char *device = NULL;
        crypt_reencrypt_info info;
        TokenRecord rec;
        NsError e = {};
        int token;

        if (probe_resolve_device(v->device, &device, &e) < 0 || crypt_init(&cd, device) < 0 ||
            crypt_load(cd, CRYPT_LUKS2, NULL) < 0)
                return 0;
        info = crypt_reencrypt_status(cd, NULL);
        token = find_token(cd, &rec);
        if (info == CRYPT_REENCRYPT_CLEAN || info == CRYPT_REENCRYPT_CRASH) {
                *ret = (ReencryptStatus) { .state = REENCRYPT_STATE_PAUSED, .resumed = true,
                                           .limit = (uint64_t) v->luks.reencrypt_mib_per_sec << 20,
                                           .started_at = token >= 0 ? rec.started : 0 };
                return 1;
        }
        if (info == CRYPT_REENCRYPT_NONE && token >= 0 && streq(rec.state, "done")) {
                *ret = (ReencryptStatus) { .state = REENCRYPT_STATE_DONE, .started_at = rec.started,
                                           .limit = (uint64_t) v->luks.reencrypt_mib_per_sec << 20 };
                return 1;
        }
        return 0;
}
