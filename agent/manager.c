/* SPDX-License-Identifier: Apache-2.0 */
/* The daemon's loop: provision with backoff, READY=1 when all is in place, then renew, watch, re-check. */
#include <dirent.h>
#include <fcntl.h>
#include <math.h>
#include <signal.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>

#include <cjson/cJSON.h>
#include <systemd/sd-daemon.h>

#include "build-config.h"
#include "bus.h"
#include "log.h"
#include "manager.h"
#include "pki.h"
#include "profile.h"
#include "provision.h"
#include "volume.h"

DEFINE_TRIVIAL_CLEANUP_FUNC(cJSON *, cJSON_Delete);

#define CHANGE_DELAY_USEC (500 * USEC_PER_MSEC)   /* coalesces a burst of Secret events */

struct Hook {
        Manager *manager;
        char *certificate;
        pid_t pid;
        uint64_t started;
        sd_event_source *child_source;
        sd_event_source *timeout_source;
        Hook *next;
};

static const char * const manager_state_table[_MANAGER_STATE_MAX] = {
        [MANAGER_STARTING] = "starting",
        [MANAGER_WAITING] = "waiting",
        [MANAGER_READY] = "ready",
        [MANAGER_DEGRADED] = "degraded",
        [MANAGER_STOPPING] = "stopping",
        [MANAGER_STOPPED] = "stopped",
};

static const char * const item_state_table[_ITEM_STATE_MAX] = {
        [ITEM_PENDING] = "pending",
        [ITEM_READY] = "ready",
        [ITEM_FAILED] = "failed",
};

const char *manager_state_to_string(ManagerState s) {
        return (int) s >= 0 && s < _MANAGER_STATE_MAX ? manager_state_table[s] : NULL;
}

const char *item_state_to_string(ItemState s) {
        return (int) s >= 0 && s < _ITEM_STATE_MAX ? item_state_table[s] : NULL;
}

/* ---- pure parts ---- */

uint64_t manager_backoff_usec(const RetryConfig *r, unsigned attempt, double random01) {
        double d = (double) r->initial_usec;

        for (unsigned i = 1; i < attempt && d < (double) r->max_usec; i++)
                d *= r->multiplier;
        if (d > (double) r->max_usec)
                d = (double) r->max_usec;
        if (random01 < 0.0 || !(random01 < 1.0))
                random01 = 0.0;
        /* Jitter only shortens the wait: the configured maximum stays a maximum. */
        d -= d * r->jitter * random01;
        return d < 1.0 ? 1 : (uint64_t) d;
}

uint64_t manager_renewal_jitter(uint64_t renew_at, uint64_t not_after, uint64_t jitter_max, double random01) {
        uint64_t spread = not_after > renew_at ? (not_after - renew_at) / 10 : 0;

        spread = MIN(spread, jitter_max);
        if (random01 < 0.0 || !(random01 < 1.0))
                random01 = 0.0;
        return renew_at + (uint64_t) ((double) spread * random01);
}

static double random_unit(void) {
        uint32_t x = 0;
        if (random_bytes(&x, sizeof(x)) < 0)
                return 0.5;
        return (double) x / 4294967296.0;
}

static uint64_t now_usec(clockid_t clock) {
        struct timespec ts;
        (void) clock_gettime(clock, &ts);
        return (uint64_t) ts.tv_sec * USEC_PER_SEC + (uint64_t) ts.tv_nsec / 1000;
}

static void format_usec_time(uint64_t usec, char *buf, size_t size) {
        time_t t = (time_t) (usec / USEC_PER_SEC);
        struct tm tm;

        if (usec == 0 || !gmtime_r(&t, &tm) || strftime(buf, size, "%Y-%m-%d %H:%M:%S UTC", &tm) == 0)
                (void) snprintf(buf, size, "n/a");
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

/* Integers as integers: cJSON would print a µs timestamp as 1.8e+15. */
static bool add_u64(cJSON *o, const char *name, uint64_t v) {
        char buf[32];
        (void) snprintf(buf, sizeof(buf), "%llu", (unsigned long long) v);
        return cJSON_AddRawToObject(o, name, buf) != NULL;
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
            !add_u64(root, "pid", (uint64_t) getpid()) ||
            !add_u64(root, "attempt", m->attempt) ||
            !add_u64(root, "ca_not_after", m->ca_not_after) ||
            !add_u64(root, "hooks_run", m->hooks_run))
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
                    !add_u64(o, "not_after", cs->not_after) ||
                    !add_u64(o, "renew_at", cs->renew_at))
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
        (void) bus_publish(m);
}

