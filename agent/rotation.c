/* SPDX-License-Identifier: Apache-2.0 */
/* CA rotation with overlap: the CA Secret's stages and the steps between them; pure functions. */
#include "pki.h"
#include "rotation.h"
#include "string-table.h"

DEFINE_STRING_TABLE(rotation_stage, RotationStage, ROTATION_STAGE,
                    [ROTATION_NONE] = "none",
                    [ROTATION_PREPARED] = "prepared",
                    [ROTATION_ACTIVATED] = "activated");

DEFINE_STRING_TABLE(rotation_step, RotationStep, ROTATION_STEP,
                    [ROTATION_STEP_PREPARE] = "prepare",
                    [ROTATION_STEP_ACTIVATE] = "activate",
                    [ROTATION_STEP_FINISH] = "finish",
                    [ROTATION_STEP_ROLLBACK] = "rollback",
                    [ROTATION_STEP_ABORT] = "abort");

DEFINE_STRING_TABLE_TO_STRING(ca_secret_key, CaSecretKey, CA_SECRET_KEY,
                              [CA_SECRET_TLS_CRT] = "tls.crt",
                              [CA_SECRET_TLS_KEY] = "tls.key",
                              [CA_SECRET_CA_CRT] = "ca.crt",
                              [CA_SECRET_NEXT_CRT] = "next.crt",
                              [CA_SECRET_NEXT_KEY] = "next.key",
                              [CA_SECRET_PREVIOUS_CRT] = "previous.crt",
                              [CA_SECRET_PREVIOUS_KEY] = "previous.key");

void ca_secret_done(CaSecret *s) {
        for (size_t i = 0; i < _CA_SECRET_KEY_MAX; i++)
                s->v[i] = secret_value_free(s->v[i]);
}

int rotation_stage_of(const CaSecret *s, RotationStage *ret, NsError *error) {
        bool next = s->v[CA_SECRET_NEXT_CRT] || s->v[CA_SECRET_NEXT_KEY];
        bool previous = s->v[CA_SECRET_PREVIOUS_CRT] || s->v[CA_SECRET_PREVIOUS_KEY];

        if (!s->v[CA_SECRET_TLS_CRT] || !s->v[CA_SECRET_TLS_KEY])
                return ns_error_set(error, -EBADMSG, "the CA Secret lacks tls.crt or tls.key");
        if (next && (!s->v[CA_SECRET_NEXT_CRT] || !s->v[CA_SECRET_NEXT_KEY]))
                return ns_error_set(error, -EBADMSG, "the CA Secret holds only one of next.crt and next.key");
        if (previous && (!s->v[CA_SECRET_PREVIOUS_CRT] || !s->v[CA_SECRET_PREVIOUS_KEY]))
                return ns_error_set(error, -EBADMSG, "the CA Secret holds only one of previous.crt and previous.key");
        if (next && previous)
                return ns_error_set(error, -EBADMSG,
                                    "the CA Secret holds both next.* and previous.*, which no step of a rotation makes");
        *ret = next ? ROTATION_PREPARED : previous ? ROTATION_ACTIVATED : ROTATION_NONE;
        return 0;
}

/* PEM text of a public value (a certificate), NUL-terminated; NULL for NULL. */
static int pem_of(const SecretValue *v, char **ret) {
        char *s = NULL;

        if (v && !(s = strndup((const char *) v->data, v->size)))
                return -ENOMEM;
        *ret = s;
        return 0;
}

static int copy_value(const SecretValue *v, SecretValue **ret) {
        *ret = NULL;
        return v ? secret_value_new_copy(v->data, v->size, ret) : 0;
}

static int value_of_string(const char *s, SecretValue **ret) {
        return secret_value_new_copy(s, strlen(s), ret);
}

/* The CA these three values make must be usable (pki's rules); what stands out says which. */
static int validate(const SecretValue *crt, const SecretValue *key, const SecretValue *bundle, const char *what,
                    NsError *error) {
        _cleanup_(ca_freep) Ca *ca = NULL;
        NsError e = {};
        int r;

        r = ca_from_pem(crt, key, bundle, &ca, &e);
        if (r < 0)
                return ns_error_set(error, r, "%s: %s", what, ns_error_message(&e, r));
        return 0;
}

/* The bundle the Secret stands for today: ca.crt, or the root ending tls.crt. */
static int current_bundle(const CaSecret *in, char **ret, NsError *error) {
        _cleanup_(ca_freep) Ca *ca = NULL;
        NsError e = {};
        int r;

        r = ca_from_pem(in->v[CA_SECRET_TLS_CRT], in->v[CA_SECRET_TLS_KEY], in->v[CA_SECRET_CA_CRT], &ca, &e);
        if (r < 0)
                return ns_error_set(error, r, "the CA in tls.crt/tls.key is not usable: %s", ns_error_message(&e, r));
        return ca_trust_pem(ca, ret);
}

