/* SPDX-License-Identifier: Apache-2.0 */
/* pki: each CA rule refused with its message, issuance per key type, reuse versus reissue in each
 * case, intermediates, file modes and owners, and check's error codes. */
#define OPENSSL_API_COMPAT 30000
#define OPENSSL_NO_DEPRECATED 1

#include <grp.h>
#include <pwd.h>
#include <sys/stat.h>

#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "pki.h"
#include "profile.h"
#include "tests.h"

#define DAY INT64_C(86400)

DEFINE_TRIVIAL_CLEANUP_FUNC(X509 *, X509_free);
DEFINE_TRIVIAL_CLEANUP_FUNC(EVP_PKEY *, EVP_PKEY_free);

static void x509_stack_freep(STACK_OF(X509) **s) {
        if (*s)
                sk_X509_pop_free(*s, X509_free);
}

/* ---- helpers: material made independently of the code under test ---- */

static EVP_PKEY *ec_key(void) {
        EVP_PKEY *k = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
        if (!k)
                abort();
        return k;
}

/* A certificate with exactly the extensions asked for (bc/ku in openssl config syntax, NULL to
 * leave out), dated relative to now. issuer NULL: self-signed. */
static X509 *make_cert(EVP_PKEY *key, const char *cn, X509 *issuer, EVP_PKEY *issuer_key, const char *bc,
                       const char *ku, long nb_off, long na_off) {
        static long serial = 1000;
        X509 *x = X509_new();
        X509_NAME *name = X509_NAME_new();
        X509V3_CTX ctx;

        X509_set_version(x, X509_VERSION_3);
        ASN1_INTEGER_set(X509_get_serialNumber(x), serial++);
        X509_NAME_add_entry_by_NID(name, NID_commonName, MBSTRING_UTF8, (const unsigned char *) cn, -1, -1, 0);
        X509_set_subject_name(x, name);
        X509_set_issuer_name(x, issuer ? X509_get_subject_name(issuer) : name);
        X509_NAME_free(name);
        X509_gmtime_adj(X509_getm_notBefore(x), nb_off);
        X509_gmtime_adj(X509_getm_notAfter(x), na_off);
        X509_set_pubkey(x, key);

        X509V3_set_ctx(&ctx, issuer ?: x, x, NULL, NULL, 0);
        {
                const struct { int nid; const char *v; } exts[] = {
                        { NID_basic_constraints, bc },
                        { NID_key_usage, ku },
                        { NID_subject_key_identifier, "hash" },
                        { NID_authority_key_identifier, "keyid:always" },
                };
                for (size_t i = 0; i < ELEMENTSOF(exts); i++) {
                        X509_EXTENSION *e;
                        if (!exts[i].v)
                                continue;
                        e = X509V3_EXT_nconf_nid(NULL, &ctx, exts[i].nid, exts[i].v);
                        if (!e || !X509_add_ext(x, e, -1))
                                abort();
                        X509_EXTENSION_free(e);
                }
        }
        if (X509_sign(x, issuer_key ?: key, EVP_sha256()) <= 0)
                abort();
        return x;
}

static char *cert_pem(X509 *x) {
        BIO *b = BIO_new(BIO_s_mem());
        BUF_MEM *m;
        char *s;

        PEM_write_bio_X509(b, x);
        BIO_get_mem_ptr(b, &m);
        s = strndup(m->data, m->length);
        BIO_free(b);
        return s;
}

static SecretValue *key_secret(EVP_PKEY *k) {
        BIO *b = BIO_new(BIO_s_mem());
        SecretValue *v = NULL;
        BUF_MEM *m;

        PEM_write_bio_PrivateKey(b, k, NULL, NULL, 0, NULL, NULL);
        BIO_get_mem_ptr(b, &m);
        if (secret_value_new_copy(m->data, m->length, &v) < 0)
                abort();
        BIO_free(b);
        return v;
}

static SecretValue *str_secret(const char *s) {
        SecretValue *v = NULL;
        if (secret_value_new_copy(s, strlen(s), &v) < 0)
                abort();
        return v;
}

static X509 *pem_to_cert(const char *pem) {
        BIO *b = BIO_new_mem_buf(pem, -1);
        X509 *x = PEM_read_bio_X509(b, NULL, NULL, NULL);
        BIO_free(b);
        return x;
}

/* ca_from_pem on strings; error message in e. */
static int ca_from_strings(const char *cert, const SecretValue *key, const char *bundle, Ca **ret, NsError *e) {
        SecretValue *c = str_secret(cert), *b = bundle ? str_secret(bundle) : NULL;
        int r = ca_from_pem(c, key, b, ret, e);
        secret_value_free(c);
        secret_value_free(b);
        return r;
}

/* A fresh CA made by ca_generate. */
static Ca *new_ca(KeyType t, uint32_t days, char **ret_pem) {
        SecretValue *key = NULL, *cert = NULL;
        char *pem = NULL;
        NsError e = {};
        Ca *ca = NULL;

        if (ca_generate("test CA", t, days, &pem, &key, &e) < 0 || ca_from_strings(pem, key, NULL, &ca, &e) < 0) {
                fprintf(stderr, "new_ca: %s\n", e.message);
                abort();
        }
        secret_value_free(key);
        secret_value_free(cert);
        if (ret_pem)
                *ret_pem = pem;
        else
                free(pem);
        return ca;
}

/* A config with one certificate in a fresh directory; extra is more JSON fields of it. */
static Config *new_config(const char *extra, char *dir, size_t n) {
        static unsigned counter = 0;
        char json[4096];
        NsError e = {};
        Config *c = NULL;

        snprintf(dir, n, "%s/certs-%u", test_tmpdir, counter++);
        snprintf(json, sizeof(json),
                 "{\"node_name\": \"node-1\", \"runtime_directory\": \"%s/run\","
                 " \"certificates\": [{\"name\": \"c\", \"directory\": \"%s\"%s%s}]}",
                 test_tmpdir, dir, extra ? ", " : "", strempty(extra));
        if (config_parse(json, strlen(json), "t.json", &c, &e) < 0) {
                fprintf(stderr, "new_config: %s\n", e.message);
                abort();
        }
        return c;
}

static char *path_in(const char *dir, const char *name) {
        char *p;
        if (asprintf(&p, "%s/%s", dir, name) < 0)
                abort();
        return p;
}

/* Every certificate of a PEM file. */
static STACK_OF(X509) *read_certs(const char *path) {
        STACK_OF(X509) *s = sk_X509_new_null();
        BIO *b = BIO_new_file(path, "r");
        X509 *x;

        if (!b)
                return s;
        while ((x = PEM_read_bio_X509(b, NULL, NULL, NULL)))
                sk_X509_push(s, x);
        ERR_clear_error();
        BIO_free(b);
        return s;
}

static X509 *read_leaf(const char *dir, const char *file) {
        _cleanup_free_ char *p = path_in(dir, file);
        STACK_OF(X509) *s = read_certs(p);
        X509 *x = sk_X509_num(s) > 0 ? sk_X509_shift(s) : NULL;
        sk_X509_pop_free(s, X509_free);
        return x;
}

static EVP_PKEY *read_key(const char *dir, const char *file) {
        _cleanup_free_ char *p = path_in(dir, file);
        BIO *b = BIO_new_file(p, "r");
        EVP_PKEY *k = b ? PEM_read_bio_PrivateKey(b, NULL, NULL, NULL) : NULL;
        BIO_free(b);
        return k;
}

static char *serial_hex(X509 *x) {
        BIGNUM *bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(x), NULL);
        char *h = BN_bn2hex(bn);
        char *s = strdup(h);
        OPENSSL_free(h);
        BN_free(bn);
        return s;
}

/* X509_verify_cert of dir's leaf (with the file's intermediates) against trust, for a purpose. */
static int verify_file(const char *cert_path, const char *trust_pem, int purpose) {
        _cleanup_(x509_stack_freep) STACK_OF(X509) *certs = read_certs(cert_path);
        X509_STORE *store = X509_STORE_new();
        X509_STORE_CTX *ctx = X509_STORE_CTX_new();
        BIO *b = BIO_new_mem_buf(trust_pem, -1);
        X509 *t;
        int r;

        while ((t = PEM_read_bio_X509(b, NULL, NULL, NULL))) {
                X509_STORE_add_cert(store, t);
                X509_free(t);
        }
        ERR_clear_error();
        BIO_free(b);
        if (sk_X509_num(certs) == 0)
                return -1;
        X509_STORE_CTX_init(ctx, store, sk_X509_value(certs, 0), certs);
        X509_STORE_CTX_set_purpose(ctx, purpose);
        r = X509_verify_cert(ctx);
        if (r != 1)
                fprintf(stderr, "  verify: %s\n", X509_verify_cert_error_string(X509_STORE_CTX_get_error(ctx)));
        X509_STORE_CTX_free(ctx);
        X509_STORE_free(store);
        return r;
}

