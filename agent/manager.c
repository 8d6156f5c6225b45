/* SPDX-License-Identifier: Apache-2.0 */
/* The daemon: a state machine over attempts (each in a worker process), backoff, renewal timers,
 * Secret watches, hooks; READY=1 when all is in place. Nothing here waits for anything. */
#include <fcntl.h>
#include <math.h>
#include <signal.h>
#include <sys/stat.h>
#include <time.h>

#include "json-util.h"
#include <systemd/sd-daemon.h>

#include "backoff.h"
#include "bus.h"
#include "log.h"
#include "manager.h"
#include "metrics.h"
#include "time-util.h"
#include "profile.h"
#include "provision.h"
#include "string-table.h"
#include "volume.h"

#define CHANGE_DELAY_USEC (500 * USEC_PER_MSEC)   /* coalesces a burst of Secret events */


DEFINE_STRING_TABLE_TO_STRING(manager_state, ManagerState, MANAGER_STATE,
                              [MANAGER_STARTING] = "starting",
                              [MANAGER_WAITING] = "waiting",
                              [MANAGER_READY] = "ready",
                              [MANAGER_DEGRADED] = "degraded",
                              [MANAGER_STOPPING] = "stopping",
                              [MANAGER_STOPPED] = "stopped");

/* ---- pure parts ---- */

uint64_t manager_renewal_jitter(uint64_t renew_at, uint64_t not_after, uint64_t jitter_max, double random01) {
        uint64_t spread = not_after > renew_at ? (not_after - renew_at) / 10 : 0;

        spread = MIN(spread, jitter_max);
        if (random01 < 0.0 || !(random01 < 1.0))
                random01 = 0.0;
        return renew_at + (uint64_t) ((double) spread * random01);
}

static int free_and_strdup(char **p, const char *s) {
        char *x = NULL;

        if (s && *p && streq(*p, s))
                return 0;
        if (!s && !*p)
                return 0;
        if (s && !(x = strdup(s)))
                return -ENOMEM;
        free(*p);
        *p = x;
        return 1;
}

/* ---- status: the bus properties, the status file, sd_notify ---- */

/* "reload": what the last change needed of the datastore and whether it is confirmed. */
static bool describe_reload(cJSON *o, const Reload *r) {
        cJSON *x = cJSON_AddObjectToObject(o, "reload");

        return x && cJSON_AddStringToObject(x, "state", reload_state_to_string(reload_state(r))) &&
               cJSON_AddStringToObject(x, "message", strempty(reload_message(r))) &&
               json_add_u64(x, "failures", reload_failures(r)) &&
               json_add_u64(x, "served_not_after", reload_served_not_after(r));
}

int manager_describe(Manager *m, char **ret) {
        _cleanup_(cJSON_Deletep) cJSON *root = NULL;
        cJSON *vols, *certs;
        char *text;

        root = cJSON_CreateObject();
        if (!root)
                return -ENOMEM;
        if (!cJSON_AddStringToObject(root, "state", manager_state_to_string(m->state)) ||
            !cJSON_AddBoolToObject(root, "ready", m->ready) ||
            !cJSON_AddStringToObject(root, "status", strempty(m->status_text)) ||
            !cJSON_AddStringToObject(root, "last_error", strempty(m->last_error)) ||
            !cJSON_AddStringToObject(root, "node", m->config->node_name) ||
            !json_add_u64(root, "pid", (uint64_t) getpid()) ||
            !json_add_u64(root, "attempt", m->attempt) ||
            !json_add_u64(root, "ca_not_after", m->ca_not_after) ||
            !json_add_u64(root, "hooks_run", m->hooks_run) ||
            !cJSON_AddBoolToObject(root, "attempt_running", m->attempt_running) ||
            manager_rotation_describe(m, root) < 0)
                return -ENOMEM;

        vols = cJSON_AddArrayToObject(root, "volumes");
        if (!vols)
                return -ENOMEM;
        for (size_t i = 0; i < m->n_volumes; i++) {
                const VolumeStatus *v = m->volumes + i;
                cJSON *o = cJSON_CreateObject();

                if (!o || !cJSON_AddItemToArray(vols, o))
                        return cJSON_Delete(o), -ENOMEM;
                if (!cJSON_AddStringToObject(o, "name", v->config->name) ||
                    !cJSON_AddStringToObject(o, "state", item_state_to_string(v->state)) ||
                    !cJSON_AddStringToObject(o, "mountpoint", v->config->mountpoint) ||
                    !cJSON_AddStringToObject(o, "device", v->config->device))
                        return -ENOMEM;
                if (v->reencrypt.state != REENCRYPT_STATE_NONE) {
                        cJSON *re = NULL;

                        if (reencrypt_status_to_json(&v->reencrypt, &re) < 0)
                                return -ENOMEM;
                        if (!cJSON_AddItemToObject(o, "reencrypt", re))
                                return cJSON_Delete(re), -ENOMEM;
                }
        }

        certs = cJSON_AddArrayToObject(root, "certificates");
        if (!certs)
                return -ENOMEM;
        for (size_t i = 0; i < m->n_certificates; i++) {
                const CertificateStatus *cs = m->certificates + i;
                cJSON *o = cJSON_CreateObject();

                if (!o || !cJSON_AddItemToArray(certs, o))
                        return cJSON_Delete(o), -ENOMEM;
                if (!cJSON_AddStringToObject(o, "name", cs->config->name) ||
                    !cJSON_AddStringToObject(o, "state", item_state_to_string(cs->state)) ||
                    !cJSON_AddStringToObject(o, "directory", cs->config->directory) ||
                    !json_add_u64(o, "not_after", cs->not_after) ||
                    !json_add_u64(o, "renew_at", cs->renew_at) ||
                    (cs->reload && !describe_reload(o, cs->reload)) ||
                    !json_add_u64(o, "hook_failures_in_row", cs->hook_failures_in_row))
                        return -ENOMEM;
        }

        text = cJSON_PrintUnformatted(root);
        if (!text)
                return -ENOMEM;
        *ret = text;
        return 0;
}

