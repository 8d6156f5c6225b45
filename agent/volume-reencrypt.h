/* SPDX-License-Identifier: Apache-2.0 */
/* Online re-encryption of a volume under a new volume key (LUKS2 reencrypt, resilient). */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "json-util.h"

#include "config.h"
#include "error.h"
#include "secret.h"

struct crypt_device;

/* The Secret key that requests a re-encryption: "<key>.reencrypt", a new random value (at least
 * 32 bytes) each time one is wanted. Its digest is recorded in the header when the re-encryption
 * starts, so that one request is carried out once, and resumed, never repeated. */
#define REENCRYPT_REQUEST_SUFFIX ".reencrypt"

typedef enum ReencryptState {
        REENCRYPT_STATE_NONE,      /* none requested, or nothing known */
        REENCRYPT_STATE_PENDING,   /* requested, not started yet */
        REENCRYPT_STATE_RUNNING,
        REENCRYPT_STATE_PAUSED,    /* under way but not running: stopped, or its process killed; the next provision resumes it */
        REENCRYPT_STATE_DONE,
        _REENCRYPT_STATE_MAX,
        _REENCRYPT_STATE_INVALID = -EINVAL,
} ReencryptState;

/* A volume's re-encryption as the status shows it: public facts only. */
typedef struct ReencryptStatus {
        ReencryptState state;
        bool resumed;              /* this run resumed one under way (killed, stopped or crashed before) */
        uint64_t done;             /* bytes re-encrypted */
        uint64_t total;            /* bytes in all, 0 unknown */
        uint64_t rate;             /* bytes per second of this run, 0 unknown */
        uint64_t limit;            /* the bandwidth limit in bytes per second, 0 none */
        uint64_t started_at;       /* µs since the epoch when the re-encryption began (before any resume), 0 unknown */
} ReencryptStatus;

/* Called as the re-encryption advances (every hotzone) and when its state changes. */
typedef void (*ReencryptProgress)(const VolumeConfig *v, const ReencryptStatus *status, void *userdata);

const char *reencrypt_state_to_string(ReencryptState s) _pure_;
ReencryptState reencrypt_state_from_string(const char *s) _pure_;

/* As a JSON object (the status file, Describe(), the worker's progress lines); from one, ignoring
 * what it does not know; -EBADMSG when it is not one or its state is unknown. */
int reencrypt_status_to_json(const ReencryptStatus *st, cJSON **ret);
int reencrypt_status_from_json(const cJSON *o, ReencryptStatus *ret);

/* "[#####.....]  45%": a bar of width characters and the percentage, into buf. */
void reencrypt_format_bar(uint64_t done, uint64_t total, unsigned width, char *buf, size_t size);

/* The daemon's worker: progress lines ({"volume":NAME,"reencrypt":{...}}, one per second at most
 * and on every change of state) go to progress_fd (non-blocking: a line that does not fit is
 * dropped, never waited for); a re-encryption stops between two hotzones once CLOCK_MONOTONIC
 * passes stop_at_usec (0: never), so that the attempt ends within its deadline and the next one
 * resumes. */
void volume_reencrypt_set_worker(int progress_fd, uint64_t stop_at_usec);
/* A re-encryption was stopped at stop_at_usec in this process: a provision should follow. */
bool volume_reencrypt_unfinished(void);

/* What the header says of v's re-encryption, reading nothing else (no Secret, no lock): PAUSED
 * while one is under way (no process can be running it while the caller does not), DONE when
 * nodeseal's record says so; the numbers it cannot know are 0. 1 when there is one, 0 none. */
int volume_reencrypt_probe(const VolumeConfig *v, ReencryptStatus *ret);

/* A re-encryption killed in libcryptsetup's last steps, finished (reencrypt_finish_interrupted)
 * with the volume's key, or with "<key>.previous" when a key rotation waits for its end. */
int volume_reencrypt_finish(const VolumeConfig *v, SecretSource *s, struct crypt_device *cd, const char *device,
                            const SecretValue *key, NsError *error);

/* Carries out, or resumes, the re-encryption that "<key>.reencrypt" requests, with the volume open
 * (online; offline when it is closed): a new key slot with a new random volume key under the
 * volume's key (the passphrase in the Secret, unchanged), the request recorded in the header, then
 * crypt_reencrypt_run with checksum resilience, at most bandwidth_mib_s MiB/s (0: no limit). When
 * it completes, libcryptsetup removes the old volume key's slots. 1 when re-encrypted now, 0 when
 * there is no request or it was already carried out. */
int volume_reencrypt(const VolumeConfig *v, SecretSource *s, const char *device, ReencryptProgress progress,
                     void *userdata, NsError *error);