static bool has_san(X509 *x, int type, const char *dns, const void *ip, int ip_len) {
        GENERAL_NAMES *names = X509_get_ext_d2i(x, NID_subject_alt_name, NULL, NULL);
        bool found = false;

        for (int i = 0; !found && i < sk_GENERAL_NAME_num(names); i++) {
                GENERAL_NAME *g = sk_GENERAL_NAME_value(names, i);
                if (g->type != type)
                        continue;
                if (type == GEN_DNS)
                        found = streq((const char *) ASN1_STRING_get0_data(g->d.dNSName), dns);
                else
                        found = ASN1_STRING_length(g->d.iPAddress) == ip_len &&
                                memcmp(ASN1_STRING_get0_data(g->d.iPAddress), ip, (size_t) ip_len) == 0;
        }
        GENERAL_NAMES_free(names);
        return found;
}

static time_t asn1_to_time(const ASN1_TIME *a) {
        struct tm tm = {};
        ASN1_TIME_to_tm(a, &tm);
        return timegm(&tm);
}

static struct timespec file_mtime(const char *dir, const char *file) {
        _cleanup_free_ char *p = path_in(dir, file);
        struct stat st = {};
        (void) stat(p, &st);
        return st.st_mtim;
}

static mode_t file_mode(const char *dir, const char *file) {
        _cleanup_free_ char *p = path_in(dir, file);
        struct stat st = {};
        if (stat(p, &st) < 0)
                return (mode_t) -1;
        return st.st_mode & 07777;
}

static char *trust_of(const Ca *ca) {
        char *t = NULL;
        if (ca_trust_pem(ca, &t) < 0)
                abort();
        return t;
}

/* ---- CA validation ---- */

TEST(ca_generate_valid) {
        _cleanup_(X509_freep) X509 *x = NULL;
        _cleanup_free_ char *pem = NULL, *trust = NULL;
        BASIC_CONSTRAINTS *bc;
        Ca *ca;
        int crit = 0;

        ca = new_ca(KEY_TYPE_EC_P256, 0, &pem);
        x = pem_to_cert(pem);
        ASSERT_TRUE(x);
        bc = X509_get_ext_d2i(x, NID_basic_constraints, &crit, NULL);
        ASSERT_TRUE(bc && bc->ca);
        ASSERT_EQ(crit, 1);
        BASIC_CONSTRAINTS_free(bc);
        ASSERT_TRUE(X509_get_key_usage(x) & KU_KEY_CERT_SIGN);
        ASSERT_TRUE(X509_get_key_usage(x) & KU_CRL_SIGN);
        ASSERT_TRUE(X509_get0_subject_key_id(x) != NULL);
        ASSERT_EQ(X509_self_signed(x, 1), 1);
        /* 10 years by default. */
        ASSERT_TRUE(llabs((long long) (asn1_to_time(X509_get0_notAfter(x)) - time(NULL)) - 3650 * DAY) < 600);
        ASSERT_EQ(ca_not_after(ca), (uint64_t) asn1_to_time(X509_get0_notAfter(x)) * USEC_PER_SEC);

        trust = trust_of(ca);
        ASSERT_STREQ(trust, pem);
        ca_free(ca);
        ASSERT_TRUE(ca_free(NULL) == NULL);
}

TEST(ca_refuses_not_ca) {
        _cleanup_(EVP_PKEY_freep) EVP_PKEY *k = ec_key();
        _cleanup_(X509_freep) X509 *x = make_cert(k, "not a CA", NULL, NULL, "critical,CA:FALSE", "critical,keyCertSign", -60, DAY);
        _cleanup_free_ char *pem = cert_pem(x);
        SecretValue *kv = key_secret(k);
        NsError e = {};
        Ca *ca = NULL;

        ASSERT_ERROR(ca_from_strings(pem, kv, NULL, &ca, &e), EKEYREJECTED);
        ASSERT_CONTAINS(e.message, "\"not a CA\" is not a CA certificate (basicConstraints CA:TRUE is missing)");
        ASSERT_TRUE(ca == NULL);

        /* No basicConstraints at all: the same rule. */
        {
                _cleanup_(X509_freep) X509 *y = make_cert(k, "no bc", NULL, NULL, NULL, "critical,keyCertSign", -60, DAY);
                _cleanup_free_ char *p = cert_pem(y);
                e = (NsError) {};
                ASSERT_ERROR(ca_from_strings(p, kv, NULL, &ca, &e), EKEYREJECTED);
                ASSERT_CONTAINS(e.message, "basicConstraints CA:TRUE");
        }
        secret_value_free(kv);
}

TEST(ca_refuses_no_keycertsign) {
        _cleanup_(EVP_PKEY_freep) EVP_PKEY *k = ec_key();
        SecretValue *kv = key_secret(k);
        NsError e = {};
        Ca *ca = NULL;

        {
                _cleanup_(X509_freep) X509 *x = make_cert(k, "crl only", NULL, NULL, "critical,CA:TRUE", "critical,cRLSign", -60, DAY);
                _cleanup_free_ char *pem = cert_pem(x);
                ASSERT_ERROR(ca_from_strings(pem, kv, NULL, &ca, &e), EKEYREJECTED);
                ASSERT_CONTAINS(e.message, "may not sign certificates (keyUsage keyCertSign is missing)");
        }
        {
                /* No keyUsage extension at all is refused too: the rule asks for keyCertSign. */
                _cleanup_(X509_freep) X509 *x = make_cert(k, "no ku", NULL, NULL, "critical,CA:TRUE", NULL, -60, DAY);
                _cleanup_free_ char *pem = cert_pem(x);
                e = (NsError) {};
                ASSERT_ERROR(ca_from_strings(pem, kv, NULL, &ca, &e), EKEYREJECTED);
                ASSERT_CONTAINS(e.message, "keyCertSign");
        }
        secret_value_free(kv);
}

TEST(ca_refuses_dates) {
        _cleanup_(EVP_PKEY_freep) EVP_PKEY *k = ec_key();
        SecretValue *kv = key_secret(k);
        NsError e = {};
        Ca *ca = NULL;

        {
                _cleanup_(X509_freep) X509 *x = make_cert(k, "old", NULL, NULL, "critical,CA:TRUE", "critical,keyCertSign",
                                                          -10 * DAY, -DAY);
                _cleanup_free_ char *pem = cert_pem(x);
                char date[32];
                time_t na = asn1_to_time(X509_get0_notAfter(x));
                struct tm tm;

                gmtime_r(&na, &tm);
                strftime(date, sizeof(date), "%Y-%m-%d %H:%M:%S", &tm);
                ASSERT_ERROR(ca_from_strings(pem, kv, NULL, &ca, &e), EKEYEXPIRED);
                ASSERT_CONTAINS(e.message, "has expired (notAfter ");
                ASSERT_CONTAINS(e.message, date);
        }
        {
                _cleanup_(X509_freep) X509 *x = make_cert(k, "future", NULL, NULL, "critical,CA:TRUE", "critical,keyCertSign",
                                                          DAY, 10 * DAY);
                _cleanup_free_ char *pem = cert_pem(x);
                e = (NsError) {};
                ASSERT_ERROR(ca_from_strings(pem, kv, NULL, &ca, &e), EKEYREJECTED);
                ASSERT_CONTAINS(e.message, "is not valid yet (notBefore ");
        }
        secret_value_free(kv);
}

TEST(ca_refuses_key_mismatch) {
        _cleanup_(EVP_PKEY_freep) EVP_PKEY *k = ec_key(), *other = ec_key();
        _cleanup_(X509_freep) X509 *x = make_cert(k, "ca", NULL, NULL, "critical,CA:TRUE", "critical,keyCertSign", -60, DAY);
        _cleanup_free_ char *pem = cert_pem(x);
        SecretValue *kv = key_secret(other);
        NsError e = {};
        Ca *ca = NULL;

        ASSERT_ERROR(ca_from_strings(pem, kv, NULL, &ca, &e), EKEYREJECTED);
        ASSERT_CONTAINS(e.message, "tls.key does not match the certificate of \"ca\" in tls.crt");
        secret_value_free(kv);
}