static void set_state(Manager *m, ManagerState s) {
        m->state = s;
        m->ready = s == MANAGER_READY;
}

/* ---- reload hooks ---- */

static Hook *hook_free(Hook *h) {
        if (!h)
                return NULL;
        sd_event_source_disable_unref(h->child_source);
        sd_event_source_disable_unref(h->timeout_source);
        free(h->certificate);
        free(h);
        return NULL;
}

static void hook_remove(Hook *h) {
        Manager *m = h->manager;
        for (Hook **p = &m->hooks; *p; p = &(*p)->next)
                if (*p == h) {
                        *p = h->next;
                        break;
                }
        hook_free(h);
}

static int on_hook_exit(sd_event_source *s, const siginfo_t *si, void *userdata) {
        Hook *h = userdata;
        double secs = (double) (now_usec(CLOCK_MONOTONIC) - h->started) / USEC_PER_SEC;

        if (si->si_code == CLD_EXITED && si->si_status == 0)
                log_info("Certificate %s: reload hook (pid %d) succeeded in %.1f s.", h->certificate, (int) h->pid,
                         secs);
        else if (si->si_code == CLD_EXITED)
                log_warning("Certificate %s: reload hook (pid %d) exited with status %d after %.1f s.",
                            h->certificate, (int) h->pid, si->si_status, secs);
        else
                log_warning("Certificate %s: reload hook (pid %d) killed by signal %s after %.1f s.", h->certificate,
                            (int) h->pid, strsignal(si->si_status), secs);
        h->manager->hooks_run++;
        hook_remove(h);
        return 0;
}

static int on_hook_timeout(sd_event_source *s, uint64_t usec, void *userdata) {
        Hook *h = userdata;

        log_warning("Certificate %s: reload hook (pid %d) still running after %.0f s, killing it.", h->certificate,
                    (int) h->pid, (double) h->manager->config->daemon.hook_timeout_usec / USEC_PER_SEC);
        (void) kill(h->pid, SIGKILL);
        return 0;
}

/* Runs cc's reload hook: the reload_command argv, else the profile's hook from the hooks directory.
 * The hook gets the file paths in its environment, and nothing else of ours. */
