/* SPDX-License-Identifier: Apache-2.0 */
/* Volume keys wrapped to one node (AES-256-GCM) and to the operator's recovery key (X25519). */
#include <errno.h>
#include <fcntl.h>
#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <openssl/pem.h>
#include <openssl/sha.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "json-util.h"
#include "kube-secret.h"
#include "path-util.h"
#include "string-table.h"
#include "tpm.h"
#include "wrap.h"

DEFINE_STRING_TABLE(wrap_kek_type, WrapKekType, WRAP_KEK_TYPE,
                    [WRAP_KEK_FILE] = "file",
                    [WRAP_KEK_TPM2] = "tpm2");

DEFINE_TRIVIAL_CLEANUP_FUNC(EVP_CIPHER_CTX *, EVP_CIPHER_CTX_free);
DEFINE_TRIVIAL_CLEANUP_FUNC(EVP_MD_CTX *, EVP_MD_CTX_free);
DEFINE_TRIVIAL_CLEANUP_FUNC(EVP_PKEY_CTX *, EVP_PKEY_CTX_free);
DEFINE_TRIVIAL_CLEANUP_FUNC(EVP_KDF *, EVP_KDF_free);
DEFINE_TRIVIAL_CLEANUP_FUNC(EVP_KDF_CTX *, EVP_KDF_CTX_free);

#define GCM_TAG 16
#define GCM_NONCE 12
#define VOLUME_KEY_MAX 512
#define RECOVERY_INFO "nodeseal-recovery/1"

void wrap_kek_done(WrapKek *k) {
        if (!k)
                return;
        k->key = secret_value_free(k->key);
        k->id[0] = '\0';
}

static void hex(const uint8_t *data, size_t n, char *out) {
        for (size_t i = 0; i < n; i++)
                sprintf(out + 2 * i, "%02x", data[i]);
}

/* The id names a key without telling anything about it: a digest of it under a label, cut to
 * 128 bits, which is enough to tell keys apart and to notice the wrong one is in use. */
static int digest_id(const char *label, const uint8_t *data, size_t n, char ret[static WRAP_ID_MAX]) {
        uint8_t md[SHA256_DIGEST_LENGTH];
        _cleanup_(EVP_MD_CTX_freep) EVP_MD_CTX *ctx = EVP_MD_CTX_new();

        if (!ctx || EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) != 1 ||
            EVP_DigestUpdate(ctx, label, strlen(label) + 1) != 1 || EVP_DigestUpdate(ctx, data, n) != 1 ||
            EVP_DigestFinal_ex(ctx, md, NULL) != 1)
                return -EIO;
        hex(md, 16, ret);
        explicit_bzero(md, sizeof(md));
        return 0;
}

int wrap_kek_from_key(WrapKekType type, SecretValue *key, WrapKek *ret) {
        WrapKek k = { .type = type };
        int r;

        if (type < 0 || type >= _WRAP_KEK_TYPE_MAX || !key || key->size != WRAP_KEK_SIZE)
                return -EINVAL;
        r = digest_id("nodeseal-kek-id/1", key->data, key->size, k.id);
        if (r < 0)
                return r;
        k.key = key;
        *ret = k;
        return 0;
}

/* The node key made anew: 32 random bytes, kept in the file as they are (file) or sealed in the
 * TPM (tpm2), then loaded back through the same path as every later use. */
static int kek_file_create(const WrapKekSource *src, int dfd, const char *name, NsError *error) {
        _cleanup_(secret_value_freep) SecretValue *fresh = NULL;
        _cleanup_free_ char *sealed_text = NULL;
        TpmSealed sealed;
        int r;

        r = secret_value_new(WRAP_KEK_SIZE, &fresh);
        if (r < 0)
                return r;
        r = random_bytes(fresh->data, fresh->size);
        if (r < 0)
                return ns_error_set(error, r, "No random bytes for a node key: %m");
        if (src->type == WRAP_KEK_FILE)
                r = write_file_atomic_at(dfd, name, fresh->data, fresh->size, 0600, 0, 0);
        else {
                r = tpm_seal(src->tcti, src->pcrs, src->n_pcrs, fresh, &sealed, error);
                if (r < 0)
                        return r;
                r = tpm_sealed_format(&sealed, &sealed_text);
                if (r < 0)
                        return r;
                r = write_file_atomic_at(dfd, name, sealed_text, strlen(sealed_text), 0600, 0, 0);
        }
        if (r < 0)
                return ns_error_set(error, r, "Failed to create the node key file %s: %m", src->path);
        return 0;
}