static int write_status_file(Manager *m) {
        _cleanup_free_ char *json = NULL, *path = NULL, *line = NULL;
        int r;

        r = manager_describe(m, &json);
        if (r < 0)
                return r;
        if (m->status_written && streq(m->status_written, json))
                return 0;
        if (asprintf(&path, "%s/status.json", m->config->runtime_dir) < 0)
                return -ENOMEM;
        r = mkdir_p(m->config->runtime_dir, 0755);
        if (r < 0)
                return r;
        /* A trailing newline, for people who cat it. */
        if (asprintf(&line, "%s\n", json) < 0)
                return -ENOMEM;
        r = write_file_atomic(path, line, strlen(line), 0644, (uid_t) -1, (gid_t) -1);
        if (r < 0)
                return r;
        free(m->status_written);
        m->status_written = TAKE_PTR(json);
        return 1;
}

/* After every change of state: the status file, the bus, and STATUS= for systemd. */
static void manager_publish(Manager *m, const char *status) {
        int r;

        r = free_and_strdup(&m->status_text, status);
        if (r > 0)
                bus_mark_changed(m, BUS_PROPERTY_STATUS_TEXT);
        if (r > 0 && m->status_text) {
                /* One line: sd_notify() messages are newline-separated assignments. */
                for (char *p = m->status_text; *p; p++)
                        if (*p == '\n' || *p == '\r')
                                *p = ' ';
                (void) sd_notifyf(false, "STATUS=%s", m->status_text);
        }
        r = write_status_file(m);
        if (r < 0)
                log_warning_errno(r, "Failed to write %s/status.json: %m", m->config->runtime_dir);
        r = metrics_write_textfile(m);
        /* Said once until it works again: it is tried on every change of state. */
        if (r < 0 && !m->metrics_textfile_failed)
                log_warning_errno(r, "Failed to write the metrics textfile %s: %m", m->config->metrics.textfile);
        m->metrics_textfile_failed = r < 0;
}

static void set_state(Manager *m, ManagerState s) {
        if (m->state != s)   /* Ready follows State */
                bus_mark_changed(m, BUS_PROPERTY_STATE | BUS_PROPERTY_READY);
        m->state = s;
        m->ready = s == MANAGER_READY;
}

/* ---- after a change: hooks, restarts, serve checks (reload.c) ---- */

static char *file_stamp(const char *path) {
        struct stat st;
        char *s = NULL;

        if (stat(path, &st) < 0)
                return NULL;
        if (asprintf(&s, "%llu:%lld.%09ld:%lld", (unsigned long long) st.st_ino, (long long) st.st_mtim.tv_sec,
                     st.st_mtim.tv_nsec, (long long) st.st_size) < 0)
                return NULL;
        return s;
}

static void certificate_stamps(const CertificateConfig *cc, char **ret_cert, char **ret_ca) {
        _cleanup_(profile_files_done) ProfileFiles f = PROFILE_FILES_NULL;

        *ret_cert = *ret_ca = NULL;
        if (profile_files_paths(cc, &f) < 0)
                return;
        *ret_cert = file_stamp(f.cert_path);
        *ret_ca = file_stamp(f.ca_path);
}

static void take_certificate_stamps(Manager *m) {
        for (size_t i = 0; i < m->n_certificates; i++) {
                CertificateStatus *cs = m->certificates + i;

                free(cs->stamp);
                free(cs->ca_stamp);
                certificate_stamps(cs->config, &cs->stamp, &cs->ca_stamp);
        }
}

static bool stamp_changed(const char *before, const char *now) {
        return now && (!before || !streq(before, now));
}

/* A certificate whose files changed during the attempt gets what its datastore needs, whatever the
 * attempt did after (or however its worker ended). */
static void reload_changed_certificates(Manager *m) {
        for (size_t i = 0; i < m->n_certificates; i++) {
                CertificateStatus *cs = m->certificates + i;
                _cleanup_free_ char *cert = NULL, *ca = NULL;
                unsigned changes = 0;

                certificate_stamps(cs->config, &cert, &ca);
                if (stamp_changed(cs->stamp, cert))
                        changes |= RELOAD_CHANGE_CERT;
                if (stamp_changed(cs->ca_stamp, ca))
                        changes |= RELOAD_CHANGE_CA;
                if (changes && cs->state == ITEM_READY && cs->reload)
                        reload_request(cs->reload, changes);
        }
}

static void manager_publish(Manager *m, const char *status);