static int run_reload_hook(Manager *m, const CertificateConfig *cc) {
        static const int default_signals[] = { SIGCHLD, SIGHUP, SIGINT, SIGTERM, SIGPIPE };
        _cleanup_(profile_files_done) ProfileFiles f = PROFILE_FILES_NULL;
        _cleanup_free_ char *hook_path = NULL, *e_name = NULL, *e_dir = NULL, *e_cert = NULL, *e_key = NULL,
                            *e_ca = NULL, *e_profile = NULL;
        const Profile *p = profile_get(cc->profile);
        posix_spawn_file_actions_t fa;
        posix_spawnattr_t attr;
        sigset_t mask;
        char **argv, *default_argv[2] = {};
        Hook *h;
        pid_t pid;
        int r;

        if (!cc->reload)
                return 0;
        if (cc->reload_command)
                argv = cc->reload_command;
        else {
                if (!p || !p->reload_hook)
                        return 0;
                if (asprintf(&hook_path, "%s/%s", NODESEAL_HOOKS_DIR, p->reload_hook) < 0)
                        return log_oom();
                default_argv[0] = hook_path;
                argv = default_argv;
        }
        r = profile_files_paths(cc, &f);
        if (r < 0)
                return log_oom();
        if (asprintf(&e_name, "NODESEAL_CERTIFICATE=%s", cc->name) < 0 ||
            asprintf(&e_dir, "NODESEAL_DIRECTORY=%s", cc->directory) < 0 ||
            asprintf(&e_cert, "NODESEAL_CERT_FILE=%s", f.cert_path) < 0 ||
            asprintf(&e_key, "NODESEAL_KEY_FILE=%s", f.key_path) < 0 ||
            asprintf(&e_ca, "NODESEAL_CA_FILE=%s", f.ca_path) < 0 ||
            asprintf(&e_profile, "NODESEAL_PROFILE=%s", profile_type_to_string(cc->profile)) < 0)
                return log_oom();
        char *envp[] = { (char *) "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
                         (char *) "LC_ALL=C", e_name, e_dir, e_cert, e_key, e_ca, e_profile, NULL };

        sigemptyset(&mask);
        posix_spawnattr_init(&attr);
        posix_spawnattr_setsigmask(&attr, &mask);
        for (size_t i = 0; i < ELEMENTSOF(default_signals); i++)
                sigaddset(&mask, default_signals[i]);
        posix_spawnattr_setsigdefault(&attr, &mask);
        posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
        posix_spawn_file_actions_init(&fa);
        posix_spawn_file_actions_addopen(&fa, STDIN_FILENO, "/dev/null", O_RDONLY, 0);

        r = posix_spawn(&pid, argv[0], &fa, &attr, argv, envp);
        posix_spawn_file_actions_destroy(&fa);
        posix_spawnattr_destroy(&attr);
        if (r != 0)
                return log_warning_errno(-r, "Certificate %s: failed to run reload hook %s: %m", cc->name, argv[0]);
        log_info("Certificate %s: running reload hook %s (pid %d).", cc->name, argv[0], (int) pid);

        h = calloc(1, sizeof(*h));
        if (!h || !(h->certificate = strdup(cc->name))) {
                free(h);
                return log_oom();
        }
        h->manager = m;
        h->pid = pid;
        h->started = now_usec(CLOCK_MONOTONIC);
        h->next = m->hooks;
        m->hooks = h;
        r = sd_event_add_child(m->event, &h->child_source, pid, WEXITED, on_hook_exit, h);
        if (r >= 0)
                r = sd_event_add_time_relative(m->event, &h->timeout_source, CLOCK_MONOTONIC,
                                               m->config->daemon.hook_timeout_usec, 0, on_hook_timeout, h);
        if (r < 0) {
                (void) kill(pid, SIGKILL);
                hook_remove(h);
                return log_warning_errno(r, "Certificate %s: failed to watch the reload hook: %m", cc->name);
        }
        return 1;
}

/* ---- item status ---- */

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

static char *certificate_stamp(const CertificateConfig *cc) {
        _cleanup_(profile_files_done) ProfileFiles f = PROFILE_FILES_NULL;
        if (profile_files_paths(cc, &f) < 0)
                return NULL;
        return file_stamp(f.cert_path);
}

static int read_trust(Manager *m, char **ret) {
        _cleanup_free_ char *path = NULL;
        if (m->ca_pem) {
                char *s = strdup(m->ca_pem);
                if (!s)
                        return -ENOMEM;
                *ret = s;
                return 0;
        }
        if (asprintf(&path, "%s/%s", m->config->runtime_dir, PROVISION_CA_FILE) < 0)
                return -ENOMEM;
        return read_full_file(path, 1024 * 1024, ret, NULL);
}

/* Looks at every volume and certificate without changing anything. Returns 0 when all are in
 * place, else the first problem (error says which). */
