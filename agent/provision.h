/* SPDX-License-Identifier: Apache-2.0 */
/* One pass over everything the config asks for: the provision, check and close commands, and each
 * attempt of the daemon. */
#pragma once

#include "config.h"
#include "error.h"
#include "pki.h"
#include "rotation-state.h"
#include "secret.h"

#define PROVISION_CA_FILE "ca.crt"   /* in the runtime directory: the trust bundle last provisioned */

/* Volumes first, then the CA, then the certificates; stops at the first failure (error names the
 * volume or certificate). >0 when anything changed. ret_ca (optional) receives the validated CA. */
int provision_all(const Config *c, SecretSource *s, Ca **ret_ca, NsError *error);
/* The same in the daemon's worker, during a CA rotation: st (NULL: none) holds back reissues
 * under a new CA (rotation_may_sign()); what the node reached goes to rr. */
int provision_all_gated(const Config *c, SecretSource *s, const RotationState *st, RotationReport *rr, Ca **ret_ca,
                        NsError *error);

/* Checks every volume and certificate without changing anything. Returns a CHECK_EXIT_* code
 * (0 when all is in place) and fills error with a one-line reason otherwise. */
int check_all(const Config *c, NsError *error);

/* Unmounts and closes every volume, in reverse order. */
int close_all(const Config *c, NsError *error);