static void on_reload_changed(Reload *r, void *userdata) {
        Manager *m = userdata;
        unsigned n = 0;

        for (size_t i = 0; i < m->n_certificates; i++) {
                CertificateStatus *cs = m->certificates + i;

                if (!cs->reload)
                        continue;
                n += reload_actions_run(cs->reload);
                /* For the metrics and the worker's ReloadHookFailing Event: hooks and restarts that
                 * ended, rounds that failed (the hook, or the serve check still seeing the old
                 * certificate), and how many in a row. */
                cs->hook_runs = reload_actions_run(cs->reload);
                cs->hook_failures = reload_failures_total(cs->reload);
                cs->hook_failures_in_row = reload_failures(cs->reload);
        }
        m->hooks_run = n;
        bus_mark_changed(m, BUS_PROPERTY_RELOADS);
        manager_rotation_reload_changed(m);
        manager_publish(m, m->status_text);
}

/* ---- what a report says ---- */

static void apply_certificate(Manager *m, CertificateStatus *cs, const ItemReport *it) {
        if (cs->state != it->state || (it->state == ITEM_READY && cs->not_after != it->not_after))
                bus_mark_changed(m, BUS_PROPERTY_CERTIFICATES);
        cs->state = it->state;
        if (it->state != ITEM_READY)
                return;
        cs->not_after = it->not_after;
        cs->renew_at = it->renew_at;
        if (cs->jitter_for != it->not_after) {
                cs->jitter = manager_renewal_jitter(it->renew_at, it->not_after, m->config->daemon.renew_jitter_usec,
                                                    backoff_random01()) - it->renew_at;
                cs->jitter_for = it->not_after;
        }
}

static VolumeStatus *volume_status_find(Manager *m, const char *name) {
        for (size_t i = 0; i < m->n_volumes; i++)
                if (streq(m->volumes[i].config->name, name))
                        return m->volumes + i;
        return NULL;
}

static void set_reencrypt(Manager *m, VolumeStatus *vs, const ReencryptStatus *st) {
        if (memcmp(&vs->reencrypt, st, sizeof(*st)) != 0)
                bus_mark_changed(m, BUS_PROPERTY_REENCRYPTION);
        vs->reencrypt = *st;
}

/* What an attempt's report says of a re-encryption, over what the progress lines said: a state
 * from the header (a check) comes without the numbers, which the last lines had. */
static void apply_reencrypt(Manager *m, VolumeStatus *vs, const ReencryptStatus *seen) {
        ReencryptStatus st = *seen;

        if (seen->state == REENCRYPT_STATE_NONE)
                return;
        if (vs->reencrypt.state != REENCRYPT_STATE_NONE && (!st.started_at || st.started_at == vs->reencrypt.started_at)) {
                st.started_at = vs->reencrypt.started_at;
                st.done = st.done ?: vs->reencrypt.done;
                st.total = st.total ?: vs->reencrypt.total;
                st.rate = st.rate ?: vs->reencrypt.rate;
                st.limit = st.limit ?: vs->reencrypt.limit;
        }
        if (st.state == REENCRYPT_STATE_DONE && st.total)
                st.done = st.total;
        set_reencrypt(m, vs, &st);
}

void manager_worker_progress(Manager *m, const char *line, size_t size) {
        _cleanup_free_ char *volume = NULL;
        ReencryptStatus st;
        VolumeStatus *vs;
        NsError e = {};
        int r;

        r = attempt_progress_from_json(line, size, &volume, &st, &e);
        if (r < 0) {
                log_debug("A progress line of the worker was not understood: %s", ns_error_message(&e, r));
                return;
        }
        vs = volume_status_find(m, volume);
        if (!vs || !m->attempt_running)
                return;
        set_reencrypt(m, vs, &st);
        manager_publish(m, m->status_text);
}

static void apply_report(Manager *m, const AttemptReport *report) {
        /* By name: a reload may have changed the config while the worker ran. */
        for (size_t i = 0; i < m->n_volumes; i++) {
                const ItemReport *it = attempt_report_find(report->volumes, report->n_volumes,
                                                           m->volumes[i].config->name);
                if (it && m->volumes[i].state != it->state) {
                        m->volumes[i].state = it->state;
                        bus_mark_changed(m, BUS_PROPERTY_VOLUMES);
                }
                if (it)
                        apply_reencrypt(m, m->volumes + i, &it->reencrypt);
        }
        for (size_t i = 0; i < m->n_certificates; i++) {
                const ItemReport *it = attempt_report_find(report->certificates, report->n_certificates,
                                                           m->certificates[i].config->name);
                if (it)
                        apply_certificate(m, m->certificates + i, it);
        }
        for (size_t i = 0; i < report->n_secrets; i++)
                secret_source_remember(m->source, report->secrets[i].name, report->secrets[i].resource_version);
        if (report->ca_pem) {
                (void) free_and_strdup(&m->ca_pem, report->ca_pem);
                if (m->ca_not_after != report->ca_not_after)
                        bus_mark_changed(m, BUS_PROPERTY_CA_NOT_AFTER);
                m->ca_not_after = report->ca_not_after;
                m->ca_issue_limit = report->ca_issue_limit;
        }
}

/* ---- scheduling ---- */

static int on_retry(sd_event_source *s, uint64_t usec, void *userdata);
static int on_renew(sd_event_source *s, uint64_t usec, void *userdata);

static int schedule(Manager *m, sd_event_source **src, clockid_t clock, uint64_t when, sd_event_time_handler_t cb,
                    const char *what) {
        int r;

        if (*src) {
                r = sd_event_source_set_time(*src, when);
                if (r >= 0)
                        r = sd_event_source_set_enabled(*src, SD_EVENT_ONESHOT);
        } else {
                r = sd_event_add_time(m->event, src, clock, when, 0, cb, m);
                if (r >= 0)
                        (void) sd_event_source_set_description(*src, what);
        }
        if (r < 0)
                return log_error_errno(r, "Failed to schedule the %s: %m", what);
        return 0;
}

