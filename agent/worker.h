/* SPDX-License-Identifier: Apache-2.0 */
/* A worker process for one attempt: the daemon runs itself as "nodeseal provision --report-fd=3",
 * hands it the configuration it runs with, and reads the JSON report when it exits. Keys are
 * fetched and used in the worker only. */
#pragma once

#include <systemd/sd-event.h>

#include "attempt.h"
#include "child.h"

typedef struct Worker Worker;

/* Runs on the loop when the worker has exited: its report, or NULL and error saying why there is
 * none (exited with a status, killed, an unreadable report). */
typedef void (*WorkerDoneHandler)(Worker *w, AttemptReport *report, const NsError *error, void *userdata);

/* Runs on the loop for each line the worker writes on its progress pipe while it runs (a volume's
 * re-encryption, JSON: attempt_progress_from_json()). */
typedef void (*WorkerProgressHandler)(Worker *w, const char *line, size_t size, void *userdata);

int worker_start(sd_event *event, const Config *c, AttemptKind kind, WorkerDoneHandler handler,
                 WorkerProgressHandler progress, void *userdata, Worker **ret);
/* Asks the worker to end: SIGTERM to its process group, SIGKILL after CHILD_STOP_GRACE_USEC. */
int worker_stop(Worker *w);
/* Kills a worker still running (nothing is reported then). */
Worker *worker_free(Worker *w);
DEFINE_TRIVIAL_CLEANUP_FUNC(Worker *, worker_free);

pid_t worker_pid(const Worker *w) _pure_;

/* The worker's side, for "provision --report-fd [--progress-fd]": the attempt, its report written to
 * report_fd, progress lines to progress_fd (-EBADF: none). */
int worker_main(const Config *c, AttemptKind kind, int report_fd, int progress_fd);
