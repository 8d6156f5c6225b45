/* SPDX-License-Identifier: Apache-2.0 */
/* The node key sealed in the node's TPM 2.0 through tpm2-tss ESYS. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <tss2/tss2_esys.h>
#include <tss2/tss2_mu.h>
#include <tss2/tss2_rc.h>
#include <tss2/tss2_tctildr.h>

#include "json-util.h"
#include "kube-secret.h"
#include "tpm.h"

/* One connection to the TPM: the TCTI, the ESYS context and the storage primary key. */
typedef struct TpmConn {
        TSS2_TCTI_CONTEXT *tcti;
        ESYS_CONTEXT *esys;
        ESYS_TR primary;
} TpmConn;

static void tpm_conn_done(TpmConn *c) {
        if (c->esys) {
                if (c->primary != ESYS_TR_NONE)
                        (void) Esys_FlushContext(c->esys, c->primary);
                Esys_Finalize(&c->esys);
        }
        if (c->tcti)
                Tss2_TctiLdr_Finalize(&c->tcti);
}

static int tpm_fail(NsError *error, TSS2_RC rc, const char *what) {
        return ns_error_set(error, -EIO, "TPM: %s failed: %s", what, Tss2_RC_Decode(rc));
}

/* The TCG's storage primary key template (ECC P-256, AES-128-CFB): the TPM derives the same key
 * from its owner seed every time, so nothing about it needs storing. */
static const TPM2B_PUBLIC primary_template = {
        .publicArea = {
                .type = TPM2_ALG_ECC,
                .nameAlg = TPM2_ALG_SHA256,
                .objectAttributes = TPMA_OBJECT_RESTRICTED | TPMA_OBJECT_DECRYPT | TPMA_OBJECT_FIXEDTPM |
                                    TPMA_OBJECT_FIXEDPARENT | TPMA_OBJECT_SENSITIVEDATAORIGIN |
                                    TPMA_OBJECT_USERWITHAUTH | TPMA_OBJECT_NODA,
                .parameters.eccDetail = {
                        .symmetric = { .algorithm = TPM2_ALG_AES, .keyBits.aes = 128, .mode.aes = TPM2_ALG_CFB },
                        .scheme.scheme = TPM2_ALG_NULL,
                        .curveID = TPM2_ECC_NIST_P256,
                        .kdf.scheme = TPM2_ALG_NULL,
                },
                .unique.ecc = { .x.size = 32, .y.size = 32 },
        },
};

static int tpm_connect(const char *tcti, TpmConn *ret, NsError *error) {
        static const TPM2B_SENSITIVE_CREATE no_auth = {};
        static const TPM2B_DATA no_outside = {};
        static const TPML_PCR_SELECTION no_pcrs = {};
        TpmConn c = { .primary = ESYS_TR_NONE };
        TSS2_RC rc;

        rc = Tss2_TctiLdr_Initialize(tcti, &c.tcti);
        if (rc != TSS2_RC_SUCCESS)
                return ns_error_set(error, -ENODEV, "No TPM at %s: %s", tcti ?: "the default TCTI", Tss2_RC_Decode(rc));
        rc = Esys_Initialize(&c.esys, c.tcti, NULL);
        if (rc != TSS2_RC_SUCCESS) {
                tpm_conn_done(&c);
                return tpm_fail(error, rc, "Esys_Initialize");
        }
        rc = Esys_CreatePrimary(c.esys, ESYS_TR_RH_OWNER, ESYS_TR_PASSWORD, ESYS_TR_NONE, ESYS_TR_NONE, &no_auth,
                                &primary_template, &no_outside, &no_pcrs, &c.primary, NULL, NULL, NULL, NULL);
        if (rc != TSS2_RC_SUCCESS) {
                tpm_conn_done(&c);
                return tpm_fail(error, rc, "creating the storage primary key");
        }
        *ret = c;
        return 0;
}

static void pcr_selection(const uint32_t *pcrs, size_t n, TPML_PCR_SELECTION *ret) {
        *ret = (TPML_PCR_SELECTION) { .count = 1 };
        ret->pcrSelections[0].hash = TPM2_ALG_SHA256;
        ret->pcrSelections[0].sizeofSelect = 3;
        for (size_t i = 0; i < n; i++)
                ret->pcrSelections[0].pcrSelect[pcrs[i] / 8] |= (uint8_t) (1u << (pcrs[i] % 8));
}

/* A session salted with the primary key: what it protects travels encrypted between us and the
 * TPM (a bus sniffer sees neither the key going in nor coming out). type: HMAC, POLICY or TRIAL. */
