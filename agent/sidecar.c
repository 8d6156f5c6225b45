/* SPDX-License-Identifier: Apache-2.0 */
/* The reload sidecar: polls a certificate directory's metadata, coalesces a burst of writes, checks
 * the set is consistent, runs the reload hook with backoff, and keeps a status line. */
#include <signal.h>
#include <string.h>

#include "backoff.h"
#include "hook.h"
#include "log.h"
#include "pki.h"
#include "profile.h"
#include "secure.h"
#include "sidecar.h"
#include "string-table.h"
#include "time-util.h"

DEFINE_STRING_TABLE_TO_STRING(sidecar_phase, SidecarPhase, SIDECAR_PHASE,
        [SIDECAR_IDLE] = "idle",
        [SIDECAR_SETTLING] = "settling",
        [SIDECAR_INCOMPLETE] = "incomplete",
        [SIDECAR_RELOADING] = "reloading",
        [SIDECAR_RETRY_WAIT] = "retry-wait");

/* ---- the metadata of the files ---- */

void sidecar_stamp_read(const char *dir, const char *cert_path, const char *key_path, const char *ca_path,
                        SidecarStamp *ret) {
        const char *paths[] = { dir, cert_path, key_path, ca_path };
        struct stat st;

        memset(ret, 0, sizeof(*ret));
        for (size_t i = 0; i < ELEMENTSOF(paths); i++) {
                /* stat(), following links: a Kubernetes Secret volume's files are symlinks into a
                 * directory that is swapped; what counts is the file the datastore would open. */
                if (stat(paths[i], &st) < 0)
                        continue;
                ret->file[i].present = true;
                ret->file[i].dev = st.st_dev;
                ret->file[i].ino = st.st_ino;
                ret->file[i].size = st.st_size;
                ret->file[i].mtime = st.st_mtim;
                ret->file[i].ctime = st.st_ctim;
        }
}

bool sidecar_stamp_complete(const SidecarStamp *s) {
        for (size_t i = 0; i < ELEMENTSOF(s->file); i++)
                if (!s->file[i].present)
                        return false;
        return true;
}

static bool stamp_eq(const SidecarStamp *a, const SidecarStamp *b) {
        return memcmp(a, b, sizeof(*a)) == 0;
}

/* ---- the decision logic ---- */

SidecarPhase sidecar_state_update(SidecarState *s, const SidecarStamp *cur, uint64_t now, uint64_t settle_usec,
                                  bool *ret_run, uint64_t *ret_wake) {
        *ret_run = false;
        *ret_wake = UINT64_MAX;

        if (!stamp_eq(cur, &s->seen)) {
                s->seen = *cur;
                s->seen_at = now;
                s->consistent = true;   /* until a check of this set says otherwise */
        }
        if (s->is_running)
                return SIDECAR_RELOADING;
        if (stamp_eq(&s->seen, &s->applied))
                return SIDECAR_IDLE;
        if (!sidecar_stamp_complete(&s->seen))
                return SIDECAR_INCOMPLETE;
        /* The agent writes key, certificate and CA one after the other: one reload for the lot. */
        if (now - s->seen_at < settle_usec) {
                *ret_wake = s->seen_at + settle_usec;
                return SIDECAR_SETTLING;
        }
        if (!s->consistent)
                return SIDECAR_INCOMPLETE;
        if (s->failures > 0 && now < s->retry_at) {
                *ret_wake = s->retry_at;
                return SIDECAR_RETRY_WAIT;
        }
        *ret_run = true;
        return SIDECAR_RELOADING;
}

void sidecar_state_consistent(SidecarState *s, bool consistent) {
        s->consistent = consistent;
}

void sidecar_state_started(SidecarState *s) {
        s->is_running = true;
        s->running = s->seen;
}

void sidecar_state_finished(SidecarState *s, bool success, uint64_t now, uint64_t backoff_usec) {
        s->is_running = false;
        if (success) {
                s->applied = s->running;
                s->failures = 0;
                s->retry_at = 0;
        } else {
                s->failures++;
                s->retry_at = now + backoff_usec;
        }
}

/* ---- the loop ---- */

