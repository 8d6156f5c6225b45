/* SPDX-License-Identifier: Apache-2.0 */
/* cJSON helpers shared by every module that builds or reads JSON. */
#pragma once

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "macro.h"

DEFINE_TRIVIAL_CLEANUP_FUNC(cJSON *, cJSON_Delete);

/* Integers as integers: cJSON would print a µs timestamp as 1.8e+15. */
static inline bool json_add_u64(cJSON *o, const char *name, uint64_t v) {
        char buf[32];
        (void) snprintf(buf, sizeof(buf), "%llu", (unsigned long long) v);
        return cJSON_AddRawToObject(o, name, buf) != NULL;
}

/* A member that is a number from 0 to below 2^64 (the cast is undefined beyond), else 0. */
static inline uint64_t json_get_u64(const cJSON *o, const char *name) {
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);
        return cJSON_IsNumber(v) && v->valuedouble > 0 && v->valuedouble < 18446744073709551616.0 ? (uint64_t) v->valuedouble : 0;
}