static int start_session(TpmConn *c, TPM2_SE type, TPMA_SESSION attrs, ESYS_TR *ret, NsError *error) {
        static const TPMT_SYM_DEF aes = { .algorithm = TPM2_ALG_AES, .keyBits.aes = 128, .mode.aes = TPM2_ALG_CFB };
        static const TPMT_SYM_DEF none = { .algorithm = TPM2_ALG_NULL };
        TSS2_RC rc;

        rc = Esys_StartAuthSession(c->esys, type == TPM2_SE_TRIAL ? ESYS_TR_NONE : c->primary, ESYS_TR_NONE,
                                   ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, NULL, type,
                                   type == TPM2_SE_TRIAL ? &none : &aes, TPM2_ALG_SHA256, ret);
        if (rc != TSS2_RC_SUCCESS)
                return tpm_fail(error, rc, "starting a session");
        if (attrs) {
                rc = Esys_TRSess_SetAttributes(c->esys, *ret, attrs | TPMA_SESSION_CONTINUESESSION, 0xff);
                if (rc != TSS2_RC_SUCCESS) {
                        (void) Esys_FlushContext(c->esys, *ret);
                        return tpm_fail(error, rc, "setting the session's attributes");
                }
        }
        return 0;
}

/* The policy digest of "PCRs as they are now" (trial), or applies it to a policy session. */
static int policy_pcr(TpmConn *c, ESYS_TR session, const uint32_t *pcrs, size_t n, TPM2B_DIGEST **ret_digest,
                      NsError *error) {
        TPML_PCR_SELECTION sel;
        TSS2_RC rc;

        pcr_selection(pcrs, n, &sel);
        rc = Esys_PolicyPCR(c->esys, session, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, NULL, &sel);
        if (rc != TSS2_RC_SUCCESS)
                return tpm_fail(error, rc, "PolicyPCR");
        if (ret_digest) {
                rc = Esys_PolicyGetDigest(c->esys, session, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, ret_digest);
                if (rc != TSS2_RC_SUCCESS)
                        return tpm_fail(error, rc, "PolicyGetDigest");
        }
        return 0;
}

int tpm_seal(const char *tcti, const uint32_t *pcrs, size_t n_pcrs, const SecretValue *secret, TpmSealed *ret,
             NsError *error) {
        static const TPM2B_DATA no_outside = {};
        static const TPML_PCR_SELECTION no_pcrs = {};
        TPM2B_SENSITIVE_CREATE sens = {};
        TPM2B_PUBLIC tmpl = {};
        TPM2B_PRIVATE *priv = NULL;
        TPM2B_PUBLIC *pub = NULL;
        TPM2B_DIGEST *digest = NULL;
        ESYS_TR session = ESYS_TR_NONE;
        TpmSealed s = {};
        TpmConn c = {};
        size_t off;
        TSS2_RC rc;
        int r;

        if (!secret || secret->size == 0 || secret->size > sizeof(sens.sensitive.data.buffer))
                return ns_error_set(error, -EINVAL, "TPM: a sealed secret holds 1 to %zu bytes",
                                    sizeof(sens.sensitive.data.buffer));
        if (n_pcrs > TPM_PCR_MAX)
                return -EINVAL;
        for (size_t i = 0; i < n_pcrs; i++)
                if (pcrs[i] >= TPM_PCR_MAX)
                        return ns_error_set(error, -EINVAL, "TPM: PCR %u does not exist (0 to 23)", pcrs[i]);

        r = tpm_connect(tcti, &c, error);
        if (r < 0)
                return r;

        tmpl.publicArea.type = TPM2_ALG_KEYEDHASH;
        tmpl.publicArea.nameAlg = TPM2_ALG_SHA256;
        tmpl.publicArea.objectAttributes = TPMA_OBJECT_FIXEDTPM | TPMA_OBJECT_FIXEDPARENT | TPMA_OBJECT_NODA;
        tmpl.publicArea.parameters.keyedHashDetail.scheme.scheme = TPM2_ALG_NULL;
        if (n_pcrs > 0) {
                r = start_session(&c, TPM2_SE_TRIAL, 0, &session, error);
                if (r >= 0)
                        r = policy_pcr(&c, session, pcrs, n_pcrs, &digest, error);
                if (session != ESYS_TR_NONE)
                        (void) Esys_FlushContext(c.esys, session);
                session = ESYS_TR_NONE;
                if (r < 0)
                        goto out;
                tmpl.publicArea.authPolicy = *digest;
        } else
                /* No policy: the empty auth value of the object unseals it, on this TPM only. */
                tmpl.publicArea.objectAttributes |= TPMA_OBJECT_USERWITHAUTH;

        memcpy(sens.sensitive.data.buffer, secret->data, secret->size);
        sens.sensitive.data.size = (UINT16) secret->size;
        r = start_session(&c, TPM2_SE_HMAC, TPMA_SESSION_DECRYPT, &session, error);
        if (r < 0)
                goto out;
        rc = Esys_Create(c.esys, c.primary, session, ESYS_TR_NONE, ESYS_TR_NONE, &sens, &tmpl, &no_outside, &no_pcrs,
                         &priv, &pub, NULL, NULL, NULL);
        if (rc != TSS2_RC_SUCCESS) {
                r = tpm_fail(error, rc, "sealing the node key");
                goto out;
        }

        off = 0;
        if (Tss2_MU_TPM2B_PUBLIC_Marshal(pub, s.public_area, sizeof(s.public_area), &off) != TSS2_RC_SUCCESS) {
                r = -EIO;
                goto out;
        }
        s.public_size = off;
        off = 0;
        if (Tss2_MU_TPM2B_PRIVATE_Marshal(priv, s.private_area, sizeof(s.private_area), &off) != TSS2_RC_SUCCESS) {
                r = -EIO;
                goto out;
        }
        s.private_size = off;
        memcpy(s.pcrs, pcrs, n_pcrs * sizeof(*pcrs));
        s.n_pcrs = n_pcrs;
        *ret = s;
        r = 0;
out:
        explicit_bzero(&sens, sizeof(sens));
        if (session != ESYS_TR_NONE)
                (void) Esys_FlushContext(c.esys, session);
        Esys_Free(priv);
        Esys_Free(pub);
        Esys_Free(digest);
        tpm_conn_done(&c);
        return r;
}

