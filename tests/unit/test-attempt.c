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

TEST(report_reencrypt_round_trip) {
        ItemReport vol[] = {
                { .name = (char *) "pgdata", .state = ITEM_READY,
                  .reencrypt = { .state = REENCRYPT_STATE_PAUSED, .resumed = true, .done = UINT64_C(5) << 30,
                                 .total = UINT64_C(1) << 40, .rate = 33554432, .limit = 67108864,
                                 .started_at = UINT64_C(1790000000000123) } },
                { .name = (char *) "wal", .state = ITEM_READY },
        };
        AttemptReport in = { .volumes = vol, .n_volumes = 2, .reencrypt_unfinished = true }, out = {};
        _cleanup_free_ char *json = NULL;

        ASSERT_OK(attempt_report_to_json(&in, &json));
        /* A volume without one says nothing of it. */
        ASSERT_EQ(strstr(strstr(json, "\"wal\""), "reencrypt") == NULL, true);
        ASSERT_OK(attempt_report_from_json(json, strlen(json), &out, NULL));
        ASSERT_TRUE(out.reencrypt_unfinished);
        ASSERT_EQ(out.volumes[0].reencrypt.state, REENCRYPT_STATE_PAUSED);
        ASSERT_TRUE(out.volumes[0].reencrypt.resumed);
        ASSERT_EQ(out.volumes[0].reencrypt.done, UINT64_C(5) << 30);
        ASSERT_EQ(out.volumes[0].reencrypt.total, UINT64_C(1) << 40);
        ASSERT_EQ(out.volumes[0].reencrypt.rate, 33554432);
        ASSERT_EQ(out.volumes[0].reencrypt.limit, 67108864);
        ASSERT_EQ(out.volumes[0].reencrypt.started_at, UINT64_C(1790000000000123));
        ASSERT_EQ(out.volumes[1].reencrypt.state, REENCRYPT_STATE_NONE);
        attempt_report_done(&out);

        /* An unknown state is none, not a failure of the whole report. */
        static const char odd[] = "{\"code\":0,\"volumes\":[{\"name\":\"v\",\"state\":\"ready\","
                                  "\"reencrypt\":{\"state\":\"exploding\",\"done_bytes\":5}}],\"certificates\":[]}";
        ASSERT_OK(attempt_report_from_json(odd, strlen(odd), &out, NULL));
        ASSERT_EQ(out.volumes[0].reencrypt.state, REENCRYPT_STATE_NONE);
        ASSERT_EQ(out.volumes[0].reencrypt.done, 0);
        attempt_report_done(&out);
}

TEST(progress_line_parsed_or_refused) {
        static const char good[] = "{\"volume\":\"pgdata\",\"reencrypt\":{\"state\":\"running\",\"resumed\":false,"
                                   "\"done_bytes\":1048576,\"total_bytes\":50331648,\"rate_bytes_per_sec\":2097152,"
                                   "\"limit_bytes_per_sec\":33554432,\"started_at\":1790000000000000}}";
        static const char * const bad[] = {
                "", "null", "[]", "{\"volume\":\"pgdata\"}", "{\"reencrypt\":{\"state\":\"running\"}}",
                "{\"volume\":\"\",\"reencrypt\":{\"state\":\"running\"}}",
                "{\"volume\":\"pgdata\",\"reencrypt\":{\"state\":\"sideways\"}}",
                "{\"volume\":7,\"reencrypt\":{\"state\":\"running\"}}",
                "{\"volume\":\"pgdata\",\"reencrypt\":{\"state\":\"running\"", /* cut off */
        };
        _cleanup_free_ char *volume = NULL;
        ReencryptStatus st = {};
        NsError e = {};

        ASSERT_OK(attempt_progress_from_json(good, strlen(good), &volume, &st, &e));
        ASSERT_STREQ(volume, "pgdata");
        ASSERT_EQ(st.state, REENCRYPT_STATE_RUNNING);
        ASSERT_EQ(st.done, 1048576);
        ASSERT_EQ(st.total, 50331648);
        ASSERT_EQ(st.rate, 2097152);
        ASSERT_EQ(st.limit, 33554432);
        ASSERT_EQ(st.started_at, UINT64_C(1790000000000000));
        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                char *v = NULL;
                ASSERT_ERROR(attempt_progress_from_json(bad[i], strlen(bad[i]), &v, &st, &e), EBADMSG);
                ASSERT_TRUE(v == NULL);
        }
        /* The negative and the absurd count as unknown (0), never as a huge number. */
        static const char odd[] = "{\"volume\":\"v\",\"reencrypt\":{\"state\":\"done\",\"done_bytes\":-5,"
                                  "\"total_bytes\":1e300}}";
        free(volume);
        volume = NULL;
        ASSERT_OK(attempt_progress_from_json(odd, strlen(odd), &volume, &st, &e));
        ASSERT_EQ(st.done, 0);
        ASSERT_EQ(st.total, 0);
}

TEST(reencrypt_bar) {
        char buf[128];

        reencrypt_format_bar(0, 100, 10, buf, sizeof(buf));
        ASSERT_STREQ(buf, "[..........]   0%");
        reencrypt_format_bar(50, 100, 10, buf, sizeof(buf));
        ASSERT_STREQ(buf, "[#####.....]  50%");
        /* Not 100 % until it is all done. */
        reencrypt_format_bar(999, 1000, 10, buf, sizeof(buf));
        ASSERT_STREQ(buf, "[#########.]  99%");
        reencrypt_format_bar(1000, 1000, 10, buf, sizeof(buf));
        ASSERT_STREQ(buf, "[##########] 100%");
        /* Sizes past 2^64 / width, and done past total, do not overflow. */
        reencrypt_format_bar(UINT64_MAX / 2, UINT64_MAX, 10, buf, sizeof(buf));
        ASSERT_STREQ(buf, "[#####.....]  50%");
        reencrypt_format_bar(7, 0, 4, buf, sizeof(buf));
        ASSERT_STREQ(buf, "[....]   0%");
        reencrypt_format_bar(50, 100, 10, buf, 6);
        ASSERT_STREQ(buf, "[####");
        ASSERT_STREQ(reencrypt_state_to_string(REENCRYPT_STATE_PAUSED), "paused");
        ASSERT_EQ(reencrypt_state_from_string("running"), REENCRYPT_STATE_RUNNING);
        ASSERT_EQ(reencrypt_state_from_string("Running"), _REENCRYPT_STATE_INVALID);
}

TEST(kind_and_state_names) {
        ASSERT_STREQ(attempt_kind_to_string(ATTEMPT_RENEW), "renew");
        ASSERT_EQ(attempt_kind_from_string("check"), ATTEMPT_CHECK);
        ASSERT_EQ(attempt_kind_from_string("nope"), -EINVAL);
        ASSERT_EQ(item_state_from_string("pending"), ITEM_PENDING);
        ASSERT_TRUE(item_state_to_string(_ITEM_STATE_MAX) == NULL);
}