static void disable(sd_event_source *s) {
        if (s)
                (void) sd_event_source_set_enabled(s, SD_EVENT_OFF);
}

/* When to renew cs, on the wall clock; 0: nothing to schedule for it. */
static uint64_t renewal_time(Manager *m, const CertificateStatus *cs, uint64_t now) {
        uint64_t t;

        if (cs->state != ITEM_READY || cs->renew_at == 0)
                return 0;
        t = cs->renew_at + cs->jitter;
        if (t > now)
                return t;
        /* It expires with the CA: no new certificate could do better, and provision keeps it. A
         * replaced CA comes through the watch (or the poll); nothing to schedule until then. */
        if (m->ca_issue_limit != 0 && cs->not_after >= m->ca_issue_limit)
                return 0;
        /* Just provisioned and already in its window, though it ends before the CA: it started at the
         * CA's notBefore (a CA younger than the clock skew), or the window is most of its life.
         * Reissuing in a tight loop would not help. */
        log_warning("Certificate %s: in its renewal window right after issuing (a CA issued minutes ago, or "
                    "renew_fraction near 1?); next try in %.0f s.",
                    cs->config->name, (double) m->config->retry.max_usec / USEC_PER_SEC);
        return now + m->config->retry.max_usec;
}

/* The earliest renewal of any certificate, on the wall clock (certificates live there). */
static int schedule_renewal(Manager *m, uint64_t *ret_when) {
        uint64_t when = UINT64_MAX, now = now_usec(CLOCK_REALTIME);
        const char *which = NULL;

        for (size_t i = 0; i < m->n_certificates; i++) {
                uint64_t t = renewal_time(m, m->certificates + i, now);
                if (t != 0 && t < when) {
                        when = t;
                        which = m->certificates[i].config->name;
                }
        }
        if (!which) {
                disable(m->renew_source);
                *ret_when = 0;
                return 0;
        }
        log_debug("Next renewal: certificate %s in %.1f s.", which, (double) (when - now) / USEC_PER_SEC);
        *ret_when = when;
        return schedule(m, &m->renew_source, CLOCK_REALTIME, when, on_renew, "certificate renewal");
}

static void ready_status(Manager *m, uint64_t renew_when, char *buf, size_t size) {
        char when[UTC_TIME_MAX];

        format_utc_usec(renew_when, when, sizeof(when));
        if (renew_when)
                (void) snprintf(buf, size, "Ready: %zu volume(s) and %zu certificate(s) in place; next renewal %s.",
                                m->n_volumes, m->n_certificates, when);
        else
                (void) snprintf(buf, size, "Ready: %zu volume(s) and %zu certificate(s) in place.", m->n_volumes,
                                m->n_certificates);
}

/* ---- attempts: one at a time, in a worker ---- */

static void watch_secrets(Manager *m);
static char **watched_secrets(Manager *m, char **names);
static void finish_stop(Manager *m);

static void on_worker_done(Worker *w, AttemptReport *report, const NsError *error, void *userdata) {
        manager_attempt_done(userdata, report, error);
}

static void on_worker_progress(Worker *w, const char *line, size_t size, void *userdata) {
        manager_worker_progress(userdata, line, size);
}

static int process_worker_start(Manager *m, AttemptKind kind) {
        return worker_start(m->event, m->config, kind, on_worker_done, on_worker_progress, m, &m->worker);
}

static void process_worker_stop(Manager *m) {
        if (m->worker)
                (void) worker_stop(m->worker);
}

static const ManagerWorkerOps process_worker_ops = {
        .start = process_worker_start,
        .stop = process_worker_stop,
};

static int on_deadline(sd_event_source *s, uint64_t usec, void *userdata) {
        Manager *m = userdata;

        /* A worker that re-encrypts stops by itself at half the deadline, between two hotzones;
         * past it, it is finishing (libcryptsetup removing the old volume key's slots, then the
         * re-encryption's record: a SIGKILL in between leaves a header that the key opens no
         * more, seen in the VM). Its lines say it runs: one more deadline, not a kill. */
        for (size_t i = 0; i < m->n_volumes && !m->attempt_deadline_extended; i++)
                if (m->volumes[i].reencrypt.state == REENCRYPT_STATE_RUNNING) {
                        m->attempt_deadline_extended = true;
                        log_warning("Attempt %u still running after %.3g s, re-encrypting volume %s: giving it as long again.",
                                    m->attempts_started, (double) m->config->daemon.attempt_timeout_usec / USEC_PER_SEC,
                                    m->volumes[i].config->name);
                        (void) schedule(m, &m->deadline_source, CLOCK_MONOTONIC,
                                        now_usec(CLOCK_MONOTONIC) + m->config->daemon.attempt_timeout_usec, on_deadline,
                                        "attempt deadline");
                        return 0;
                }

        log_warning("Attempt %u still running after %.3g s (daemon.attempt_timeout_sec); stopping its worker.",
                    m->attempts_started, (double) m->config->daemon.attempt_timeout_usec / USEC_PER_SEC);
        m->attempt_timed_out = true;
        m->worker_ops->stop(m);
        return 0;
}