int wrap_kek_load(const WrapKekSource *src, bool create, WrapKek *ret, NsError *error) {
        _cleanup_(secret_value_freep) SecretValue *content = NULL, *key = NULL;
        _cleanup_free_ char *dir = NULL;
        _cleanup_close_ int dfd = -EBADF, fd = -EBADF;
        const char *path = src->path, *name;
        TpmSealed sealed;
        struct stat st;
        int r;

        if (!path || path[0] != '/')
                return ns_error_set(error, -EINVAL, "The node key file must be an absolute path");
        name = strrchr(path, '/') + 1;
        dir = strndup(path, name - path - 1);
        if (!dir)
                return -ENOMEM;
        r = path_open_dir_safe(isempty(dir) ? "/" : dir, create ? PATH_SAFE_MKDIR : 0, (uid_t) -1, (gid_t) -1, &dfd,
                               error);
        if (r < 0)
                return ns_error_prefix(error, r, "Node key file %s", path);

        r = path_open_regular_at(dfd, name, O_RDONLY, &fd, &st);
        if (r == -ENOENT && create) {
                r = kek_file_create(src, dfd, name, error);
                if (r < 0)
                        return r;
                r = path_open_regular_at(dfd, name, O_RDONLY, &fd, &st);
        }
        if (r == -ENOENT)
                return ns_error_set(error, r, "The node key file %s does not exist (enrol the node first)", path);
        if (r < 0)
                return ns_error_set(error, r, "Cannot open the node key file %s: %m", path);
        if (st.st_uid != 0 || (st.st_mode & 077) != 0)
                return ns_error_set(error, -EPERM,
                                    "The node key file %s must be owned by root and readable by root only (it is "
                                    "owned by uid %u, mode %04o)", path, (unsigned) st.st_uid,
                                    (unsigned) (st.st_mode & 07777));
        if (st.st_nlink != 1)
                return ns_error_set(error, -EPERM, "The node key file %s has %ju links; refusing a key others may share",
                                    path, (uintmax_t) st.st_nlink);
        r = read_secret_fd(fd, 16 * 1024, &content);
        if (r < 0)
                return ns_error_set(error, r, "Cannot read the node key file %s: %m", path);

        if (src->type == WRAP_KEK_FILE) {
                if (content->size != WRAP_KEK_SIZE)
                        return ns_error_set(error, -EBADMSG, "The node key file %s does not hold %d bytes", path,
                                            WRAP_KEK_SIZE);
                key = TAKE_PTR(content);
        } else {
                r = tpm_sealed_parse((const char *) content->data, content->size, &sealed, error);
                if (r < 0)
                        return ns_error_prefix(error, r, "Node key file %s", path);
                r = tpm_unseal(src->tcti, &sealed, &key, error);
                if (r < 0)
                        return ns_error_prefix(error, r, "Node key file %s", path);
                if (key->size != WRAP_KEK_SIZE)
                        return ns_error_set(error, -EBADMSG, "The key sealed in %s does not hold %d bytes", path,
                                            WRAP_KEK_SIZE);
        }
        r = wrap_kek_from_key(src->type, key, ret);
        if (r < 0)
                return r;
        TAKE_PTR(key);
        return 0;
}

int wrap_kek_load_config(const WrappingConfig *w, bool create, WrapKek *ret, NsError *error) {
        WrapKekSource src = {
                .type = wrap_kek_type_from_string(w->node_key),
                .path = w->node_key_file,
                .tcti = w->tpm_tcti,
                .pcrs = w->pcrs,
                .n_pcrs = w->n_pcrs,
        };

        if (src.type < 0)
                return ns_error_set(error, -EINVAL, "Unknown node key type \"%s\"", strempty(w->node_key));
        return wrap_kek_load(&src, create, ret, error);
}

