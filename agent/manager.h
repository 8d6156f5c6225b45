/* SPDX-License-Identifier: Apache-2.0 */
/* The daemon: one sd-event loop that provisions with retry, gates readiness and keeps things in place. */
#pragma once

#include <stdint.h>
#include <systemd/sd-bus.h>
#include <systemd/sd-event.h>

#include "attempt.h"
#include "config.h"
#include "json-util.h"
#include "metrics-server.h"
#include "reload.h"
#include "rotation-state.h"
#include "secret.h"
#include "worker.h"

typedef enum ManagerState {
        MANAGER_STARTING,     /* the first attempt has not finished */
        MANAGER_WAITING,      /* never ready yet: an attempt failed, the next one is scheduled */
        MANAGER_READY,        /* every volume and certificate in place */
        MANAGER_DEGRADED,     /* was ready; a later attempt failed and is being retried */
        MANAGER_STOPPING,
        MANAGER_STOPPED,      /* what the status file says once the daemon has exited */
        _MANAGER_STATE_MAX,
        _MANAGER_STATE_INVALID = -EINVAL,
} ManagerState;

typedef struct VolumeStatus {
        const VolumeConfig *config;   /* borrowed from Manager.config */
        ItemState state;
        ReencryptStatus reencrypt;    /* from the worker's progress lines and reports; state NONE: none seen */
} VolumeStatus;

typedef struct CertificateStatus {
        const CertificateConfig *config;
        ItemState state;
        uint64_t not_after;           /* µs since the epoch, 0 unknown */
        uint64_t renew_at;            /* start of the renewal window */
        uint64_t jitter;              /* drawn once per not_after: renew at renew_at + jitter */
        uint64_t jitter_for;          /* the not_after the jitter was drawn for */
        char *stamp;                  /* inode and mtime of the certificate file: "did it change?" */
        char *ca_stamp;               /* the same of its CA file */
        Reload *reload;               /* what the datastore needs after a change, and whether it worked */
        uint64_t hook_runs;           /* reload hooks that ended, for the metrics */
        uint64_t hook_failures;
        uint64_t hook_failures_in_row; /* reset by a hook that succeeds; the worker posts an Event */
} CertificateStatus;

typedef struct Manager Manager;

/* How an attempt ended, for whoever asked for it (a Reconcile() call): code 0 or a negative errno
 * (-ESHUTDOWN: the daemon stopped first), error the reason. */
typedef void (*ManagerReplyHandler)(Manager *m, int code, const char *error, void *userdata);

typedef struct ManagerWaiter {
        unsigned wanted;              /* answered when attempt number wanted (or a later one) ends */
        ManagerReplyHandler handler;
        void *userdata;
        struct ManagerWaiter *next;
} ManagerWaiter;

/* How the manager runs an attempt: in a worker process; tests put canned reports in its place. */
typedef struct ManagerWorkerOps {
        /* Starts it; its end comes through manager_attempt_done(). */
        int (*start)(Manager *m, AttemptKind kind);
        /* Asks it to end (SIGTERM, then SIGKILL); manager_attempt_done() follows. */
        void (*stop)(Manager *m);
} ManagerWorkerOps;

struct Manager {
        sd_event *event;
        sd_bus *bus;                  /* NULL without a bus: the status file alone then */
        char *bus_address;            /* NULL: the system bus */
        char *config_path;            /* NULL: the default */
        Config *config;
        SecretSource *source;

        ManagerState state;
        int ready;                    /* an int: the "b" property reads it through offsetof */
        char *status_text;
        char *last_error;
        uint64_t ca_not_after;
        uint64_t ca_issue_limit;      /* no certificate may outlive this (ca_issue_limit()) */
        char *ca_pem;                 /* the trust bundle, public */
        VolumeStatus *volumes;
        size_t n_volumes;
        CertificateStatus *certificates;
        size_t n_certificates;

