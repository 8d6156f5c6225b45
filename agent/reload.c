/* SPDX-License-Identifier: Apache-2.0 */
/* After a certificate's files changed: the hook or restart its profile needs, then the serve check,
 * in children on the loop; a failed round is retried with the daemon's backoff until it is confirmed. */
#include <sys/mman.h>

#include "json-util.h"

#include "backoff.h"
#include "child.h"
#include "log.h"
#include "profile.h"
#include "reload.h"
#include "secure.h"
#include "string-table.h"
#include "time-util.h"

#define PROBE_RESULT_MAX 4096

DEFINE_STRING_TABLE_TO_STRING(reload_state, ReloadState, RELOAD_STATE,
                    [RELOAD_IDLE] = "idle", [RELOAD_RUNNING] = "running", [RELOAD_DONE] = "done",
                    [RELOAD_CONFIRMED] = "confirmed", [RELOAD_RETRYING] = "retrying",
                    [RELOAD_NEEDS_RESTART] = "needs-restart");

struct Reload {
        sd_event *event;
        ReloadSettings settings;
        ReloadChangedHandler handler;
        void *userdata;

        ReloadState state;
        unsigned pending;             /* changes not yet handled by a round */
        unsigned current;             /* what the running (or retried) round handles */
        unsigned failures;
        unsigned failures_total;
        unsigned actions_run;
        bool restarted;               /* this round's restart ran: a retry checks again, never restarts again */
        char *message;
        uint64_t served_not_after;

        Hook *hooks;                  /* the running hook or restart: at most one */
        Child *probe;                 /* the running serve check */
        int probe_fd;                 /* memfd its result goes to */
        sd_event_source *retry_source;
        sd_event_source *probe_timeout;
};

ReloadAction reload_action(const CertificateConfig *cc, unsigned changes) {
        const Profile *p = profile_get(cc->profile);
        bool restart, hook;

        if (!p || changes == 0)
                return RELOAD_ACTION_NONE;
        restart = ((changes & RELOAD_CHANGE_CERT) && p->cert_reload == PROFILE_RELOAD_RESTART) ||
                  ((changes & RELOAD_CHANGE_CA) && p->ca_reload == PROFILE_RELOAD_RESTART);
        if (restart)
                return cc->restart_command ? RELOAD_ACTION_RESTART : RELOAD_ACTION_RESTART_MISSING;
        /* reload_command replaces the profile's judgement: it runs after any change. */
        hook = (cc->reload && cc->reload_command) ||
               ((changes & RELOAD_CHANGE_CERT) && p->cert_reload == PROFILE_RELOAD_HOOK) ||
               ((changes & RELOAD_CHANGE_CA) && p->ca_reload == PROFILE_RELOAD_HOOK);
        return hook && hook_exists(cc) ? RELOAD_ACTION_HOOK : RELOAD_ACTION_NONE;
}

static void reload_changed(Reload *r) {
        if (r->handler)
                r->handler(r, r->userdata);
}

static void set_state(Reload *r, ReloadState s, const char *message, uint64_t served_not_after) {
        char *m = message ? strdup(message) : NULL;   /* message may be r->message itself */

        free(r->message);
        r->message = m;
        r->state = s;
        r->served_not_after = served_not_after;
        reload_changed(r);
}

static void round_start(Reload *r);

static int on_retry(sd_event_source *s, uint64_t usec, void *userdata) {
        round_start(userdata);
        return 0;
}

/* A failed round: reported, and tried again after the backoff of failures so far. */
static void round_failed(Reload *r, const char *message, uint64_t served_not_after) {
        uint64_t delay;
        int k;

        r->failures++;
        r->failures_total++;
        delay = backoff_retry_usec(r->settings.retry, r->failures, backoff_random01());
        log_warning("Certificate %s: %s; trying again in %.1f s (failure %u).", r->settings.config->name, message,
                    (double) delay / USEC_PER_SEC, r->failures);
        set_state(r, RELOAD_RETRYING, message, served_not_after);
        if (r->retry_source)
                k = sd_event_source_set_time_relative(r->retry_source, delay) < 0 ? -1 :
                    sd_event_source_set_enabled(r->retry_source, SD_EVENT_ONESHOT);
        else
                k = sd_event_add_time_relative(r->event, &r->retry_source, CLOCK_MONOTONIC, delay, 0, on_retry, r);
        if (k < 0)
                log_warning_errno(k, "Certificate %s: cannot schedule the retry: %m", r->settings.config->name);
}

static void round_succeeded(Reload *r, ReloadState s) {
        if (r->failures > 0 || s == RELOAD_CONFIRMED)
                log_info("Certificate %s: %s.", r->settings.config->name,
                         s == RELOAD_CONFIRMED ? "the datastore serves the new certificate" : "reloaded");
        r->failures = 0;
        r->current = 0;
        r->restarted = false;
        set_state(r, s, NULL, 0);
        /* Changes that came while this round ran get their own. */
        if (r->pending)
                round_start(r);
}

