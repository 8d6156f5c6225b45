/* SPDX-License-Identifier: Apache-2.0 */
/* Per-node intermediate CAs: the operator's names and ranges as name constraints (and nothing
 * else: a request's names are ignored), a request whose signature does not verify refused, and a
 * node that signs with its intermediate refusing names outside it. Requests and leaves to check
 * against are made with OpenSSL directly, independently of the code under test. */
#define OPENSSL_API_COMPAT 30000
#define OPENSSL_NO_DEPRECATED 1

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "pki.h"
#include "tests.h"

DEFINE_TRIVIAL_CLEANUP_FUNC(X509 *, X509_free);
DEFINE_TRIVIAL_CLEANUP_FUNC(EVP_PKEY *, EVP_PKEY_free);

static EVP_PKEY *ec_key(void) {
        EVP_PKEY *k = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
        if (!k)
                abort();
        return k;
}

static SecretValue *str_secret(const char *s, size_t n) {
        SecretValue *v = NULL;
        if (secret_value_new_copy(s, n, &v) < 0)
                abort();
        return v;
}

static char *bio_text(BIO *b) {
        BUF_MEM *m;
        char *s;
        BIO_get_mem_ptr(b, &m);
        s = strndup(m->data, m->length);
        BIO_free(b);
        return s;
}

static SecretValue *key_secret(EVP_PKEY *k) {
        BIO *b = BIO_new(BIO_s_mem());
        char *s;
        SecretValue *v;

        PEM_write_bio_PrivateKey(b, k, NULL, NULL, 0, NULL, NULL);
        s = bio_text(b);
        v = str_secret(s, strlen(s));
        free(s);
        return v;
}

/* A request for key with the subject CN and (san non-NULL) a subjectAltName extension asking for
 * names, signed by signer (the key itself when NULL). */
static char *make_csr(EVP_PKEY *key, EVP_PKEY *signer, const char *cn, const char *san) {
        X509_REQ *req = X509_REQ_new();
        X509_NAME *name = X509_NAME_new();
        BIO *b = BIO_new(BIO_s_mem());

        X509_NAME_add_entry_by_NID(name, NID_commonName, MBSTRING_UTF8, (const unsigned char *) cn, -1, -1, 0);
        X509_REQ_set_subject_name(req, name);
        X509_REQ_set_pubkey(req, key);
        if (san) {
                STACK_OF(X509_EXTENSION) *exts = sk_X509_EXTENSION_new_null();
                X509_EXTENSION *e = X509V3_EXT_conf_nid(NULL, NULL, NID_subject_alt_name, san);
                if (!e)
                        abort();
                sk_X509_EXTENSION_push(exts, e);
                X509_REQ_add_extensions(req, exts);
                sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
        }
        if (X509_REQ_sign(req, signer ?: key, EVP_sha256()) <= 0)
                abort();
        PEM_write_bio_X509_REQ(b, req);
        X509_NAME_free(name);
        X509_REQ_free(req);
        return bio_text(b);
}

static X509 *first_cert(const char *pem) {
        BIO *b = BIO_new_mem_buf(pem, -1);
        X509 *x = PEM_read_bio_X509(b, NULL, NULL, NULL);
        BIO_free(b);
        return x;
}