static int bundle_edit(const CaSecret *in, const char *bundle, CaSecretKey add, CaSecretKey remove, CaSecretKey keep,
                       SecretValue **ret, char **ret_notes, NsError *error) {
        _cleanup_free_ char *a = NULL, *rm = NULL, *k = NULL, *out = NULL;
        int r;

        r = pem_of(add >= 0 ? in->v[add] : NULL, &a);
        if (r >= 0)
                r = pem_of(remove >= 0 ? in->v[remove] : NULL, &rm);
        if (r >= 0)
                r = pem_of(keep >= 0 ? in->v[keep] : NULL, &k);
        if (r >= 0)
                r = pki_bundle_edit(bundle, a, rm, k, &out, ret_notes, error);
        if (r >= 0)
                r = value_of_string(out, ret);
        return r;
}

static const char *what_next(RotationStage s) {
        switch (s) {
        case ROTATION_PREPARED:
                return "prepared: run activate once every node has loaded the new bundle, or abort";
        case ROTATION_ACTIVATED:
                return "activated: run finish once every node and client has moved to the new CA, or rollback";
        default:
                return "not being rotated: run prepare to start";
        }
}

/* Which stage each step starts from and leads to. */
static const struct {
        RotationStage from, to;
} step_table[_ROTATION_STEP_MAX] = {
        [ROTATION_STEP_PREPARE] = { ROTATION_NONE, ROTATION_PREPARED },
        [ROTATION_STEP_ACTIVATE] = { ROTATION_PREPARED, ROTATION_ACTIVATED },
        [ROTATION_STEP_FINISH] = { ROTATION_ACTIVATED, ROTATION_NONE },
        [ROTATION_STEP_ROLLBACK] = { ROTATION_ACTIVATED, ROTATION_PREPARED },
        [ROTATION_STEP_ABORT] = { ROTATION_PREPARED, ROTATION_NONE },
};

static int step_prepare(const CaSecret *in, const SecretValue *new_crt, const SecretValue *new_key, CaSecret *out,
                        char **notes, NsError *error) {
        _cleanup_free_ char *bundle = NULL, *a = NULL;
        int r;

        if (!new_crt || !new_key)
                return ns_error_set(error, -EINVAL, "prepare needs the new CA");
        r = validate(new_crt, new_key, NULL, "the new CA", error);
        if (r < 0)
                return r;
        r = current_bundle(in, &bundle, error);
        if (r < 0)
                return r;
        if (pki_bundle_has_anchor(bundle, strlen(bundle), (const char *) new_crt->data, new_crt->size) > 0)
                return ns_error_set(error, -EEXIST, "the new CA is already in the trust bundle");
        r = pem_of(new_crt, &a);
        if (r < 0)
                return r;
        {
                _cleanup_free_ char *edited = NULL;
                r = pki_bundle_edit(bundle, a, NULL, NULL, &edited, notes, error);
                if (r >= 0)
                        r = value_of_string(edited, &out->v[CA_SECRET_CA_CRT]);
        }
        if (r >= 0)
                r = copy_value(in->v[CA_SECRET_TLS_CRT], &out->v[CA_SECRET_TLS_CRT]);
        if (r >= 0)
                r = copy_value(in->v[CA_SECRET_TLS_KEY], &out->v[CA_SECRET_TLS_KEY]);
        if (r >= 0)
                r = copy_value(new_crt, &out->v[CA_SECRET_NEXT_CRT]);
        if (r >= 0)
                r = copy_value(new_key, &out->v[CA_SECRET_NEXT_KEY]);
        return r;
}

/* Moves a pair: out[to] = in[from] for the certificate and the key. */
static int move_pair(const CaSecret *in, CaSecretKey from_crt, CaSecretKey to_crt, CaSecret *out) {
        int r = copy_value(in->v[from_crt], &out->v[to_crt]);
        if (r >= 0)
                r = copy_value(in->v[from_crt + 1], &out->v[to_crt + 1]);
        return r;
}