TEST(ca_refuses_unparsable) {
        _cleanup_(EVP_PKEY_freep) EVP_PKEY *k = ec_key();
        _cleanup_(X509_freep) X509 *x = make_cert(k, "ca", NULL, NULL, "critical,CA:TRUE", "critical,keyCertSign", -60, DAY);
        _cleanup_free_ char *pem = cert_pem(x);
        SecretValue *kv = key_secret(k), *garbage = str_secret("not a key\n");
        NsError e = {};
        Ca *ca = NULL;

        ASSERT_ERROR(ca_from_strings("garbage", kv, NULL, &ca, &e), EBADMSG);
        ASSERT_CONTAINS(e.message, "tls.crt: no PEM certificate found");

        e = (NsError) {};
        ASSERT_ERROR(ca_from_strings("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n", kv, NULL, &ca, &e),
                     EBADMSG);
        ASSERT_CONTAINS(e.message, "tls.crt: certificate 1 is not valid");

        e = (NsError) {};
        ASSERT_ERROR(ca_from_strings(pem, garbage, NULL, &ca, &e), EBADMSG);
        ASSERT_CONTAINS(e.message, "tls.key: not an unencrypted PEM private key");

        /* An encrypted key is an error, never a passphrase prompt. */
        {
                BIO *b = BIO_new(BIO_s_mem());
                BUF_MEM *m;
                SecretValue *enc = NULL;

                PEM_write_bio_PrivateKey(b, k, EVP_aes_128_cbc(), NULL, 0, NULL, (void *) "secret");
                BIO_get_mem_ptr(b, &m);
                ASSERT_OK(secret_value_new_copy(m->data, m->length, &enc));
                BIO_free(b);
                e = (NsError) {};
                ASSERT_ERROR(ca_from_strings(pem, enc, NULL, &ca, &e), EBADMSG);
                ASSERT_CONTAINS(e.message, "tls.key");
                secret_value_free(enc);
        }

        /* The message never carries key material. */
        ASSERT_TRUE(strstr(e.message, "PRIVATE KEY") == NULL);
        secret_value_free(kv);
        secret_value_free(garbage);
}

/* A root (made by ca_generate) and an intermediate signed by it. */
typedef struct Hierarchy {
        EVP_PKEY *root_key, *int_key;
        X509 *root, *intermediate;
        char *root_pem, *int_pem;
} Hierarchy;

static void hierarchy_make(Hierarchy *h, long int_na_off) {
        h->root_key = ec_key();
        h->int_key = ec_key();
        h->root = make_cert(h->root_key, "root CA", NULL, NULL, "critical,CA:TRUE", "critical,keyCertSign,cRLSign", -3600,
                            3650 * DAY);
        h->intermediate = make_cert(h->int_key, "intermediate CA", h->root, h->root_key, "critical,CA:TRUE,pathlen:0",
                                    "critical,keyCertSign,cRLSign", -3600, int_na_off);
        h->root_pem = cert_pem(h->root);
        h->int_pem = cert_pem(h->intermediate);
}

static void hierarchy_done(Hierarchy *h) {
        EVP_PKEY_free(h->root_key);
        EVP_PKEY_free(h->int_key);
        X509_free(h->root);
        X509_free(h->intermediate);
        free(h->root_pem);
        free(h->int_pem);
}

TEST(ca_intermediate) {
        _cleanup_(hierarchy_done) Hierarchy h = {};
        _cleanup_free_ char *both = NULL, *trust = NULL;
        SecretValue *kv;
        NsError e = {};
        Ca *ca = NULL;

        hierarchy_make(&h, 365 * DAY);
        kv = key_secret(h.int_key);
        ASSERT_TRUE(asprintf(&both, "%s%s", h.int_pem, h.root_pem) > 0);

        /* Intermediate followed by its root: the root is the trust anchor. */
        ASSERT_OK(ca_from_strings(both, kv, NULL, &ca, &e));
        trust = trust_of(ca);
        ASSERT_STREQ(trust, h.root_pem);
        ca = ca_free(ca);

        /* The intermediate alone: no root to trust, unless ca.crt gives it. */
        ASSERT_ERROR(ca_from_strings(h.int_pem, kv, NULL, &ca, &e), EKEYREJECTED);
        ASSERT_CONTAINS(e.message, "tls.crt ends with \"intermediate CA\", which is not self-signed");
        e = (NsError) {};
        ASSERT_OK(ca_from_strings(h.int_pem, kv, h.root_pem, &ca, &e));
        ca = ca_free(ca);

        /* A ca.crt that does not hold the root of tls.crt is refused. */
        {
                _cleanup_(EVP_PKEY_freep) EVP_PKEY *ok = ec_key();
                _cleanup_(X509_freep) X509 *other = make_cert(ok, "other root", NULL, NULL, "critical,CA:TRUE",
                                                              "critical,keyCertSign", -60, DAY);
                _cleanup_free_ char *opem = cert_pem(other);
                ASSERT_ERROR(ca_from_strings(both, kv, opem, &ca, &e), EKEYREJECTED);
                ASSERT_CONTAINS(e.message, "does not chain to the trust bundle in ca.crt");
        }
        secret_value_free(kv);
}

TEST(ca_bundle_rotation) {
        _cleanup_free_ char *old_pem = NULL, *new_pem = NULL, *bundle = NULL, *trust = NULL;
        SecretValue *key = NULL;
        NsError e = {};
        Ca *ca = NULL, *old;

        old = new_ca(KEY_TYPE_EC_P256, 30, &old_pem);
        ASSERT_OK(ca_generate("new CA", KEY_TYPE_EC_P256, 30, &new_pem, &key, &e));
        ASSERT_TRUE(asprintf(&bundle, "%s%s", old_pem, new_pem) > 0);
        ASSERT_OK(ca_from_strings(new_pem, key, bundle, &ca, &e));
        trust = trust_of(ca);
        ASSERT_STREQ(trust, bundle);
        ca_free(ca);
        ca_free(old);
        secret_value_free(key);
}

/* ---- issuance ---- */

static void check_issued(const char *dir, const char *trust, KeyType t) {
        _cleanup_(X509_freep) X509 *x = read_leaf(dir, "tls.crt");
        _cleanup_(EVP_PKEY_freep) EVP_PKEY *k = read_key(dir, "tls.key");
        _cleanup_free_ char *cp = path_in(dir, "tls.crt");
        BASIC_CONSTRAINTS *bc;
        uint32_t ku;
        int crit = -1;

        ASSERT_TRUE(x && k);
        ASSERT_EQ(EVP_PKEY_eq(X509_get0_pubkey(x), k), 1);
        ASSERT_EQ(verify_file(cp, trust, X509_PURPOSE_SSL_SERVER), 1);
        ASSERT_EQ(verify_file(cp, trust, X509_PURPOSE_SSL_CLIENT), 1);

        bc = X509_get_ext_d2i(x, NID_basic_constraints, &crit, NULL);
        ASSERT_TRUE(bc && !bc->ca);
        ASSERT_EQ(crit, 1);
        BASIC_CONSTRAINTS_free(bc);
        ku = X509_get_key_usage(x);
        ASSERT_TRUE(ku & KU_DIGITAL_SIGNATURE);
        ASSERT_EQ(!!(ku & KU_KEY_ENCIPHERMENT), t == KEY_TYPE_RSA_2048 || t == KEY_TYPE_RSA_3072 || t == KEY_TYPE_RSA_4096);
        ASSERT_FALSE(ku & KU_KEY_CERT_SIGN);
        ASSERT_EQ(X509_get_extended_key_usage(x) & (XKU_SSL_SERVER | XKU_SSL_CLIENT), XKU_SSL_SERVER | XKU_SSL_CLIENT);
        ASSERT_TRUE(X509_get0_subject_key_id(x) != NULL);
        ASSERT_TRUE(X509_get0_authority_key_id(x) != NULL);

        switch (t) {
        case KEY_TYPE_EC_P256:
        case KEY_TYPE_EC_P384: {
                char g[64] = {};
                size_t n;
                ASSERT_TRUE(EVP_PKEY_is_a(k, "EC"));
                ASSERT_EQ(EVP_PKEY_get_group_name(k, g, sizeof(g), &n), 1);
                ASSERT_STREQ(g, t == KEY_TYPE_EC_P256 ? "prime256v1" : "secp384r1");
                break;
        }
        case KEY_TYPE_RSA_2048:
                ASSERT_EQ(EVP_PKEY_get_bits(k), 2048);
                break;
        case KEY_TYPE_RSA_3072:
                ASSERT_EQ(EVP_PKEY_get_bits(k), 3072);
                break;
        case KEY_TYPE_RSA_4096:
                ASSERT_EQ(EVP_PKEY_get_bits(k), 4096);
                break;
        case KEY_TYPE_ED25519:
                ASSERT_TRUE(EVP_PKEY_is_a(k, "ED25519"));
                break;
        default:
                ASSERT_TRUE(false);
        }
}

