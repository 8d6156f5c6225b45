/* SPDX-License-Identifier: Apache-2.0 */
/* Requests without a server: URLs, Retry-After. */
#include "kube-request.h"
#include "kube-status.h"
#include "tests.h"

TEST(urls) {
        _cleanup_free_ char *e = NULL, *u1 = NULL, *u2 = NULL, *w1 = NULL, *w2 = NULL, *l = NULL;

        ASSERT_OK(kube_url_escape("metadata.name=a b/c?&%~_-", &e));
        ASSERT_STREQ(e, "metadata.name%3Da%20b%2Fc%3F%26%25~_-");
        ASSERT_OK(kube_secret_url("https://h:6443", "ns", "nodeseal-ca", &u1));
        ASSERT_STREQ(u1, "https://h:6443/api/v1/namespaces/ns/secrets/nodeseal-ca");
        ASSERT_OK(kube_secret_url("https://h:6443/prefix", "ns", NULL, &u2));
        ASSERT_STREQ(u2, "https://h:6443/prefix/api/v1/namespaces/ns/secrets");
        ASSERT_OK(kube_watch_url("https://h", "ns", "k.1", "123", 300, &w1));
        ASSERT_STREQ(w1, "https://h/api/v1/namespaces/ns/secrets?watch=1&fieldSelector=metadata.name%3Dk.1"
                         "&resourceVersion=123&allowWatchBookmarks=true&timeoutSeconds=300");
        ASSERT_OK(kube_watch_url("https://h", "ns", "k", NULL, 5, &w2));
        ASSERT_STREQ(w2, "https://h/api/v1/namespaces/ns/secrets?watch=1&fieldSelector=metadata.name%3Dk"
                         "&allowWatchBookmarks=true&timeoutSeconds=5");
        ASSERT_OK(kube_list_url("https://h", "ns", "k", &l));
        ASSERT_STREQ(l, "https://h/api/v1/namespaces/ns/secrets?fieldSelector=metadata.name%3Dk");
}

TEST(retry_after) {
        uint64_t now = (uint64_t) 1700000000 * USEC_PER_SEC;

        ASSERT_EQ(kube_parse_retry_after(" 5\r\n", now), 5 * USEC_PER_SEC);
        ASSERT_EQ(kube_parse_retry_after("0", now), 0);
        ASSERT_EQ(kube_parse_retry_after("99999999", now), KUBE_RETRY_AFTER_MAX_USEC);
        ASSERT_EQ(kube_parse_retry_after("soon", now), 0);
        ASSERT_EQ(kube_parse_retry_after("5x", now), 0);
        /* Tue, 14 Nov 2023 22:13:30 GMT is 10 s after now. */
        ASSERT_EQ(kube_parse_retry_after(" Tue, 14 Nov 2023 22:13:30 GMT", now), 10 * USEC_PER_SEC);
        ASSERT_EQ(kube_parse_retry_after("Tue, 14 Nov 2023 22:13:10 GMT", now), 0);
}