int wrap_recovery_id(EVP_PKEY *key, char ret[static WRAP_ID_MAX]) {
        uint8_t pub[32];
        size_t n = sizeof(pub);

        if (!key || EVP_PKEY_get_id(key) != EVP_PKEY_X25519 || EVP_PKEY_get_raw_public_key(key, pub, &n) != 1 ||
            n != sizeof(pub))
                return -EINVAL;
        return digest_id("nodeseal-recovery-id/1", pub, n, ret);
}

/* The associated data both encryptions authenticate: what the value is for and under what. */
static int associated_data(const char *node, const char *volume, WrapKekType kek_type, const char *kek_id,
                           char **ret, size_t *ret_size) {
        char *ad;
        int n;

        n = asprintf(&ad, "%s%c%s%c%s%c%s%c%s", WRAP_FORMAT, 0, node, 0, volume, 0,
                     strempty(wrap_kek_type_to_string(kek_type)), 0, kek_id);
        if (n < 0)
                return -ENOMEM;
        *ret = ad;
        *ret_size = (size_t) n;
        return 0;
}

static int gcm(bool encrypt, const uint8_t *key, const uint8_t nonce[GCM_NONCE], const char *ad, size_t ad_size,
               const uint8_t *in, size_t in_size, uint8_t *out, uint8_t tag[GCM_TAG]) {
        _cleanup_(EVP_CIPHER_CTX_freep) EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
        int n = 0, m = 0;

        if (!ctx || EVP_CipherInit_ex(ctx, EVP_aes_256_gcm(), NULL, key, nonce, encrypt) != 1 ||
            EVP_CipherUpdate(ctx, NULL, &n, (const uint8_t *) ad, (int) ad_size) != 1 ||
            EVP_CipherUpdate(ctx, out, &n, in, (int) in_size) != 1)
                return -EIO;
        if (!encrypt && EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG, GCM_TAG, tag) != 1)
                return -EIO;
        if (EVP_CipherFinal_ex(ctx, out + n, &m) != 1)
                return encrypt ? -EIO : -EBADMSG;   /* the tag does not match */
        if (encrypt && EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, GCM_TAG, tag) != 1)
                return -EIO;
        return 0;
}

/* X25519 between ours and theirs, then HKDF-SHA256 (salt: the ephemeral and the recipient's public
 * keys, as in RFC 9180's shape) into a 32-byte AES key. */
static int recovery_key(EVP_PKEY *ours, EVP_PKEY *theirs, const uint8_t eph_pub[32], const uint8_t rcpt_pub[32],
                        uint8_t ret[32]) {
        _cleanup_(EVP_PKEY_CTX_freep) EVP_PKEY_CTX *dctx = EVP_PKEY_CTX_new(ours, NULL);
        _cleanup_(EVP_KDF_freep) EVP_KDF *kdf = EVP_KDF_fetch(NULL, "HKDF", NULL);
        _cleanup_(EVP_KDF_CTX_freep) EVP_KDF_CTX *kctx = NULL;
        uint8_t shared[32], salt[64];
        size_t n = sizeof(shared);
        OSSL_PARAM params[5];
        int r = -EIO;

        if (!dctx || EVP_PKEY_derive_init(dctx) != 1 || EVP_PKEY_derive_set_peer(dctx, theirs) != 1 ||
            EVP_PKEY_derive(dctx, shared, &n) != 1 || n != sizeof(shared))
                goto out;
        kctx = kdf ? EVP_KDF_CTX_new(kdf) : NULL;
        if (!kctx)
                goto out;
        memcpy(salt, eph_pub, 32);
        memcpy(salt + 32, rcpt_pub, 32);
        params[0] = OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, (char *) "SHA256", 0);
        params[1] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, shared, sizeof(shared));
        params[2] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SALT, salt, sizeof(salt));
        params[3] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO, (char *) RECOVERY_INFO,
                                                      strlen(RECOVERY_INFO));
        params[4] = OSSL_PARAM_construct_end();
        if (EVP_KDF_derive(kctx, ret, 32, params) == 1)
                r = 0;