TEST(issue_each_key_type) {
        _cleanup_free_ char *trust = NULL;
        Ca *ca = new_ca(KEY_TYPE_EC_P256, 0, NULL);

        trust = trust_of(ca);
        for (KeyType t = 0; t < _KEY_TYPE_MAX; t++) {
                char dir[256], extra[64];
                Config *c;
                NsError e = {};
                uint64_t na = 0;

                snprintf(extra, sizeof(extra), "\"key_type\": \"%s\"", key_type_to_string(t));
                c = new_config(extra, dir, sizeof(dir));
                ASSERT_EQ(certificate_provision(c, &c->certificates[0], ca, &na, &e), 1);
                ASSERT_TRUE(na > 0);
                check_issued(dir, trust, t);
                if (test_failed) {
                        fprintf(stderr, "  (key type %s)\n", key_type_to_string(t));
                        return;
                }
                /* Rerun: the right key type is reused. */
                ASSERT_EQ(certificate_provision(c, &c->certificates[0], ca, NULL, &e), 0);
                ASSERT_OK(certificate_check(c, &c->certificates[0], trust, 0, NULL, NULL, &e));
                config_free(c);
        }
        ca_free(ca);
}

TEST(issue_by_each_ca_key_type) {
        /* The CA's own key type decides the signature: Ed25519 signs without a digest. */
        static const KeyType types[] = { KEY_TYPE_ED25519, KEY_TYPE_EC_P384, KEY_TYPE_RSA_2048 };

        for (size_t i = 0; i < ELEMENTSOF(types); i++) {
                _cleanup_free_ char *trust = NULL;
                Ca *ca = new_ca(types[i], 10, NULL);
                char dir[256];
                Config *c = new_config(NULL, dir, sizeof(dir));
                NsError e = {};

                trust = trust_of(ca);
                ASSERT_EQ(certificate_provision(c, &c->certificates[0], ca, NULL, &e), 1);
                check_issued(dir, trust, KEY_TYPE_EC_P256);
                ASSERT_OK(certificate_check(c, &c->certificates[0], trust, 0, NULL, NULL, &e));
                config_free(c);
                ca_free(ca);
        }
}

TEST(subject_and_names) {
        _cleanup_(X509_freep) X509 *x = NULL;
        _cleanup_free_ char *dns = NULL;
        char dir[256], cn[128] = {}, host[256] = {};
        uint8_t v4[4] = { 10, 1, 2, 3 }, v6[16] = { 0x20, 0x01, 0x0d, 0xb8, [15] = 1 };
        Ca *ca = new_ca(KEY_TYPE_EC_P256, 0, NULL);
        Config *c;
        NsError e = {};

        c = new_config("\"dns_names\": [\"{node}\", \"{node}.db.example\", \"{hostname}\", \"NODE-1\"],"
                       " \"ip_addresses\": [\"10.1.2.3\", \"2001:db8::1\"]",
                       dir, sizeof(dir));
        ASSERT_EQ(certificate_provision(c, &c->certificates[0], ca, NULL, &e), 1);
        x = read_leaf(dir, "tls.crt");
        ASSERT_TRUE(x);
        X509_NAME_get_text_by_NID(X509_get_subject_name(x), NID_commonName, cn, sizeof(cn));
        ASSERT_STREQ(cn, "node-1");
        ASSERT_TRUE(has_san(x, GEN_DNS, "node-1", NULL, 0));
        ASSERT_TRUE(has_san(x, GEN_DNS, "node-1.db.example", NULL, 0));
        gethostname(host, sizeof(host) - 1);
        ASSERT_TRUE(has_san(x, GEN_DNS, host, NULL, 0));
        ASSERT_FALSE(has_san(x, GEN_DNS, "NODE-1", NULL, 0));   /* the same name: not repeated */
        ASSERT_TRUE(has_san(x, GEN_IPADD, NULL, v4, 4));
        ASSERT_TRUE(has_san(x, GEN_IPADD, NULL, v6, 16));
        config_free(c);

        /* The node's own addresses: check finds them all in the certificate. */
        c = new_config("\"include_node_ips\": true", dir, sizeof(dir));
        ASSERT_EQ(certificate_provision(c, &c->certificates[0], ca, NULL, &e), 1);
        {
                _cleanup_free_ char *trust = trust_of(ca);
                uint8_t lo[4] = { 127, 0, 0, 1 };
                X509 *y = read_leaf(dir, "tls.crt");
                ASSERT_OK(certificate_check(c, &c->certificates[0], trust, 0, NULL, NULL, &e));
                ASSERT_FALSE(has_san(y, GEN_IPADD, NULL, lo, 4));
                X509_free(y);
        }
        config_free(c);
        ca_free(ca);
}

TEST(serial_random_128) {
        _cleanup_free_ char *s1 = NULL, *s2 = NULL, *kp = NULL;
        char dir[256];
        Ca *ca = new_ca(KEY_TYPE_EC_P256, 0, NULL);
        Config *c = new_config(NULL, dir, sizeof(dir));
        NsError e = {};

        for (int i = 0; i < 2; i++) {
                _cleanup_(X509_freep) X509 *x = NULL;
                BIGNUM *bn;
                const ASN1_INTEGER *a;

                ASSERT_EQ(certificate_provision(c, &c->certificates[0], ca, NULL, &e), 1);
                x = read_leaf(dir, "tls.crt");
                a = X509_get0_serialNumber(x);
                bn = ASN1_INTEGER_to_BN(a, NULL);
                ASSERT_FALSE(BN_is_negative(bn));
                ASSERT_TRUE(BN_num_bits(bn) <= 127);  /* top bit clear: 16 octets in DER */
                ASSERT_TRUE(BN_num_bits(bn) > 64);    /* random: fails with probability 2^-63 */
                BN_free(bn);
                if (i == 0)
                        s1 = serial_hex(x);
                else
                        s2 = serial_hex(x);
                /* Force a reissue. */
                kp = path_in(dir, "tls.key");
                ASSERT_OK(unlink(kp));
                free(TAKE_PTR(kp));
        }
        ASSERT_FALSE(streq(s1, s2));
        config_free(c);
        ca_free(ca);
}

TEST(validity) {
        _cleanup_(X509_freep) X509 *x = NULL, *y = NULL;
        char dir[256];
        Ca *ca = new_ca(KEY_TYPE_EC_P256, 10, NULL);   /* the CA ends in 10 days */
        Config *c = new_config(NULL, dir, sizeof(dir));
        NsError e = {};
        uint64_t na = 0;
        time_t now = time(NULL);

        ASSERT_EQ(certificate_provision(c, &c->certificates[0], ca, &na, &e), 1);
        x = read_leaf(dir, "tls.crt");
        /* Capped at the CA's notAfter instead of 90 days. */
        ASSERT_EQ(asn1_to_time(X509_get0_notAfter(x)), (time_t) (ca_not_after(ca) / USEC_PER_SEC));
        ASSERT_EQ(na, ca_not_after(ca));
        /* Back-dated for clock skew (but not before the CA). */
        ASSERT_TRUE(asn1_to_time(X509_get0_notBefore(x)) <= now - 290);
        config_free(c);
        ca_free(ca);

        ca = new_ca(KEY_TYPE_EC_P256, 0, NULL);
        c = new_config("\"validity_days\": 30", dir, sizeof(dir));
        ASSERT_EQ(certificate_provision(c, &c->certificates[0], ca, NULL, &e), 1);
        y = read_leaf(dir, "tls.crt");
        ASSERT_TRUE(llabs((long long) (asn1_to_time(X509_get0_notAfter(y)) - now) - 30 * DAY) < 60);
        config_free(c);
        ca_free(ca);
}

/* ---- reuse versus reissue ---- */

TEST(reuse_unchanged) {
        _cleanup_(X509_freep) X509 *a = NULL, *b = NULL;
        _cleanup_free_ char *sa = NULL, *sb = NULL;
        struct timespec m1, m2, k1, k2;
        char dir[256];
        Ca *ca = new_ca(KEY_TYPE_EC_P256, 0, NULL);
        Config *c = new_config(NULL, dir, sizeof(dir));
        NsError e = {};
        uint64_t na1 = 0, na2 = 0;

        ASSERT_EQ(certificate_provision(c, &c->certificates[0], ca, &na1, &e), 1);
        a = read_leaf(dir, "tls.crt");
        m1 = file_mtime(dir, "tls.crt");
        k1 = file_mtime(dir, "tls.key");
        ASSERT_EQ(certificate_provision(c, &c->certificates[0], ca, &na2, &e), 0);
        ASSERT_EQ(certificate_provision(c, &c->certificates[0], ca, NULL, &e), 0);
        b = read_leaf(dir, "tls.crt");
        m2 = file_mtime(dir, "tls.crt");
        k2 = file_mtime(dir, "tls.key");
        sa = serial_hex(a);
        sb = serial_hex(b);
        ASSERT_STREQ(sa, sb);
        ASSERT_EQ(na1, na2);
        ASSERT_TRUE(m1.tv_sec == m2.tv_sec && m1.tv_nsec == m2.tv_nsec);
        ASSERT_TRUE(k1.tv_sec == k2.tv_sec && k1.tv_nsec == k2.tv_nsec);

        config_free(c);
        ca_free(ca);
}