/* A leaf for san, signed by the intermediate (what a node holding its key could mint). */
static X509 *mint_leaf(X509 *issuer, EVP_PKEY *issuer_key, const char *san) {
        _cleanup_(EVP_PKEY_freep) EVP_PKEY *k = ec_key();
        X509 *x = X509_new();
        X509_NAME *name = X509_NAME_new();
        X509V3_CTX ctx;
        X509_EXTENSION *e;

        X509_set_version(x, X509_VERSION_3);
        ASN1_INTEGER_set(X509_get_serialNumber(x), 4242);
        X509_NAME_add_entry_by_NID(name, NID_commonName, MBSTRING_UTF8, (const unsigned char *) "minted", -1, -1, 0);
        X509_set_subject_name(x, name);
        X509_NAME_free(name);
        X509_set_issuer_name(x, X509_get_subject_name(issuer));
        X509_gmtime_adj(X509_getm_notBefore(x), -60);
        X509_gmtime_adj(X509_getm_notAfter(x), 86400);
        X509_set_pubkey(x, k);
        X509V3_set_ctx(&ctx, issuer, x, NULL, NULL, 0);
        e = X509V3_EXT_conf_nid(NULL, &ctx, NID_subject_alt_name, san);
        if (!e || !X509_add_ext(x, e, -1))
                abort();
        X509_EXTENSION_free(e);
        if (X509_sign(x, issuer_key, EVP_sha256()) <= 0)
                abort();
        return x;
}

/* X509_V_OK when leaf verifies with root trusted and intermediate as the untrusted link. */
static int verify_with(X509 *root, X509 *intermediate, X509 *leaf) {
        X509_STORE *store = X509_STORE_new();
        X509_STORE_CTX *ctx = X509_STORE_CTX_new();
        STACK_OF(X509) *untrusted = sk_X509_new_null();
        int r;

        X509_STORE_add_cert(store, root);
        sk_X509_push(untrusted, intermediate);
        X509_STORE_CTX_init(ctx, store, leaf, untrusted);
        r = X509_verify_cert(ctx) == 1 ? X509_V_OK : X509_STORE_CTX_get_error(ctx);
        X509_STORE_CTX_free(ctx);
        X509_STORE_free(store);
        sk_X509_free(untrusted);
        ERR_clear_error();
        return r;
}

static Ca *new_root(char **ret_pem, SecretValue **ret_key) {
        SecretValue *key = NULL, *cert = NULL;
        char *pem = NULL;
        NsError e = {};
        Ca *ca = NULL;

        if (ca_generate("test root", KEY_TYPE_EC_P256, 30, &pem, &key, &e) < 0)
                abort();
        cert = str_secret(pem, strlen(pem));
        if (ca_from_pem(cert, key, NULL, &ca, &e) < 0)
                abort();
        secret_value_free(cert);
        if (ret_key)
                *ret_key = key;
        else
                secret_value_free(key);
        if (ret_pem)
                *ret_pem = pem;
        else
                free(pem);
        return ca;
}

static void names_for(IntermediateNames *n, const char *dns, const char *range) {
        NsError e = {};
        if (intermediate_names_add_dns(n, dns, &e) < 0 || (range && intermediate_names_add_range(n, range, &e) < 0)) {
                fprintf(stderr, "names_for: %s\n", e.message);
                abort();
        }
}

/* A root, and an intermediate it issued for the key of csr with the names dns and range. */
typedef struct Issued {
        Ca *ca;
        char *root_pem, *pem;
        X509 *root, *inter;
        IntermediateNames n;
} Issued;

static void issued_done(Issued *i) {
        X509_free(i->root);
        X509_free(i->inter);
        free(i->root_pem);
        free(i->pem);
        intermediate_names_done(&i->n);
        ca_free(i->ca);
}

static int issue_for(Issued *i, const char *csr, const char *dns, const char *range) {
        NsError e = {};
        int r;

        i->ca = new_root(&i->root_pem, NULL);
        names_for(&i->n, dns, range);
        r = intermediate_issue(i->ca, csr, strlen(csr), "node-a", &i->n, NULL, 30, &i->pem, &e);
        if (r < 0)
                return r;
        i->root = first_cert(i->root_pem);
        i->inter = first_cert(i->pem);
        return i->root && i->inter ? 0 : -EBADMSG;
}

