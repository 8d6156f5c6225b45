/* SPDX-License-Identifier: Apache-2.0 */
/* The daemon's attempts in worker processes: the daemon decides, the worker does. */
#include <fcntl.h>
#include <sys/epoll.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/prctl.h>

#include "log.h"
#include "secure.h"
#include "time-util.h"
#include "volume-reencrypt.h"
#include "worker.h"

#define WORKER_BINARY "/proc/self/exe"

extern char **environ;

/* A progress line longer than this is not one of ours: dropped. */
#define PROGRESS_LINE_MAX 4096

struct Worker {
        Child *child;
        int report_fd;           /* memfd the worker writes its report to */
        int progress_fd;         /* the read end of its progress pipe, non-blocking */
        sd_event_source *progress_source;
        char line[PROGRESS_LINE_MAX];
        size_t line_size;
        bool line_overlong;      /* the line being read went past PROGRESS_LINE_MAX: skip to its end */
        WorkerDoneHandler handler;
        WorkerProgressHandler progress;
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

static int worker_spawn(Worker *w, sd_event *event, const Config *c, AttemptKind kind, int config_fd, int progress_fd);

/* Hands each whole line to the handler; reads what is there and returns, never waits. */
static void progress_drain(Worker *w) {
        for (;;) {
                char buf[1024];
                ssize_t k = read(w->progress_fd, buf, sizeof(buf));

                if (k < 0 && errno == EINTR)
                        continue;
                if (k <= 0)
                        return;
                for (ssize_t i = 0; i < k; i++) {
                        if (buf[i] != '\n') {
                                if (w->line_size < sizeof(w->line))
                                        w->line[w->line_size++] = buf[i];
                                else
                                        w->line_overlong = true;
                                continue;
                        }
                        if (!w->line_overlong && w->line_size > 0 && w->progress)
                                w->progress(w, w->line, w->line_size, w->userdata);
                        w->line_size = 0;
                        w->line_overlong = false;
                }
        }
}

static int on_progress(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        Worker *w = userdata;

        progress_drain(w);
        /* The worker is gone and the pipe empty: nothing more will come. */
        if (revents & (EPOLLHUP | EPOLLERR))
                (void) sd_event_source_set_enabled(s, SD_EVENT_OFF);
        return 0;
}

int worker_start(sd_event *event, const Config *c, AttemptKind kind, WorkerDoneHandler handler,
                 WorkerProgressHandler progress, void *userdata, Worker **ret) {
        _cleanup_(worker_freep) Worker *w = NULL;
        _cleanup_close_ int config_fd = -EBADF, progress_write = -EBADF;
        int r, pipe_fds[2];

        w = calloc(1, sizeof(*w));
        if (!w)
                return -ENOMEM;
        w->progress_fd = -EBADF;
        w->report_fd = memfd_create("nodeseal-report", MFD_CLOEXEC);
        if (w->report_fd < 0)
                return negative_errno();
        config_fd = config_memfd(c);
        if (config_fd < 0)
                return config_fd;
        /* Non-blocking both ways: the daemon never waits for a line, the worker never for the daemon. */
        if (pipe2(pipe_fds, O_CLOEXEC | O_NONBLOCK) < 0)
                return negative_errno();
        w->progress_fd = pipe_fds[0];
        progress_write = pipe_fds[1];
        r = sd_event_add_io(event, &w->progress_source, w->progress_fd, EPOLLIN, on_progress, w);
        if (r < 0)
                return r;
        (void) sd_event_source_set_description(w->progress_source, "worker progress");
        w->handler = handler;
        w->progress = progress;
        w->userdata = userdata;
        r = worker_spawn(w, event, c, kind, config_fd, progress_write);
        if (r < 0)
                return r;
        *ret = TAKE_PTR(w);
        return 0;
}

static void on_worker_exit(Child *c, const siginfo_t *si, void *userdata);

static int worker_spawn(Worker *w, sd_event *event, const Config *c, AttemptKind kind, int config_fd, int progress_fd) {
        _cleanup_free_ char **env = worker_environment();
        _cleanup_free_ char *attempt = NULL;
        const int fds[] = { w->report_fd, config_fd, progress_fd };
        const char *format = log_format_to_string(log_get_format()), *level = log_level_to_string(log_get_max_level());

        if (!env || asprintf(&attempt, "--attempt=%s", attempt_kind_to_string(kind)) < 0)
                return -ENOMEM;
        char *argv[] = { (char *) WORKER_BINARY, (char *) "-c", c->path, (char *) "--log-format", (char *) format,
                         (char *) "--log-level", (char *) level, (char *) "provision", (char *) "--report-fd=3",
                         (char *) "--config-fd=4", (char *) "--progress-fd=5", attempt, NULL };
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
        /* The last lines it wrote (a re-encryption paused or done) come before its end. */
        progress_drain(w);
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
        sd_event_source_disable_unref(w->progress_source);
        safe_close(w->progress_fd);
        safe_close(w->report_fd);
        free(w);
        return NULL;
}

pid_t worker_pid(const Worker *w) {
        return child_pid(w->child);
}

/* ---- the worker's side ---- */

int worker_main(const Config *c, AttemptKind kind, int report_fd, int progress_fd) {
        _cleanup_(attempt_report_done) AttemptReport report = {};
        _cleanup_free_ char *json = NULL;
        int r;

        /* An orphan has no one to report to: go with the daemon (steps converge after a kill). */
        if (prctl(PR_SET_PDEATHSIG, SIGTERM) < 0)
                return negative_errno();
        /* A re-encryption longer than an attempt stops at half its deadline, between two hotzones,
         * so that the attempt ends in time and reports; the next attempt resumes it. */
        if (progress_fd >= 0)
                (void) fcntl(progress_fd, F_SETFD, FD_CLOEXEC);   /* not for mkfs, resize2fs, hooks */
        /* A daemon gone (SIGKILL) closes the progress pipe: a line written then must not kill the
         * worker in the middle of a re-encryption (seen in the VM: its device stack left behind);
         * PR_SET_DEATHSIG's SIGTERM stops it between two hotzones instead. */
        (void) signal(SIGPIPE, SIG_IGN);
        volume_reencrypt_set_worker(progress_fd, now_usec(CLOCK_MONOTONIC) + c->daemon.attempt_timeout_usec / 2);
        r = attempt_run(c, kind, &report);
        if (r < 0)
                return r;
        r = attempt_report_to_json(&report, &json);
        if (r < 0)
                return r;
        return write_full_fd(report_fd, json, strlen(json));
}