struct Sidecar {
        sd_event *event;
        CertificateConfig cc;       /* the caller's, names cleared: the SANs are the agent's business */
        ProfileFiles files;
        RetryConfig retry;
        SidecarOptions o;
        SidecarState state;
        SidecarPhase phase;
        sd_event_source *timer;
        Hook *hooks;
        unsigned reloads;
        const char *last_result;    /* of the last finished run: "ok", "failed", "killed" (timeout); NULL: none */
        uint64_t last_reload;       /* realtime µs of the last successful reload; 0: none */
        char *inconsistent;         /* why the current set is held back, logged once per set */
};

Sidecar *sidecar_free(Sidecar *s) {
        if (!s)
                return NULL;
        hook_free_all(&s->hooks);
        sd_event_source_disable_unref(s->timer);
        sd_event_unref(s->event);
        profile_files_done(&s->files);
        free(s->inconsistent);
        free(s);
        return NULL;
}

static void sidecar_write_status(Sidecar *s) {
        _cleanup_free_ char *line = NULL;
        char iso[ISO8601_TIME_MAX];
        int r;

        if (!s->o.status_path)
                return;
        if (asprintf(&line, "phase=%s failures=%u reloads=%u last_reload=%s last_result=%s certificate=%s\n",
                     sidecar_phase_to_string(s->phase), s->state.failures, s->reloads,
                     s->last_reload ? format_iso8601_usec(s->last_reload, false, iso, sizeof(iso)) : "none",
                     s->last_result ?: "none",
                     s->cc.name) < 0)
                return;
        r = write_file_atomic(s->o.status_path, line, strlen(line), 0644, (uid_t) -1, (gid_t) -1);
        if (r < 0)
                log_warning_errno(r, "Failed to write the status file %s: %m", s->o.status_path);
}

static void sidecar_set_phase(Sidecar *s, SidecarPhase p) {
        bool changed = s->phase != p;

        s->phase = p;
        if (changed || p == SIDECAR_RETRY_WAIT)
                sidecar_write_status(s);
        if (!changed)
                return;
        if (p == SIDECAR_SETTLING)
                log_info("Certificate %s: files in %s changed; reloading once they settle.", s->cc.name,
                         s->cc.directory);
        else if (p == SIDECAR_INCOMPLETE && !s->inconsistent)
                log_info("Certificate %s: waiting for all of %s, %s and %s.", s->cc.name, s->files.cert_path,
                         s->files.key_path, s->files.ca_path);
}

/* The files as a set: the key matches the certificate, which is valid and chains to the CA file
 * beside it. A set caught between two writes is held back rather than handed to the datastore. */
static int sidecar_check_set(Sidecar *s, NsError *error) {
        _cleanup_free_ char *trust = NULL;
        size_t size;
        int r;

        r = read_full_file(s->files.ca_path, 4 * 1024 * 1024, &trust, &size);
        if (r < 0)
                return ns_error_set(error, r, "cannot read the CA file %s: %s", s->files.ca_path, strerror(-r));
        return certificate_check(NULL, &s->cc, trust, 0, NULL, NULL, error);
}

static void on_reload_done(void *userdata, bool ok, const char *how) {
        Sidecar *s = userdata;
        uint64_t now = now_usec(CLOCK_MONOTONIC);
        uint64_t wait = backoff_retry_usec(&s->retry, s->state.failures + 1, backoff_random01());

        /* The hook is killed only when it ran past its timeout. */
        s->last_result = ok ? "ok" : how && strstr(how, "killed") ? "killed" : "failed";
        sidecar_state_finished(&s->state, ok, now, wait);
        if (ok) {
                s->reloads++;
                s->last_reload = now_usec(CLOCK_REALTIME);
                log_info("Certificate %s: the datastore reloaded its TLS files (reload %u).", s->cc.name, s->reloads);
        } else
                log_warning("Certificate %s: reload failed (%s; %u in a row); retrying in %.1f s.", s->cc.name,
                            strna(how), s->state.failures, (double) wait / USEC_PER_SEC);
        if (s->o.max_runs > 0 && s->reloads >= s->o.max_runs) {
                sidecar_set_phase(s, SIDECAR_IDLE);
                (void) sd_event_exit(s->event, 0);
                return;
        }
        /* Look again from the loop, not from here: a hook that cannot even start calls this from
         * sidecar_start_reload(). */
        (void) sd_event_source_set_time(s->timer, now);
        (void) sd_event_source_set_enabled(s->timer, SD_EVENT_ONESHOT);
}