out:
        explicit_bzero(shared, sizeof(shared));
        return r;
}

static int add_b64(cJSON *o, const char *name, const uint8_t *data, size_t n) {
        _cleanup_(secret_value_freep) SecretValue *b = NULL;   /* not secret, but the encoder's type */

        if (kube_base64_encode(data, n, &b) < 0)
                return -ENOMEM;
        return cJSON_AddStringToObject(o, name, (const char *) b->data) ? 0 : -ENOMEM;
}

static int wrap_recovery(cJSON *root, const SecretValue *key, EVP_PKEY *recipient, const char *ad, size_t ad_size) {
        _cleanup_(EVP_PKEY_freep) EVP_PKEY *eph = EVP_PKEY_Q_keygen(NULL, NULL, "X25519");
        uint8_t eph_pub[32], rcpt_pub[32], aes[32], nonce[GCM_NONCE], ct[VOLUME_KEY_MAX + GCM_TAG];
        size_t n1 = sizeof(eph_pub), n2 = sizeof(rcpt_pub);
        char id[WRAP_ID_MAX];
        cJSON *o;
        int r;

        if (!eph || EVP_PKEY_get_raw_public_key(eph, eph_pub, &n1) != 1 ||
            EVP_PKEY_get_raw_public_key(recipient, rcpt_pub, &n2) != 1 || n1 != 32 || n2 != 32)
                return -EIO;
        r = wrap_recovery_id(recipient, id);
        if (r < 0)
                return r;
        r = recovery_key(eph, recipient, eph_pub, rcpt_pub, aes);
        if (r >= 0)
                r = random_bytes(nonce, sizeof(nonce));
        if (r >= 0)
                r = gcm(true, aes, nonce, ad, ad_size, key->data, key->size, ct, ct + key->size);
        explicit_bzero(aes, sizeof(aes));
        if (r < 0)
                return r;
        o = cJSON_AddObjectToObject(root, "recovery");
        if (!o || !cJSON_AddStringToObject(o, "type", "x25519") || !cJSON_AddStringToObject(o, "id", id) ||
            add_b64(o, "ephemeral", eph_pub, 32) < 0 || add_b64(o, "nonce", nonce, sizeof(nonce)) < 0 ||
            add_b64(o, "ciphertext", ct, key->size + GCM_TAG) < 0)
                return -ENOMEM;
        return 0;
}

int wrap_key(const SecretValue *key, const char *node, const char *volume, const WrapKek *kek,
             EVP_PKEY *recovery, char **ret, NsError *error) {
        _cleanup_(cJSON_Deletep) cJSON *root = cJSON_CreateObject();
        _cleanup_free_ char *ad = NULL;
        uint8_t nonce[GCM_NONCE], ct[VOLUME_KEY_MAX + GCM_TAG];
        size_t ad_size;
        cJSON *k;
        char *text;
        int r;

        if (!key || key->size == 0 || key->size > VOLUME_KEY_MAX)
                return ns_error_set(error, -EINVAL, "A volume key to wrap must hold 1 to %d bytes", VOLUME_KEY_MAX);
        if (isempty(node) || isempty(volume) || strlen(node) > WRAP_NAME_MAX || strlen(volume) > WRAP_NAME_MAX)
                return ns_error_set(error, -EINVAL, "A wrapped key needs a node and a volume name");
        if (!kek || !kek->key || kek->key->size != WRAP_KEK_SIZE)
                return ns_error_set(error, -EINVAL, "No node key to wrap with");
        if (recovery && EVP_PKEY_get_id(recovery) != EVP_PKEY_X25519)
                return ns_error_set(error, -EINVAL, "The recovery key must be an X25519 public key");
        if (!root)
                return -ENOMEM;

        r = associated_data(node, volume, kek->type, kek->id, &ad, &ad_size);
        if (r < 0)
                return r;
        r = random_bytes(nonce, sizeof(nonce));
        if (r < 0)
                return ns_error_set(error, r, "No random bytes for a nonce: %m");
        r = gcm(true, kek->key->data, nonce, ad, ad_size, key->data, key->size, ct, ct + key->size);
        if (r < 0)
                return ns_error_set(error, r, "Failed to encrypt the volume key");

        if (!cJSON_AddStringToObject(root, "format", WRAP_FORMAT) || !cJSON_AddStringToObject(root, "node", node) ||
            !cJSON_AddStringToObject(root, "volume", volume) || !(k = cJSON_AddObjectToObject(root, "kek")) ||
            !cJSON_AddStringToObject(k, "type", wrap_kek_type_to_string(kek->type)) ||
            !cJSON_AddStringToObject(k, "id", kek->id) || add_b64(root, "nonce", nonce, sizeof(nonce)) < 0 ||
            add_b64(root, "ciphertext", ct, key->size + GCM_TAG) < 0)
                return -ENOMEM;
        if (recovery) {
                r = wrap_recovery(root, key, recovery, ad, ad_size);
                if (r < 0)
                        return ns_error_set(error, r, "Failed to wrap the volume key to the recovery key");
        }
        text = cJSON_PrintUnformatted(root);
        if (!text)
                return -ENOMEM;
        *ret = text;
        return 0;
}