TEST(dns_names_checked_and_normalised) {
        IntermediateNames n = {};
        NsError e = {};

        ASSERT_OK(intermediate_names_add_dns(&n, "Node-A.Example", &e));
        ASSERT_OK(intermediate_names_add_dns(&n, "node-a.example", &e));   /* the same, once */
        ASSERT_OK(intermediate_names_add_dns(&n, ".pods.example", &e));
        ASSERT_STREQ(n.dns[0], "node-a.example");
        ASSERT_STREQ(n.dns[1], ".pods.example");
        ASSERT_TRUE(n.dns[2] == NULL);
        const char *bad[] = { "", "*.example", "a..b", "-a.example", "a-.example", "a b", "example.", "..x", "a/b" };
        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                e = (NsError) {};
                ASSERT_ERROR(intermediate_names_add_dns(&n, bad[i], &e), EINVAL);
                ASSERT_CONTAINS(e.message, "is not a DNS name");
        }
        intermediate_names_done(&n);
}

TEST(ranges_checked) {
        IntermediateNames n = {};
        NsError e = {};

        ASSERT_OK(intermediate_names_add_range(&n, "10.1.0.0/16", &e));
        ASSERT_OK(intermediate_names_add_range(&n, "10.1.0.0/16", &e));   /* once */
        ASSERT_OK(intermediate_names_add_range(&n, "192.0.2.7", &e));     /* a single address: /32 */
        ASSERT_OK(intermediate_names_add_range(&n, "fd00:1::/64", &e));
        ASSERT_EQ(n.n_ranges, 3);
        ASSERT_EQ(n.ranges[0].len, 4);
        ASSERT_EQ(n.ranges[0].mask[1], 0xFF);
        ASSERT_EQ(n.ranges[0].mask[2], 0);
        ASSERT_EQ(n.ranges[1].mask[3], 0xFF);
        ASSERT_EQ(n.ranges[2].len, 16);
        ASSERT_EQ(n.ranges[2].mask[7], 0xFF);
        ASSERT_EQ(n.ranges[2].mask[8], 0);

        ASSERT_ERROR(intermediate_names_add_range(&n, "10.1.0.1/16", &e), EINVAL);
        ASSERT_CONTAINS(e.message, "host bits set");
        e = (NsError) {};
        ASSERT_ERROR(intermediate_names_add_range(&n, "0.0.0.0/0", &e), EINVAL);
        ASSERT_CONTAINS(e.message, "wider than /8");
        e = (NsError) {};
        ASSERT_ERROR(intermediate_names_add_range(&n, "::/16", &e), EINVAL);
        ASSERT_CONTAINS(e.message, "wider than /32");
        e = (NsError) {};
        ASSERT_ERROR(intermediate_names_add_range(&n, "10.0.0.0/33", &e), EINVAL);
        ASSERT_CONTAINS(e.message, "prefix length outside 0-32");
        e = (NsError) {};
        ASSERT_ERROR(intermediate_names_add_range(&n, "node-a", &e), EINVAL);
        ASSERT_CONTAINS(e.message, "\"node-a\" is not an IP address or CIDR range");
        ASSERT_EQ(n.n_ranges, 3);
        intermediate_names_done(&n);
}