static void attempt_start(Manager *m, AttemptKind kind) {
        NsError error = {};
        int r;

        disable(m->retry_source);
        m->next_attempt = 0;
        take_certificate_stamps(m);
        /* Before the worker reads the Secrets: a change while it runs is then seen by the watch. */
        if (kind != ATTEMPT_CHECK)
                secret_source_snapshot(m->source, watched_secrets(m, (char *[3]) {}));
        m->attempts_started++;
        m->attempt_started_usec = now_usec(CLOCK_MONOTONIC);
        m->attempt_running = true;
        m->attempt_kind = kind;
        m->attempt_timed_out = false;
        m->attempt_deadline_extended = false;
        log_debug("Attempt %u (%s) starting.", m->attempts_started, attempt_kind_to_string(kind));
        r = m->worker_ops->start(m, kind);
        if (r < 0) {
                (void) ns_error_set(&error, r, "Failed to start a worker for the attempt: %s", strerror(-r));
                manager_attempt_done(m, NULL, &error);
                return;
        }
        (void) schedule(m, &m->deadline_source, CLOCK_MONOTONIC,
                        now_usec(CLOCK_MONOTONIC) + m->config->daemon.attempt_timeout_usec, on_deadline,
                        "attempt deadline");
}

int manager_request_attempt(Manager *m, AttemptKind kind) {
        if (m->state == MANAGER_STOPPING)
                return -ESHUTDOWN;
        if (m->attempt_running) {
                /* Coalesced: whatever comes now is served by one attempt after this one. */
                m->follow_up_kind = m->follow_up ? MAX(m->follow_up_kind, kind) : kind;
                m->follow_up = true;
                return 0;
        }
        attempt_start(m, kind);
        return 0;
}

int manager_reconcile(Manager *m, AttemptKind kind, ManagerReplyHandler handler, void *userdata) {
        ManagerWaiter *w;

        if (m->state == MANAGER_STOPPING)
                return -ESHUTDOWN;
        w = calloc(1, sizeof(*w));
        if (!w)
                return -ENOMEM;
        /* The next attempt to start: the one starting now, or the follow-up of the running one. */
        *w = (ManagerWaiter) { .wanted = m->attempts_started + 1, .handler = handler, .userdata = userdata,
                               .next = m->waiters };
        m->waiters = w;
        return manager_request_attempt(m, kind);
}

/* Answers every waiter whose attempt has ended (all of them when stopping). */
static void reply_waiters(Manager *m, bool all, int code, const char *error) {
        ManagerWaiter **p = &m->waiters;

        while (*p) {
                ManagerWaiter *w = *p;
                if (!all && w->wanted > m->attempts_started) {
                        p = &w->next;
                        continue;
                }
                *p = w->next;
                w->handler(m, code, error, w->userdata);
                free(w);
        }
}

static void notify_reloaded(Manager *m) {
        if (m->reload_wanted == 0 || m->attempts_started < m->reload_wanted)
                return;
        /* The reload is over when the first attempt with the new config is, whether or not it worked. */
        m->reload_wanted = 0;
        (void) sd_notifyf(false, "READY=1\nSTATUS=%s", strempty(m->status_text));
}

static void attempt_failed(Manager *m, int code, const char *failure) {
        char status[1536];
        uint64_t delay;

        if (free_and_strdup(&m->last_error, failure) > 0)
                bus_mark_changed(m, BUS_PROPERTY_LAST_ERROR);
        m->attempt++;
        delay = backoff_retry_usec(&m->config->retry, m->attempt, backoff_random01());
        set_state(m, m->ever_ready ? MANAGER_DEGRADED : MANAGER_WAITING);

        if (m->config->retry.max_attempts > 0 && m->attempt >= m->config->retry.max_attempts && !m->ever_ready) {
                log_error("Giving up after %u attempt(s): %s", m->attempt, failure);
                (void) snprintf(status, sizeof(status), "Failed after %u attempt(s): %s", m->attempt, failure);
                manager_publish(m, status);
                m->exit_code = 1;
                (void) sd_event_exit(m->event, 1);
                return;
        }
        log_warning("%s: %s; next attempt in %.1f s.", m->ever_ready ? "Degraded" : "Not ready", failure,
                    (double) delay / USEC_PER_SEC);
        (void) snprintf(status, sizeof(status), "%s %s; next attempt in %.0f s (attempt %u).",
                        m->ever_ready ? "Degraded, retrying:" : "Waiting:", failure, ceil((double) delay / USEC_PER_SEC),
                        m->attempt);
        m->next_attempt = now_usec(CLOCK_MONOTONIC) + delay;
        (void) schedule(m, &m->retry_source, CLOCK_MONOTONIC, m->next_attempt, on_retry, "provisioning retry");
        manager_publish(m, status);
}

static void attempt_succeeded(Manager *m) {
        char status[1536];
        uint64_t renew_when = 0;

        (void) schedule_renewal(m, &renew_when);
        ready_status(m, renew_when, status, sizeof(status));
        if (m->attempt > 0 || !m->ever_ready)
                log_info("%s", status);
        m->attempt = 0;
        set_state(m, MANAGER_READY);
        manager_publish(m, status);
        if (!m->ever_ready) {
                m->ever_ready = true;
                (void) sd_notifyf(false, "READY=1\nSTATUS=%s", status);
        }
}

/* The outcome: 0, or the failure and its message in error. */
static int attempt_outcome(Manager *m, const AttemptReport *report, const NsError *error, NsError *ret) {
        if (m->attempt_timed_out)
                return ns_error_set(ret, -ETIME,
                                    "The attempt did not finish within %.3g s (daemon.attempt_timeout_sec); its "
                                    "worker was stopped",
                                    (double) m->config->daemon.attempt_timeout_usec / USEC_PER_SEC);
        if (!report)
                return ns_error_set(ret, error ? error->code : -EIO, "%s", ns_error_message(error, -EIO));
        if (report->code < 0)
                return ns_error_set(ret, report->code, "%s", strempty(report->error));
        return 0;
}