int tpm_unseal(const char *tcti, const TpmSealed *s, SecretValue **ret, NsError *error) {
        TPM2B_SENSITIVE_DATA *out = NULL;
        TPM2B_PRIVATE priv = {};
        TPM2B_PUBLIC pub = {};
        ESYS_TR obj = ESYS_TR_NONE, session = ESYS_TR_NONE;
        TpmConn c = {};
        size_t off = 0;
        TSS2_RC rc;
        int r;

        if (Tss2_MU_TPM2B_PUBLIC_Unmarshal(s->public_area, s->public_size, &off, &pub) != TSS2_RC_SUCCESS ||
            off != s->public_size)
                return ns_error_set(error, -EBADMSG, "TPM: the sealed node key's public part does not parse");
        off = 0;
        if (Tss2_MU_TPM2B_PRIVATE_Unmarshal(s->private_area, s->private_size, &off, &priv) != TSS2_RC_SUCCESS ||
            off != s->private_size)
                return ns_error_set(error, -EBADMSG, "TPM: the sealed node key's private part does not parse");

        r = tpm_connect(tcti, &c, error);
        if (r < 0)
                return r;
        rc = Esys_Load(c.esys, c.primary, ESYS_TR_PASSWORD, ESYS_TR_NONE, ESYS_TR_NONE, &priv, &pub, &obj);
        if (rc != TSS2_RC_SUCCESS) {
                /* The private part is encrypted to this TPM's primary key: on any other TPM (or after
                 * the owner hierarchy was cleared) it does not load. */
                r = ns_error_set(error, -ENOKEY,
                                 "TPM: the sealed node key does not load on this TPM (another machine's, or the TPM "
                                 "was cleared): %s", Tss2_RC_Decode(rc));
                goto out;
        }
        if (s->n_pcrs > 0) {
                r = start_session(&c, TPM2_SE_POLICY, TPMA_SESSION_ENCRYPT, &session, error);
                if (r >= 0)
                        r = policy_pcr(&c, session, s->pcrs, s->n_pcrs, NULL, error);
                if (r < 0)
                        goto out;
        } else {
                r = start_session(&c, TPM2_SE_HMAC, TPMA_SESSION_ENCRYPT, &session, error);
                if (r < 0)
                        goto out;
        }
        rc = Esys_Unseal(c.esys, obj, session, ESYS_TR_NONE, ESYS_TR_NONE, &out);
        if (rc != TSS2_RC_SUCCESS) {
                r = ns_error_set(error, -EACCES,
                                 "TPM: unsealing the node key was refused (%s)%s", Tss2_RC_Decode(rc),
                                 s->n_pcrs > 0 ? "; the PCRs it is bound to have other values now" : "");
                goto out;
        }
        r = secret_value_new_copy(out->buffer, out->size, ret);
out:
        if (out) {
                explicit_bzero(out, sizeof(*out));
                Esys_Free(out);
        }
        if (session != ESYS_TR_NONE)
                (void) Esys_FlushContext(c.esys, session);
        if (obj != ESYS_TR_NONE)
                (void) Esys_FlushContext(c.esys, obj);
        tpm_conn_done(&c);
        return r;
}

