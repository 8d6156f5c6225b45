/* SPDX-License-Identifier: Apache-2.0 */
/* Kubernetes Events on nodeseal's own Pod for what an operator must act on, counted like the kubelet's. */
#pragma once

#include <stdint.h>

#include "config.h"
#include "error.h"

typedef enum KubeEventReason {
        KUBE_EVENT_DEVICE_REFUSED,          /* "DeviceRefused": a device holds something else */
        KUBE_EVENT_WRONG_KEY,               /* "WrongKey": the key does not open the LUKS device */
        KUBE_EVENT_CA_INVALID,              /* "CAInvalid": not a CA, expired, no key, not PEM */
        KUBE_EVENT_CERTIFICATE_NOT_RENEWED, /* "CertificateNotRenewed": near expiry, renewal failing */
        KUBE_EVENT_HOOK_FAILING,            /* "ReloadHookFailing": a reload hook keeps failing */
        _KUBE_EVENT_REASON_MAX,
        _KUBE_EVENT_REASON_INVALID = -EINVAL,
} KubeEventReason;

/* The Pod the Events are about (the downward API's POD_NAME, POD_NAMESPACE, POD_UID) and its Node. */
typedef struct KubeEventTarget {
        const char *pod;
        const char *namespace;
        const char *uid;             /* NULL: unknown (kubectl describe then does not find the Events) */
        const char *node;
} KubeEventTarget;

/* From the environment; -ENXIO when POD_NAME or POD_NAMESPACE is not set (not in a pod). */
int kube_event_target_from_env(const char *node, KubeEventTarget *ret);

/* Which Event an attempt's failure (its code and message) calls for; _KUBE_EVENT_REASON_INVALID
 * when none: a failure an operator need not act on (the API unreachable, a Secret not there yet). */
KubeEventReason kube_event_reason_for(int code, const char *error);

/* The body of a new Event (core/v1: involvedObject the Pod, related the Node, count, times). */
int kube_event_create_body(const KubeEventTarget *t, const char *name, KubeEventReason reason, const char *message,
                           unsigned count, uint64_t first_usec, uint64_t now_usec, char **ret);
/* The strategic merge patch that counts one more of the same Event. */
int kube_event_patch_body(unsigned count, uint64_t now_usec, char **ret);

/* Posts it: the Event already posted for the same reason and message gets count + 1 and a new
 * lastTimestamp (PATCH), any other is created. What was posted is kept in runtime_dir/events.json
 * between attempts. A refusal (403) is logged once, then only at debug level. */
int kube_event_record(const Config *c, const KubeEventTarget *t, KubeEventReason reason, const char *message,
                      NsError *error);

const char *kube_event_reason_to_string(KubeEventReason r) _pure_;