static void start_follow_up(Manager *m) {
        if (!m->follow_up || m->state == MANAGER_STOPPING || m->exit_code != 0)
                return;
        m->follow_up = false;
        attempt_start(m, m->follow_up_kind);
}

void manager_attempt_done(Manager *m, const AttemptReport *report, const NsError *error) {
        AttemptKind kind = m->attempt_kind;
        NsError outcome = {};
        int r;

        m->worker = worker_free(m->worker);
        m->attempt_running = false;
        disable(m->deadline_source);
        r = attempt_outcome(m, report, error, &outcome);
        m->attempts_ended[kind]++;
        m->attempts_failed[kind] += r < 0;
        m->last_attempt_usec = now_usec(CLOCK_MONOTONIC) - m->attempt_started_usec;
        if (report)
                (void) kube_counts_merge(kube_counts_process(), &report->api_requests);
        log_debug("Attempt %u (%s) ended: %s.", m->attempts_started, attempt_kind_to_string(kind),
                  r < 0 ? outcome.message : "all in place");
        if (m->state == MANAGER_STOPPING) {
                finish_stop(m);
                return;
        }
        /* No worker runs now: a re-encryption it left running (killed at the deadline, or gone
         * before its last line) is paused until the next provision resumes it. */
        for (size_t i = 0; i < m->n_volumes; i++)
                if (m->volumes[i].reencrypt.state == REENCRYPT_STATE_RUNNING) {
                        ReencryptStatus st = m->volumes[i].reencrypt;

                        st.state = REENCRYPT_STATE_PAUSED;
                        st.rate = 0;
                        set_reencrypt(m, m->volumes + i, &st);
                }
        if (report)
                apply_report(m, report);
        reload_changed_certificates(m);
        manager_rotation_apply(m, report);
        watch_secrets(m);

        if (r < 0 && kind == ATTEMPT_CHECK) {
                /* Something is off: provision at once, not after a backoff. */
                log_warning("Re-check: %s; provisioning again.", outcome.message);
                m->follow_up_kind = m->follow_up ? MAX(m->follow_up_kind, ATTEMPT_PROVISION) : ATTEMPT_PROVISION;
                m->follow_up = true;
        } else if (r < 0)
                attempt_failed(m, r, outcome.message);
        else if (kind == ATTEMPT_CHECK && report && report->provision_wanted) {
                /* All in place, but a volume's device grew: the provision grows it online. */
                manager_publish(m, m->status_text);
                m->follow_up_kind = m->follow_up ? MAX(m->follow_up_kind, ATTEMPT_PROVISION) : ATTEMPT_PROVISION;
                m->follow_up = true;
        } else if (kind == ATTEMPT_CHECK)
                manager_publish(m, m->status_text);
        else {
                attempt_succeeded(m);
                /* A re-encryption longer than an attempt: the next one goes on with it at once. */
                if (report && report->reencrypt_unfinished) {
                        log_info("A re-encryption goes on in the next attempt.");
                        m->follow_up_kind = m->follow_up ? MAX(m->follow_up_kind, ATTEMPT_PROVISION) : ATTEMPT_PROVISION;
                        m->follow_up = true;
                }
        }
        notify_reloaded(m);
        reply_waiters(m, false, r, r < 0 ? outcome.message : NULL);
        start_follow_up(m);
}

static int on_retry(sd_event_source *s, uint64_t usec, void *userdata) {
        (void) manager_request_attempt(userdata, ATTEMPT_PROVISION);
        return 0;
}

static int on_renew(sd_event_source *s, uint64_t usec, void *userdata) {
        log_info("A certificate reached its renewal point.");
        (void) manager_request_attempt(userdata, ATTEMPT_PROVISION);
        return 0;
}

static int on_recheck(sd_event_source *s, uint64_t usec, void *userdata) {
        Manager *m = userdata;

        (void) sd_event_source_set_time_relative(s, m->config->daemon.recheck_usec);
        (void) sd_event_source_set_enabled(s, SD_EVENT_ON);
        /* Not ready: a retry is already scheduled. Running: that attempt looks at everything too. */
        if (m->state != MANAGER_READY || m->attempt_running)
                return 0;
        (void) manager_request_attempt(m, ATTEMPT_CHECK);
        return 0;
}

/* ---- noticing changed Secrets ---- */

static int on_changed(sd_event_source *s, uint64_t usec, void *userdata) {
        Manager *m = userdata;
        log_info("The Secrets changed; provisioning again.");
        (void) manager_request_attempt(m, ATTEMPT_PROVISION);
        return 0;
}

static void secrets_changed_soon(Manager *m) {
        (void) schedule(m, &m->changed_source, CLOCK_MONOTONIC, now_usec(CLOCK_MONOTONIC) + CHANGE_DELAY_USEC,
                        on_changed, "Secret change");
}

static int on_secret_changed(SecretSource *s, const char *secret, void *userdata) {
        log_debug("Secret %s changed.", secret);
        secrets_changed_soon(userdata);
        return 0;
}

/* The Secrets the daemon watches, in names (3 entries): the CA's, and the keys' when there are volumes
 * or when this node's intermediate CA (intermediate.crt there) signs its certificates. */
