/* SPDX-License-Identifier: Apache-2.0 */
/* rotation.c: the CA Secret's stages, each step from each stage, bundles with expired and future CAs. */
#include <time.h>

#include "pki.h"
#include "rotation-state.h"
#include "rotation.h"
#include "tests.h"

#define DAY 86400

/* A new CA made by ca_generate with pki's clock at now + offset seconds, valid for days. */
static void new_ca(const char *cn, long offset, uint32_t days, SecretValue **ret_crt, SecretValue **ret_key) {
        _cleanup_free_ char *pem = NULL;
        NsError e = {};

        pki_set_clock(time(NULL) + offset);
        if (ca_generate(cn, KEY_TYPE_EC_P256, days, &pem, ret_key, &e) < 0)
                abort();
        pki_set_clock(0);
        if (secret_value_new_copy(pem, strlen(pem), ret_crt) < 0)
                abort();
}

static char *text(const SecretValue *v) {
        return v ? strndup((const char *) v->data, v->size) : NULL;
}

static bool bundle_has(const SecretValue *bundle, const SecretValue *crt) {
        return pki_bundle_has_anchor((const char *) bundle->data, bundle->size, (const char *) crt->data, crt->size) > 0;
}

static int count(const SecretValue *v) {
        return v ? pki_pem_count((const char *) v->data, v->size) : 0;
}

static RotationStage stage(const CaSecret *s) {
        RotationStage st = _ROTATION_STAGE_INVALID;
        if (rotation_stage_of(s, &st, NULL) < 0)
                return _ROTATION_STAGE_INVALID;
        return st;
}

/* The step must change the Secret: 1, and s becomes the result. */
static int step_ok(CaSecret *s, RotationStep step, const SecretValue *crt, const SecretValue *key) {
        CaSecret out = {};
        NsError e = {};
        int r = rotation_step(s, step, crt, key, &out, NULL, &e);

        if (r != 1) {
                fprintf(stderr, "%s: %d %s\n", rotation_step_to_string(step), r, e.message);
                return r < 0 ? r : -EALREADY;
        }
        ca_secret_done(s);
        *s = out;
        return 0;
}

