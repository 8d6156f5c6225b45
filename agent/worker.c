/* SPDX-License-Identifier: Apache-2.0 */
/* The daemon's attempts in worker processes: the daemon decides, the worker does. */
#include <fcntl.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/prctl.h>

#include "log.h"
#include "secure.h"
#include "worker.h"

#define WORKER_BINARY "/proc/self/exe"

extern char **environ;

struct Worker {
        Child *child;
        int report_fd;           /* memfd the worker writes its report to */
        WorkerDoneHandler handler;
        void *userdata;
};

/* Ours, less what belongs to the daemon alone: the worker must not notify systemd in its name. */
static char **worker_environment(void) {
        static const char * const drop[] = { "NOTIFY_SOCKET=", "WATCHDOG_USEC=", "WATCHDOG_PID=", "LISTEN_FDS=",
                                             "LISTEN_PID=", "LISTEN_FDNAMES=" };
        char **env = calloc(strv_length(environ) + 1, sizeof(char *));
        size_t n = 0;

        if (!env)
                return NULL;
        STRV_FOREACH(e, environ) {
                bool keep = true;
                for (size_t i = 0; i < ELEMENTSOF(drop); i++)
                        if (strneq(*e, drop[i], strlen(drop[i])))
                                keep = false;
                if (keep)
                        env[n++] = *e;
        }
        return env;
}

/* The configuration the daemon runs with, not whatever the file says now (a reload may have been
 * refused): its text goes to the worker in a memfd. */
static int config_memfd(const Config *c) {
        _cleanup_close_ int fd = memfd_create("nodeseal-config", MFD_CLOEXEC);
        size_t done = 0;

        if (fd < 0)
                return negative_errno();
        while (done < c->text_size) {
                ssize_t k = write(fd, c->text + done, c->text_size - done);
                if (k < 0 && errno != EINTR)
                        return negative_errno();
                done += k > 0 ? (size_t) k : 0;
        }
        return TAKE_FD(fd);
}

static int worker_spawn(Worker *w, sd_event *event, const Config *c, AttemptKind kind, int config_fd);

int worker_start(sd_event *event, const Config *c, AttemptKind kind, WorkerDoneHandler handler, void *userdata,
                 Worker **ret) {
        _cleanup_(worker_freep) Worker *w = NULL;
        _cleanup_close_ int config_fd = -EBADF;
        int r;

        w = calloc(1, sizeof(*w));
        if (!w)
                return -ENOMEM;
        w->report_fd = memfd_create("nodeseal-report", MFD_CLOEXEC);
        if (w->report_fd < 0)
                return negative_errno();
        config_fd = config_memfd(c);
        if (config_fd < 0)
                return config_fd;
        w->handler = handler;
        w->userdata = userdata;
        r = worker_spawn(w, event, c, kind, config_fd);
        if (r < 0)
                return r;
        *ret = TAKE_PTR(w);
        return 0;
}

static void on_worker_exit(Child *c, const siginfo_t *si, void *userdata);

static int worker_spawn(Worker *w, sd_event *event, const Config *c, AttemptKind kind, int config_fd) {
        _cleanup_free_ char **env = worker_environment();
        _cleanup_free_ char *attempt = NULL;
        const int fds[] = { w->report_fd, config_fd };
        const char *format = log_format_to_string(log_get_format()), *level = log_level_to_string(log_get_max_level());

        if (!env || asprintf(&attempt, "--attempt=%s", attempt_kind_to_string(kind)) < 0)
                return -ENOMEM;
        char *argv[] = { (char *) WORKER_BINARY, (char *) "-c", c->path, (char *) "--log-format", (char *) format,
                         (char *) "--log-level", (char *) level, (char *) "provision", (char *) "--report-fd=3",
                         (char *) "--config-fd=4", attempt, NULL };
        ChildSpec spec = {
                .argv = argv,
                .envp = env,
                .fds = fds,
                .n_fds = ELEMENTSOF(fds),
                .process_group = true,
        };
        return child_spawn(event, &spec, on_worker_exit, w, &w->child);
}

static int read_report(Worker *w, AttemptReport *ret, NsError *error) {
        _cleanup_free_ char *path = NULL, *json = NULL;
        size_t size = 0;
        int r;

        if (asprintf(&path, "/proc/self/fd/%d", w->report_fd) < 0)
                return -ENOMEM;
        r = read_full_file(path, ATTEMPT_REPORT_SIZE_MAX, &json, &size);
        if (r < 0)
                return ns_error_set(error, r, "cannot read its report: %s", strerror(-r));
        if (size == 0)
                return ns_error_set(error, -ENODATA, "it left no report");
        return attempt_report_from_json(json, size, ret, error);
}

static void on_worker_exit(Child *c, const siginfo_t *si, void *userdata) {
        Worker *w = userdata;
        AttemptReport report = {};
        NsError e = {}, error = {};
        char how[64];
        int r;

        child_describe_exit(si, how, sizeof(how));
        if (si->si_code == CLD_EXITED && si->si_status == 0) {
                r = read_report(w, &report, &e);
                if (r >= 0) {
                        w->handler(w, &report, NULL, w->userdata);
                        attempt_report_done(&report);
                        return;
                }
                (void) ns_error_set(&error, r, "The worker (pid %d) %s, but %s", (int) child_pid(c), how,
                                    ns_error_message(&e, r));
        } else
                (void) ns_error_set(&error, -ECHILD, "The worker (pid %d) %s after %.1f s", (int) child_pid(c), how,
                                    (double) child_runtime_usec(c) / USEC_PER_SEC);
        w->handler(w, NULL, &error, w->userdata);
}

int worker_stop(Worker *w) {
        return child_stop(w->child, CHILD_STOP_GRACE_USEC);
}

Worker *worker_free(Worker *w) {
        if (!w)
                return NULL;
        child_free(w->child);
        safe_close(w->report_fd);
        free(w);
        return NULL;
}

pid_t worker_pid(const Worker *w) {
        return child_pid(w->child);
}

/* ---- the worker's side ---- */

int worker_main(const Config *c, AttemptKind kind, int report_fd) {
        _cleanup_(attempt_report_done) AttemptReport report = {};
        _cleanup_free_ char *json = NULL;
        int r;

        /* An orphan has no one to report to: go with the daemon (steps converge after a kill). */
        if (prctl(PR_SET_PDEATHSIG, SIGTERM) < 0)
                return negative_errno();
        r = attempt_run(c, kind, &report);
        if (r < 0)
                return r;
        r = attempt_report_to_json(&report, &json);
        if (r < 0)
                return r;
        return write_full_fd(report_fd, json, strlen(json));
}