static char **watched_secrets(Manager *m, char **names) {
        names[0] = m->config->secrets.ca_secret;
        names[1] = m->config->n_volumes > 0 || m->config->secrets.signer == SIGNER_INTERMEDIATE
                           ? m->config->secrets.keys_secret : NULL;
        names[2] = NULL;
        return names;
}

static void watch_secrets(Manager *m) {
        NsError error = {};
        int r;

        if (m->watching)
                return;
        r = secret_source_watch(m->source, m->event, watched_secrets(m, (char *[3]) {}), on_secret_changed, m, &error);
        if (r < 0) {
                log_warning_errno(r, "Not watching the Secrets (re-checking every %.0f s instead): %s",
                                  (double) m->config->daemon.recheck_usec / USEC_PER_SEC, ns_error_message(&error, r));
                return;
        }
        m->watching = true;
}

/* ---- signals ---- */

/* A metrics endpoint that cannot listen is not a reason to keep the datastore from starting. */
static void manager_setup_metrics(Manager *m) {
        NsError error = {};
        int r = metrics_setup_server(m, &error);
        if (r < 0)
                log_warning_errno(r, "No metrics endpoint: %s", ns_error_message(&error, r));
}

static int manager_load_state(Manager *m, Config *c);

static int on_sighup(sd_event_source *s, const struct signalfd_siginfo *si, void *userdata) {
        Manager *m = userdata;
        _cleanup_(config_freep) Config *c = NULL;
        NsError error = {};
        int r;

        log_info("Reloading the configuration.");
        (void) sd_notify(false, "RELOADING=1\nSTATUS=Reloading the configuration.");
        r = config_load(m->config_path, &c, &error);
        if (r < 0) {
                log_error_errno(r, "Keeping the old configuration: %s", ns_error_message(&error, r));
                if (free_and_strdup(&m->last_error, ns_error_message(&error, r)) > 0)
                        bus_mark_changed(m, BUS_PROPERTY_LAST_ERROR);
        } else {
                r = manager_load_state(m, TAKE_PTR(c));
                if (r < 0)
                        log_error_errno(r, "Failed to apply the new configuration: %m");
                else {
                        log_info("Configuration reloaded: %zu volume(s), %zu certificate(s).", m->n_volumes,
                                 m->n_certificates);
                        manager_devices_watch(m);
                }
                /* The textfile may have moved: write it anew on the next change. */
                free(m->metrics_written);
                m->metrics_written = NULL;
                manager_setup_metrics(m);
        }
        /* READY=1 again once an attempt with whatever configuration is now in force has ended. */
        m->reload_wanted = m->attempts_started + 1;
        (void) manager_request_attempt(m, ATTEMPT_PROVISION);
        return 0;
}

/* The end, once no worker runs any more: the volumes closed if so configured, the loop left. */
static void finish_stop(Manager *m) {
        NsError error = {};
        int r;

        if (m->config->daemon.close_on_stop && m->n_volumes > 0) {
                r = close_all(m->config, &error);
                if (r < 0) {
                        log_error_errno(r, "Failed to close the volumes: %s", ns_error_message(&error, r));
                        m->exit_code = 1;
                } else
                        log_info("Volumes closed.");
        }
        (void) sd_event_exit(m->event, 0);
}

static int on_sigterm(sd_event_source *s, const struct signalfd_siginfo *si, void *userdata) {
        Manager *m = userdata;

        if (m->state == MANAGER_STOPPING)
                return 0;
        log_info("Stopping (%s).", strsignal((int) si->ssi_signo));
        set_state(m, MANAGER_STOPPING);
        (void) sd_notify(false, "STOPPING=1\nSTATUS=Stopping.");
        manager_publish(m, "Stopping.");
        reply_waiters(m, true, -ESHUTDOWN, "The daemon is stopping.");
        if (!m->attempt_running) {
                finish_stop(m);
                return 0;
        }
        /* The volume steps converge after a kill: the next start finishes the job. */
        log_info("Stopping the worker of attempt %u.", m->attempts_started);
        m->worker_ops->stop(m);
        return 0;
}

/* ---- life cycle ---- */

static CertificateStatus *certificate_status_find(Manager *m, const char *name) {
        for (size_t i = 0; i < m->n_certificates; i++)
                if (streq(m->certificates[i].config->name, name))
                        return m->certificates + i;
        return NULL;
}

static void certificate_statuses_free(CertificateStatus *certs, size_t n) {
        for (size_t i = 0; i < n; i++) {
                free(certs[i].stamp);
                free(certs[i].ca_stamp);
                reload_free(certs[i].reload);
        }
        free(certs);
}

