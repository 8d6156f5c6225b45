/* SPDX-License-Identifier: Apache-2.0 */
/* The reload sidecar: polls a certificate directory's metadata, coalesces a burst of writes, checks
 * the set is consistent, hands the change to a Reload (hook or restart, serve check, retries), and
 * keeps a status line. */
#include <signal.h>
#include <string.h>

#include "hook.h"
#include "log.h"
#include "pki.h"
#include "profile.h"
#include "reload.h"
#include "secure.h"
#include "sidecar.h"
#include "string-table.h"
#include "time-util.h"

DEFINE_STRING_TABLE_TO_STRING(sidecar_phase, SidecarPhase, SIDECAR_PHASE,
        [SIDECAR_IDLE] = "idle",
        [SIDECAR_SETTLING] = "settling",
        [SIDECAR_INCOMPLETE] = "incomplete",
        [SIDECAR_CHANGED] = "changed");

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

unsigned sidecar_stamp_changes(const SidecarStamp *old, const SidecarStamp *new) {
        static const SidecarStamp zero = {};
        unsigned changes = 0;

        if (stamp_eq(old, &zero))
                return stamp_eq(new, &zero) ? 0 : RELOAD_CHANGE_CERT;
        if (memcmp(&old->file[0], &new->file[0], sizeof(old->file[0])) != 0)
                changes |= RELOAD_CHANGE_CERT | RELOAD_CHANGE_CA;
        if (memcmp(&old->file[1], &new->file[1], sizeof(old->file[1])) != 0 ||
            memcmp(&old->file[2], &new->file[2], sizeof(old->file[2])) != 0)
                changes |= RELOAD_CHANGE_CERT;
        if (memcmp(&old->file[3], &new->file[3], sizeof(old->file[3])) != 0)
                changes |= RELOAD_CHANGE_CA;
        return changes;
}

/* ---- the decision logic ---- */

SidecarPhase sidecar_state_update(SidecarState *s, const SidecarStamp *cur, uint64_t now, uint64_t settle_usec,
                                  unsigned *ret_changes, uint64_t *ret_wake) {
        *ret_changes = 0;
        *ret_wake = UINT64_MAX;

        if (!stamp_eq(cur, &s->seen)) {
                s->seen = *cur;
                s->seen_at = now;
                s->consistent = true;   /* until a check of this set says otherwise */
        }
        if (stamp_eq(&s->seen, &s->handed))
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
        *ret_changes = sidecar_stamp_changes(&s->handed, &s->seen);
        return SIDECAR_CHANGED;
}

void sidecar_state_inconsistent(SidecarState *s) {
        s->consistent = false;
}

void sidecar_state_handed(SidecarState *s) {
        s->handed = s->seen;
}

/* ---- the loop ---- */

struct Sidecar {
        sd_event *event;
        CertificateConfig cc;       /* the caller's, names cleared: the SANs are the agent's business */
        ProfileFiles files;
        SidecarOptions o;
        SidecarState state;
        SidecarPhase phase;
        sd_event_source *timer;
        Reload *reload;
        ReloadState reload_state;
        unsigned reloads;           /* rounds that ended done or confirmed */
        uint64_t last_reload;       /* realtime µs of the last one; 0: none */
        char *inconsistent;         /* why the current set is held back, logged once per set */
};

Sidecar *sidecar_free(Sidecar *s) {
        if (!s)
                return NULL;
        reload_free(s->reload);
        sd_event_source_disable_unref(s->timer);
        sd_event_unref(s->event);
        profile_files_done(&s->files);
        free(s->inconsistent);
        free(s);
        return NULL;
}

