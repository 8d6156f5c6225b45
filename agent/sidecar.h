/* SPDX-License-Identifier: Apache-2.0 */
/* The reload sidecar: in the datastore's pod, watches a certificate directory the agent writes and
 * runs the profile's reload there, against the datastore's local admin channel. */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <sys/stat.h>
#include <systemd/sd-event.h>

#include "config.h"
#include "macro.h"

/* What the files of a certificate directory look like, from their metadata only: the agent
 * replaces each file by rename, so a new inode (or ctime) is a new file. Compared with memcmp:
 * always zero-filled before it is set. */
typedef struct SidecarStamp {
        struct {
                bool present;
                dev_t dev;
                ino_t ino;
                off_t size;
                struct timespec mtime;
                struct timespec ctime;
        } file[4];   /* the directory, the certificate, the key, the CA file */
} SidecarStamp;

/* Reads the stamp of dir and the three files (any missing one is "not present", never an error). */
void sidecar_stamp_read(const char *dir, const char *cert_path, const char *key_path, const char *ca_path,
                        SidecarStamp *ret);
bool sidecar_stamp_complete(const SidecarStamp *s) _pure_;

typedef enum SidecarPhase {
        SIDECAR_IDLE,         /* the datastore was told about the files as they are */
        SIDECAR_SETTLING,     /* files changed: waiting for the burst (key, cert, CA) to end */
        SIDECAR_INCOMPLETE,   /* a file is missing, or the set is not consistent yet */
        SIDECAR_RELOADING,    /* the hook runs */
        SIDECAR_RETRY_WAIT,   /* the last reload failed: waiting out the backoff */
        _SIDECAR_PHASE_MAX,
        _SIDECAR_PHASE_INVALID = -EINVAL,
} SidecarPhase;

const char *sidecar_phase_to_string(SidecarPhase p) _pure_;

/* The decision logic, with no clock, files or processes of its own (tested alone). */
typedef struct SidecarState {
        SidecarStamp applied;   /* the files the datastore was last told about (zero: none yet) */
        SidecarStamp seen;      /* the files as last seen */
        SidecarStamp running;   /* the files the running hook is about */
        uint64_t seen_at;       /* when seen last changed (µs, monotonic) */
        uint64_t retry_at;      /* after a failure, no new run before this */
        unsigned failures;      /* consecutive failed runs */
        bool is_running;
        bool consistent;        /* the last consistency check of seen passed */
} SidecarState;

/* Feeds the newest stamp at time now. Returns the phase; *ret_run is true when a reload must start
 * now (the caller checks the set's consistency first, see sidecar_state_consistent), and
 * *ret_wake the time to look again without a change (UINT64_MAX: only at the next poll). */
SidecarPhase sidecar_state_update(SidecarState *s, const SidecarStamp *cur, uint64_t now, uint64_t settle_usec,
                                  bool *ret_run, uint64_t *ret_wake);
/* The consistency check of the current seen stamp: false holds reloads until the files change. */
void sidecar_state_consistent(SidecarState *s, bool consistent);
void sidecar_state_started(SidecarState *s);
/* The run ended: success makes what it ran for the applied files; a failure waits backoff_usec. */
void sidecar_state_finished(SidecarState *s, bool success, uint64_t now, uint64_t backoff_usec);

typedef struct SidecarOptions {
        uint64_t poll_usec;     /* how often the metadata is read; default 2 s */
        uint64_t settle_usec;   /* quiet time after the last change before a reload; default 2 s */
        uint64_t hook_timeout_usec;
        const char *status_path;   /* a status line a probe can read; NULL: none */
        unsigned max_runs;      /* stop after this many successful reloads (tests); 0: never */
} SidecarOptions;

typedef struct Sidecar Sidecar;

/* cc: the certificate (its profile, directory and reload settings); retry: the backoff. */
int sidecar_new(const CertificateConfig *cc, const RetryConfig *retry, const SidecarOptions *o, Sidecar **ret);
Sidecar *sidecar_free(Sidecar *s);
DEFINE_TRIVIAL_CLEANUP_FUNC(Sidecar *, sidecar_free);
/* Runs until SIGTERM/SIGINT (blocked by the caller); 0 on a clean stop. */
int sidecar_run(Sidecar *s);

/* Reads a status file written by a sidecar: 0 when its last reload succeeded or none is due, -EBUSY
 * while a reload has failed and is being retried; *ret_line gets the line. */
int sidecar_probe(const char *status_path, char **ret_line);