/* --- reading ---------------------------------------------------------------------------------- */

static int get_string(const cJSON *o, const char *name, char *buf, size_t size, const char *where, NsError *error) {
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);

        if (!cJSON_IsString(v) || isempty(v->valuestring))
                return ns_error_set(error, -EBADMSG, "The wrapped key has no \"%s%s\" string", where, name);
        if (strlen(v->valuestring) >= size)
                return ns_error_set(error, -EBADMSG, "The wrapped key's \"%s%s\" is too long", where, name);
        strcpy(buf, v->valuestring);
        return 0;
}

static int get_bytes(const cJSON *o, const char *name, uint8_t *buf, size_t min, size_t max, size_t *ret_size,
                     const char *where, NsError *error) {
        _cleanup_(secret_value_freep) SecretValue *v = NULL;
        const cJSON *s = cJSON_GetObjectItemCaseSensitive(o, name);

        if (!cJSON_IsString(s))
                return ns_error_set(error, -EBADMSG, "The wrapped key has no \"%s%s\" string", where, name);
        if (kube_base64_decode(s->valuestring, strlen(s->valuestring), &v) < 0)
                return ns_error_set(error, -EBADMSG, "The wrapped key's \"%s%s\" is not base64", where, name);
        if (v->size < min || v->size > max)
                return ns_error_set(error, -EBADMSG, "The wrapped key's \"%s%s\" holds %zu bytes, not %zu to %zu",
                                    where, name, v->size, min, max);
        memcpy(buf, v->data, v->size);
        if (ret_size)
                *ret_size = v->size;
        return 0;
}

