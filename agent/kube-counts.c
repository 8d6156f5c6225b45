/* SPDX-License-Identifier: Apache-2.0 */
/* Kubernetes API requests by verb and HTTP status, for the metrics (no key, no name, no path in them). */
#include <string.h>

#include "kube-counts.h"

static KubeCounts process_counts;

KubeCounts *kube_counts_process(void) {
        return &process_counts;
}

int kube_counts_add(KubeCounts *c, const char *verb, long code, uint64_t n) {
        KubeCount *items;

        if (!verb || strlen(verb) >= KUBE_VERB_SIZE)
                return -EINVAL;
        for (size_t i = 0; i < c->n_items; i++)
                if (c->items[i].code == code && streq(c->items[i].verb, verb)) {
                        c->items[i].n += n;
                        return 0;
                }
        items = reallocarray(c->items, c->n_items + 1, sizeof(*items));
        if (!items)
                return -ENOMEM;
        c->items = items;
        items[c->n_items] = (KubeCount) { .code = code, .n = n };
        strcpy(items[c->n_items].verb, verb);
        c->n_items++;
        return 0;
}

int kube_counts_merge(KubeCounts *c, const KubeCounts *from) {
        for (size_t i = 0; i < from->n_items; i++) {
                int r = kube_counts_add(c, from->items[i].verb, from->items[i].code, from->items[i].n);
                if (r < 0)
                        return r;
        }
        return 0;
}

void kube_counts_done(KubeCounts *c) {
        free(c->items);
        *c = (KubeCounts) {};
}

void kube_count_request(const char *verb, long code) {
        (void) kube_counts_add(&process_counts, verb ?: "unknown", code, 1);
}

int kube_counts_to_json(const KubeCounts *c, cJSON **ret) {
        cJSON *a = cJSON_CreateArray();

        if (!a)
                return -ENOMEM;
        for (size_t i = 0; i < c->n_items; i++) {
                cJSON *o = cJSON_CreateObject();

                if (!o || !cJSON_AddItemToArray(a, o)) {
                        cJSON_Delete(o);
                        cJSON_Delete(a);
                        return -ENOMEM;
                }
                if (!cJSON_AddStringToObject(o, "verb", c->items[i].verb) ||
                    !cJSON_AddNumberToObject(o, "code", (double) c->items[i].code) ||
                    !cJSON_AddNumberToObject(o, "n", (double) c->items[i].n)) {
                        cJSON_Delete(a);
                        return -ENOMEM;
                }
        }
        *ret = a;
        return 0;
}

int kube_counts_from_json(const cJSON *a, KubeCounts *ret) {
        KubeCounts c = {};
        const cJSON *o;

        cJSON_ArrayForEach(o, a) {
                const cJSON *verb = cJSON_GetObjectItemCaseSensitive(o, "verb"),
                            *code = cJSON_GetObjectItemCaseSensitive(o, "code"),
                            *n = cJSON_GetObjectItemCaseSensitive(o, "n");
                int r;

                if (!cJSON_IsString(verb) || !cJSON_IsNumber(code) || !cJSON_IsNumber(n) || code->valuedouble < 0 ||
                    code->valuedouble > 999 || n->valuedouble < 0 || n->valuedouble > 1e15)
                        continue;
                r = kube_counts_add(&c, verb->valuestring, (long) code->valuedouble, (uint64_t) n->valuedouble);
                if (r == -ENOMEM) {
                        kube_counts_done(&c);
                        return r;
                }
        }
        *ret = c;
        return 0;
}
