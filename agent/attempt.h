/* SPDX-License-Identifier: Apache-2.0 */
/* One attempt of the daemon, run in a worker process: what it does, and the report it hands back. */
#pragma once

#include <stdint.h>

#include "config.h"
#include "error.h"
#include "kube-counts.h"
#include "rotation-state.h"
#include "secret.h"
#include "volume-reencrypt.h"

typedef enum AttemptKind {
        ATTEMPT_CHECK,        /* look at every volume and certificate, change nothing, fetch nothing */
        ATTEMPT_PROVISION,    /* what "nodeseal provision" does */
        ATTEMPT_RENEW,        /* provision, then every certificate anew */
        _ATTEMPT_KIND_MAX,
        _ATTEMPT_KIND_INVALID = -EINVAL,
} AttemptKind;

typedef enum ItemState {
        ITEM_PENDING,         /* not seen in place yet */
        ITEM_READY,           /* volume open and mounted; certificate valid and chained to the CA */
        ITEM_FAILED,          /* looked at, and not in place */
        _ITEM_STATE_MAX,
        _ITEM_STATE_INVALID = -EINVAL,
} ItemState;

/* A volume or a certificate as the attempt left it. */
typedef struct ItemReport {
        char *name;
        ItemState state;
        uint64_t not_after;   /* certificates: µs since the epoch, 0 unknown */
        uint64_t renew_at;    /* certificates: start of the renewal window */
        ReencryptStatus reencrypt; /* volumes: the re-encryption the attempt saw (state NONE: none) */
} ItemReport;

/* Public facts only: never a key. */
typedef struct AttemptReport {
        int code;                 /* 0 all in place, else the negative errno of the first problem */
        char *error;              /* its message, naming the volume, CA or certificate */
        bool changed;             /* a volume was opened or a certificate written */
        bool provision_wanted;    /* a check found something only a provision does: a volume's device grew, or a
                                   * re-encryption is under way that no process runs */
        bool reencrypt_unfinished; /* a provision stopped a re-encryption at its time budget (half the attempt
                                    * deadline): the next attempt goes on with it */
        char *ca_pem;             /* the trust bundle of the CA the attempt loaded, NULL none */
        uint64_t ca_not_after;
        uint64_t ca_issue_limit;  /* no certificate may outlive this */
        ItemReport *volumes;
        size_t n_volumes;
        ItemReport *certificates;
        size_t n_certificates;
        SecretVersion *secrets;   /* the versions of the Secrets the attempt read: the daemon's watch starts there */
        size_t n_secrets;
        KubeCounts api_requests;  /* the worker's requests to the Kubernetes API, for the metrics */
        RotationReport rotation;  /* known false: no CA read (a check) */
} AttemptReport;

#define ATTEMPT_REPORT_SIZE_MAX (4 * 1024 * 1024)
/* A reload hook that failed this many times in a row is worth an Event (ReloadHookFailing). */
#define ATTEMPT_HOOK_FAILURES_EVENT 3

void attempt_report_done(AttemptReport *r);
int attempt_report_to_json(const AttemptReport *r, char **ret);
/* -EBADMSG when json is not a report (error says what is wrong with it). */
int attempt_report_from_json(const char *json, size_t size, AttemptReport *ret, NsError *error);
/* A progress line of the worker ({"volume":NAME,"reencrypt":{...}}, what volume_reencrypt_set_worker()
 * makes it write): the volume's name (to free) and its re-encryption; -EBADMSG (error says why)
 * when it is not one. */
int attempt_progress_from_json(const char *line, size_t size, char **ret_volume, ReencryptStatus *ret, NsError *error);

/* The report's entry for a name, NULL when it has none. */
const ItemReport *attempt_report_find(const ItemReport *items, size_t n, const char *name);

/* The worker's side: runs the attempt and fills ret (always, on success; failures of the attempt
 * are in ret->code). A negative return only when no report could be made (out of memory). */
int attempt_run(const Config *c, AttemptKind kind, AttemptReport *ret);

const char *attempt_kind_to_string(AttemptKind k) _pure_;
AttemptKind attempt_kind_from_string(const char *s) _pure_;
const char *item_state_to_string(ItemState s) _pure_;
ItemState item_state_from_string(const char *s) _pure_;
