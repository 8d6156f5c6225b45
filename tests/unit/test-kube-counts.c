/* SPDX-License-Identifier: Apache-2.0 */
/* Kubernetes API request counts: adding, merging, and the JSON a worker reports them in. */
#include "kube-counts.h"
#include "tests.h"

TEST(add_and_merge) {
        KubeCounts a = {}, b = {};

        ASSERT_OK(kube_counts_add(&a, "get", 200, 1));
        ASSERT_OK(kube_counts_add(&a, "get", 200, 2));
        ASSERT_OK(kube_counts_add(&a, "get", 404, 1));
        ASSERT_OK(kube_counts_add(&b, "get", 200, 4));
        ASSERT_OK(kube_counts_add(&b, "watch", 0, 1));
        ASSERT_ERROR(kube_counts_add(&b, "a-verb-much-longer-than-any-rbac-verb", 200, 1), EINVAL);
        ASSERT_OK(kube_counts_merge(&a, &b));
        ASSERT_EQ(a.n_items, 3);
        ASSERT_STREQ(a.items[0].verb, "get");
        ASSERT_EQ(a.items[0].code, 200);
        ASSERT_EQ(a.items[0].n, 7);
        ASSERT_EQ(a.items[1].n, 1);
        ASSERT_STREQ(a.items[2].verb, "watch");
        ASSERT_EQ(a.items[2].code, 0);
        kube_counts_done(&a);
        kube_counts_done(&b);
        ASSERT_EQ(a.n_items, 0);
}

TEST(json_round_trip_ignores_bad_entries) {
        KubeCounts a = {}, b = {};
        cJSON *j = NULL, *bad;

        ASSERT_OK(kube_counts_add(&a, "patch", 409, 2));
        ASSERT_OK(kube_counts_to_json(&a, &j));
        bad = cJSON_Parse("{\"verb\": 1, \"code\": 200, \"n\": 1}");
        ASSERT_TRUE(cJSON_AddItemToArray(j, bad));
        ASSERT_TRUE(cJSON_AddItemToArray(j, cJSON_Parse("{\"verb\": \"get\", \"code\": -1, \"n\": 1}")));
        ASSERT_OK(kube_counts_from_json(j, &b));
        ASSERT_EQ(b.n_items, 1);
        ASSERT_STREQ(b.items[0].verb, "patch");
        ASSERT_EQ(b.items[0].code, 409);
        ASSERT_EQ(b.items[0].n, 2);
        cJSON_Delete(j);
        kube_counts_done(&a);
        kube_counts_done(&b);
}