/* Provisions once at a clock offset (seconds from now), then again at the real clock. */
static int provision_then_rerun(const char *extra, long offset, long *ret_first_serial_equal) {
        _cleanup_(X509_freep) X509 *a = NULL, *b = NULL;
        _cleanup_free_ char *sa = NULL, *sb = NULL;
        char dir[256];
        Ca *ca;
        Config *c;
        NsError e = {};
        int r;

        pki_set_clock(time(NULL) + offset);
        ca = new_ca(KEY_TYPE_EC_P256, 0, NULL);
        c = new_config(extra, dir, sizeof(dir));
        r = certificate_provision(c, &c->certificates[0], ca, NULL, &e);
        pki_set_clock(0);
        if (r != 1)
                abort();
        a = read_leaf(dir, "tls.crt");
        r = certificate_provision(c, &c->certificates[0], ca, NULL, &e);
        b = read_leaf(dir, "tls.crt");
        sa = serial_hex(a);
        sb = serial_hex(b);
        *ret_first_serial_equal = streq(sa, sb);
        config_free(c);
        ca_free(ca);
        return r;
}

TEST(reuse_with_reloaded_ca) {
        /* A CA parsed again from the same Secret (a new Ca object, as on every daemon pass) is the same CA. */
        _cleanup_free_ char *pem = NULL;
        SecretValue *key = NULL;
        char dir[256];
        Ca *a = NULL, *b = NULL;
        Config *c = new_config(NULL, dir, sizeof(dir));
        NsError e = {};

        ASSERT_OK(ca_generate("ca", KEY_TYPE_EC_P256, 100, &pem, &key, &e));
        ASSERT_OK(ca_from_strings(pem, key, NULL, &a, &e));
        ASSERT_OK(ca_from_strings(pem, key, NULL, &b, &e));
        ASSERT_EQ(certificate_provision(c, &c->certificates[0], a, NULL, &e), 1);
        ASSERT_EQ(certificate_provision(c, &c->certificates[0], b, NULL, &e), 0);
        secret_value_free(key);
        ca_free(a);
        ca_free(b);
        config_free(c);
}

TEST(reissue_in_renewal_window) {
        long same = -1;

        /* 90 days, renewal in the last third: issued 70 days ago → 20 days left → renew. */
        ASSERT_EQ(provision_then_rerun(NULL, -70 * DAY, &same), 1);
        ASSERT_EQ(same, 0);
        /* Issued 50 days ago → 40 days left → keep. */
        ASSERT_EQ(provision_then_rerun(NULL, -50 * DAY, &same), 0);
        ASSERT_EQ(same, 1);
        /* A custom fraction: renew in the last 60% → at 36 days of 90, 50 days old is inside. */
        ASSERT_EQ(provision_then_rerun("\"renew_fraction\": 0.6", -50 * DAY, &same), 1);
        /* Expired: issued 100 days ago. */
        ASSERT_EQ(provision_then_rerun(NULL, -100 * DAY, &same), 1);
        /* Not yet valid (issued "tomorrow" by a clock running ahead). */
        ASSERT_EQ(provision_then_rerun(NULL, DAY, &same), 1);
        /* 10 days with the 7-day check margin: renewal 7 days before notAfter, not at two thirds. */
        ASSERT_EQ(provision_then_rerun("\"validity_days\": 10", -4 * DAY, &same), 1);
        ASSERT_EQ(same, 0);
        ASSERT_EQ(provision_then_rerun("\"validity_days\": 10", -2 * DAY, &same), 0);
        ASSERT_EQ(same, 1);
}

TEST(kept_when_it_expires_with_the_ca) {
        /* The CA ends in 3 days: the certificate is cut there, and with the 7-day check margin it is
         * in its renewal window from the start. A new one would end at the same moment, so it stays. */
        _cleanup_(X509_freep) X509 *a = NULL, *b = NULL;
        _cleanup_free_ char *sa = NULL, *sb = NULL;
        char dir[256];
        Ca *ca = new_ca(KEY_TYPE_EC_P256, 3, NULL);
        Config *c = new_config(NULL, dir, sizeof(dir));
        NsError e = {};
        uint64_t na = 0;

        ASSERT_EQ(certificate_provision(c, &c->certificates[0], ca, &na, &e), 1);
        ASSERT_EQ(na, ca_issue_limit(ca));
        a = read_leaf(dir, "tls.crt");
        ASSERT_EQ(certificate_provision(c, &c->certificates[0], ca, NULL, &e), 0);
        b = read_leaf(dir, "tls.crt");
        sa = serial_hex(a);
        sb = serial_hex(b);
        ASSERT_STREQ(sa, sb);
        /* Asked for explicitly (RenewCertificates()), it is reissued all the same. */
        ASSERT_EQ(certificate_provision_full(c, &c->certificates[0], ca, true, NULL, &e), 1);
        config_free(c);
        ca_free(ca);
}

TEST(reissue_mismatched_key) {
        _cleanup_(EVP_PKEY_freep) EVP_PKEY *other = ec_key();
        _cleanup_free_ char *kp = NULL;
        char dir[256];
        SecretValue *kv = key_secret(other);
        Ca *ca = new_ca(KEY_TYPE_EC_P256, 0, NULL);
        Config *c = new_config(NULL, dir, sizeof(dir));
        NsError e = {};

        ASSERT_EQ(certificate_provision(c, &c->certificates[0], ca, NULL, &e), 1);
        kp = path_in(dir, "tls.key");
        /* What a crash between the key and the certificate writes leaves behind. */
        ASSERT_OK(write_file_atomic(kp, kv->data, kv->size, 0600, (uid_t) -1, (gid_t) -1));
        ASSERT_EQ(certificate_provision(c, &c->certificates[0], ca, NULL, &e), 1);
        {
                _cleanup_(X509_freep) X509 *x = read_leaf(dir, "tls.crt");
                _cleanup_(EVP_PKEY_freep) EVP_PKEY *k = read_key(dir, "tls.key");
                ASSERT_EQ(EVP_PKEY_eq(X509_get0_pubkey(x), k), 1);
        }
        ASSERT_EQ(certificate_provision(c, &c->certificates[0], ca, NULL, &e), 0);
        secret_value_free(kv);
        config_free(c);
        ca_free(ca);
}

TEST(reissue_other_ca) {
        _cleanup_free_ char *t2 = NULL, *cp = NULL, *cap = NULL, *ca_file = NULL;
        char dir[256];
        Ca *ca1 = new_ca(KEY_TYPE_EC_P256, 0, NULL), *ca2 = new_ca(KEY_TYPE_EC_P256, 0, NULL);
        Config *c = new_config(NULL, dir, sizeof(dir));
        NsError e = {};

        ASSERT_EQ(certificate_provision(c, &c->certificates[0], ca1, NULL, &e), 1);
        ASSERT_EQ(certificate_provision(c, &c->certificates[0], ca2, NULL, &e), 1);
        t2 = trust_of(ca2);
        cp = path_in(dir, "tls.crt");
        ASSERT_EQ(verify_file(cp, t2, X509_PURPOSE_SSL_SERVER), 1);
        cap = path_in(dir, "ca.crt");
        ASSERT_OK(read_full_file(cap, 1 << 20, &ca_file, NULL));
        ASSERT_STREQ(ca_file, t2);
        ASSERT_EQ(certificate_provision(c, &c->certificates[0], ca2, NULL, &e), 0);
        config_free(c);
        ca_free(ca1);
        ca_free(ca2);
}