int rotation_step(const CaSecret *in, RotationStep step, const SecretValue *new_crt, const SecretValue *new_key,
                  CaSecret *ret, char **ret_notes, NsError *error) {
        _cleanup_(ca_secret_done) CaSecret out = {};
        _cleanup_free_ char *notes = NULL, *bundle = NULL;
        RotationStage stage;
        int r;

        if (step < 0 || step >= _ROTATION_STEP_MAX)
                return -EINVAL;
        r = rotation_stage_of(in, &stage, error);
        if (r < 0)
                return r;
        if (stage == step_table[step].to && stage != step_table[step].from)
                return 0;
        if (stage != step_table[step].from)
                return ns_error_set(error, -EBUSY, "%s refused: the CA Secret is %s", rotation_step_to_string(step),
                                    what_next(stage));

        /* The bundle as it stands, expired CAs left out (named in the notes). */
        if (step != ROTATION_STEP_PREPARE) {
                r = current_bundle(in, &bundle, error);
                if (r < 0 && step != ROTATION_STEP_ROLLBACK)
                        return r;
                if (r < 0) {
                        /* Rolling back from a new CA that broke: the bundle is what ca.crt holds. */
                        *error = (NsError) {};
                        r = pem_of(in->v[CA_SECRET_CA_CRT], &bundle);
                        if (r < 0 || !bundle)
                                return ns_error_set(error, -EBADMSG, "the CA Secret has no ca.crt to roll back to");
                }
        }

        switch (step) {
        case ROTATION_STEP_PREPARE:
                r = step_prepare(in, new_crt, new_key, &out, &notes, error);
                break;
        case ROTATION_STEP_ACTIVATE:
                /* The new CA signs from now on: it must be valid now and in the bundle. */
                r = bundle_edit(in, bundle, -1, -1, -1, &out.v[CA_SECRET_CA_CRT], &notes, error);
                if (r >= 0)
                        r = validate(in->v[CA_SECRET_NEXT_CRT], in->v[CA_SECRET_NEXT_KEY], out.v[CA_SECRET_CA_CRT],
                                     "next.crt/next.key", error);
                if (r >= 0)
                        r = move_pair(in, CA_SECRET_NEXT_CRT, CA_SECRET_TLS_CRT, &out);
                if (r >= 0)
                        r = move_pair(in, CA_SECRET_TLS_CRT, CA_SECRET_PREVIOUS_CRT, &out);
                break;
        case ROTATION_STEP_FINISH:
                r = bundle_edit(in, bundle, -1, CA_SECRET_PREVIOUS_CRT, CA_SECRET_TLS_CRT, &out.v[CA_SECRET_CA_CRT],
                                &notes, error);
                if (r >= 0)
                        r = move_pair(in, CA_SECRET_TLS_CRT, CA_SECRET_TLS_CRT, &out);
                break;
        case ROTATION_STEP_ROLLBACK:
                r = bundle_edit(in, bundle, -1, -1, -1, &out.v[CA_SECRET_CA_CRT], &notes, error);
                if (r >= 0)
                        r = validate(in->v[CA_SECRET_PREVIOUS_CRT], in->v[CA_SECRET_PREVIOUS_KEY],
                                     out.v[CA_SECRET_CA_CRT], "previous.crt/previous.key", error);
                if (r >= 0)
                        r = move_pair(in, CA_SECRET_PREVIOUS_CRT, CA_SECRET_TLS_CRT, &out);
                if (r >= 0)
                        r = move_pair(in, CA_SECRET_TLS_CRT, CA_SECRET_NEXT_CRT, &out);
                break;
        case ROTATION_STEP_ABORT:
                r = bundle_edit(in, bundle, -1, CA_SECRET_NEXT_CRT, CA_SECRET_TLS_CRT, &out.v[CA_SECRET_CA_CRT], &notes,
                                error);
                if (r >= 0)
                        r = move_pair(in, CA_SECRET_TLS_CRT, CA_SECRET_TLS_CRT, &out);
                break;
        default:
                return -EINVAL;
        }
        if (r < 0)
                return r;

        /* Whatever the step, the result signs with a usable CA that its own bundle trusts. */
        r = validate(out.v[CA_SECRET_TLS_CRT], out.v[CA_SECRET_TLS_KEY], out.v[CA_SECRET_CA_CRT],
                     "the CA that would sign after this step", error);
        if (r < 0)
                return r;

        *ret = out;
        out = (CaSecret) {};
        if (ret_notes)
                *ret_notes = TAKE_PTR(notes);
        return 1;
}

RotationStage rotation_node_stage(RotationStage secret_stage, bool bundle_loaded, bool signed_by_current,
                                  bool bundle_exact) {
        switch (secret_stage) {
        case ROTATION_PREPARED:
                return bundle_loaded ? ROTATION_PREPARED : ROTATION_NONE;
        case ROTATION_ACTIVATED:
                return !bundle_loaded ? ROTATION_NONE : signed_by_current ? ROTATION_ACTIVATED : ROTATION_PREPARED;
        case ROTATION_NONE:
                return bundle_loaded && signed_by_current && bundle_exact ? ROTATION_NONE : ROTATION_ACTIVATED;
        default:
                return _ROTATION_STAGE_INVALID;
        }
}
