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
        SIDECAR_IDLE,         /* the reload was handed the files as they are */
        SIDECAR_SETTLING,     /* files changed: waiting for the burst (key, cert, CA) to end */
        SIDECAR_INCOMPLETE,   /* a file is missing, or the set is not consistent yet */
        SIDECAR_CHANGED,      /* settled: hand the changes to the reload now */
        _SIDECAR_PHASE_MAX,
        _SIDECAR_PHASE_INVALID = -EINVAL,
} SidecarPhase;

const char *sidecar_phase_to_string(SidecarPhase p) _pure_;

/* What differs between two stamps, as ReloadChange bits: the certificate or the key is
 * RELOAD_CHANGE_CERT, the CA file RELOAD_CHANGE_CA, the directory both. From a zero stamp (the
 * sidecar's start) it is RELOAD_CHANGE_CERT: what the datastore's certificate reload takes. */
unsigned sidecar_stamp_changes(const SidecarStamp *old, const SidecarStamp *new) _pure_;

/* The decision logic, with no clock, files or processes of its own (tested alone). What runs the
 * reload, retries it and confirms it is reload.c's Reload. */
typedef struct SidecarState {
        SidecarStamp handed;    /* the files the reload was last handed (zero: none yet) */
        SidecarStamp seen;      /* the files as last seen */
        uint64_t seen_at;       /* when seen last changed (µs, monotonic) */
        bool consistent;        /* the last consistency check of seen passed */
} SidecarState;

/* Feeds the newest stamp at time now. Returns the phase; with SIDECAR_CHANGED, *ret_changes holds
 * what to hand the reload (after the caller checked the set's consistency: see
 * sidecar_state_consistent and sidecar_state_handed). *ret_wake is the time to look again without a
 * change (UINT64_MAX: only at the next poll). */
SidecarPhase sidecar_state_update(SidecarState *s, const SidecarStamp *cur, uint64_t now, uint64_t settle_usec,
                                  unsigned *ret_changes, uint64_t *ret_wake);
/* The consistency check of the current seen stamp failed: held until the files change. */
void sidecar_state_inconsistent(SidecarState *s);
/* The changes were handed to the reload. */
void sidecar_state_handed(SidecarState *s);

typedef struct SidecarOptions {
        uint64_t poll_usec;     /* how often the metadata is read; default 2 s */
        uint64_t settle_usec;   /* quiet time after the last change before a reload; default 2 s */
        uint64_t hook_timeout_usec;
        const char *status_path;   /* a status line a probe can read; NULL: none */
        bool once;              /* exit once a reload is done (or confirmed) */
} SidecarOptions;

typedef struct Sidecar Sidecar;

/* cc: the certificate (its profile, directory, reload and serve_check settings); retry: the backoff
 * of a failed reload. -ENOEXEC when its datastore needs nothing done, whatever changes. */
int sidecar_new(const CertificateConfig *cc, const RetryConfig *retry, const SidecarOptions *o, Sidecar **ret);
Sidecar *sidecar_free(Sidecar *s);
DEFINE_TRIVIAL_CLEANUP_FUNC(Sidecar *, sidecar_free);
/* Runs until SIGTERM/SIGINT (blocked by the caller); 0 on a clean stop. */
int sidecar_run(Sidecar *s);

/* Reads a status file written by a sidecar: 0 when no reload is failing, -EBUSY while one has failed
 * and is retried or needs a restart; *ret_line gets the line. */
int sidecar_probe(const char *status_path, char **ret_line);