TEST(reissue_after_rotation_to_new_ca_in_bundle) {
        /* During a rotation the bundle trusts old and new; a leaf of the old CA still moves to the new. */
        _cleanup_free_ char *old_pem = NULL, *new_pem = NULL, *bundle = NULL;
        SecretValue *old_key = NULL, *new_key = NULL;
        char dir[256];
        Ca *old = NULL, *rotated = NULL;
        Config *c = new_config(NULL, dir, sizeof(dir));
        NsError e = {};

        ASSERT_OK(ca_generate("old", KEY_TYPE_EC_P256, 100, &old_pem, &old_key, &e));
        ASSERT_OK(ca_generate("new", KEY_TYPE_EC_P256, 100, &new_pem, &new_key, &e));
        ASSERT_TRUE(asprintf(&bundle, "%s%s", old_pem, new_pem) > 0);
        ASSERT_OK(ca_from_strings(old_pem, old_key, bundle, &old, &e));
        ASSERT_OK(ca_from_strings(new_pem, new_key, bundle, &rotated, &e));
        ASSERT_EQ(certificate_provision(c, &c->certificates[0], old, NULL, &e), 1);
        ASSERT_EQ(certificate_provision(c, &c->certificates[0], old, NULL, &e), 0);
        ASSERT_EQ(certificate_provision(c, &c->certificates[0], rotated, NULL, &e), 1);
        {
                _cleanup_(X509_freep) X509 *x = read_leaf(dir, "tls.crt");
                char issuer[64] = {};
                X509_NAME_get_text_by_NID(X509_get_issuer_name(x), NID_commonName, issuer, sizeof(issuer));
                ASSERT_STREQ(issuer, "new");
        }
        secret_value_free(old_key);
        secret_value_free(new_key);
        ca_free(old);
        ca_free(rotated);
        config_free(c);
}

TEST(ca_file_update_alone) {
        /* Same signing CA, bundle grows: the leaf stays, the CA file is rewritten (a change). */
        _cleanup_free_ char *pem = NULL, *other_pem = NULL, *bundle = NULL, *s1 = NULL, *s2 = NULL;
        SecretValue *key = NULL, *other_key = NULL;
        char dir[256];
        Ca *a = NULL, *b = NULL;
        Config *c = new_config(NULL, dir, sizeof(dir));
        NsError e = {};

        ASSERT_OK(ca_generate("ca", KEY_TYPE_EC_P256, 100, &pem, &key, &e));
        ASSERT_OK(ca_generate("next", KEY_TYPE_EC_P256, 100, &other_pem, &other_key, &e));
        ASSERT_TRUE(asprintf(&bundle, "%s%s", pem, other_pem) > 0);
        ASSERT_OK(ca_from_strings(pem, key, NULL, &a, &e));
        ASSERT_OK(ca_from_strings(pem, key, bundle, &b, &e));
        ASSERT_EQ(certificate_provision(c, &c->certificates[0], a, NULL, &e), 1);
        {
                X509 *x = read_leaf(dir, "tls.crt");
                s1 = serial_hex(x);
                X509_free(x);
        }
        ASSERT_EQ(certificate_provision(c, &c->certificates[0], b, NULL, &e), 1);
        ASSERT_EQ(certificate_provision(c, &c->certificates[0], b, NULL, &e), 0);
        {
                X509 *x = read_leaf(dir, "tls.crt");
                s2 = serial_hex(x);
                X509_free(x);
        }
        ASSERT_STREQ(s1, s2);
        secret_value_free(key);
        secret_value_free(other_key);
        ca_free(a);
        ca_free(b);
        config_free(c);
}

static ino_t file_inode(const char *dir, const char *file) {
        _cleanup_free_ char *p = path_in(dir, file);
        struct stat st = {};
        return stat(p, &st) == 0 ? st.st_ino : 0;
}

TEST(ca_file_update_rewrites_cert_for_mtime_profiles) {
        /* TiKV reads its files again only when the certificate file's mtime moves: a new bundle alone
         * rewrites the certificate file (same bytes, new inode); PostgreSQL's hook needs no such thing. */
        static const struct { const char *profile, *cert; bool rewritten; } cases[] = {
                { "\"profile\": \"tikv\", \"owner\": \"root\"", "server.pem", true },
                { "\"profile\": \"postgresql\", \"owner\": \"root\"", "server.crt", false },
        };
        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                _cleanup_free_ char *pem = NULL, *other_pem = NULL, *bundle = NULL, *before = NULL, *after = NULL;
                SecretValue *key = NULL, *other_key = NULL;
                char dir[256];
                Ca *a = NULL, *b = NULL;
                Config *c = new_config(cases[i].profile, dir, sizeof(dir));
                _cleanup_free_ char *cert_path = NULL;
                NsError e = {};
                ino_t ino;

                ASSERT_OK(ca_generate("ca", KEY_TYPE_EC_P256, 100, &pem, &key, &e));
                ASSERT_OK(ca_generate("next", KEY_TYPE_EC_P256, 100, &other_pem, &other_key, &e));
                ASSERT_TRUE(asprintf(&bundle, "%s%s", pem, other_pem) > 0);
                ASSERT_OK(ca_from_strings(pem, key, NULL, &a, &e));
                ASSERT_OK(ca_from_strings(pem, key, bundle, &b, &e));
                ASSERT_EQ(certificate_provision(c, &c->certificates[0], a, NULL, &e), 1);
                cert_path = path_in(dir, cases[i].cert);
                ASSERT_OK(read_full_file(cert_path, 1 << 20, &before, NULL));
                ino = file_inode(dir, cases[i].cert);
                ASSERT_EQ(certificate_provision(c, &c->certificates[0], b, NULL, &e), 1);
                ASSERT_OK(read_full_file(cert_path, 1 << 20, &after, NULL));
                ASSERT_STREQ(before, after);
                ASSERT_EQ(file_inode(dir, cases[i].cert) != ino, cases[i].rewritten);
                secret_value_free(key);
                secret_value_free(other_key);
                ca_free(a);
                ca_free(b);
                config_free(c);
        }
}

TEST(ca_key_refused_by_profile) {
        /* PostgreSQL's channel binding cannot hash an Ed25519 signature; TiKV's gRPC takes no P-384. */
        static const struct { const char *profile; KeyType ca_type; bool refused; } cases[] = {
                { "\"profile\": \"postgresql\", \"owner\": \"root\"", KEY_TYPE_ED25519, true },
                { "\"profile\": \"postgresql\", \"owner\": \"root\"", KEY_TYPE_EC_P384, false },
                { "\"profile\": \"tikv\", \"owner\": \"root\"", KEY_TYPE_EC_P384, true },
                { "\"profile\": \"pd\", \"owner\": \"root\"", KEY_TYPE_ED25519, true },
                { "\"profile\": \"etcd\", \"owner\": \"root\"", KEY_TYPE_ED25519, false },
        };
        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                char dir[256];
                Ca *ca = new_ca(cases[i].ca_type, 10, NULL);
                Config *c = new_config(cases[i].profile, dir, sizeof(dir));
                NsError e = {};
                int r = certificate_provision(c, &c->certificates[0], ca, NULL, &e);

                if (cases[i].refused) {
                        ASSERT_EQ(r, -EKEYREJECTED);
                        ASSERT_TRUE(strstr(e.message, "the CA's key is") != NULL);
                        ASSERT_TRUE(strstr(e.message, key_type_to_string(cases[i].ca_type)) != NULL);
                        /* Nothing written. */
                        ASSERT_TRUE(access(dir, F_OK) < 0);
                } else
                        ASSERT_EQ(r, 1);
                config_free(c);
                ca_free(ca);
        }
}

TEST(reissue_missing_san) {
        char dir[256], json[1024];
        Ca *ca = new_ca(KEY_TYPE_EC_P256, 0, NULL);
        Config *c = new_config(NULL, dir, sizeof(dir)), *c2;
        NsError e = {};

        ASSERT_EQ(certificate_provision(c, &c->certificates[0], ca, NULL, &e), 1);
        /* Same directory, one more name wanted. */
        snprintf(json, sizeof(json),
                 "{\"node_name\": \"node-1\", \"certificates\": [{\"name\": \"c\", \"directory\": \"%s\","
                 " \"dns_names\": [\"{node}\", \"extra.example\"], \"ip_addresses\": [\"192.0.2.7\"]}]}",
                 dir);
        ASSERT_OK(config_parse(json, strlen(json), "t.json", &c2, &e));
        ASSERT_EQ(certificate_provision(c2, &c2->certificates[0], ca, NULL, &e), 1);
        {
                _cleanup_(X509_freep) X509 *x = read_leaf(dir, "tls.crt");
                uint8_t ip[4] = { 192, 0, 2, 7 };
                ASSERT_TRUE(has_san(x, GEN_DNS, "extra.example", NULL, 0));
                ASSERT_TRUE(has_san(x, GEN_IPADD, NULL, ip, 4));
        }
        ASSERT_EQ(certificate_provision(c2, &c2->certificates[0], ca, NULL, &e), 0);
        /* Fewer names wanted than present: still fine. */
        ASSERT_EQ(certificate_provision(c, &c->certificates[0], ca, NULL, &e), 0);
        config_free(c);
        config_free(c2);
        ca_free(ca);
}