static void sidecar_start_reload(Sidecar *s) {
        NsError e = {};
        int r;

        r = sidecar_check_set(s, &e);
        if (r < 0) {
                sidecar_state_consistent(&s->state, false);
                if (!s->inconsistent || !streq(s->inconsistent, e.message)) {
                        log_warning("Certificate %s: not reloading yet: %s", s->cc.name, e.message);
                        free(s->inconsistent);
                        s->inconsistent = strdup(e.message);
                }
                sidecar_set_phase(s, SIDECAR_INCOMPLETE);
                return;
        }
        free(s->inconsistent);
        s->inconsistent = NULL;
        sidecar_state_started(&s->state);
        sidecar_set_phase(s, SIDECAR_RELOADING);
        r = hook_start(s->event, &s->cc, NULL, "reload hook", s->o.hook_timeout_usec, &s->hooks, on_reload_done, s);
        if (r <= 0)   /* could not even start: a failure like any other, with backoff */
                on_reload_done(s, false, "could not be started");
}

static void sidecar_tick(Sidecar *s) {
        SidecarStamp cur;
        uint64_t now = now_usec(CLOCK_MONOTONIC), wake, next;
        SidecarPhase p;
        bool run;

        sidecar_stamp_read(s->cc.directory, s->files.cert_path, s->files.key_path, s->files.ca_path, &cur);
        p = sidecar_state_update(&s->state, &cur, now, s->o.settle_usec, &run, &wake);
        if (run)
                sidecar_start_reload(s);
        else
                sidecar_set_phase(s, p);

        next = now + s->o.poll_usec;
        if (wake < next)
                next = wake;
        (void) sd_event_source_set_time(s->timer, next);
        (void) sd_event_source_set_enabled(s->timer, SD_EVENT_ONESHOT);
}

static int on_timer(sd_event_source *source, uint64_t usec, void *userdata) {
        sidecar_tick(userdata);
        return 0;
}

int sidecar_new(const CertificateConfig *cc, const RetryConfig *retry, const SidecarOptions *o, Sidecar **ret) {
        _cleanup_(sidecar_freep) Sidecar *s = NULL;
        int r;

        s = calloc(1, sizeof(*s));
        if (!s)
                return -ENOMEM;
        s->cc = *cc;
        s->cc.dns_names = NULL;
        s->cc.ip_addresses = NULL;
        s->cc.include_node_ips = false;
        s->cc.reload = true;
        if (!hook_exists(&s->cc))
                return -ENOEXEC;
        s->retry = *retry;
        s->o = *o;
        s->files = PROFILE_FILES_NULL;
        r = profile_files_paths(&s->cc, &s->files);
        if (r < 0)
                return r;
        r = sd_event_new(&s->event);
        if (r < 0)
                return r;
        r = sd_event_add_time(s->event, &s->timer, CLOCK_MONOTONIC, 0, 0, on_timer, s);
        if (r < 0)
                return r;
        r = sd_event_add_signal(s->event, NULL, SIGTERM, NULL, NULL);
        if (r >= 0)
                r = sd_event_add_signal(s->event, NULL, SIGINT, NULL, NULL);
        if (r < 0)
                return r;
        *ret = TAKE_PTR(s);
        return 0;
}

int sidecar_run(Sidecar *s) {
        log_info("Certificate %s: watching %s (every %.1f s, settling %.1f s) to reload its datastore.", s->cc.name,
                 s->cc.directory, (double) s->o.poll_usec / USEC_PER_SEC, (double) s->o.settle_usec / USEC_PER_SEC);
        sidecar_write_status(s);
        return sd_event_loop(s->event);
}

int sidecar_probe(const char *status_path, char **ret_line) {
        _cleanup_free_ char *line = NULL;
        size_t size;
        int r;

        r = read_full_file(status_path, 4096, &line, &size);
        if (r < 0)
                return r;
        line[strcspn(line, "\n")] = '\0';
        if (strncmp(line, "phase=", 6) != 0)
                return -EBADMSG;
        r = strstr(line, " failures=0 ") ? 0 : -EBUSY;
        *ret_line = TAKE_PTR(line);
        return r;
}
