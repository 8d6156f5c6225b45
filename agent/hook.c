/* SPDX-License-Identifier: Apache-2.0 */
/* Reload hooks after a certificate changed: an argv, the file paths in the environment, nothing else of ours. */
#include <signal.h>

#include "build-config.h"
#include "child.h"
#include "hook.h"
#include "log.h"
#include "profile.h"

struct Hook {
        Hook **list;
        char *certificate;
        const char *what;
        Child *child;
        uint64_t timeout_usec;
        sd_event_source *timeout_source;
        void (*on_done)(void *userdata, bool ok, const char *how);
        void *userdata;
        Hook *next;
};

static Hook *hook_free(Hook *h) {
        if (!h)
                return NULL;
        child_free(h->child);
        sd_event_source_disable_unref(h->timeout_source);
        free(h->certificate);
        free(h);
        return NULL;
}

void hook_free_all(Hook **list) {
        while (*list) {
                Hook *h = *list;
                *list = h->next;
                hook_free(h);
        }
}

static void hook_unlink(Hook *h) {
        for (Hook **p = h->list; *p; p = &(*p)->next)
                if (*p == h) {
                        *p = h->next;
                        break;
                }
}

static void on_hook_exit(Child *c, const siginfo_t *si, void *userdata) {
        Hook *h = userdata;
        double secs = (double) child_runtime_usec(c) / USEC_PER_SEC;
        char how[64];

        bool ok = si->si_code == CLD_EXITED && si->si_status == 0;

        child_describe_exit(si, how, sizeof(how));
        if (ok)
                log_info("Certificate %s: %s (pid %d) succeeded in %.1f s.", h->certificate, h->what,
                         (int) child_pid(c), secs);
        else
                log_warning("Certificate %s: %s (pid %d) %s after %.1f s.", h->certificate, h->what,
                            (int) child_pid(c), how, secs);
        /* Off the list first: on_done may start the next one. */
        hook_unlink(h);
        if (h->on_done)
                h->on_done(h->userdata, ok, how);
        hook_free(h);
}

static int on_hook_timeout(sd_event_source *s, uint64_t usec, void *userdata) {
        Hook *h = userdata;

        log_warning("Certificate %s: %s (pid %d) still running after %.0f s, killing it.", h->certificate, h->what,
                    (int) child_pid(h->child), (double) h->timeout_usec / USEC_PER_SEC);
        (void) child_stop(h->child, CHILD_STOP_GRACE_USEC);
        return 0;
}

/* The hook's argv: reload_command, else the profile's hook in the hooks directory; NULL: none. */
static int hook_argv(const CertificateConfig *cc, char **buf, char ***ret) {
        const Profile *p = profile_get(cc->profile);

        if (!cc->reload)
                return 0;
        if (cc->reload_command) {
                *ret = cc->reload_command;
                return 1;
        }
        if (!p || !p->reload_hook)
                return 0;
        if (asprintf(&buf[0], "%s/%s", NODESEAL_HOOKS_DIR, p->reload_hook) < 0)
                return -ENOMEM;
        *ret = buf;
        return 1;
}

bool hook_exists(const CertificateConfig *cc) {
        const Profile *p = profile_get(cc->profile);
        return cc->reload && (cc->reload_command || (p && p->reload_hook));
}

static int hook_spawn(sd_event *event, const CertificateConfig *cc, char **argv, Hook *h) {
        _cleanup_(profile_files_done) ProfileFiles f = PROFILE_FILES_NULL;
        _cleanup_free_ char *e_name = NULL, *e_dir = NULL, *e_cert = NULL, *e_key = NULL, *e_ca = NULL,
                            *e_profile = NULL;

        if (profile_files_paths(cc, &f) < 0 || asprintf(&e_name, "NODESEAL_CERTIFICATE=%s", cc->name) < 0 ||
            asprintf(&e_dir, "NODESEAL_DIRECTORY=%s", cc->directory) < 0 ||
            asprintf(&e_cert, "NODESEAL_CERT_FILE=%s", f.cert_path) < 0 ||
            asprintf(&e_key, "NODESEAL_KEY_FILE=%s", f.key_path) < 0 ||
            asprintf(&e_ca, "NODESEAL_CA_FILE=%s", f.ca_path) < 0 ||
            asprintf(&e_profile, "NODESEAL_PROFILE=%s", profile_type_to_string(cc->profile)) < 0)
                return -ENOMEM;
        char *envp[] = { (char *) "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
                         (char *) "LC_ALL=C", e_name, e_dir, e_cert, e_key, e_ca, e_profile, NULL };
        ChildSpec spec = { .argv = argv, .envp = envp };
        return child_spawn(event, &spec, on_hook_exit, h, &h->child);
}

int hook_start(sd_event *event, const CertificateConfig *cc, char **argv, const char *what, uint64_t timeout_usec,
               Hook **list, void (*on_done)(void *userdata, bool ok, const char *how), void *userdata) {
        _cleanup_free_ char *path = NULL;
        char *default_argv[2] = {};
        Hook *h;
        int r;

        if (!argv) {
                r = hook_argv(cc, default_argv, &argv);
                path = default_argv[0];
                if (r <= 0)
                        return r;
        }
        h = calloc(1, sizeof(*h));
        if (!h || !(h->certificate = strdup(cc->name))) {
                free(h);
                return -ENOMEM;
        }
        *h = (Hook) { .list = list, .certificate = h->certificate, .what = what, .timeout_usec = timeout_usec,
                      .on_done = on_done, .userdata = userdata };
        r = hook_spawn(event, cc, argv, h);
        if (r >= 0)
                r = sd_event_add_time_relative(event, &h->timeout_source, CLOCK_MONOTONIC, timeout_usec, 0,
                                               on_hook_timeout, h);
        if (r < 0) {
                hook_free(h);
                return log_warning_errno(r, "Certificate %s: failed to run %s %s: %m", cc->name, what, argv[0]);
        }
        log_info("Certificate %s: running %s %s (pid %d).", cc->name, what, argv[0], (int) child_pid(h->child));
        h->next = *list;
        *list = h;
        return 1;
}