TEST(reissue_key_type_changed) {
        char dir[256], json[1024];
        Ca *ca = new_ca(KEY_TYPE_EC_P256, 0, NULL);
        Config *c = new_config(NULL, dir, sizeof(dir)), *c2;
        NsError e = {};

        ASSERT_EQ(certificate_provision(c, &c->certificates[0], ca, NULL, &e), 1);
        snprintf(json, sizeof(json),
                 "{\"node_name\": \"node-1\", \"certificates\": [{\"name\": \"c\", \"directory\": \"%s\","
                 " \"key_type\": \"ec-p384\"}]}", dir);
        ASSERT_OK(config_parse(json, strlen(json), "t.json", &c2, &e));
        ASSERT_EQ(certificate_provision(c2, &c2->certificates[0], ca, NULL, &e), 1);
        {
                _cleanup_(EVP_PKEY_freep) EVP_PKEY *k = read_key(dir, "tls.key");
                ASSERT_EQ(EVP_PKEY_get_bits(k), 384);
        }
        ASSERT_EQ(certificate_provision(c2, &c2->certificates[0], ca, NULL, &e), 0);
        config_free(c);
        config_free(c2);
        ca_free(ca);
}

TEST(reissue_bad_files) {
        static const char *damage[][2] = {
                { "tls.crt", "garbage\n" },
                { "tls.key", "garbage\n" },
                { "tls.crt", "-----BEGIN CERTIFICATE-----\nMIIB\n" },   /* cut short */
                { "tls.crt", NULL },                                      /* missing */
                { "tls.key", NULL },
        };
        char dir[256];
        Ca *ca = new_ca(KEY_TYPE_EC_P256, 0, NULL);
        Config *c = new_config(NULL, dir, sizeof(dir));
        _cleanup_free_ char *trust = trust_of(ca);
        NsError e = {};

        ASSERT_EQ(certificate_provision(c, &c->certificates[0], ca, NULL, &e), 1);
        for (size_t i = 0; i < ELEMENTSOF(damage); i++) {
                _cleanup_free_ char *p = path_in(dir, damage[i][0]);
                if (damage[i][1])
                        ASSERT_OK(write_file_atomic(p, damage[i][1], strlen(damage[i][1]), 0600, (uid_t) -1, (gid_t) -1));
                else
                        ASSERT_OK(unlink(p));
                e = (NsError) {};
                ASSERT_EQ(certificate_provision(c, &c->certificates[0], ca, NULL, &e), 1);
                ASSERT_OK(certificate_check(c, &c->certificates[0], trust, 0, NULL, NULL, &e));
        }
        /* A symlink where a file should be is replaced, not followed. */
        {
                _cleanup_free_ char *p = path_in(dir, "tls.crt");
                ASSERT_OK(unlink(p));
                ASSERT_OK(symlink("/etc/hostname", p));
                ASSERT_EQ(certificate_provision(c, &c->certificates[0], ca, NULL, &e), 1);
                struct stat st;
                ASSERT_OK(lstat(p, &st));
                ASSERT_TRUE(S_ISREG(st.st_mode));
        }
        config_free(c);
        ca_free(ca);
}

/* ---- intermediates ---- */

TEST(intermediate_chain) {
        _cleanup_(hierarchy_done) Hierarchy h = {};
        _cleanup_free_ char *both = NULL, *cp = NULL;
        _cleanup_(x509_stack_freep) STACK_OF(X509) *file = NULL;
        char dir[256];
        SecretValue *kv;
        Config *c = new_config(NULL, dir, sizeof(dir));
        NsError e = {};
        Ca *ca = NULL;

        hierarchy_make(&h, 20 * DAY);    /* the intermediate ends first: caps the leaf */
        kv = key_secret(h.int_key);
        ASSERT_TRUE(asprintf(&both, "%s%s", h.int_pem, h.root_pem) > 0);
        ASSERT_OK(ca_from_strings(both, kv, NULL, &ca, &e));

        ASSERT_EQ(certificate_provision(c, &c->certificates[0], ca, NULL, &e), 1);
        cp = path_in(dir, "tls.crt");
        file = read_certs(cp);
        /* leaf + intermediate, never the root. */
        ASSERT_EQ(sk_X509_num(file), 2);
        ASSERT_EQ(X509_cmp(sk_X509_value(file, 1), h.intermediate), 0);
        ASSERT_EQ(ASN1_TIME_compare(X509_get0_notAfter(sk_X509_value(file, 0)), X509_get0_notAfter(h.intermediate)), 0);
        /* Clients trust the root only. */
        ASSERT_EQ(verify_file(cp, h.root_pem, X509_PURPOSE_SSL_SERVER), 1);
        ASSERT_EQ(verify_file(cp, h.root_pem, X509_PURPOSE_SSL_CLIENT), 1);
        ASSERT_OK(certificate_check(c, &c->certificates[0], h.root_pem, 0, NULL, NULL, &e));
        {
                _cleanup_free_ char *cap = path_in(dir, "ca.crt"), *ca_file = NULL;
                ASSERT_OK(read_full_file(cap, 1 << 20, &ca_file, NULL));
                ASSERT_STREQ(ca_file, h.root_pem);
        }
        ASSERT_EQ(certificate_provision(c, &c->certificates[0], ca, NULL, &e), 0);

        /* A cert file that lost its intermediate is redone. */
        {
                X509 *leaf = sk_X509_value(file, 0);
                _cleanup_free_ char *only = cert_pem(leaf);
                ASSERT_OK(write_file_atomic(cp, only, strlen(only), 0644, (uid_t) -1, (gid_t) -1));
                e = (NsError) {};
                ASSERT_ERROR(certificate_check(c, &c->certificates[0], h.root_pem, 0, NULL, NULL, &e), EKEYREJECTED);
                ASSERT_CONTAINS(e.message, "does not chain to the current CA");
                ASSERT_EQ(certificate_provision(c, &c->certificates[0], ca, NULL, &e), 1);
                ASSERT_OK(certificate_check(c, &c->certificates[0], h.root_pem, 0, NULL, NULL, &e));
        }
        secret_value_free(kv);
        ca_free(ca);
        config_free(c);
}

/* ---- files: modes, owners, directory ---- */

TEST(modes_and_directory) {
        char dir[256], sub[300];
        Ca *ca = new_ca(KEY_TYPE_EC_P256, 0, NULL);
        Config *c;
        NsError e = {};
        struct stat st;
        _cleanup_free_ char *json = NULL;

        config_free(new_config(NULL, dir, sizeof(dir)));   /* only for a fresh name */
        snprintf(sub, sizeof(sub), "%s/deep/er", dir);
        ASSERT_TRUE(asprintf(&json, "{\"node_name\": \"node-1\", \"certificates\": [{\"name\": \"c\", \"directory\": \"%s\"}]}",
                             sub) > 0);
        ASSERT_OK(config_parse(json, strlen(json), "t.json", &c, &e));
        ASSERT_EQ(certificate_provision(c, &c->certificates[0], ca, NULL, &e), 1);
        ASSERT_OK(stat(sub, &st));
        ASSERT_EQ(st.st_mode & 07777, 0755);
        ASSERT_EQ(file_mode(sub, "tls.key"), 0600);
        ASSERT_EQ(file_mode(sub, "tls.crt"), 0644);
        ASSERT_EQ(file_mode(sub, "ca.crt"), 0644);

        /* Wrong modes are corrected without touching the content. */
        {
                _cleanup_free_ char *kp = path_in(sub, "tls.key");
                struct timespec m1, m2;
                ASSERT_OK(chmod(kp, 0644));
                m1 = file_mtime(sub, "tls.key");
                ASSERT_EQ(certificate_provision(c, &c->certificates[0], ca, NULL, &e), 0);
                m2 = file_mtime(sub, "tls.key");
                ASSERT_EQ(file_mode(sub, "tls.key"), 0600);
                ASSERT_TRUE(m1.tv_sec == m2.tv_sec && m1.tv_nsec == m2.tv_nsec);
        }
        config_free(c);
        ca_free(ca);
}