TEST(rotation_full_cycle) {
        _cleanup_(secret_value_freep) SecretValue *old_crt = NULL, *old_key = NULL, *new_crt = NULL, *new_key = NULL;
        _cleanup_(ca_secret_done) CaSecret s = {}, out = {};
        NsError e = {};

        new_ca("old CA", -DAY, 365, &old_crt, &old_key);
        new_ca("new CA", 0, 365, &new_crt, &new_key);
        ASSERT_OK(secret_value_new_copy(old_crt->data, old_crt->size, &s.v[CA_SECRET_TLS_CRT]));
        ASSERT_OK(secret_value_new_copy(old_key->data, old_key->size, &s.v[CA_SECRET_TLS_KEY]));
        ASSERT_EQ(stage(&s), ROTATION_NONE);

        /* Nothing to finish, abort or roll back: those are no-ops, not errors. */
        ASSERT_EQ(rotation_step(&s, ROTATION_STEP_FINISH, NULL, NULL, &out, NULL, &e), 0);
        ASSERT_EQ(rotation_step(&s, ROTATION_STEP_ABORT, NULL, NULL, &out, NULL, &e), 0);
        /* activate before prepare: refused, naming where the Secret is. */
        ASSERT_ERROR(rotation_step(&s, ROTATION_STEP_ACTIVATE, NULL, NULL, &out, NULL, &e), EBUSY);
        ASSERT_CONTAINS(e.message, "run prepare");

        ASSERT_OK(step_ok(&s, ROTATION_STEP_PREPARE, new_crt, new_key));
        ASSERT_EQ(stage(&s), ROTATION_PREPARED);
        ASSERT_TRUE(secret_value_equal(s.v[CA_SECRET_TLS_CRT], old_crt));     /* the old CA still signs */
        ASSERT_TRUE(secret_value_equal(s.v[CA_SECRET_NEXT_KEY], new_key));
        ASSERT_EQ(count(s.v[CA_SECRET_CA_CRT]), 2);
        ASSERT_TRUE(bundle_has(s.v[CA_SECRET_CA_CRT], old_crt) && bundle_has(s.v[CA_SECRET_CA_CRT], new_crt));
        /* Twice: nothing to do, and the new CA is not replaced by another. */
        ASSERT_EQ(rotation_step(&s, ROTATION_STEP_PREPARE, old_crt, old_key, &out, NULL, &e), 0);
        e = (NsError) {};
        ASSERT_ERROR(rotation_step(&s, ROTATION_STEP_FINISH, NULL, NULL, &out, NULL, &e), EBUSY);
        ASSERT_CONTAINS(e.message, "prepared: run activate");

        ASSERT_OK(step_ok(&s, ROTATION_STEP_ACTIVATE, NULL, NULL));
        ASSERT_EQ(stage(&s), ROTATION_ACTIVATED);
        ASSERT_TRUE(secret_value_equal(s.v[CA_SECRET_TLS_CRT], new_crt));
        ASSERT_TRUE(secret_value_equal(s.v[CA_SECRET_TLS_KEY], new_key));
        ASSERT_TRUE(secret_value_equal(s.v[CA_SECRET_PREVIOUS_CRT], old_crt));
        ASSERT_TRUE(s.v[CA_SECRET_NEXT_CRT] == NULL && s.v[CA_SECRET_NEXT_KEY] == NULL);
        ASSERT_EQ(count(s.v[CA_SECRET_CA_CRT]), 2);
        ASSERT_EQ(rotation_step(&s, ROTATION_STEP_ACTIVATE, NULL, NULL, &out, NULL, &e), 0);
        e = (NsError) {};
        ASSERT_ERROR(rotation_step(&s, ROTATION_STEP_PREPARE, new_crt, new_key, &out, NULL, &e), EBUSY);
        ASSERT_CONTAINS(e.message, "activated: run finish");

        /* Roll back and forward again. */
        ASSERT_OK(step_ok(&s, ROTATION_STEP_ROLLBACK, NULL, NULL));
        ASSERT_EQ(stage(&s), ROTATION_PREPARED);
        ASSERT_TRUE(secret_value_equal(s.v[CA_SECRET_TLS_CRT], old_crt));
        ASSERT_TRUE(secret_value_equal(s.v[CA_SECRET_NEXT_CRT], new_crt));
        ASSERT_EQ(rotation_step(&s, ROTATION_STEP_ROLLBACK, NULL, NULL, &out, NULL, &e), 0);
        ASSERT_OK(step_ok(&s, ROTATION_STEP_ACTIVATE, NULL, NULL));

        ASSERT_OK(step_ok(&s, ROTATION_STEP_FINISH, NULL, NULL));
        ASSERT_EQ(stage(&s), ROTATION_NONE);
        ASSERT_TRUE(secret_value_equal(s.v[CA_SECRET_TLS_CRT], new_crt));
        ASSERT_TRUE(s.v[CA_SECRET_PREVIOUS_CRT] == NULL && s.v[CA_SECRET_PREVIOUS_KEY] == NULL);
        ASSERT_EQ(count(s.v[CA_SECRET_CA_CRT]), 1);
        ASSERT_TRUE(bundle_has(s.v[CA_SECRET_CA_CRT], new_crt));
        ASSERT_FALSE(bundle_has(s.v[CA_SECRET_CA_CRT], old_crt));
        ASSERT_EQ(rotation_step(&s, ROTATION_STEP_FINISH, NULL, NULL, &out, NULL, &e), 0);
}