/* Takes c: frees the old config and source (the source borrows its config), sets up the new. */
static int manager_load_state(Manager *m, Config *c) {
        _cleanup_(config_freep) Config *config = c;
        _cleanup_(secret_source_freep) SecretSource *source = NULL;
        VolumeStatus *vols = NULL;
        CertificateStatus *certs = NULL;
        NsError error = {};
        int r;

        r = secret_source_new(config, &source, &error);
        if (r < 0)
                return log_error_errno(r, "%s", ns_error_message(&error, r));
        if (config->n_volumes > 0 && !(vols = calloc(config->n_volumes, sizeof(*vols))))
                return log_oom();
        if (config->n_certificates > 0 && !(certs = calloc(config->n_certificates, sizeof(*certs)))) {
                free(vols);
                return log_oom();
        }
        for (size_t i = 0; i < config->n_volumes; i++)
                vols[i].config = config->volumes + i;
        for (size_t i = 0; i < config->n_certificates; i++) {
                ReloadSettings rs = { .config = config->certificates + i, .retry = &config->retry,
                                      .timeout_usec = config->daemon.hook_timeout_usec, .binary = "/proc/self/exe" };
                CertificateStatus *old = certificate_status_find(m, config->certificates[i].name);

                certs[i].config = config->certificates + i;
                /* A reload under way goes on with the new settings: a restart or hook killed
                 * midway could leave the datastore down. */
                if (old && old->reload) {
                        certs[i].reload = TAKE_PTR(old->reload);
                        reload_set_settings(certs[i].reload, &rs);
                        continue;
                }
                r = reload_new(m->event, &rs, on_reload_changed, m, &certs[i].reload);
                if (r < 0) {
                        certificate_statuses_free(certs, i);
                        free(vols);
                        return log_oom();
                }
        }

        certificate_statuses_free(m->certificates, m->n_certificates);
        free(m->volumes);
        bus_mark_changed(m, BUS_PROPERTY_VOLUMES | BUS_PROPERTY_CERTIFICATES);
        m->volumes = vols;
        m->n_volumes = config->n_volumes;
        m->certificates = certs;
        m->n_certificates = config->n_certificates;

        /* The watch belongs to the old source and its settings. */
        m->watching = false;
        secret_source_free(m->source);
        m->source = TAKE_PTR(source);
        config_free(m->config);
        m->config = TAKE_PTR(config);

        if (m->recheck_source)
                (void) sd_event_source_set_time_relative(m->recheck_source, m->config->daemon.recheck_usec);
        return 0;
}

int manager_new(Config *config, const char *config_path, const char *bus_address, Manager **ret) {
        _cleanup_(manager_freep) Manager *m = NULL;
        int r;

        m = calloc(1, sizeof(*m));
        if (!m)
                return -ENOMEM;
        if ((config_path && !(m->config_path = strdup(config_path))) ||
            (bus_address && !(m->bus_address = strdup(bus_address))))
                return -ENOMEM;
        set_state(m, MANAGER_STARTING);
        m->worker_ops = &process_worker_ops;

        r = sd_event_default(&m->event);
        if (r < 0)
                return r;
        r = manager_load_state(m, config);
        if (r < 0)
                return r;
        *ret = TAKE_PTR(m);
        return 0;
}

Manager *manager_free(Manager *m) {
        if (!m)
                return NULL;
        reply_waiters(m, true, -ESHUTDOWN, "The daemon is stopping.");
        manager_rotation_done(m);
        manager_devices_unwatch(m);
        worker_free(m->worker);
        bus_close(m);
        sd_event_source_disable_unref(m->retry_source);
        sd_event_source_disable_unref(m->renew_source);
        sd_event_source_disable_unref(m->recheck_source);
        sd_event_source_disable_unref(m->changed_source);
        sd_event_source_disable_unref(m->bus_retry_source);
        sd_event_source_disable_unref(m->deadline_source);
        sd_event_source_disable_unref(m->bus_emit_source);
        metrics_server_free(m->metrics_server);
        free(m->metrics_written);
        secret_source_free(m->source);
        certificate_statuses_free(m->certificates, m->n_certificates);
        free(m->volumes);
        config_free(m->config);
        sd_event_unref(m->event);
        free(m->status_text);
        free(m->last_error);
        free(m->ca_pem);
        free(m->status_written);
        free(m->bus_address);
        free(m->config_path);
        free(m);
        return NULL;
}

int manager_run(Manager *m) {
        int r;

        r = sd_event_add_signal(m->event, NULL, SIGTERM, on_sigterm, m);
        if (r >= 0)
                r = sd_event_add_signal(m->event, NULL, SIGINT, on_sigterm, m);
        if (r >= 0)
                r = sd_event_add_signal(m->event, NULL, SIGHUP, on_sighup, m);
        if (r < 0)
                return log_error_errno(r, "Failed to set up signal handling: %m");
        r = sd_event_set_watchdog(m->event, true);
        if (r < 0)
                log_warning_errno(r, "Failed to enable the watchdog: %m");
        else if (r > 0)
                log_debug("Watchdog enabled.");

        r = bus_open(m);
        if (r < 0) {
                log_notice_errno(r, "No D-Bus (%m); the status goes to %s/status.json only.", m->config->runtime_dir);
                /* No system bus socket at all (a container): nothing to wait for. Otherwise the bus
                 * may be starting after us: keep trying. */
                if (m->bus_address || (r != -ENOENT && r != -ECONNREFUSED))
                        (void) bus_schedule_reconnect(m);
        }

        r = sd_event_add_time_relative(m->event, &m->recheck_source, CLOCK_MONOTONIC, m->config->daemon.recheck_usec,
                                       0, on_recheck, m);
        if (r < 0)
                return log_error_errno(r, "Failed to set up the re-check timer: %m");
        (void) sd_event_source_set_enabled(m->recheck_source, SD_EVENT_ON);
        manager_devices_watch(m);

        manager_setup_metrics(m);
        manager_publish(m, "Provisioning.");
        (void) manager_request_attempt(m, ATTEMPT_PROVISION);

        r = sd_event_loop(m->event);
        if (r < 0)
                return log_error_errno(r, "Event loop failed: %m");

        set_state(m, MANAGER_STOPPED);
        manager_publish(m, r > 0 ? "Gave up." : "Stopped.");
        return m->exit_code ? m->exit_code : r;
}