        unsigned attempt;             /* failed attempts in a row */
        unsigned attempts_started;    /* attempts so far, the running one included */
        bool attempt_running;
        AttemptKind attempt_kind;
        bool attempt_timed_out;
        bool attempt_deadline_extended; /* the deadline came while a re-encryption ran: once more */
        bool follow_up;               /* a trigger came during the attempt: one more after it */
        AttemptKind follow_up_kind;
        unsigned reload_wanted;       /* SIGHUP: READY=1 again once attempt number this ends */
        Worker *worker;
        const ManagerWorkerOps *worker_ops;
        ManagerWaiter *waiters;
        bool ever_ready;
        bool watching;
        bool reloading;
        uint64_t next_attempt;        /* CLOCK_MONOTONIC µs of the scheduled retry, 0 none */

        sd_event_source *retry_source;
        sd_event_source *renew_source;
        sd_event_source *recheck_source;
        sd_event_source *changed_source;
        sd_event_source *bus_retry_source;
        sd_event_source *deadline_source;
        unsigned hooks_run;           /* how many reload hooks and restarts finished, for Describe() */

        unsigned bus_changed;         /* BusProperty bits to send in the next PropertiesChanged */
        sd_event_source *bus_emit_source;
        char *status_written;         /* the status file's last content */
        int exit_code;

        /* metrics */
        uint64_t attempts_ended[_ATTEMPT_KIND_MAX];
        uint64_t attempts_failed[_ATTEMPT_KIND_MAX];
        uint64_t attempt_started_usec; /* CLOCK_MONOTONIC */
        uint64_t last_attempt_usec;    /* how long the last attempt that ended took */
        MetricsServer *metrics_server;
        char *metrics_written;         /* the textfile's last content */
        bool metrics_textfile_failed;  /* its last write failed (and that was logged) */
        /* CA rotation (manager-rotation.c) */
        RotationState rotation_state;    /* what each datastore has loaded; <runtime>/rotation.json */
        RotationReport rotation;         /* the stages, from the last attempt that read the CA */
        char *rotation_jitter_for;       /* the signer whose reissue waits for rotation_jitter_source */
        sd_event_source *rotation_jitter_source;
        sd_event_source *rotation_look_source;  /* a provisioning attempt once a datastore loaded the bundle */
        /* manager-devices.c: inotify on the directories of the volumes' device paths */
        sd_event_source **device_watches;
        size_t n_device_watches;
};

/* manager-rotation.c: after each attempt, after each change of a reload, in Describe(), at the end. */
void manager_rotation_apply(Manager *m, const AttemptReport *report);
void manager_rotation_reload_changed(Manager *m);
int manager_rotation_describe(Manager *m, cJSON *root);
void manager_rotation_done(Manager *m);

/* manager-devices.c: watch each volume's device path (again, after a reload); a change of one
 * while ready starts a check attempt at once. */
void manager_devices_watch(Manager *m);
void manager_devices_unwatch(Manager *m);

int manager_new(Config *config, const char *config_path, const char *bus_address, Manager **ret);
Manager *manager_free(Manager *m);
DEFINE_TRIVIAL_CLEANUP_FUNC(Manager *, manager_free);

/* Sets everything up and runs the loop until SIGTERM/SIGINT; returns the exit status to use. */
int manager_run(Manager *m);

/* An attempt of that kind now, or, while one runs, one more right after it (triggers during an
 * attempt are coalesced into one follow-up). -ESHUTDOWN when stopping. */
int manager_request_attempt(Manager *m, AttemptKind kind);

/* The same for a caller who wants the outcome: handler runs once an attempt that started after this
 * call has ended (or with -ESHUTDOWN when the daemon stops first). */
int manager_reconcile(Manager *m, AttemptKind kind, ManagerReplyHandler handler, void *userdata);

/* The end of the running attempt: its report, or NULL and why there is none. */
void manager_attempt_done(Manager *m, const AttemptReport *report, const NsError *error);

/* A progress line of the running worker (a volume's re-encryption): the status follows it. */
void manager_worker_progress(Manager *m, const char *line, size_t size);

/* The status as JSON: what Describe() returns and status.json holds. */
int manager_describe(Manager *m, char **ret);

/* When to renew a certificate: at renew_at plus a random part of the smaller of jitter_max and a
 * tenth of the renewal window (renew_at .. not_after); never before renew_at. Pure, for tests. */
uint64_t manager_renewal_jitter(uint64_t renew_at, uint64_t not_after, uint64_t jitter_max, double random01);

const char *manager_state_to_string(ManagerState s) _pure_;