TEST(rotation_abort_drops_new_ca) {
        _cleanup_(secret_value_freep) SecretValue *old_crt = NULL, *old_key = NULL, *new_crt = NULL, *new_key = NULL;
        _cleanup_(ca_secret_done) CaSecret s = {};

        new_ca("old CA", -DAY, 365, &old_crt, &old_key);
        new_ca("new CA", 0, 365, &new_crt, &new_key);
        ASSERT_OK(secret_value_new_copy(old_crt->data, old_crt->size, &s.v[CA_SECRET_TLS_CRT]));
        ASSERT_OK(secret_value_new_copy(old_key->data, old_key->size, &s.v[CA_SECRET_TLS_KEY]));
        ASSERT_OK(step_ok(&s, ROTATION_STEP_PREPARE, new_crt, new_key));
        ASSERT_OK(step_ok(&s, ROTATION_STEP_ABORT, NULL, NULL));
        ASSERT_EQ(stage(&s), ROTATION_NONE);
        ASSERT_TRUE(s.v[CA_SECRET_NEXT_CRT] == NULL && s.v[CA_SECRET_NEXT_KEY] == NULL);
        ASSERT_EQ(count(s.v[CA_SECRET_CA_CRT]), 1);
        ASSERT_TRUE(bundle_has(s.v[CA_SECRET_CA_CRT], old_crt));
}

/* A new CA that is not valid yet is trusted ahead (prepare) but never signs (activate refused);
 * an expired CA in ca.crt is left out of the bundle, and named. */
TEST(rotation_future_and_expired_cas) {
        _cleanup_(secret_value_freep) SecretValue *old_crt = NULL, *old_key = NULL, *future_crt = NULL,
                                                  *future_key = NULL, *dead_crt = NULL, *dead_key = NULL;
        _cleanup_(ca_secret_done) CaSecret s = {}, out = {};
        _cleanup_free_ char *bundle = NULL, *notes = NULL, *a = NULL, *b = NULL;
        NsError e = {};

        new_ca("old CA", -DAY, 365, &old_crt, &old_key);
        new_ca("future CA", 10 * DAY, 365, &future_crt, &future_key);
        new_ca("dead CA", -400 * DAY, 30, &dead_crt, &dead_key);

        a = text(old_crt);
        b = text(dead_crt);
        ASSERT_OK(pki_bundle_edit(a, b, NULL, NULL, &bundle, &notes, &e));
        ASSERT_EQ(pki_pem_count(bundle, strlen(bundle)), 1);
        ASSERT_CONTAINS(notes, "\"dead CA\" (expired ");

        /* The Secret as prepare would have left it with a CA not valid until in 10 days. */
        ASSERT_OK(secret_value_new_copy(old_crt->data, old_crt->size, &s.v[CA_SECRET_TLS_CRT]));
        ASSERT_OK(secret_value_new_copy(old_key->data, old_key->size, &s.v[CA_SECRET_TLS_KEY]));
        ASSERT_OK(secret_value_new_copy(future_crt->data, future_crt->size, &s.v[CA_SECRET_NEXT_CRT]));
        ASSERT_OK(secret_value_new_copy(future_key->data, future_key->size, &s.v[CA_SECRET_NEXT_KEY]));
        free(bundle);
        bundle = NULL;
        free(a);
        free(b);
        a = text(future_crt);
        b = text(old_crt);
        ASSERT_OK(pki_bundle_edit(b, a, NULL, NULL, &bundle, NULL, &e));
        ASSERT_EQ(pki_pem_count(bundle, strlen(bundle)), 2);     /* the future CA stays in */
        ASSERT_OK(secret_value_new_copy(bundle, strlen(bundle), &s.v[CA_SECRET_CA_CRT]));
        e = (NsError) {};
        ASSERT_ERROR(rotation_step(&s, ROTATION_STEP_ACTIVATE, NULL, NULL, &out, NULL, &e), EKEYREJECTED);
        ASSERT_CONTAINS(e.message, "next.crt/next.key: tls.crt: \"future CA\" is not valid yet");
}

