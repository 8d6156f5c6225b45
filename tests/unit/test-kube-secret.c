/* SPDX-License-Identifier: Apache-2.0 */
/* Secrets as the API server sends them: parsing, keys, strict base64, the list of one Secret. */
#include "kube-buffer.h"
#include "kube-secret.h"
#include "tests.h"

static int decode(const char *s, SecretValue **ret) {
        return kube_base64_decode(s, strlen(s), ret);
}

TEST(base64_decode_valid) {
        static const struct { const char *in, *out; } v[] = {
                { "", "" }, { "Zg==", "f" }, { "Zm8=", "fo" }, { "Zm9v", "foo" }, { "Zm9vYg==", "foob" },
                { "Zm9vYmE=", "fooba" }, { "Zm9vYmFy", "foobar" }, { "+/+/", "\xfb\xff\xbf" },
        };
        for (size_t i = 0; i < ELEMENTSOF(v); i++) {
                SecretValue *d = NULL;
                ASSERT_OK(decode(v[i].in, &d));
                ASSERT_EQ(d->size, strlen(v[i].out));
                ASSERT_TRUE(memcmp(d->data, v[i].out, d->size) == 0);
                secret_value_free(d);
        }
}

TEST(base64_decode_strict) {
        static const char * const bad[] = {
                "Zg", "Zg=", "Zm9", "Z===", "====", "Zg==Zg==", "Zm=v", "Zm9v\n", " Zm9v", "Zm9v ", "Zm 9v",
                "Zh==",   /* trailing bits set */
                "Zm9=",   /* trailing bits set */
                "Zm9v-_==", "Zm9v****", "Zg\0=",
        };
        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                SecretValue *d = NULL;
                ASSERT_ERROR(decode(bad[i], &d), EBADMSG);
                ASSERT_TRUE(d == NULL);
        }
}

TEST(base64_round_trip) {
        uint8_t buf[100];

        for (size_t n = 0; n <= sizeof(buf); n++) {
                SecretValue *e = NULL, *d = NULL;

                ASSERT_OK(random_bytes(buf, n));
                ASSERT_OK(kube_base64_encode(buf, n, &e));
                ASSERT_EQ(e->size, (n + 2) / 3 * 4);
                ASSERT_EQ(strlen((char *) e->data), e->size);
                ASSERT_OK(kube_base64_decode((char *) e->data, e->size, &d));
                ASSERT_EQ(d->size, n);
                ASSERT_TRUE(n == 0 || memcmp(d->data, buf, n) == 0);
                secret_value_free(e);
                secret_value_free(d);
        }
}

static const char secret_json[] =
        "{\"kind\":\"Secret\",\"apiVersion\":\"v1\",\"metadata\":{\"name\":\"keys\",\"namespace\":\"ns\","
        "\"resourceVersion\":\"42\"},\"data\":{\"good\":\"Zm9vYmFy\",\"bad\":\"Zm9v YmFy\",\"num\":3},\"type\":\"Opaque\"}";

TEST(secret_parse_and_keys) {
        KubeSecret *s = NULL;
        SecretValue *v = NULL;
        NsError e = {};

        ASSERT_OK(kube_secret_parse(secret_json, strlen(secret_json), "keys", &s, &e));
        ASSERT_STREQ(kube_secret_resource_version(s), "42");
        ASSERT_TRUE(kube_secret_has_key(s, "good"));
        ASSERT_FALSE(kube_secret_has_key(s, "nope"));
        ASSERT_OK(kube_secret_get(s, "good", &v, &e));
        ASSERT_EQ(v->size, 6);
        ASSERT_TRUE(memcmp(v->data, "foobar", 6) == 0);
        v = secret_value_free(v);

        ASSERT_ERROR(kube_secret_get(s, "bad", &v, &e), EBADMSG);
        ASSERT_CONTAINS(e.message, "Key \"bad\" of Secret keys is not valid base64");
        e = (NsError) {};
        ASSERT_ERROR(kube_secret_get(s, "num", &v, &e), EBADMSG);
        e = (NsError) {};
        ASSERT_ERROR(kube_secret_get(s, "nope", &v, &e), ENOKEY);
        ASSERT_CONTAINS(e.message, "Secret keys has no key \"nope\"");
        kube_secret_free(s);

        e = (NsError) {};
        ASSERT_ERROR(kube_secret_parse(secret_json, strlen(secret_json), "other", &s, &e), EBADMSG);
        ASSERT_CONTAINS(e.message, "names another object");
        e = (NsError) {};
        ASSERT_ERROR(kube_secret_parse(secret_json, strlen(secret_json) / 2, "keys", &s, &e), EBADMSG);
        ASSERT_CONTAINS(e.message, "Secret keys is not valid JSON");
        e = (NsError) {};
        ASSERT_ERROR(kube_secret_parse("{\"kind\":\"Secret\",\"metadata\":{\"name\":\"keys\"}}", 45, "keys", &s, &e),
                     EBADMSG);
        ASSERT_CONTAINS(e.message, "no resourceVersion");
        e = (NsError) {};
        ASSERT_ERROR(kube_secret_parse("{\"kind\":\"Status\"}", 17, "keys", &s, &e), EBADMSG);
}

TEST(secret_list_parse) {
        static const char one[] = "{\"kind\":\"SecretList\",\"metadata\":{\"resourceVersion\":\"900\"},\"items\":["
                                  "{\"metadata\":{\"name\":\"k\",\"resourceVersion\":\"17\"},\"data\":{}}]}";
        static const char none[] = "{\"kind\":\"SecretList\",\"metadata\":{\"resourceVersion\":\"901\"},\"items\":[]}";
        _cleanup_free_ char *lrv = NULL, *orv = NULL, *lrv2 = NULL, *orv2 = NULL;
        char *x = NULL, *y = NULL;
        NsError e = {};

        ASSERT_OK(kube_secret_list_parse(one, strlen(one), "k", &lrv, &orv, &e));
        ASSERT_STREQ(lrv, "900");
        ASSERT_STREQ(orv, "17");
        ASSERT_OK(kube_secret_list_parse(none, strlen(none), "k", &lrv2, &orv2, &e));
        ASSERT_STREQ(lrv2, "901");
        ASSERT_TRUE(orv2 == NULL);
        ASSERT_ERROR(kube_secret_list_parse("garbage", 7, "k", &x, &y, &e), EBADMSG);
}