static int refresh_items(Manager *m, NsError *error) {
        _cleanup_free_ char *trust = NULL;
        int first = 0, r;

        for (size_t i = 0; i < m->n_volumes; i++) {
                VolumeStatus *v = m->volumes + i;
                NsError e = {};

                r = volume_check(m->config, v->config, &e);
                v->state = r >= 0 ? ITEM_READY : ITEM_FAILED;
                if (r < 0 && first == 0) {
                        first = ns_error_set(error, r, "Volume %s: %s", v->config->name, ns_error_message(&e, r));
                }
        }

        if (m->n_certificates > 0 && read_trust(m, &trust) < 0)
                trust = NULL;
        for (size_t i = 0; i < m->n_certificates; i++) {
                CertificateStatus *cs = m->certificates + i;
                uint64_t not_after = 0, renew_at = 0;
                NsError e = {};

                if (!trust) {
                        cs->state = ITEM_PENDING;
                        if (first == 0)
                                first = ns_error_set(error, -ENOENT, "Certificate %s: no CA yet", cs->config->name);
                        continue;
                }
                r = certificate_check(m->config, cs->config, trust, 0, &not_after, &renew_at, &e);
                if (r < 0) {
                        cs->state = r == -ENOENT ? ITEM_PENDING : ITEM_FAILED;
                        if (first == 0)
                                first = ns_error_set(error, r, "Certificate %s: %s", cs->config->name,
                                                     ns_error_message(&e, r));
                        continue;
                }
                cs->state = ITEM_READY;
                cs->not_after = not_after;
                cs->renew_at = renew_at;
                if (cs->jitter_for != not_after) {
                        cs->jitter = manager_renewal_jitter(renew_at, not_after,
                                                            m->config->daemon.renew_jitter_usec, random_unit()) -
                                     renew_at;
                        cs->jitter_for = not_after;
                }
        }
        return first;
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

/* The earliest renewal of any certificate, on the wall clock (certificates live there). */
static int schedule_renewal(Manager *m, uint64_t *ret_when) {
        uint64_t when = UINT64_MAX, now = now_usec(CLOCK_REALTIME);
        const char *which = NULL;

        for (size_t i = 0; i < m->n_certificates; i++) {
                const CertificateStatus *cs = m->certificates + i;
                uint64_t t;

                if (cs->state != ITEM_READY || cs->renew_at == 0)
                        continue;
                t = cs->renew_at + cs->jitter;
                if (t <= now) {
                        /* It expires with the CA: no new certificate could do better, and provision
                         * keeps it. A replaced CA comes through the watch (or the poll); nothing to
                         * schedule until then. */
                        if (m->ca_issue_limit != 0 && cs->not_after >= m->ca_issue_limit)
                                continue;
                        /* Just provisioned and already in its window, though it ends before the CA:
                         * it started at the CA's notBefore (a CA younger than the clock skew), or the
                         * window is most of its life. Reissuing in a tight loop would not help. */
                        log_warning("Certificate %s: in its renewal window right after issuing (a CA issued "
                                    "minutes ago, or renew_fraction near 1?); next try in %.0f s.",
                                    cs->config->name, (double) m->config->retry.max_usec / USEC_PER_SEC);
                        t = now + m->config->retry.max_usec;
                }
                if (t < when) {
                        when = t;
                        which = cs->config->name;
                }
        }
        if (!which) {
                if (m->renew_source)
                        (void) sd_event_source_set_enabled(m->renew_source, SD_EVENT_OFF);
                *ret_when = 0;
                return 0;
        }
        log_debug("Next renewal: certificate %s in %.1f s.", which, (double) (when - now) / USEC_PER_SEC);
        *ret_when = when;
        return schedule(m, &m->renew_source, CLOCK_REALTIME, when, on_renew, "certificate renewal");
}

static void ready_status(Manager *m, uint64_t renew_when, char *buf, size_t size) {
        char when[64];

        format_usec_time(renew_when, when, sizeof(when));
        if (renew_when)
                (void) snprintf(buf, size, "Ready: %zu volume(s) and %zu certificate(s) in place; next renewal %s.",
                                m->n_volumes, m->n_certificates, when);
        else
                (void) snprintf(buf, size, "Ready: %zu volume(s) and %zu certificate(s) in place.", m->n_volumes,
                                m->n_certificates);
}

/* ---- one attempt ---- */

static int renew_all(Manager *m, Ca **ret_ca, NsError *error) {
        _cleanup_(ca_freep) Ca *ca = NULL;
        int r;

        /* The volumes first, as always; then every certificate anew with the current CA. */
        r = provision_all(m->config, m->source, &ca, error);
        if (r < 0)
                return r;
        for (size_t i = 0; i < m->config->n_certificates; i++) {
                const CertificateConfig *cc = m->config->certificates + i;

                r = certificate_provision_full(m->config, cc, ca, true, NULL, error);
                if (r < 0)
                        return ns_error_prefix(error, r, "Certificate %s", cc->name);
                log_info("Certificate %s: renewed on request.", cc->name);
        }
        *ret_ca = TAKE_PTR(ca);
        return 1;
}

static void watch_secrets(Manager *m);
static uint64_t secrets_stamp(Manager *m);

int manager_reconcile(Manager *m, bool renew) {
        _cleanup_(ca_freep) Ca *ca = NULL;
        _cleanup_free_ char *failure = NULL;
        NsError error = {}, state_error = {};
        char status[1536];
        int r, result;

        if (m->state == MANAGER_STOPPING)
                return -ESHUTDOWN;
        if (m->retry_source)
                (void) sd_event_source_set_enabled(m->retry_source, SD_EVENT_OFF);
        m->next_attempt = 0;

        for (size_t i = 0; i < m->n_certificates; i++) {
                free(m->certificates[i].stamp);
                m->certificates[i].stamp = certificate_stamp(m->certificates[i].config);
        }
        /* Before reading the Secrets: a change while this attempt runs is then seen by the next poll. */
        if (m->config->secrets.type == SECRET_SOURCE_DIRECTORY)
                m->secrets_stamp = secrets_stamp(m);

        if (renew)
                r = renew_all(m, &ca, &error);
        else
                r = provision_all(m->config, m->source, m->n_certificates > 0 ? &ca : NULL, &error);
        result = r;

        if (ca) {
                _cleanup_free_ char *pem = NULL;
                if (ca_trust_pem(ca, &pem) >= 0) {
                        free(m->ca_pem);
                        m->ca_pem = TAKE_PTR(pem);
                }
                m->ca_not_after = ca_not_after(ca);
                m->ca_issue_limit = ca_issue_limit(ca);
                ca = ca_free(ca);   /* its key is not needed until the next attempt */
        }

        (void) refresh_items(m, &state_error);
        if (r >= 0 && ns_error_is_set(&state_error)) {
                /* Provisioned, yet the result does not check out: that is a failure too. */
                r = state_error.code;
                error = state_error;
        }

        /* A certificate whose file changed gets its datastore's hook, whatever happened after. */
        for (size_t i = 0; i < m->n_certificates; i++) {
                CertificateStatus *cs = m->certificates + i;
                _cleanup_free_ char *now = certificate_stamp(cs->config);

                if (now && (!cs->stamp || !streq(now, cs->stamp)) && cs->state == ITEM_READY)
                        (void) run_reload_hook(m, cs->config);
        }

        watch_secrets(m);

        if (r < 0) {
                uint64_t delay;

                failure = strdup(ns_error_message(&error, r));
                if (!failure)
                        return log_oom();
                (void) free_and_strdup(&m->last_error, failure);
                m->attempt++;
                delay = manager_backoff_usec(&m->config->retry, m->attempt, random_unit());
                set_state(m, m->ever_ready ? MANAGER_DEGRADED : MANAGER_WAITING);

                if (m->config->retry.max_attempts > 0 && m->attempt >= m->config->retry.max_attempts &&
                    !m->ever_ready) {
                        log_error("Giving up after %u attempt(s): %s", m->attempt, failure);
                        (void) snprintf(status, sizeof(status), "Failed after %u attempt(s): %s", m->attempt, failure);
                        manager_publish(m, status);
                        m->exit_code = 1;
                        return sd_event_exit(m->event, 1);
                }

                log_warning("%s: %s; next attempt in %.1f s.", m->ever_ready ? "Degraded" : "Not ready", failure,
                            (double) delay / USEC_PER_SEC);
                (void) snprintf(status, sizeof(status), "%s %s; next attempt in %.0f s (attempt %u).",
                                m->ever_ready ? "Degraded, retrying:" : "Waiting:", failure,
                                ceil((double) delay / USEC_PER_SEC), m->attempt);
                m->next_attempt = now_usec(CLOCK_MONOTONIC) + delay;
                (void) schedule(m, &m->retry_source, CLOCK_MONOTONIC, m->next_attempt, on_retry,
                                "provisioning retry");
                manager_publish(m, status);
                return r;
        }

        uint64_t renew_when = 0;
        (void) schedule_renewal(m, &renew_when);
        ready_status(m, renew_when, status, sizeof(status));
        if (m->attempt > 0 || !m->ever_ready)
                log_info("%s", status);
        m->attempt = 0;
        set_state(m, MANAGER_READY);
        manager_publish(m, status);
        if (!m->ever_ready || m->reloading) {
                m->ever_ready = true;
                m->reloading = false;
                (void) sd_notifyf(false, "READY=1\nSTATUS=%s", status);
        }
        return result;
}

static int on_retry(sd_event_source *s, uint64_t usec, void *userdata) {
        (void) manager_reconcile(userdata, false);
        return 0;
}

static int on_renew(sd_event_source *s, uint64_t usec, void *userdata) {
        log_info("A certificate reached its renewal point.");
        (void) manager_reconcile(userdata, false);
        return 0;
}

static int on_recheck(sd_event_source *s, uint64_t usec, void *userdata) {
        Manager *m = userdata;
        NsError error = {};
        int r;

        (void) sd_event_source_set_time_relative(s, m->config->daemon.recheck_usec);
        (void) sd_event_source_set_enabled(s, SD_EVENT_ON);
        if (m->state != MANAGER_READY)
                return 0;   /* a retry is already scheduled */
        r = refresh_items(m, &error);
        if (r < 0) {
                log_warning("Re-check: %s; provisioning again.", ns_error_message(&error, r));
                (void) manager_reconcile(m, false);
        } else
                manager_publish(m, m->status_text);
        return 0;
}

/* ---- noticing changed Secrets ---- */

static int on_changed(sd_event_source *s, uint64_t usec, void *userdata) {
        Manager *m = userdata;
        log_info("The Secrets changed; provisioning again.");
        (void) manager_reconcile(m, false);
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

static uint64_t fnv1a(uint64_t h, const void *p, size_t n) {
        const uint8_t *b = p;
        for (size_t i = 0; i < n; i++) {
                h ^= b[i];
                h *= UINT64_C(0x100000001b3);
        }
        return h;
}

/* A digest of what a directory Secret looks like from outside: names, inodes, sizes and times of
 * its entries (following the ..data symlink a mounted Secret swaps). Contents are never read here. */
static uint64_t directory_secret_stamp(const char *root, const char *secret, uint64_t h) {
        _cleanup_free_ char *dir = NULL;
        DIR *d;
        struct dirent *de;

        if (asprintf(&dir, "%s/%s", root, secret) < 0)
                return h;
        h = fnv1a(h, dir, strlen(dir) + 1);
        d = opendir(dir);
        if (!d)
                return fnv1a(h, "-", 1);
        while ((de = readdir(d))) {
                struct stat st;
                uint64_t v[5];

                if (streq(de->d_name, ".") || streq(de->d_name, ".."))
                        continue;
                if (fstatat(dirfd(d), de->d_name, &st, 0) < 0)
                        continue;
                v[0] = st.st_ino;
                v[1] = (uint64_t) st.st_size;
                v[2] = (uint64_t) st.st_mtim.tv_sec * 1000000000u + (uint64_t) st.st_mtim.tv_nsec;
                v[3] = (uint64_t) st.st_ctim.tv_sec * 1000000000u + (uint64_t) st.st_ctim.tv_nsec;
                v[4] = st.st_mode;
                /* readdir order is stable for an unchanged directory; XOR keeps it order-free anyway. */
                h ^= fnv1a(fnv1a(UINT64_C(0xcbf29ce484222325), de->d_name, strlen(de->d_name)), v, sizeof(v));
        }
        closedir(d);
        return h;
}

static uint64_t secrets_stamp(Manager *m) {
        uint64_t h = UINT64_C(0xcbf29ce484222325);
        h = directory_secret_stamp(m->config->secrets.directory, m->config->secrets.ca_secret, h);
        if (m->config->n_volumes > 0)
                h = directory_secret_stamp(m->config->secrets.directory, m->config->secrets.keys_secret, h);
        return h;
}

static int on_poll(sd_event_source *s, uint64_t usec, void *userdata) {
        Manager *m = userdata;
        uint64_t h = secrets_stamp(m);

        (void) sd_event_source_set_time_relative(s, m->config->daemon.poll_usec);
        (void) sd_event_source_set_enabled(s, SD_EVENT_ON);
        if (h != m->secrets_stamp) {
                m->secrets_stamp = h;
                secrets_changed_soon(m);
        }
        return 0;
}

static void watch_secrets(Manager *m) {
        char *names[3] = {};
        NsError error = {};
        int r;

        if (m->config->secrets.type == SECRET_SOURCE_DIRECTORY) {
                /* No watch for a directory: look at the files' metadata now and then (the stamp
                 * to compare with was taken before the attempt read them). */
                if (!m->poll_source) {
                        r = sd_event_add_time_relative(m->event, &m->poll_source, CLOCK_MONOTONIC,
                                                       m->config->daemon.poll_usec, 0, on_poll, m);
                        if (r < 0)
                                log_warning_errno(r, "Failed to set up polling of %s: %m",
                                                  m->config->secrets.directory);
                        else
                                (void) sd_event_source_set_enabled(m->poll_source, SD_EVENT_ON);
                }
                return;
        }
        if (m->watching)
                return;

        names[0] = m->config->secrets.ca_secret;
        if (m->config->n_volumes > 0)
                names[1] = m->config->secrets.keys_secret;
        r = secret_source_watch(m->source, m->event, names, on_secret_changed, m, &error);
        if (r < 0) {
                log_warning_errno(r, "Not watching the Secrets (re-checking every %.0f s instead): %s",
                                  (double) m->config->daemon.recheck_usec / USEC_PER_SEC, ns_error_message(&error, r));
                return;
        }
        m->watching = true;
}

/* ---- signals ---- */

static int manager_load_state(Manager *m, Config *c);

static int on_sighup(sd_event_source *s, const struct signalfd_siginfo *si, void *userdata) {
        Manager *m = userdata;
        _cleanup_(config_freep) Config *c = NULL;
        NsError error = {};
        int r;

        log_info("Reloading the configuration.");
        (void) sd_notify(false, "RELOADING=1\nSTATUS=Reloading the configuration.");
        m->reloading = true;
        r = config_load(m->config_path, &c, &error);
        if (r < 0) {
                log_error_errno(r, "Keeping the old configuration: %s", ns_error_message(&error, r));
                (void) free_and_strdup(&m->last_error, ns_error_message(&error, r));
        } else {
                r = manager_load_state(m, TAKE_PTR(c));
                if (r < 0)
                        log_error_errno(r, "Failed to apply the new configuration: %m");
                else
                        log_info("Configuration reloaded: %zu volume(s), %zu certificate(s).", m->n_volumes,
                                 m->n_certificates);
        }
        if (manager_reconcile(m, false) < 0 && m->reloading) {
                /* The reload itself is over even when provisioning is not. */
                m->reloading = false;
                (void) sd_notifyf(false, "READY=1\nSTATUS=%s", strempty(m->status_text));
        }
        return 0;
}

static int on_sigterm(sd_event_source *s, const struct signalfd_siginfo *si, void *userdata) {
        Manager *m = userdata;

        log_info("Stopping (%s).", strsignal((int) si->ssi_signo));
        set_state(m, MANAGER_STOPPING);
        (void) sd_notify(false, "STOPPING=1\nSTATUS=Stopping.");
        manager_publish(m, "Stopping.");
        if (m->config->daemon.close_on_stop && m->n_volumes > 0) {
                NsError error = {};
                int r = close_all(m->config, &error);
                if (r < 0) {
                        log_error_errno(r, "Failed to close the volumes: %s", ns_error_message(&error, r));
                        m->exit_code = 1;
                } else
                        log_info("Volumes closed.");
        }
        return sd_event_exit(m->event, 0);
}

/* ---- life cycle ---- */

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
        for (size_t i = 0; i < config->n_certificates; i++)
                certs[i].config = config->certificates + i;

        for (size_t i = 0; i < m->n_certificates; i++)
                free(m->certificates[i].stamp);
        free(m->certificates);
        free(m->volumes);
        m->volumes = vols;
        m->n_volumes = config->n_volumes;
        m->certificates = certs;
        m->n_certificates = config->n_certificates;

        /* The watch and the poll belong to the old source and its settings. */
        m->poll_source = sd_event_source_disable_unref(m->poll_source);
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
        while (m->hooks) {
                Hook *h = m->hooks;
                m->hooks = h->next;
                hook_free(h);
        }
        bus_close(m);
        sd_event_source_disable_unref(m->retry_source);
        sd_event_source_disable_unref(m->renew_source);
        sd_event_source_disable_unref(m->recheck_source);
        sd_event_source_disable_unref(m->poll_source);
        sd_event_source_disable_unref(m->changed_source);
        sd_event_source_disable_unref(m->bus_retry_source);
        secret_source_free(m->source);
        for (size_t i = 0; i < m->n_certificates; i++)
                free(m->certificates[i].stamp);
        free(m->certificates);
        free(m->volumes);
        config_free(m->config);
        sd_event_unref(m->event);
        free(m->status_text);
        free(m->last_error);
        free(m->ca_pem);
        for (size_t i = 0; i < ELEMENTSOF(m->published); i++)
                free(m->published[i]);
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

        manager_publish(m, "Provisioning.");
        (void) manager_reconcile(m, false);

        r = sd_event_loop(m->event);
        if (r < 0)
                return log_error_errno(r, "Event loop failed: %m");

        set_state(m, MANAGER_STOPPED);
        manager_publish(m, r > 0 ? "Gave up." : "Stopped.");
        return m->exit_code ? m->exit_code : r;
}
