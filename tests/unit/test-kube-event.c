/* SPDX-License-Identifier: Apache-2.0 */
/* Events: which failures call for one, and the bodies posted (create, and the count patch). */
#include "json-util.h"
#include "kube-event.h"
#include "tests.h"

TEST(reason_for_failures) {
        ASSERT_EQ(kube_event_reason_for(-EUCLEAN, "Volume data: Device /dev/vdb holds an ext4 filesystem; refusing"),
                  KUBE_EVENT_DEVICE_REFUSED);
        ASSERT_EQ(kube_event_reason_for(-EKEYREJECTED, "Volume data: The key in Secret k does not open /dev/vdb"),
                  KUBE_EVENT_WRONG_KEY);
        ASSERT_EQ(kube_event_reason_for(-EKEYREJECTED, "CA (Secret nodeseal-ca): tls.crt: \"x\" is not a CA"),
                  KUBE_EVENT_CA_INVALID);
        ASSERT_EQ(kube_event_reason_for(-EKEYEXPIRED, "CA (Secret nodeseal-ca): tls.crt: \"x\" has expired"),
                  KUBE_EVENT_CA_INVALID);
        /* Nothing for an operator to fix in nodeseal's Secrets or devices: no Event. */
        ASSERT_TRUE(kube_event_reason_for(-ENOENT, "CA (Secret nodeseal-ca): Secret nodeseal-ca not found") < 0);
        ASSERT_TRUE(kube_event_reason_for(-EHOSTUNREACH, "Volume data: Failed to read Secret k: timeout") < 0);
        ASSERT_TRUE(kube_event_reason_for(-EUCLEAN, "Certificate db: whatever") < 0);
        ASSERT_TRUE(kube_event_reason_for(-EUCLEAN, NULL) < 0);
        ASSERT_STREQ(kube_event_reason_to_string(KUBE_EVENT_HOOK_FAILING), "ReloadHookFailing");
        ASSERT_TRUE(kube_event_reason_to_string(_KUBE_EVENT_REASON_MAX) == NULL);
}

TEST(target_from_env) {
        KubeEventTarget t;

        unsetenv("POD_NAME");
        setenv("POD_NAMESPACE", "nodeseal", 1);
        ASSERT_ERROR(kube_event_target_from_env("node-1", &t), ENXIO);
        setenv("POD_NAME", "nodeseal-abcde", 1);
        unsetenv("POD_UID");
        ASSERT_OK(kube_event_target_from_env("node-1", &t));
        ASSERT_STREQ(t.pod, "nodeseal-abcde");
        ASSERT_STREQ(t.namespace, "nodeseal");
        ASSERT_TRUE(t.uid == NULL);
        ASSERT_STREQ(t.node, "node-1");
}

TEST(bodies) {
        KubeEventTarget t = { .pod = "nodeseal-abcde", .namespace = "nodeseal", .uid = "u-1", .node = "node-1" };
        _cleanup_free_ char *body = NULL, *patch = NULL;
        _cleanup_(cJSON_Deletep) cJSON *j = NULL, *p = NULL;
        uint64_t first = 1700000000ULL * USEC_PER_SEC, now = first + 90 * USEC_PER_SEC;

        ASSERT_OK(kube_event_create_body(&t, "nodeseal-abcde.17", KUBE_EVENT_CA_INVALID, "CA (Secret c): not a CA",
                                         1, first, now, &body));
        j = cJSON_Parse(body);
        ASSERT_TRUE(j);
        ASSERT_STREQ(cJSON_GetObjectItem(cJSON_GetObjectItem(j, "metadata"), "name")->valuestring, "nodeseal-abcde.17");
        ASSERT_STREQ(cJSON_GetObjectItem(cJSON_GetObjectItem(j, "metadata"), "namespace")->valuestring, "nodeseal");
        ASSERT_STREQ(cJSON_GetObjectItem(cJSON_GetObjectItem(j, "involvedObject"), "kind")->valuestring, "Pod");
        ASSERT_STREQ(cJSON_GetObjectItem(cJSON_GetObjectItem(j, "involvedObject"), "uid")->valuestring, "u-1");
        ASSERT_STREQ(cJSON_GetObjectItem(cJSON_GetObjectItem(j, "related"), "kind")->valuestring, "Node");
        ASSERT_STREQ(cJSON_GetObjectItem(cJSON_GetObjectItem(j, "related"), "name")->valuestring, "node-1");
        ASSERT_STREQ(cJSON_GetObjectItem(j, "reason")->valuestring, "CAInvalid");
        ASSERT_STREQ(cJSON_GetObjectItem(j, "type")->valuestring, "Warning");
        ASSERT_STREQ(cJSON_GetObjectItem(j, "firstTimestamp")->valuestring, "2023-11-14T22:13:20Z");
        ASSERT_STREQ(cJSON_GetObjectItem(j, "lastTimestamp")->valuestring, "2023-11-14T22:14:50Z");
        ASSERT_STREQ(cJSON_GetObjectItem(cJSON_GetObjectItem(j, "source"), "component")->valuestring, "nodeseal");

        ASSERT_OK(kube_event_patch_body(4, now, &patch));
        p = cJSON_Parse(patch);
        ASSERT_TRUE(p);
        ASSERT_EQ(cJSON_GetObjectItem(p, "count")->valueint, 4);
        ASSERT_STREQ(cJSON_GetObjectItem(p, "lastTimestamp")->valuestring, "2023-11-14T22:14:50Z");
        ASSERT_EQ(cJSON_GetArraySize(p), 2);
}
