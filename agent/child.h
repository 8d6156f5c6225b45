/* SPDX-License-Identifier: Apache-2.0 */
/* Child processes of the daemon (reload hooks, attempt workers): posix_spawn with an argv, watched
 * from the event loop, stopped with SIGTERM and then SIGKILL. */
#pragma once

#include <stdint.h>
#include <sys/types.h>
#include <systemd/sd-event.h>

#include "macro.h"

#define CHILD_STOP_GRACE_USEC (1 * USEC_PER_SEC)   /* SIGTERM, then this long until SIGKILL */

typedef struct Child Child;

/* Runs on the loop once the child has exited and was reaped. */
typedef void (*ChildExitHandler)(Child *c, const siginfo_t *si, void *userdata);

typedef struct ChildSpec {
        char * const *argv;    /* argv[0] is the path run */
        char * const *envp;
        const int *fds;        /* handed to the child as fd 3, 4, ... */
        size_t n_fds;
        bool process_group;    /* its own process group: stopping it reaches whatever it started */
} ChildSpec;

int child_spawn(sd_event *event, const ChildSpec *spec, ChildExitHandler handler, void *userdata, Child **ret);
/* SIGTERM now, SIGKILL after grace_usec if it is still there; the exit handler runs as usual. */
int child_stop(Child *c, uint64_t grace_usec);
/* A child still running is killed (SIGKILL) and reaped; the exit handler does not run. */
Child *child_free(Child *c);
DEFINE_TRIVIAL_CLEANUP_FUNC(Child *, child_free);

pid_t child_pid(const Child *c) _pure_;
/* µs on CLOCK_MONOTONIC since it was started. */
uint64_t child_runtime_usec(const Child *c);
bool child_stopping(const Child *c) _pure_;

/* A printable account of how it ended: "exited with status 3", "killed by signal KILL". */
void child_describe_exit(const siginfo_t *si, char *buf, size_t size);
