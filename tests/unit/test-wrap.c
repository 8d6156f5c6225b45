/* SPDX-License-Identifier: Apache-2.0 */
/* Volume keys wrapped to a node and to the recovery key: what opens them and what does not. */
#include <fcntl.h>
#include <openssl/evp.h>
#include <sys/stat.h>
#include <unistd.h>

#include "secure.h"
#include "tests.h"
#include "wrap.h"

static void make_kek(WrapKekType type, uint8_t fill, WrapKek *ret) {
        SecretValue *k;

        ASSERT_OK(secret_value_new(WRAP_KEK_SIZE, &k));
        memset(k->data, fill, k->size);
        ASSERT_OK(wrap_kek_from_key(type, k, ret));
}

/* Helpers that return a value abort on failure (the ASSERTs return from void test bodies). */
static SecretValue *volume_key(void) {
        SecretValue *v;

        if (secret_value_new(64, &v) < 0 || random_bytes(v->data, v->size) < 0)
                abort();
        return v;
}

static char *wrapped(const SecretValue *key, const char *node, const char *volume, const WrapKek *kek, EVP_PKEY *rec) {
        NsError e = {};
        char *text = NULL;

        if (wrap_key(key, node, volume, kek, rec, &text, &e) < 0) {
                fprintf(stderr, "wrap_key: %s\n", e.message);
                abort();
        }
        return text;
}

TEST(round_trip_and_nothing_secret_in_the_text) {
        _cleanup_(secret_value_freep) SecretValue *key = volume_key(), *back = NULL;
        WrapKek kek;
        NsError e = {};
        char *text;

        make_kek(WRAP_KEK_FILE, 0x11, &kek);
        text = wrapped(key, "node-1", "data", &kek, NULL);
        ASSERT_CONTAINS(text, "\"format\":\"nodeseal-wrap/1\"");
        ASSERT_CONTAINS(text, kek.id);
        ASSERT_OK(unwrap_key(text, strlen(text), "node-1", "data", &kek, &back, &e));
        ASSERT_TRUE(secret_value_equal(key, back));
        /* Two wraps of one key differ (fresh nonce). */
        {
                char *again = wrapped(key, "node-1", "data", &kek, NULL);
                ASSERT_TRUE(strcmp(text, again) != 0);
                free(again);
        }
        free(text);
        wrap_kek_done(&kek);
}

TEST(another_node_volume_or_kek_opens_nothing) {
        _cleanup_(secret_value_freep) SecretValue *key = volume_key(), *back = NULL;
        WrapKek kek, other;
        NsError e = {};
        char *text, *moved;

        make_kek(WRAP_KEK_FILE, 0x11, &kek);
        make_kek(WRAP_KEK_FILE, 0x22, &other);
        text = wrapped(key, "node-1", "data", &kek, NULL);

        ASSERT_ERROR(unwrap_key(text, strlen(text), "node-2", "data", &kek, &back, &e), EPERM);
        ASSERT_CONTAINS(e.message, "made for node \"node-1\"");
        e = NS_ERROR_NULL;
        ASSERT_ERROR(unwrap_key(text, strlen(text), "node-1", "wal", &kek, &back, &e), EPERM);
        e = NS_ERROR_NULL;
        ASSERT_ERROR(unwrap_key(text, strlen(text), "node-1", "data", &other, &back, &e), ENOKEY);
        ASSERT_CONTAINS(e.message, "other than this node's");
        e = NS_ERROR_NULL;
        ASSERT_ERROR(unwrap_key(text, strlen(text), "node-1", "data", NULL, &back, &e), ENOKEY);

        /* The names are authenticated, not only compared: the value relabelled for node-2 (what a
         * node that can write the Secret could try) does not open under node-2's own key. */
        moved = strdup(text);
        memcpy(strstr(moved, "\"node-1\""), "\"node-2\"", 8);
        e = NS_ERROR_NULL;
        ASSERT_ERROR(unwrap_key(moved, strlen(moved), "node-2", "data", &kek, &back, &e), EBADMSG);
        ASSERT_CONTAINS(e.message, "does not authenticate");
        ASSERT_TRUE(back == NULL);
        free(moved);
        free(text);
        wrap_kek_done(&kek);
        wrap_kek_done(&other);
}

TEST(altered_ciphertext_refused) {
        _cleanup_(secret_value_freep) SecretValue *key = volume_key(), *back = NULL;
        WrapKek kek;
        NsError e = {};
        char *text, *p;

        make_kek(WRAP_KEK_TPM2, 0x33, &kek);
        text = wrapped(key, "n", "v", &kek, NULL);
        p = strstr(text, "\"ciphertext\":\"") + 14;
        *p = *p == 'A' ? 'B' : 'A';
        ASSERT_ERROR(unwrap_key(text, strlen(text), "n", "v", &kek, &back, &e), EBADMSG);
        free(text);
        wrap_kek_done(&kek);
}