/* --- the node key file ---------------------------------------------------------------------- */

static int get_b64(const cJSON *root, const char *name, uint8_t *buf, size_t max, size_t *ret_size, NsError *error) {
        _cleanup_(secret_value_freep) SecretValue *v = NULL;
        const cJSON *s = cJSON_GetObjectItemCaseSensitive(root, name);

        if (!cJSON_IsString(s) || kube_base64_decode(s->valuestring, strlen(s->valuestring), &v) < 0)
                return ns_error_set(error, -EBADMSG, "The sealed node key has no base64 \"%s\"", name);
        if (v->size == 0 || v->size > max)
                return ns_error_set(error, -EBADMSG, "The sealed node key's \"%s\" holds %zu bytes, not 1 to %zu", name,
                                    v->size, max);
        memcpy(buf, v->data, v->size);
        *ret_size = v->size;
        return 0;
}

int tpm_sealed_parse(const char *text, size_t size, TpmSealed *ret, NsError *error) {
        _cleanup_(cJSON_Deletep) cJSON *root = cJSON_ParseWithLength(text, size);
        const cJSON *f, *pcrs, *p;
        TpmSealed s = {};
        int r;

        if (!cJSON_IsObject(root))
                return ns_error_set(error, -EBADMSG, "The sealed node key is not a JSON object");
        f = cJSON_GetObjectItemCaseSensitive(root, "format");
        if (!cJSON_IsString(f) || !streq(f->valuestring, TPM_FORMAT))
                return ns_error_set(error, -EBADMSG, "The sealed node key's format is not %s", TPM_FORMAT);
        pcrs = cJSON_GetObjectItemCaseSensitive(root, "pcrs");
        if (!cJSON_IsArray(pcrs))
                return ns_error_set(error, -EBADMSG, "The sealed node key has no \"pcrs\" array");
        cJSON_ArrayForEach(p, pcrs) {
                if (!cJSON_IsNumber(p) || p->valuedouble < 0 || p->valuedouble >= TPM_PCR_MAX ||
                    p->valuedouble != (double) (uint32_t) p->valuedouble || s.n_pcrs >= TPM_PCR_MAX)
                        return ns_error_set(error, -EBADMSG, "The sealed node key's \"pcrs\" are not PCR numbers 0 to 23");
                s.pcrs[s.n_pcrs++] = (uint32_t) p->valuedouble;
        }
        r = get_b64(root, "public", s.public_area, sizeof(s.public_area), &s.public_size, error);
        if (r < 0)
                return r;
        r = get_b64(root, "private", s.private_area, sizeof(s.private_area), &s.private_size, error);
        if (r < 0)
                return r;
        *ret = s;
        return 0;
}

int tpm_sealed_format(const TpmSealed *s, char **ret) {
        _cleanup_(cJSON_Deletep) cJSON *root = cJSON_CreateObject();
        _cleanup_(secret_value_freep) SecretValue *pub = NULL, *priv = NULL;
        cJSON *pcrs;
        char *text;

        if (!root || kube_base64_encode(s->public_area, s->public_size, &pub) < 0 ||
            kube_base64_encode(s->private_area, s->private_size, &priv) < 0 ||
            !cJSON_AddStringToObject(root, "format", TPM_FORMAT) || !(pcrs = cJSON_AddArrayToObject(root, "pcrs")))
                return -ENOMEM;
        for (size_t i = 0; i < s->n_pcrs; i++)
                if (!cJSON_AddItemToArray(pcrs, cJSON_CreateNumber(s->pcrs[i])))
                        return -ENOMEM;
        if (!cJSON_AddStringToObject(root, "public", (const char *) pub->data) ||
            !cJSON_AddStringToObject(root, "private", (const char *) priv->data))
                return -ENOMEM;
        text = cJSON_Print(root);
        if (!text)
                return -ENOMEM;
        *ret = text;
        return 0;
}