TEST(rotation_inconsistent_secret) {
        _cleanup_(secret_value_freep) SecretValue *crt = NULL, *key = NULL;
        _cleanup_(ca_secret_done) CaSecret s = {};
        RotationStage st;
        NsError e = {};

        new_ca("CA", -DAY, 365, &crt, &key);
        ASSERT_OK(secret_value_new_copy(crt->data, crt->size, &s.v[CA_SECRET_TLS_CRT]));
        ASSERT_OK(secret_value_new_copy(key->data, key->size, &s.v[CA_SECRET_TLS_KEY]));
        ASSERT_OK(secret_value_new_copy(crt->data, crt->size, &s.v[CA_SECRET_NEXT_CRT]));
        ASSERT_ERROR(rotation_stage_of(&s, &st, &e), EBADMSG);
        ASSERT_CONTAINS(e.message, "only one of next.crt and next.key");
}

TEST(rotation_node_stage) {
        /* A node that has not loaded the new bundle has not reached prepared. */
        ASSERT_EQ(rotation_node_stage(ROTATION_PREPARED, false, true, false), ROTATION_NONE);
        ASSERT_EQ(rotation_node_stage(ROTATION_PREPARED, true, true, false), ROTATION_PREPARED);
        ASSERT_EQ(rotation_node_stage(ROTATION_ACTIVATED, true, false, false), ROTATION_PREPARED);
        ASSERT_EQ(rotation_node_stage(ROTATION_ACTIVATED, false, false, false), ROTATION_NONE);
        ASSERT_EQ(rotation_node_stage(ROTATION_ACTIVATED, true, true, false), ROTATION_ACTIVATED);
        ASSERT_EQ(rotation_node_stage(ROTATION_NONE, true, true, false), ROTATION_ACTIVATED);
        ASSERT_EQ(rotation_node_stage(ROTATION_NONE, true, true, true), ROTATION_NONE);
        ASSERT_STREQ(rotation_stage_to_string(ROTATION_ACTIVATED), "activated");
        ASSERT_EQ(rotation_step_from_string("rollback"), ROTATION_STEP_ROLLBACK);
}

/* The gate of the daemon's worker: a new CA signs here only once the datastore has loaded a bundle
 * with it, and during "activated" once this node's jitter has passed. */
TEST(rotation_may_sign) {
        _cleanup_(secret_value_freep) SecretValue *old_crt = NULL, *old_key = NULL, *new_crt = NULL, *new_key = NULL;
        _cleanup_(rotation_state_done) RotationState st = {};
        _cleanup_free_ char *o = NULL, *n = NULL, *both = NULL;
        bool jitter;

        new_ca("old CA", -DAY, 365, &old_crt, &old_key);
        new_ca("new CA", 0, 365, &new_crt, &new_key);
        o = text(old_crt);
        n = text(new_crt);
        ASSERT_TRUE(asprintf(&both, "%s%s", o, n) > 0);

        /* No record (one-shot provision): never held. */
        ASSERT_TRUE(rotation_may_sign(NULL, "db", n, ROTATION_ACTIVATED, &jitter));
        ASSERT_OK(rotation_state_set_loaded(&st, "db", o));
        ASSERT_FALSE(rotation_may_sign(&st, "db", n, ROTATION_ACTIVATED, &jitter));
        ASSERT_FALSE(jitter);
        ASSERT_TRUE(rotation_may_sign(&st, "db", o, ROTATION_NONE, &jitter));
        ASSERT_OK(rotation_state_set_loaded(&st, "db", both));
        ASSERT_FALSE(rotation_may_sign(&st, "db", n, ROTATION_ACTIVATED, &jitter));
        ASSERT_TRUE(jitter);
        st.granted = strdup(n);
        ASSERT_TRUE(rotation_may_sign(&st, "db", n, ROTATION_ACTIVATED, &jitter));
        /* Outside "activated" (a plain CA replacement), no jitter. */
        free(st.granted);
        st.granted = NULL;
        ASSERT_TRUE(rotation_may_sign(&st, "db", n, ROTATION_NONE, &jitter));
}