/* ---- the serve check, in a child ---- */

static void probe_done(Reload *r, const char *json, size_t size, const char *how) {
        _cleanup_(cJSON_Deletep) cJSON *root = json ? cJSON_ParseWithLength(json, size) : NULL;
        const cJSON *match = cJSON_GetObjectItemCaseSensitive(root, "match");
        const cJSON *err = cJSON_GetObjectItemCaseSensitive(root, "error");
        const cJSON *na = cJSON_GetObjectItemCaseSensitive(root, "served_not_after");
        const cJSON *serial = cJSON_GetObjectItemCaseSensitive(root, "served_serial");
        char msg[1024], until[UTC_TIME_MAX];
        uint64_t not_after;

        if (cJSON_IsTrue(match)) {
                round_succeeded(r, RELOAD_CONFIRMED);
                return;
        }
        if (cJSON_IsFalse(match)) {
                not_after = cJSON_IsNumber(na) && na->valuedouble > 0 ? (uint64_t) na->valuedouble : 0;
                format_utc_usec(not_after, until, sizeof(until));
                (void) snprintf(msg, sizeof(msg),
                                "the datastore at %s still serves the old certificate (serial %s, valid until %s)",
                                r->settings.config->serve_check.address,
                                cJSON_IsString(serial) ? serial->valuestring : "?", until);
                round_failed(r, msg, not_after);
                return;
        }
        (void) snprintf(msg, sizeof(msg), "serve check failed: %s",
                        cJSON_IsString(err) ? err->valuestring : how ? how : "no result");
        round_failed(r, msg, r->served_not_after);
}

static void on_probe_exit(Child *c, const siginfo_t *si, void *userdata) {
        Reload *r = userdata;
        _cleanup_free_ char *path = NULL, *json = NULL;
        char how[64];
        size_t size = 0;

        child_describe_exit(si, how, sizeof(how));
        r->probe = child_free(r->probe);
        r->probe_timeout = sd_event_source_disable_unref(r->probe_timeout);
        if (asprintf(&path, "/proc/self/fd/%d", r->probe_fd) < 0 ||
            read_full_file(path, PROBE_RESULT_MAX, &json, &size) < 0 || size == 0) {
                free(json);
                json = NULL;
        }
        r->probe_fd = safe_close(r->probe_fd);
        probe_done(r, json, size, how);
}

static int on_probe_timeout(sd_event_source *s, uint64_t usec, void *userdata) {
        Reload *r = userdata;
        (void) child_stop(r->probe, CHILD_STOP_GRACE_USEC);
        return 0;
}

static int probe_start(Reload *r) {
        const CertificateConfig *cc = r->settings.config;
        _cleanup_(profile_files_done) ProfileFiles f = PROFILE_FILES_NULL;
        _cleanup_free_ char *probe = NULL, *cert = NULL;
        char *envp[] = { (char *) "PATH=/usr/sbin:/usr/bin:/sbin:/bin", (char *) "LC_ALL=C", NULL };
        int k;

        if (profile_files_paths(cc, &f) < 0 ||
            asprintf(&probe, "--serve-probe=%s:%s", serve_check_protocol_to_string(cc->serve_check.protocol),
                     cc->serve_check.address) < 0 ||
            asprintf(&cert, "--cert-file=%s", f.cert_path) < 0)
                return -ENOMEM;
        char *argv[] = { (char *) r->settings.binary, (char *) "check", probe, cert, (char *) "--report-fd=3", NULL };

        r->probe_fd = memfd_create("nodeseal-serve-check", MFD_CLOEXEC);
        if (r->probe_fd < 0)
                return negative_errno();
        ChildSpec spec = { .argv = argv, .envp = envp, .fds = &r->probe_fd, .n_fds = 1 };
        k = child_spawn(r->event, &spec, on_probe_exit, r, &r->probe);
        if (k >= 0)
                k = sd_event_add_time_relative(r->event, &r->probe_timeout, CLOCK_MONOTONIC,
                                               r->settings.timeout_usec, 0, on_probe_timeout, r);
        if (k < 0) {
                r->probe = child_free(r->probe);
                r->probe_fd = safe_close(r->probe_fd);
        }
        return k;
}

/* After the action (or none): confirm, or be done. */
static void round_check(Reload *r) {
        char msg[256];
        int k;

        if (!r->settings.config->serve_check.address) {
                round_succeeded(r, RELOAD_DONE);
                return;
        }
        k = probe_start(r);
        if (k < 0) {
                (void) snprintf(msg, sizeof(msg), "cannot run the serve check: %s", strerror(-k));
                round_failed(r, msg, r->served_not_after);
        }
}