TEST(constraints_built_from_the_names) {
        IntermediateNames n = {};
        NAME_CONSTRAINTS *nc = NULL;
        const GENERAL_SUBTREE *t;

        /* No DNS name: nothing to permit, refused. */
        ASSERT_ERROR(intermediate_name_constraints(&n, &nc), EINVAL);

        names_for(&n, "node-a.example", "10.0.0.0/24");
        ASSERT_OK(intermediate_name_constraints(&n, &nc));
        ASSERT_EQ(sk_GENERAL_SUBTREE_num(nc->permittedSubtrees), 2);
        ASSERT_TRUE(sk_GENERAL_SUBTREE_num(nc->excludedSubtrees) <= 0);   /* none excluded */
        t = sk_GENERAL_SUBTREE_value(nc->permittedSubtrees, 0);
        ASSERT_EQ(t->base->type, GEN_DNS);
        ASSERT_EQ(ASN1_STRING_length(t->base->d.dNSName), strlen("node-a.example"));
        t = sk_GENERAL_SUBTREE_value(nc->permittedSubtrees, 1);
        ASSERT_EQ(t->base->type, GEN_IPADD);
        ASSERT_EQ(ASN1_STRING_length(t->base->d.iPAddress), 8);
        ASSERT_TRUE(memcmp(ASN1_STRING_get0_data(t->base->d.iPAddress), "\x0a\x00\x00\x00\xff\xff\xff\x00", 8) == 0);
        NAME_CONSTRAINTS_free(nc);
        intermediate_names_done(&n);

        /* No range: every address, v4 and v6, is excluded (else none would be constrained). */
        names_for(&n, "node-a.example", NULL);
        ASSERT_OK(intermediate_name_constraints(&n, &nc));
        ASSERT_EQ(sk_GENERAL_SUBTREE_num(nc->permittedSubtrees), 1);
        ASSERT_EQ(sk_GENERAL_SUBTREE_num(nc->excludedSubtrees), 2);
        ASSERT_EQ(ASN1_STRING_length(sk_GENERAL_SUBTREE_value(nc->excludedSubtrees, 0)->base->d.iPAddress), 8);
        ASSERT_EQ(ASN1_STRING_length(sk_GENERAL_SUBTREE_value(nc->excludedSubtrees, 1)->base->d.iPAddress), 32);
        NAME_CONSTRAINTS_free(nc);
        intermediate_names_done(&n);
}

TEST(issue_ignores_the_requests_names) {
        _cleanup_(EVP_PKEY_freep) EVP_PKEY *ikey = ec_key();
        _cleanup_(X509_freep) X509 *own = NULL, *other = NULL, *own_ip = NULL, *other_ip = NULL, *asked = NULL;
        _cleanup_(issued_done) Issued i = {};
        NAME_CONSTRAINTS *nc;
        BASIC_CONSTRAINTS *bc;
        char cn[128], *csr;

        /* The request asks for another subject and for names of its own choosing. */
        csr = make_csr(ikey, NULL, "evil", "DNS:node-b.example,DNS:*.example,IP:10.0.0.0");
        ASSERT_OK(issue_for(&i, csr, "node-a.example", "10.0.0.5/32"));
        free(csr);
        ASSERT_CONTAINS(i.pem + 30, "BEGIN CERTIFICATE");   /* the root follows */

        X509_NAME_get_text_by_NID(X509_get_subject_name(i.inter), NID_commonName, cn, sizeof(cn));
        ASSERT_STREQ(cn, "nodeseal intermediate node-a");
        ASSERT_TRUE(X509_get_ext_d2i(i.inter, NID_subject_alt_name, NULL, NULL) == NULL);
        ASSERT_EQ(X509_get_ext_count(i.inter), 5);   /* bc, ku, nc, ski, aki: nothing from the request */
        bc = X509_get_ext_d2i(i.inter, NID_basic_constraints, NULL, NULL);
        ASSERT_TRUE(bc && bc->ca && bc->pathlen && ASN1_INTEGER_get(bc->pathlen) == 0);
        BASIC_CONSTRAINTS_free(bc);
        ASSERT_EQ(X509_get_key_usage(i.inter), KU_KEY_CERT_SIGN | KU_CRL_SIGN);
        nc = X509_get_ext_d2i(i.inter, NID_name_constraints, NULL, NULL);
        ASSERT_TRUE(nc && sk_GENERAL_SUBTREE_num(nc->permittedSubtrees) == 2);
        NAME_CONSTRAINTS_free(nc);
        ASSERT_EQ(X509_get_ext_by_critical(i.inter, 1, -1) >= 0, 1);
        ASSERT_TRUE(EVP_PKEY_eq(X509_get0_pubkey(i.inter), ikey) == 1);
        ASSERT_TRUE(X509_cmp_time(X509_get0_notAfter(i.inter), &(time_t) { time(NULL) + 31 * 86400 }) < 0);

        /* What the intermediate's holder can mint: its names pass, the request's do not. */
        own = mint_leaf(i.inter, ikey, "DNS:www.node-a.example");
        own_ip = mint_leaf(i.inter, ikey, "IP:10.0.0.5");
        other = mint_leaf(i.inter, ikey, "DNS:node-b.example");
        other_ip = mint_leaf(i.inter, ikey, "IP:10.0.0.6");
        asked = mint_leaf(i.inter, ikey, "DNS:x.example");
        ASSERT_EQ(verify_with(i.root, i.inter, own), X509_V_OK);
        ASSERT_EQ(verify_with(i.root, i.inter, own_ip), X509_V_OK);
        ASSERT_EQ(verify_with(i.root, i.inter, other), X509_V_ERR_PERMITTED_VIOLATION);
        ASSERT_EQ(verify_with(i.root, i.inter, other_ip), X509_V_ERR_PERMITTED_VIOLATION);
        ASSERT_EQ(verify_with(i.root, i.inter, asked), X509_V_ERR_PERMITTED_VIOLATION);
}