int wrap_parse(const char *text, size_t size, WrapRecord *ret, NsError *error) {
        _cleanup_(cJSON_Deletep) cJSON *root = NULL;
        const cJSON *kek, *rec;
        WrapRecord w = {};
        char type[16];
        int r;

        if (size > WRAP_TEXT_MAX)
                return ns_error_set(error, -EBADMSG, "The wrapped key is larger than %d bytes", WRAP_TEXT_MAX);
        root = cJSON_ParseWithLength(text, size);
        if (!cJSON_IsObject(root))
                return ns_error_set(error, -EBADMSG, "The wrapped key is not a JSON object");
        r = get_string(root, "format", type, sizeof(type), "", error);
        if (r < 0)
                return r;
        if (!streq(type, WRAP_FORMAT))
                return ns_error_set(error, -EPROTONOSUPPORT, "The wrapped key's format \"%s\" is not %s", type,
                                    WRAP_FORMAT);
        if ((r = get_string(root, "node", w.node, sizeof(w.node), "", error)) < 0 ||
            (r = get_string(root, "volume", w.volume, sizeof(w.volume), "", error)) < 0)
                return r;
        kek = cJSON_GetObjectItemCaseSensitive(root, "kek");
        if ((r = get_string(kek, "type", type, sizeof(type), "kek.", error)) < 0 ||
            (r = get_string(kek, "id", w.kek_id, sizeof(w.kek_id), "kek.", error)) < 0)
                return r;
        w.kek_type = wrap_kek_type_from_string(type);
        if (w.kek_type < 0)
                return ns_error_set(error, -EBADMSG, "The wrapped key's kek.type \"%s\" is not file or tpm2", type);
        if ((r = get_bytes(root, "nonce", w.nonce, GCM_NONCE, GCM_NONCE, NULL, "", error)) < 0 ||
            (r = get_bytes(root, "ciphertext", w.ciphertext, 1 + GCM_TAG, sizeof(w.ciphertext), &w.ciphertext_size,
                           "", error)) < 0)
                return r;

        rec = cJSON_GetObjectItemCaseSensitive(root, "recovery");
        if (rec) {
                if ((r = get_string(rec, "type", type, sizeof(type), "recovery.", error)) < 0)
                        return r;
                if (!streq(type, "x25519"))
                        return ns_error_set(error, -EBADMSG, "The wrapped key's recovery.type \"%s\" is not x25519", type);
                if ((r = get_string(rec, "id", w.recovery_id, sizeof(w.recovery_id), "recovery.", error)) < 0 ||
                    (r = get_bytes(rec, "ephemeral", w.ephemeral, 32, 32, NULL, "recovery.", error)) < 0 ||
                    (r = get_bytes(rec, "nonce", w.recovery_nonce, GCM_NONCE, GCM_NONCE, NULL, "recovery.", error)) < 0 ||
                    (r = get_bytes(rec, "ciphertext", w.recovery_ciphertext, 1 + GCM_TAG, sizeof(w.recovery_ciphertext),
                                   &w.recovery_ciphertext_size, "recovery.", error)) < 0)
                        return r;
                if (w.recovery_ciphertext_size != w.ciphertext_size)
                        return ns_error_set(error, -EBADMSG, "The wrapped key's two ciphertexts differ in length");
                w.has_recovery = true;
        }
        *ret = w;
        return 0;
}

static int open_sealed(const WrapRecord *w, const uint8_t *aes, const uint8_t *nonce, const uint8_t *ct,
                       size_t ct_size, SecretValue **ret) {
        _cleanup_(secret_value_freep) SecretValue *key = NULL;
        _cleanup_free_ char *ad = NULL;
        uint8_t tag[GCM_TAG];
        size_t ad_size;
        int r;

        r = associated_data(w->node, w->volume, w->kek_type, w->kek_id, &ad, &ad_size);
        if (r < 0)
                return r;
        r = secret_value_new(ct_size - GCM_TAG, &key);
        if (r < 0)
                return r;
        memcpy(tag, ct + key->size, GCM_TAG);
        r = gcm(false, aes, nonce, ad, ad_size, ct, key->size, key->data, tag);
        if (r < 0)
                return r;
        *ret = TAKE_PTR(key);
        return 0;
}

int unwrap_key(const char *text, size_t size, const char *node, const char *volume, const WrapKek *kek,
               SecretValue **ret, NsError *error) {
        WrapRecord w;
        int r;

        r = wrap_parse(text, size, &w, error);
        if (r < 0)
                return r;
        if (!streq(w.node, node))
                return ns_error_set(error, -EPERM, "The wrapped key was made for node \"%s\", not for this node (\"%s\")",
                                    w.node, node);
        if (!streq(w.volume, volume))
                return ns_error_set(error, -EPERM, "The wrapped key was made for volume \"%s\", not \"%s\"", w.volume,
                                    volume);
        if (!kek || !kek->key)
                return ns_error_set(error, -ENOKEY, "The key is wrapped to this node's %s key, and there is none here",
                                    wrap_kek_type_to_string(w.kek_type));
        if (w.kek_type != kek->type || !streq(w.kek_id, kek->id))
                return ns_error_set(error, -ENOKEY,
                                    "The key is wrapped to a node key (%s %s) other than this node's (%s %s): the node "
                                    "was enrolled again or the Secret is another node's",
                                    wrap_kek_type_to_string(w.kek_type), w.kek_id, wrap_kek_type_to_string(kek->type),
                                    kek->id);
        r = open_sealed(&w, kek->key->data, w.nonce, w.ciphertext, w.ciphertext_size, ret);
        explicit_bzero(&w, sizeof(w));
        if (r == -EBADMSG)
                return ns_error_set(error, r, "The wrapped key does not authenticate: it was altered");
        return r;
}