static void sidecar_write_status(Sidecar *s) {
        _cleanup_free_ char *line = NULL;
        char iso[ISO8601_TIME_MAX], until[ISO8601_TIME_MAX];
        uint64_t served = reload_served_not_after(s->reload);
        int r;

        if (!s->o.status_path)
                return;
        /* The message last: it is free text. */
        if (asprintf(&line, "phase=%s reload=%s failures=%u reloads=%u last_reload=%s served_not_after=%s "
                     "certificate=%s message=%s\n",
                     sidecar_phase_to_string(s->phase), reload_state_to_string(reload_state(s->reload)),
                     reload_failures(s->reload), s->reloads,
                     s->last_reload ? format_iso8601_usec(s->last_reload, false, iso, sizeof(iso)) : "none",
                     served ? format_iso8601_usec(served, false, until, sizeof(until)) : "unknown", s->cc.name,
                     reload_message(s->reload) ?: s->inconsistent ?: "") < 0)
                return;
        r = write_file_atomic(s->o.status_path, line, strlen(line), 0644, (uid_t) -1, (gid_t) -1);
        if (r < 0)
                log_warning_errno(r, "Failed to write the status file %s: %m", s->o.status_path);
}

static void sidecar_set_phase(Sidecar *s, SidecarPhase p) {
        if (s->phase == p)
                return;
        s->phase = p;
        sidecar_write_status(s);
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

/* Runs on the loop whenever the reload's state or message changed. */
static void on_reload_changed(Reload *r, void *userdata) {
        Sidecar *s = userdata;
        ReloadState now = reload_state(r);

        if (s->reload_state == RELOAD_RUNNING && (now == RELOAD_DONE || now == RELOAD_CONFIRMED)) {
                s->reloads++;
                s->last_reload = now_usec(CLOCK_REALTIME);
                log_info("Certificate %s: reload %u %s.", s->cc.name, s->reloads,
                         now == RELOAD_CONFIRMED ? "confirmed: the datastore serves the file's certificate" : "done");
                if (s->o.once)
                        (void) sd_event_exit(s->event, 0);
        }
        s->reload_state = now;
        sidecar_write_status(s);
}

static void sidecar_hand_over(Sidecar *s, unsigned changes) {
        NsError e = {};
        int r;

        r = sidecar_check_set(s, &e);
        if (r < 0) {
                sidecar_state_inconsistent(&s->state);
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
        sidecar_state_handed(&s->state);
        sidecar_set_phase(s, SIDECAR_IDLE);
        log_info("Certificate %s: reloading (changed: %s).", s->cc.name,
                 changes == (RELOAD_CHANGE_CERT | RELOAD_CHANGE_CA) ? "certificate and CA files" :
                 changes == RELOAD_CHANGE_CA ? "CA file" : "certificate");
        reload_request(s->reload, changes);
}

static void sidecar_tick(Sidecar *s) {
        SidecarStamp cur;
        uint64_t now = now_usec(CLOCK_MONOTONIC), wake, next;
        unsigned changes;
        SidecarPhase p;

        sidecar_stamp_read(s->cc.directory, s->files.cert_path, s->files.key_path, s->files.ca_path, &cur);
        p = sidecar_state_update(&s->state, &cur, now, s->o.settle_usec, &changes, &wake);
        if (p == SIDECAR_CHANGED)
                sidecar_hand_over(s, changes);
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
        if (reload_action(&s->cc, RELOAD_CHANGE_CERT | RELOAD_CHANGE_CA) == RELOAD_ACTION_NONE &&
            !s->cc.serve_check.address)
                return -ENOEXEC;
        s->o = *o;
        s->files = PROFILE_FILES_NULL;
        r = profile_files_paths(&s->cc, &s->files);
        if (r < 0)
                return r;
        r = sd_event_new(&s->event);
        if (r < 0)
                return r;
        /* The serve check runs this very program: "check --serve-probe". */
        ReloadSettings settings = { .config = &s->cc, .retry = retry, .timeout_usec = o->hook_timeout_usec,
                                    .binary = "/proc/self/exe" };
        r = reload_new(s->event, &settings, on_reload_changed, s, &s->reload);
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
        if (strncmp(line, "phase=", 6) != 0 || !strstr(line, " reload="))
                return -EBADMSG;
        /* Failing: a reload failed and is retried (running again, or waiting), or needs a restart. */
        r = !strstr(line, " failures=0 ") || strstr(line, " reload=retrying ") || strstr(line, " reload=needs-restart ") ?
                -EBUSY : 0;
        *ret_line = TAKE_PTR(line);
        return r;
}