TEST(issue_without_range_permits_no_address) {
        _cleanup_(EVP_PKEY_freep) EVP_PKEY *ikey = ec_key();
        _cleanup_(X509_freep) X509 *v4 = NULL, *v6 = NULL, *dns = NULL;
        _cleanup_(issued_done) Issued i = {};
        char *csr = make_csr(ikey, NULL, "x", NULL);

        ASSERT_OK(issue_for(&i, csr, "node-a.example", NULL));
        free(csr);
        dns = mint_leaf(i.inter, ikey, "DNS:node-a.example");
        v4 = mint_leaf(i.inter, ikey, "DNS:node-a.example,IP:192.0.2.1");
        v6 = mint_leaf(i.inter, ikey, "DNS:node-a.example,IP:2001:db8::1");
        ASSERT_EQ(verify_with(i.root, i.inter, dns), X509_V_OK);
        ASSERT_EQ(verify_with(i.root, i.inter, v4), X509_V_ERR_EXCLUDED_VIOLATION);
        ASSERT_EQ(verify_with(i.root, i.inter, v6), X509_V_ERR_EXCLUDED_VIOLATION);
}

TEST(issue_refuses_bad_requests) {
        _cleanup_(EVP_PKEY_freep) EVP_PKEY *ikey = ec_key(), *other = ec_key();
        IntermediateNames n = {}, none = {};
        Ca *ca = new_root(NULL, NULL);
        char *csr, *pem = NULL;
        NsError e = {};

        names_for(&n, "node-a.example", NULL);

        /* Signed by another key than the one it asks to certify: the sender may not hold it. */
        csr = make_csr(ikey, other, "x", NULL);
        ASSERT_ERROR(intermediate_issue(ca, csr, strlen(csr), "node-a", &n, NULL, 30, &pem, &e), EKEYREJECTED);
        ASSERT_CONTAINS(e.message, "its signature does not verify");
        ASSERT_TRUE(pem == NULL);
        free(csr);

        /* A flipped bit in a well-formed request's signature. */
        {
                BIO *b;
                X509_REQ *req;
                const ASN1_BIT_STRING *sig;
                csr = make_csr(ikey, NULL, "x", NULL);
                b = BIO_new_mem_buf(csr, -1);
                req = PEM_read_bio_X509_REQ(b, NULL, NULL, NULL);
                BIO_free(b);
                free(csr);
                X509_REQ_get0_signature(req, &sig, NULL);
                ((ASN1_BIT_STRING *) sig)->data[sig->length / 2] ^= 0x01;
                b = BIO_new(BIO_s_mem());
                PEM_write_bio_X509_REQ(b, req);
                X509_REQ_free(req);
                csr = bio_text(b);
                e = (NsError) {};
                ASSERT_ERROR(intermediate_issue(ca, csr, strlen(csr), "node-a", &n, NULL, 30, &pem, &e), EKEYREJECTED);
                ASSERT_CONTAINS(e.message, "its signature does not verify");
                free(csr);
        }

        /* Not a request at all. */
        e = (NsError) {};
        ASSERT_ERROR(intermediate_issue(ca, "garbage", 7, "node-a", &n, NULL, 30, &pem, &e), EBADMSG);
        ASSERT_CONTAINS(e.message, "not a PEM certificate request");

        /* The key the node reported: another key's digest is refused, its own (computed here from the
         * key, not from the request) accepted, in either case. */
        {
                unsigned char *der = NULL, md[32];
                char hex[65], got[65];
                int len = i2d_PUBKEY(ikey, &der);

                ASSERT_TRUE(len > 0 && EVP_Digest(der, (size_t) len, md, NULL, EVP_sha256(), NULL) == 1);
                OPENSSL_free(der);
                for (size_t j = 0; j < 32; j++)
                        snprintf(hex + 2 * j, 3, "%02X", md[j]);
                csr = make_csr(ikey, NULL, "x", NULL);
                ASSERT_OK(intermediate_csr_key_sha256(csr, strlen(csr), got, &e));
                ASSERT_EQ(strcasecmp(got, hex), 0);
                e = (NsError) {};
                ASSERT_ERROR(intermediate_issue(ca, csr, strlen(csr), "node-a", &n,
                                                "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff", 30,
                                                &pem, &e), EKEYREJECTED);
                ASSERT_CONTAINS(e.message, "not the one the node made");
                ASSERT_TRUE(pem == NULL);
                e = (NsError) {};
                ASSERT_OK(intermediate_issue(ca, csr, strlen(csr), "node-a", &n, hex, 30, &pem, &e));
                free(pem);
                pem = NULL;
                free(csr);
        }

        /* No names from the operator. */
        csr = make_csr(ikey, NULL, "x", NULL);
        e = (NsError) {};
        ASSERT_ERROR(intermediate_issue(ca, csr, strlen(csr), "node-a", &none, NULL, 30, &pem, &e), EINVAL);
        ASSERT_CONTAINS(e.message, "no DNS names given for node node-a");
        ASSERT_TRUE(pem == NULL);
        free(csr);
        intermediate_names_done(&n);
        ca_free(ca);
}