int unwrap_key_recovery(const char *text, size_t size, EVP_PKEY *recovery_private, SecretValue **ret,
                        WrapRecord *ret_record, NsError *error) {
        _cleanup_(EVP_PKEY_freep) EVP_PKEY *eph = NULL;
        uint8_t rcpt_pub[32], aes[32];
        size_t n = sizeof(rcpt_pub);
        char id[WRAP_ID_MAX];
        WrapRecord w;
        int r;

        r = wrap_parse(text, size, &w, error);
        if (r < 0)
                return r;
        if (!w.has_recovery)
                return ns_error_set(error, -ENOKEY, "The wrapped key of volume \"%s\" (node \"%s\") has no recovery copy",
                                    w.volume, w.node);
        if (!recovery_private || EVP_PKEY_get_id(recovery_private) != EVP_PKEY_X25519 ||
            EVP_PKEY_get_raw_public_key(recovery_private, rcpt_pub, &n) != 1 || wrap_recovery_id(recovery_private, id) < 0)
                return ns_error_set(error, -EINVAL, "The recovery key must be an X25519 private key");
        if (!streq(id, w.recovery_id))
                return ns_error_set(error, -ENOKEY, "The key was wrapped to recovery key %s, not to this one (%s)",
                                    w.recovery_id, id);
        eph = EVP_PKEY_new_raw_public_key(EVP_PKEY_X25519, NULL, w.ephemeral, sizeof(w.ephemeral));
        if (!eph)
                return ns_error_set(error, -EBADMSG, "The wrapped key's recovery.ephemeral is not an X25519 key");
        r = recovery_key(recovery_private, eph, w.ephemeral, rcpt_pub, aes);
        if (r >= 0)
                r = open_sealed(&w, aes, w.recovery_nonce, w.recovery_ciphertext, w.recovery_ciphertext_size, ret);
        explicit_bzero(aes, sizeof(aes));
        if (r == -EBADMSG)
                return ns_error_set(error, r, "The wrapped key's recovery copy does not authenticate: it was altered");
        if (r < 0)
                return ns_error_set(error, r, "Failed to unwrap the recovery copy");
        if (ret_record)
                *ret_record = w;
        return 0;
}

int wrap_recovery_load(const char *path, bool private, EVP_PKEY **ret, NsError *error) {
        _cleanup_(secret_value_freep) SecretValue *pem = NULL;
        _cleanup_close_ int fd = -EBADF;
        EVP_PKEY *k = NULL;
        BIO *bio;
        int r;

        fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
        if (fd < 0)
                return ns_error_set(error, -errno, "Cannot open the recovery key %s: %m", path);
        r = read_secret_fd(fd, 64 * 1024, &pem);
        if (r < 0)
                return ns_error_set(error, r, "Cannot read the recovery key %s: %m", path);
        bio = BIO_new_mem_buf(pem->data, (int) pem->size);
        if (!bio)
                return -ENOMEM;
        k = private ? PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL) : PEM_read_bio_PUBKEY(bio, NULL, NULL, NULL);
        BIO_free(bio);
        ERR_clear_error();
        if (!k)
                return ns_error_set(error, -EBADMSG, "%s is not a PEM %s key", path, private ? "private" : "public");
        if (EVP_PKEY_get_id(k) != EVP_PKEY_X25519) {
                EVP_PKEY_free(k);
                return ns_error_set(error, -EINVAL,
                                    "%s is not an X25519 key (make one with: openssl genpkey -algorithm X25519)", path);
        }
        *ret = k;
        return 0;
}
