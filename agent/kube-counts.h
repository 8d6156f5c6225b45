/* SPDX-License-Identifier: Apache-2.0 */
/* Requests made to the Kubernetes API, counted by verb and HTTP status: the metrics' source. */
#pragma once

#include <stdint.h>

#include "json-util.h"

#define KUBE_VERB_SIZE 24

typedef struct KubeCount {
        char verb[KUBE_VERB_SIZE];   /* get, list, watch, create, patch */
        long code;                   /* the HTTP status, 0 when no answer came (a transport error) */
        uint64_t n;
} KubeCount;

typedef struct KubeCounts {
        KubeCount *items;
        size_t n_items;
} KubeCounts;

/* Adds n to (verb, code). */
int kube_counts_add(KubeCounts *c, const char *verb, long code, uint64_t n);
/* Adds every count of from to c. */
int kube_counts_merge(KubeCounts *c, const KubeCounts *from);
void kube_counts_done(KubeCounts *c);

/* This process's counts: what the API client adds to, what a worker reports. */
KubeCounts *kube_counts_process(void);
/* Counts one request of this process; never fails (a count lost to a full memory is only a count). */
void kube_count_request(const char *verb, long code);

/* [{"verb": "get", "code": 200, "n": 3}, ...] */
int kube_counts_to_json(const KubeCounts *c, cJSON **ret);
/* Ignores entries that are not of that shape. */
int kube_counts_from_json(const cJSON *a, KubeCounts *ret);