TEST(csr_new_matches_its_key) {
        _cleanup_(EVP_PKEY_freep) EVP_PKEY *k = ec_key(), *other = ec_key();
        SecretValue *kp = key_secret(k), *op = key_secret(other), *made = NULL;
        char *csr = NULL;
        NsError e = {};

        ASSERT_OK(intermediate_csr_new(kp, "node-a", &csr, &e));
        ASSERT_CONTAINS(csr, "BEGIN CERTIFICATE REQUEST");
        ASSERT_EQ(intermediate_csr_matches_key(csr, strlen(csr), kp), 1);
        ASSERT_EQ(intermediate_csr_matches_key(csr, strlen(csr), op), 0);
        ASSERT_EQ(intermediate_csr_matches_key("junk", 4, kp), 0);
        free(csr);

        /* A key made here, for each type an intermediate may have. */
        for (KeyType t = KEY_TYPE_EC_P256; t < _KEY_TYPE_MAX; t++) {
                if (t != KEY_TYPE_EC_P256 && t != KEY_TYPE_EC_P384 && t != KEY_TYPE_ED25519)
                        continue;
                ASSERT_OK(pki_key_new_pem(t, &made, &e));
                ASSERT_TRUE(made->size < 512);   /* fits the wrapped format */
                ASSERT_OK(intermediate_csr_new(made, "node-a", &csr, &e));
                ASSERT_EQ(intermediate_csr_matches_key(csr, strlen(csr), made), 1);
                free(csr);
                made = secret_value_free(made);
        }
        secret_value_free(kp);
        secret_value_free(op);
}