static void on_action_done(void *userdata, bool ok, const char *how) {
        Reload *r = userdata;
        char msg[256];

        r->actions_run++;
        if (!ok) {
                (void) snprintf(msg, sizeof(msg), "the %s %s",
                                reload_action(r->settings.config, r->current) == RELOAD_ACTION_RESTART ?
                                        "restart command" : "reload hook",
                                how);
                round_failed(r, msg, r->served_not_after);
                return;
        }
        if (reload_action(r->settings.config, r->current) == RELOAD_ACTION_RESTART)
                r->restarted = true;
        reload_changed(r);
        round_check(r);
}

static void round_start(Reload *r) {
        const CertificateConfig *cc = r->settings.config;
        const Profile *p = profile_get(cc->profile);
        ReloadAction action;
        char msg[512];
        int k;

        if (r->hooks || r->probe)
                return;   /* on_action_done / on_probe_exit start the next round */
        if (r->retry_source)
                (void) sd_event_source_set_enabled(r->retry_source, SD_EVENT_OFF);
        /* New files need a restart of their own only when they are what the datastore reads at start
         * (a CA for etcd): a certificate it re-reads per handshake, arriving while a restarted
         * datastore comes back, is checked with it, never worth a second restart. */
        if (reload_action(cc, r->pending) == RELOAD_ACTION_RESTART)
                r->restarted = false;
        r->current |= r->pending;
        r->pending = 0;
        if (r->current == 0)
                return;

        action = reload_action(cc, r->current);
        /* A datastore slow to come back from a restart is checked again, not restarted again. */
        if (action == RELOAD_ACTION_RESTART && r->restarted)
                action = RELOAD_ACTION_NONE;
        if (action == RELOAD_ACTION_RESTART_MISSING) {
                (void) snprintf(msg, sizeof(msg),
                                "%s reads its %s at start only: restart it, or set \"restart_command\"",
                                profile_type_to_string(p->type),
                                (r->current & RELOAD_CHANGE_CA) && p->ca_reload == PROFILE_RELOAD_RESTART ?
                                        "CA file" : "certificate");
                log_warning("Certificate %s: %s.", cc->name, msg);
                /* r->current stays: a restart_command configured later (SIGHUP) handles it. */
                set_state(r, RELOAD_NEEDS_RESTART, msg, 0);
                return;
        }
        set_state(r, RELOAD_RUNNING, r->message, r->served_not_after);
        if (action == RELOAD_ACTION_NONE) {
                round_check(r);
                return;
        }
        k = hook_start(r->event, cc, action == RELOAD_ACTION_RESTART ? cc->restart_command : NULL,
                       action == RELOAD_ACTION_RESTART ? "restart command" : "reload hook", r->settings.timeout_usec,
                       &r->hooks, on_action_done, r);
        if (k < 0) {
                (void) snprintf(msg, sizeof(msg), "cannot run the %s: %s",
                                action == RELOAD_ACTION_RESTART ? "restart command" : "reload hook", strerror(-k));
                round_failed(r, msg, r->served_not_after);
        } else if (k == 0)
                round_check(r);
}

void reload_request(Reload *r, unsigned changes) {
        if (changes == 0)
                return;
        r->pending |= changes;
        round_start(r);
}

int reload_new(sd_event *event, const ReloadSettings *settings, ReloadChangedHandler handler, void *userdata,
               Reload **ret) {
        Reload *r = calloc(1, sizeof(*r));

        if (!r)
                return -ENOMEM;
        r->event = sd_event_ref(event);
        r->settings = *settings;
        r->handler = handler;
        r->userdata = userdata;
        r->probe_fd = -EBADF;
        *ret = r;
        return 0;
}

void reload_set_settings(Reload *r, const ReloadSettings *settings) {
        r->settings = *settings;
        if (r->state == RELOAD_NEEDS_RESTART && r->settings.config->restart_command)
                round_start(r);
}

Reload *reload_free(Reload *r) {
        if (!r)
                return NULL;
        hook_free_all(&r->hooks);
        child_free(r->probe);
        safe_close(r->probe_fd);
        sd_event_source_disable_unref(r->retry_source);
        sd_event_source_disable_unref(r->probe_timeout);
        sd_event_unref(r->event);
        free(r->message);
        free(r);
        return NULL;
}

ReloadState reload_state(const Reload *r) {
        return r->state;
}

const char *reload_message(const Reload *r) {
        return r->message;
}

uint64_t reload_served_not_after(const Reload *r) {
        return r->served_not_after;
}

unsigned reload_failures(const Reload *r) {
        return r->failures;
}

unsigned reload_failures_total(const Reload *r) {
        return r->failures_total;
}

unsigned reload_actions_run(const Reload *r) {
        return r->actions_run;
}
