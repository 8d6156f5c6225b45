/* SPDX-License-Identifier: Apache-2.0 */
/* The report a worker hands the daemon: JSON both ways, and what is refused. */
#include "attempt.h"
#include "tests.h"

TEST(report_round_trip) {
        ItemReport vol = { .name = (char *) "pgdata", .state = ITEM_FAILED };
        ItemReport cert = { .name = (char *) "db", .state = ITEM_READY, .not_after = UINT64_C(1800000000000000),
                            .renew_at = UINT64_C(1790000000000001) };
        AttemptReport in = { .code = -EKEYREJECTED, .error = (char *) "Volume pgdata: wrong key", .changed = true,
                             .provision_wanted = true, .ca_pem = (char *) "PEM\n", .ca_not_after = UINT64_C(1900000000000000),
                             .ca_issue_limit = 7, .volumes = &vol, .n_volumes = 1, .certificates = &cert,
                             .n_certificates = 1 };
        SecretVersion seen[] = { { (char *) "nodeseal-ca", (char *) "42" }, { (char *) "nodeseal-keys-n1", NULL } };
        AttemptReport out = {};
        _cleanup_free_ char *json = NULL;

        in.secrets = seen;
        in.n_secrets = ELEMENTSOF(seen);

        ASSERT_OK(attempt_report_to_json(&in, &json));
        ASSERT_OK(attempt_report_from_json(json, strlen(json), &out, NULL));
        ASSERT_EQ(out.code, -EKEYREJECTED);
        ASSERT_STREQ(out.error, "Volume pgdata: wrong key");
        ASSERT_TRUE(out.changed);
        ASSERT_TRUE(out.provision_wanted);
        ASSERT_STREQ(out.ca_pem, "PEM\n");
        ASSERT_EQ(out.ca_not_after, in.ca_not_after);
        ASSERT_EQ(out.ca_issue_limit, 7);
        ASSERT_EQ(out.n_volumes, 1);
        ASSERT_EQ(out.volumes[0].state, ITEM_FAILED);
        ASSERT_EQ(out.n_certificates, 1);
        ASSERT_STREQ(attempt_report_find(out.certificates, out.n_certificates, "db")->name, "db");
        ASSERT_EQ(out.certificates[0].not_after, cert.not_after);
        ASSERT_EQ(out.certificates[0].renew_at, cert.renew_at);
        ASSERT_TRUE(attempt_report_find(out.certificates, out.n_certificates, "other") == NULL);
        ASSERT_EQ(out.n_secrets, 2);
        ASSERT_STREQ(out.secrets[0].resource_version, "42");
        ASSERT_TRUE(out.secrets[1].resource_version == NULL);
        attempt_report_done(&out);
}

TEST(report_rotation_round_trip) {
        AttemptReport in = { .rotation = { .known = true, .secret_stage = ROTATION_ACTIVATED,
                                           .node_stage = ROTATION_PREPARED, .waiting = (char *) "certificate db: x",
                                           .held_signer = (char *) "PEM\n" } };
        AttemptReport out = {}, none = {};
        _cleanup_free_ char *json = NULL, *json2 = NULL;

        ASSERT_OK(attempt_report_to_json(&in, &json));
        ASSERT_OK(attempt_report_from_json(json, strlen(json), &out, NULL));
        ASSERT_TRUE(out.rotation.known);
        ASSERT_EQ(out.rotation.secret_stage, ROTATION_ACTIVATED);
        ASSERT_EQ(out.rotation.node_stage, ROTATION_PREPARED);
        ASSERT_STREQ(out.rotation.waiting, "certificate db: x");
        ASSERT_STREQ(out.rotation.held_signer, "PEM\n");
        attempt_report_done(&out);
        /* A check reads no CA: no rotation object, and none comes back. */
        ASSERT_OK(attempt_report_to_json(&none, &json2));
        ASSERT_TRUE(strstr(json2, "rotation") == NULL);
        ASSERT_OK(attempt_report_from_json(json2, strlen(json2), &out, NULL));
        ASSERT_FALSE(out.rotation.known);
        attempt_report_done(&out);
}

TEST(report_refused_when_not_one) {
        static const char * const bad[] = {
                "", "[]", "{}", "{\"code\": 5, \"volumes\": [], \"certificates\": []}",
                "{\"code\": 0, \"volumes\": [{\"name\": \"x\", \"state\": \"bogus\"}], \"certificates\": []}",
                "{\"code\": 0, \"volumes\": []}",
                "{\"code\": -2, \"volumes\": [], \"certificates\": []}",   /* a failure needs its reason */
        };
        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                AttemptReport r = {};
                NsError e = {};
                ASSERT_ERROR(attempt_report_from_json(bad[i], strlen(bad[i]), &r, &e), EBADMSG);
                ASSERT_TRUE(e.message[0] != '\0');
        }
}

TEST(kind_and_state_names) {
        ASSERT_STREQ(attempt_kind_to_string(ATTEMPT_RENEW), "renew");
        ASSERT_EQ(attempt_kind_from_string("check"), ATTEMPT_CHECK);
        ASSERT_EQ(attempt_kind_from_string("nope"), -EINVAL);
        ASSERT_EQ(item_state_from_string("pending"), ITEM_PENDING);
        ASSERT_TRUE(item_state_to_string(_ITEM_STATE_MAX) == NULL);
}