/* A node signing with its intermediate: a name outside the constraints is refused before issuing. */
TEST(node_refuses_names_outside_its_intermediate) {
        _cleanup_(EVP_PKEY_freep) EVP_PKEY *ikey = ec_key();
        _cleanup_(X509_freep) X509 *leaf = NULL;
        char *root_pem = NULL, *csr = make_csr(ikey, NULL, "x", NULL), *pem = NULL, json[2048], path[512];
        SecretValue *crt, *key = key_secret(ikey), *bundle;
        IntermediateNames n = {};
        Ca *root = new_root(&root_pem, NULL), *inter = NULL;
        Config *c = NULL;
        NsError e = {};

        names_for(&n, "node-a.example", "127.0.0.1/32");
        ASSERT_OK(intermediate_issue(root, csr, strlen(csr), "node-a", &n, NULL, 30, &pem, &e));
        crt = str_secret(pem, strlen(pem));
        bundle = str_secret(root_pem, strlen(root_pem));
        ASSERT_OK(ca_from_pem(crt, key, bundle, &inter, &e));

        snprintf(json, sizeof(json),
                 "{\"node_name\": \"node-a\", \"runtime_directory\": \"%s/run\", \"certificates\": ["
                 "{\"name\": \"bad\", \"directory\": \"%s/bad\", \"dns_names\": [\"node-a.example\", \"node-b.example\"]},"
                 "{\"name\": \"badip\", \"directory\": \"%s/badip\", \"dns_names\": [\"node-a.example\"], \"ip_addresses\": [\"127.0.0.2\"]},"
                 "{\"name\": \"good\", \"directory\": \"%s/good\", \"dns_names\": [\"x.node-a.example\"], \"ip_addresses\": [\"127.0.0.1\"]}]}",
                 test_tmpdir, test_tmpdir, test_tmpdir, test_tmpdir);
        ASSERT_OK(config_parse(json, strlen(json), "t.json", &c, &e));
        ASSERT_ERROR(certificate_provision(c, &c->certificates[0], inter, NULL, &e), EKEYREJECTED);
        ASSERT_CONTAINS(e.message, "DNS:node-b.example is outside the name constraints of the signing intermediate CA");
        e = (NsError) {};
        ASSERT_ERROR(certificate_provision(c, &c->certificates[1], inter, NULL, &e), EKEYREJECTED);
        ASSERT_CONTAINS(e.message, "IP:127.0.0.2 is outside");
        snprintf(path, sizeof(path), "%s/bad/tls.crt", test_tmpdir);
        ASSERT_TRUE(access(path, F_OK) < 0);

        e = (NsError) {};
        ASSERT_EQ(certificate_provision(c, &c->certificates[2], inter, NULL, &e), 1);
        ASSERT_OK(certificate_check(c, &c->certificates[2], root_pem, 0, NULL, NULL, &e));
        config_free(c);

        /* No DNS name: verifiers check the common name (a dotted node name) against the constraints. */
        snprintf(json, sizeof(json),
                 "{\"node_name\": \"node-z.example\", \"runtime_directory\": \"%s/run\", \"certificates\": ["
                 "{\"name\": \"cn\", \"directory\": \"%s/cn\", \"dns_names\": [], \"ip_addresses\": [\"127.0.0.1\"]}]}",
                 test_tmpdir, test_tmpdir);
        ASSERT_OK(config_parse(json, strlen(json), "t.json", &c, &e));
        e = (NsError) {};
        ASSERT_ERROR(certificate_provision(c, &c->certificates[0], inter, NULL, &e), EKEYREJECTED);
        ASSERT_CONTAINS(e.message, "the common name node-z.example (what verifiers check when a certificate has no DNS name)");

        config_free(c);
        secret_value_free(crt);
        secret_value_free(key);
        secret_value_free(bundle);
        free(csr);
        free(pem);
        free(root_pem);
        intermediate_names_done(&n);
        ca_free(inter);
        ca_free(root);
}

/* A signing CA that chains but whose leaves peers reject (its extendedKeyUsage allows clients only:
 * no server certificate under it verifies): nothing is written, rather than a certificate that
 * fails every check and would be issued again on every pass. */