TEST(owner_and_group) {
        char dir[256], extra[128];
        Ca *ca = new_ca(KEY_TYPE_EC_P256, 0, NULL);
        Config *c;
        NsError e = {};
        struct stat st;

        if (geteuid() != 0) {
                fprintf(stderr, "  (not root: ownership not tested)\n");
                ca_free(ca);
                return;
        }
        snprintf(extra, sizeof(extra), "\"owner\": \"1234\", \"group\": \"4321\"");
        c = new_config(extra, dir, sizeof(dir));
        ASSERT_EQ(certificate_provision(c, &c->certificates[0], ca, NULL, &e), 1);
        {
                _cleanup_free_ char *kp = path_in(dir, "tls.key"), *cp = path_in(dir, "tls.crt"), *ap = path_in(dir, "ca.crt");
                ASSERT_OK(stat(kp, &st));
                ASSERT_EQ(st.st_uid, 1234);
                ASSERT_EQ(st.st_gid, 4321);
                ASSERT_EQ(st.st_mode & 07777, 0640);
                ASSERT_OK(stat(cp, &st));
                ASSERT_EQ(st.st_uid, 1234);
                ASSERT_EQ(st.st_mode & 07777, 0644);
                ASSERT_OK(stat(ap, &st));
                ASSERT_EQ(st.st_uid, 1234);

                /* An owner changed behind our back is put back, the certificate reused. */
                ASSERT_OK(chown(kp, 0, 0));
                ASSERT_EQ(certificate_provision(c, &c->certificates[0], ca, NULL, &e), 0);
                ASSERT_OK(stat(kp, &st));
                ASSERT_EQ(st.st_uid, 1234);
                ASSERT_EQ(st.st_gid, 4321);
                ASSERT_EQ(st.st_mode & 07777, 0640);
        }
        config_free(c);

        /* The postgresql profile: owner postgres by default, files under PostgreSQL's names. */
        {
                struct passwd *pw = getpwnam("postgres");
                c = new_config("\"profile\": \"postgresql\"", dir, sizeof(dir));
                e = (NsError) {};
                if (pw) {
                        _cleanup_free_ char *kp = path_in(dir, "server.key");
                        ASSERT_EQ(certificate_provision(c, &c->certificates[0], ca, NULL, &e), 1);
                        ASSERT_OK(stat(kp, &st));
                        ASSERT_EQ(st.st_uid, pw->pw_uid);
                        ASSERT_EQ(st.st_gid, pw->pw_gid);
                        ASSERT_EQ(st.st_mode & 07777, 0600);
                        ASSERT_EQ(file_mode(dir, "server.crt"), 0644);
                        ASSERT_EQ(file_mode(dir, "root.crt"), 0644);
                } else {
                        ASSERT_ERROR(certificate_provision(c, &c->certificates[0], ca, NULL, &e), ESRCH);
                        ASSERT_CONTAINS(e.message, "user \"postgres\"");
                        ASSERT_CONTAINS(e.message, "set \"owner\"");
                }
                config_free(c);
        }

        /* An unknown owner: named, nothing written. */
        c = new_config("\"owner\": \"nodeseal-no-such-user\"", dir, sizeof(dir));
        e = (NsError) {};
        ASSERT_ERROR(certificate_provision(c, &c->certificates[0], ca, NULL, &e), ESRCH);
        ASSERT_CONTAINS(e.message, "nodeseal-no-such-user");
        ASSERT_EQ(file_mode(dir, "tls.key"), (mode_t) -1);
        config_free(c);
        ca_free(ca);
}

/* ---- check ---- */

TEST(check_errors) {
        _cleanup_free_ char *trust = NULL, *other_trust = NULL, *kp = NULL, *cp = NULL;
        char dir[256];
        Ca *ca = new_ca(KEY_TYPE_EC_P256, 0, NULL), *other = new_ca(KEY_TYPE_EC_P256, 0, NULL);
        Config *c = new_config("\"validity_days\": 10", dir, sizeof(dir));
        NsError e = {};
        uint64_t na = 0, renew = 0;

        trust = trust_of(ca);
        other_trust = trust_of(other);
        kp = path_in(dir, "tls.key");
        cp = path_in(dir, "tls.crt");

        /* Missing, naming the file. */
        ASSERT_ERROR(certificate_check(c, &c->certificates[0], trust, 0, NULL, NULL, &e), ENOENT);
        ASSERT_CONTAINS(e.message, "certificate file ");
        ASSERT_CONTAINS(e.message, "tls.crt is missing");

        ASSERT_EQ(certificate_provision(c, &c->certificates[0], ca, NULL, &e), 1);
        ASSERT_OK(certificate_check(c, &c->certificates[0], trust, 0, &na, &renew, &e));
        /* Two thirds of the life would put the renewal 3.3 days before notAfter; the 7-day check
         * margin comes first, so that "check" never fails on a certificate not yet due. */
        ASSERT_TRUE(na > renew);
        ASSERT_EQ((long long) (na - renew) / (long long) USEC_PER_SEC, 7LL * DAY);

        /* Expiring within the margin: the date is given. */
        e = (NsError) {};
        ASSERT_ERROR(certificate_check(c, &c->certificates[0], trust, 30 * USEC_PER_DAY, NULL, NULL, &e), EKEYEXPIRED);
        ASSERT_CONTAINS(e.message, "expires on ");
        ASSERT_CONTAINS(e.message, "UTC, within the 30-day margin");
        ASSERT_TRUE(strchr(e.message, '\n') == NULL);

        /* Expired: seen from 20 days on. */
        e = (NsError) {};
        pki_set_clock(time(NULL) + 20 * DAY);
        ASSERT_ERROR(certificate_check(c, &c->certificates[0], trust, 0, NULL, NULL, &e), EKEYEXPIRED);
        pki_set_clock(0);
        ASSERT_CONTAINS(e.message, "expired on ");

        /* Another CA. */
        e = (NsError) {};
        ASSERT_ERROR(certificate_check(c, &c->certificates[0], other_trust, 0, NULL, NULL, &e), EKEYREJECTED);
        ASSERT_CONTAINS(e.message, "does not chain to the current CA");
        ASSERT_TRUE(strchr(e.message, '\n') == NULL);

        /* A wanted name missing. */
        {
                Config *c2;
                char json[1024];
                snprintf(json, sizeof(json),
                         "{\"node_name\": \"node-1\", \"certificates\": [{\"name\": \"c\", \"directory\": \"%s\","
                         " \"validity_days\": 10, \"dns_names\": [\"{node}\", \"db.example\"]}]}", dir);
                ASSERT_OK(config_parse(json, strlen(json), "t.json", &c2, &e));
                e = (NsError) {};
                ASSERT_ERROR(certificate_check(c2, &c2->certificates[0], trust, 0, NULL, NULL, &e), EKEYREJECTED);
                ASSERT_CONTAINS(e.message, "lacks the subject alternative name DNS:db.example");
                config_free(c2);
        }

        /* Mismatched key. */
        {
                _cleanup_(EVP_PKEY_freep) EVP_PKEY *k = ec_key();
                SecretValue *kv = key_secret(k);
                ASSERT_OK(write_file_atomic(kp, kv->data, kv->size, 0600, (uid_t) -1, (gid_t) -1));
                secret_value_free(kv);
                e = (NsError) {};
                ASSERT_ERROR(certificate_check(c, &c->certificates[0], trust, 0, NULL, NULL, &e), EKEYREJECTED);
                ASSERT_CONTAINS(e.message, "does not match certificate file");
        }

        /* Garbage is invalid, not missing. */
        ASSERT_OK(write_file_atomic(cp, "junk", 4, 0644, (uid_t) -1, (gid_t) -1));
        e = (NsError) {};
        ASSERT_ERROR(certificate_check(c, &c->certificates[0], trust, 0, NULL, NULL, &e), EKEYREJECTED);
        ASSERT_CONTAINS(e.message, "tls.crt: no PEM certificate found");

        /* Key missing. */
        ASSERT_OK(unlink(kp));
        e = (NsError) {};
        ASSERT_ERROR(certificate_check(c, &c->certificates[0], trust, 0, NULL, NULL, &e), ENOENT);
        ASSERT_CONTAINS(e.message, "key file ");

        /* CA file missing. */
        ASSERT_EQ(certificate_provision(c, &c->certificates[0], ca, NULL, &e), 1);
        {
                _cleanup_free_ char *ap = path_in(dir, "ca.crt");
                ASSERT_OK(unlink(ap));
                e = (NsError) {};
                ASSERT_ERROR(certificate_check(c, &c->certificates[0], trust, 0, NULL, NULL, &e), ENOENT);
                ASSERT_CONTAINS(e.message, "CA file ");
        }
        config_free(c);
        ca_free(ca);
        ca_free(other);
}

TEST(node_name_too_long_for_cn) {
        char json[1024], name[80];
        Ca *ca = new_ca(KEY_TYPE_EC_P256, 0, NULL);
        Config *c = NULL;
        NsError e = {};

        memset(name, 'n', 70);
        name[70] = '\0';
        snprintf(json, sizeof(json), "{\"node_name\": \"%s\", \"certificates\": [{\"name\": \"c\", \"directory\": \"%s/long\"}]}",
                 name, test_tmpdir);
        ASSERT_OK(config_parse(json, strlen(json), "t.json", &c, &e));
        ASSERT_ERROR(certificate_provision(c, &c->certificates[0], ca, NULL, &e), EINVAL);
        ASSERT_CONTAINS(e.message, "longer than the 64 characters");
        config_free(c);
        ca_free(ca);
}