TEST(recovery_key_opens_it_without_the_node) {
        _cleanup_(secret_value_freep) SecretValue *key = volume_key(), *back = NULL;
        EVP_PKEY *rec = EVP_PKEY_Q_keygen(NULL, NULL, "X25519"), *wrong = EVP_PKEY_Q_keygen(NULL, NULL, "X25519");
        WrapRecord w;
        WrapKek kek;
        NsError e = {};
        char *text;

        make_kek(WRAP_KEK_FILE, 0x44, &kek);
        text = wrapped(key, "node-7", "pgdata", &kek, rec);
        ASSERT_OK(unwrap_key_recovery(text, strlen(text), rec, &back, &w, &e));
        ASSERT_TRUE(secret_value_equal(key, back));
        ASSERT_STREQ(w.node, "node-7");
        ASSERT_STREQ(w.volume, "pgdata");
        back = secret_value_free(back);

        ASSERT_ERROR(unwrap_key_recovery(text, strlen(text), wrong, &back, NULL, &e), ENOKEY);
        ASSERT_CONTAINS(e.message, "not to this one");
        free(text);

        /* Without a recovery key at wrap time there is no recovery copy, and it says so. */
        text = wrapped(key, "node-7", "pgdata", &kek, NULL);
        e = NS_ERROR_NULL;
        ASSERT_ERROR(unwrap_key_recovery(text, strlen(text), rec, &back, NULL, &e), ENOKEY);
        ASSERT_CONTAINS(e.message, "no recovery copy");
        free(text);
        EVP_PKEY_free(rec);
        EVP_PKEY_free(wrong);
        wrap_kek_done(&kek);
}

TEST(parse_errors_name_the_field) {
        static const struct {
                const char *text, *want;
        } cases[] = {
                { "", "not a JSON object" },
                { "[]", "not a JSON object" },
                { "{}", "no \"format\" string" },
                { "{\"format\":\"nodeseal-wrap/9\"}", "is not nodeseal-wrap/1" },
                { "{\"format\":\"nodeseal-wrap/1\",\"node\":\"n\"}", "no \"volume\"" },
                { "{\"format\":\"nodeseal-wrap/1\",\"node\":\"n\",\"volume\":\"v\",\"kek\":{\"type\":\"x\",\"id\":\"i\"}}",
                  "kek.type \"x\"" },
                { "{\"format\":\"nodeseal-wrap/1\",\"node\":\"n\",\"volume\":\"v\",\"kek\":{\"type\":\"file\",\"id\":\"i\"},"
                  "\"nonce\":\"AAAA\"}", "\"nonce\" holds 3 bytes" },
                { "{\"format\":\"nodeseal-wrap/1\",\"node\":\"n\",\"volume\":\"v\",\"kek\":{\"type\":\"file\",\"id\":\"i\"},"
                  "\"nonce\":\"AAAAAAAAAAAAAAAA\",\"ciphertext\":\"A===\"}", "\"ciphertext\" is not base64" },
        };

        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                WrapRecord w;
                NsError e = {};

                ASSERT_TRUE(wrap_parse(cases[i].text, strlen(cases[i].text), &w, &e) < 0);
                ASSERT_CONTAINS(e.message, cases[i].want);
        }
}

TEST(kek_file_created_root_only_and_checked) {
        char dir[512], path[600];
        WrapKek a, b;
        NsError e = {};
        struct stat st;

        if (geteuid() != 0)
                return;   /* the file must be root's; the integration tier runs as root */
        snprintf(dir, sizeof(dir), "%s/kek", test_tmpdir);
        ASSERT_OK(mkdir(dir, 0700));
        snprintf(path, sizeof(path), "%s/node.key", dir);
        ASSERT_ERROR(wrap_kek_load(&(WrapKekSource) { .type = WRAP_KEK_FILE, .path = path }, false, &a, &e), ENOENT);
        ASSERT_CONTAINS(e.message, "enrol the node first");
        e = NS_ERROR_NULL;
        ASSERT_OK(wrap_kek_load(&(WrapKekSource) { .type = WRAP_KEK_FILE, .path = path }, true, &a, &e));
        ASSERT_OK(stat(path, &st));
        ASSERT_EQ(st.st_mode & 07777, 0600);
        ASSERT_OK(wrap_kek_load(&(WrapKekSource) { .type = WRAP_KEK_FILE, .path = path }, true, &b, &e));
        ASSERT_STREQ(a.id, b.id);    /* loaded again, not made anew */
        wrap_kek_done(&b);

        ASSERT_OK(chmod(path, 0640));
        e = NS_ERROR_NULL;
        ASSERT_ERROR(wrap_kek_load(&(WrapKekSource) { .type = WRAP_KEK_FILE, .path = path }, true, &b, &e), EPERM);
        ASSERT_CONTAINS(e.message, "mode 0640");
        ASSERT_OK(chmod(path, 0600));
        ASSERT_OK(truncate(path, 31));
        e = NS_ERROR_NULL;
        ASSERT_ERROR(wrap_kek_load(&(WrapKekSource) { .type = WRAP_KEK_FILE, .path = path }, true, &b, &e), EBADMSG);
        wrap_kek_done(&a);
}