TEST(unverifiable_leaf_not_written) {
        _cleanup_(EVP_PKEY_freep) EVP_PKEY *ikey = ec_key(), *rkey = NULL;
        _cleanup_(X509_freep) X509 *root = NULL, *inter = X509_new();
        char *root_pem = NULL, *inter_pem, json[1024], path[512];
        SecretValue *root_key = NULL, *crt, *key = key_secret(ikey), *bundle;
        Ca *ca = new_root(&root_pem, &root_key), *signer = NULL;
        X509_NAME *name = X509_NAME_new();
        Config *c = NULL;
        NsError e = {};
        BIO *b;

        b = BIO_new_mem_buf(root_key->data, (int) root_key->size);
        rkey = PEM_read_bio_PrivateKey(b, NULL, NULL, NULL);
        BIO_free(b);
        root = first_cert(root_pem);
        ASSERT_TRUE(rkey && root);

        X509_set_version(inter, X509_VERSION_3);
        ASN1_INTEGER_set(X509_get_serialNumber(inter), 77);
        X509_NAME_add_entry_by_NID(name, NID_commonName, MBSTRING_UTF8, (const unsigned char *) "clients only", -1, -1, 0);
        X509_set_subject_name(inter, name);
        X509_NAME_free(name);
        X509_set_issuer_name(inter, X509_get_subject_name(root));
        X509_gmtime_adj(X509_getm_notBefore(inter), -60);
        X509_gmtime_adj(X509_getm_notAfter(inter), 10 * 86400);
        X509_set_pubkey(inter, ikey);
        {
                const struct { int nid; const char *v; } exts[] = {
                        { NID_basic_constraints, "critical,CA:TRUE" },
                        { NID_key_usage, "critical,keyCertSign" },
                        { NID_ext_key_usage, "clientAuth" },
                };
                X509V3_CTX ctx;
                X509V3_set_ctx(&ctx, root, inter, NULL, NULL, 0);
                for (size_t i = 0; i < ELEMENTSOF(exts); i++) {
                        X509_EXTENSION *x = X509V3_EXT_conf_nid(NULL, &ctx, exts[i].nid, exts[i].v);
                        ASSERT_TRUE(x && X509_add_ext(inter, x, -1));
                        X509_EXTENSION_free(x);
                }
        }
        ASSERT_TRUE(X509_sign(inter, rkey, EVP_sha256()) > 0);
        b = BIO_new(BIO_s_mem());
        PEM_write_bio_X509(b, inter);
        inter_pem = bio_text(b);
        crt = str_secret(inter_pem, strlen(inter_pem));
        bundle = str_secret(root_pem, strlen(root_pem));
        ASSERT_OK(ca_from_pem(crt, key, bundle, &signer, &e));

        snprintf(json, sizeof(json), "{\"node_name\": \"node-a\", \"runtime_directory\": \"%s/run\", \"certificates\": ["
                 "{\"name\": \"c\", \"directory\": \"%s/eku\"}]}", test_tmpdir, test_tmpdir);
        ASSERT_OK(config_parse(json, strlen(json), "t.json", &c, &e));
        ASSERT_ERROR(certificate_provision(c, &c->certificates[0], signer, NULL, &e), EKEYREJECTED);
        ASSERT_CONTAINS(e.message, "The new certificate does not verify against the trust bundle (unsuitable certificate purpose)");
        snprintf(path, sizeof(path), "%s/eku/tls.crt", test_tmpdir);
        ASSERT_TRUE(access(path, F_OK) < 0);
        snprintf(path, sizeof(path), "%s/eku/tls.key", test_tmpdir);
        ASSERT_TRUE(access(path, F_OK) < 0);

        config_free(c);
        secret_value_free(crt);
        secret_value_free(key);
        secret_value_free(bundle);
        secret_value_free(root_key);
        free(inter_pem);
        free(root_pem);
        ca_free(signer);
        ca_free(ca);
}
