/* SPDX-License-Identifier: Apache-2.0 */
/* A node during a CA rotation: what its datastores have loaded and which new CA may sign here (the
 * daemon's record, <runtime_directory>/rotation.json, read by its workers), and the stage the node
 * has reached. */
#pragma once

#include "config.h"
#include "pki.h"
#include "rotation.h"

#define ROTATION_STATE_FILE "rotation.json"

/* Public facts only: certificates. */
typedef struct RotationState {
        char *granted;        /* PEM: CAs whose reissue jitter has passed on this node */
        char **names;         /* certificates ... */
        char **loaded;        /* ... and the trust bundle its datastore has loaded (PEM) */
        size_t n;
} RotationState;

/* What an attempt found, for the daemon's status. */
typedef struct RotationReport {
        bool known;                   /* false: no CA read (a check), the rest unset */
        RotationStage secret_stage;
        RotationStage node_stage;
        char *waiting;                /* what the node still waits for, NULL when caught up */
        bool held_trust;              /* a reissue under the new CA waits for a datastore to load it */
        char *held_signer;            /* tls.crt (PEM), when a reissue under it waits for its jitter */
} RotationReport;

void rotation_state_done(RotationState *st);
void rotation_report_done(RotationReport *r);
/* -ENOENT when the daemon has written none (one-shot provision: no gate). */
int rotation_state_read(const Config *c, RotationState *ret);
int rotation_state_write(const Config *c, const RotationState *st);
const char *rotation_state_loaded(const RotationState *st, const char *name);
int rotation_state_set_loaded(RotationState *st, const char *name, const char *pem);

/* The CA Secret's stage, from which of next.crt and previous.crt it holds (no key is read). */
int rotation_secret_stage(SecretSource *s, RotationStage *ret, NsError *error);
/* Whether certificate name may be reissued under signer (tls.crt) now: its datastore has loaded a
 * bundle with it, and during "activated" this node's jitter for it has passed. st NULL: yes.
 * ret_jitter: false when the datastore's trust is what holds it. */
bool rotation_may_sign(const RotationState *st, const char *name, const char *signer, RotationStage stage,
                       bool *ret_jitter);
/* The node's stage after provisioning with ca, and what it waits for. */
int rotation_evaluate(const Config *c, const RotationState *st, const Ca *ca, RotationStage secret_stage,
                      RotationReport *ret);
