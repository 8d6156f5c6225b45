/* SPDX-License-Identifier: Apache-2.0 */
/* Child processes of the daemon: spawned with an argv, never a shell; watched on the loop. */
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>

#include "child.h"
#include "time-util.h"

struct Child {
        pid_t pid;
        bool process_group;
        bool exited;
        bool stopping;
        uint64_t started;
        sd_event_source *child_source;
        sd_event_source *kill_source;
        ChildExitHandler handler;
        void *userdata;
};

static void child_signal(Child *c, int sig) {
        if (c->exited)
                return;
        /* The group first (whatever it started, mkfs say), then the child itself in any case. */
        if (c->process_group)
                (void) kill(-c->pid, sig);
        (void) kill(c->pid, sig);
}

static int on_child_exit(sd_event_source *s, const siginfo_t *si, void *userdata) {
        Child *c = userdata;

        c->exited = true;
        /* What it started may outlive it in its group: they go with it. */
        if (c->process_group)
                (void) kill(-c->pid, SIGKILL);
        c->kill_source = sd_event_source_disable_unref(c->kill_source);
        c->handler(c, si, c->userdata);
        return 0;
}

static int spawn_attr_init(posix_spawnattr_t *attr, bool process_group) {
        static const int default_signals[] = { SIGCHLD, SIGHUP, SIGINT, SIGTERM, SIGPIPE };
        sigset_t mask;
        short flags = POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF;

        /* The daemon blocks these for sd-event and ignores SIGPIPE; the child starts clean. */
        sigemptyset(&mask);
        posix_spawnattr_init(attr);
        posix_spawnattr_setsigmask(attr, &mask);
        for (size_t i = 0; i < ELEMENTSOF(default_signals); i++)
                sigaddset(&mask, default_signals[i]);
        posix_spawnattr_setsigdefault(attr, &mask);
        if (process_group) {
                flags |= POSIX_SPAWN_SETPGROUP;
                posix_spawnattr_setpgroup(attr, 0);
        }
        return -posix_spawnattr_setflags(attr, flags);
}

/* The fds to hand over, first moved above 3 + n so that no dup2 overwrites another one's source. */
static int spawn_actions_init(posix_spawn_file_actions_t *fa, const ChildSpec *spec, int *moved) {
        posix_spawn_file_actions_init(fa);
        posix_spawn_file_actions_addopen(fa, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
        for (size_t i = 0; i < spec->n_fds; i++) {
                moved[i] = fcntl(spec->fds[i], F_DUPFD_CLOEXEC, (int) (3 + spec->n_fds));
                if (moved[i] < 0)
                        return negative_errno();
                posix_spawn_file_actions_adddup2(fa, moved[i], (int) (3 + i));
        }
        return 0;
}

static int spawn(const ChildSpec *spec, pid_t *ret_pid) {
        posix_spawn_file_actions_t fa;
        posix_spawnattr_t attr;
        int moved[8], r, k;

        if (spec->n_fds > ELEMENTSOF(moved))
                return -E2BIG;
        for (size_t i = 0; i < ELEMENTSOF(moved); i++)
                moved[i] = -EBADF;
        r = spawn_attr_init(&attr, spec->process_group);
        k = spawn_actions_init(&fa, spec, moved);
        if (r >= 0)
                r = k;
        if (r >= 0)
                r = -posix_spawn(ret_pid, spec->argv[0], &fa, &attr, spec->argv, spec->envp);
        posix_spawn_file_actions_destroy(&fa);
        posix_spawnattr_destroy(&attr);
        for (size_t i = 0; i < spec->n_fds; i++)
                safe_close(moved[i]);
        return r;
}

int child_spawn(sd_event *event, const ChildSpec *spec, ChildExitHandler handler, void *userdata, Child **ret) {
        _cleanup_(child_freep) Child *c = NULL;
        int r;

        c = calloc(1, sizeof(*c));
        if (!c)
                return -ENOMEM;
        c->handler = handler;
        c->userdata = userdata;
        c->process_group = spec->process_group;
        r = spawn(spec, &c->pid);
        if (r < 0) {
                c->exited = true;
                return r;
        }
        c->started = now_usec(CLOCK_MONOTONIC);
        r = sd_event_add_child(event, &c->child_source, c->pid, WEXITED, on_child_exit, c);
        if (r < 0)
                return r;
        /* Freeing the source kills and reaps a child still running: none is left behind. */
        (void) sd_event_source_set_child_process_own(c->child_source, true);
        *ret = TAKE_PTR(c);
        return 0;
}

static int on_kill_timeout(sd_event_source *s, uint64_t usec, void *userdata) {
        child_signal(userdata, SIGKILL);
        return 0;
}

int child_stop(Child *c, uint64_t grace_usec) {
        if (c->exited || c->stopping)
                return 0;
        c->stopping = true;
        child_signal(c, SIGTERM);
        return sd_event_add_time_relative(sd_event_source_get_event(c->child_source), &c->kill_source,
                                          CLOCK_MONOTONIC, grace_usec, 0, on_kill_timeout, c);
}

Child *child_free(Child *c) {
        if (!c)
                return NULL;
        child_signal(c, SIGKILL);
        sd_event_source_disable_unref(c->kill_source);
        sd_event_source_disable_unref(c->child_source);
        free(c);
        return NULL;
}

pid_t child_pid(const Child *c) {
        return c->pid;
}

uint64_t child_runtime_usec(const Child *c) {
        return now_usec(CLOCK_MONOTONIC) - c->started;
}

bool child_stopping(const Child *c) {
        return c->stopping;
}

void child_describe_exit(const siginfo_t *si, char *buf, size_t size) {
        if (si->si_code == CLD_EXITED)
                (void) snprintf(buf, size, "exited with status %d", si->si_status);
        else
                (void) snprintf(buf, size, "killed by signal %s", sigabbrev_np(si->si_status) ?: "?");
}
