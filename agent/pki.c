/* SPDX-License-Identifier: Apache-2.0 */
/* CA validation, node key and certificate issuance and checking, on OpenSSL 3's current APIs only. */
#define OPENSSL_API_COMPAT 30000
#define OPENSSL_NO_DEPRECATED 1

#include <arpa/inet.h>
#include <ctype.h>
#include <fcntl.h>
#include <ifaddrs.h>
#include <limits.h>
#include <net/if.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/stat.h>

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/buffer.h>
#include <openssl/crypto.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "log.h"
#include "path-util.h"
#include "pki.h"
#include "profile.h"
#include "seam.h"
#include "time-util.h"

#define PKI_FILE_MAX (1024 * 1024)
#define CLOCK_SKEW_SEC (5 * 60)          /* notBefore is back-dated by this much */
#define CA_DEFAULT_DAYS 3650
#define SEC_PER_DAY INT64_C(86400)

DEFINE_TRIVIAL_CLEANUP_FUNC(X509 *, X509_free);
DEFINE_TRIVIAL_CLEANUP_FUNC(EVP_PKEY *, EVP_PKEY_free);
DEFINE_TRIVIAL_CLEANUP_FUNC(BIO *, BIO_free_all);
DEFINE_TRIVIAL_CLEANUP_FUNC(BIGNUM *, BN_free);
DEFINE_TRIVIAL_CLEANUP_FUNC(X509_STORE *, X509_STORE_free);
DEFINE_TRIVIAL_CLEANUP_FUNC(X509_STORE_CTX *, X509_STORE_CTX_free);
DEFINE_TRIVIAL_CLEANUP_FUNC(X509_NAME *, X509_NAME_free);
DEFINE_TRIVIAL_CLEANUP_FUNC(GENERAL_NAMES *, GENERAL_NAMES_free);
DEFINE_TRIVIAL_CLEANUP_FUNC(GENERAL_NAME *, GENERAL_NAME_free);
DEFINE_TRIVIAL_CLEANUP_FUNC(ASN1_INTEGER *, ASN1_INTEGER_free);
DEFINE_TRIVIAL_CLEANUP_FUNC(ASN1_OCTET_STRING *, ASN1_OCTET_STRING_free);
DEFINE_TRIVIAL_CLEANUP_FUNC(ASN1_BIT_STRING *, ASN1_BIT_STRING_free);
DEFINE_TRIVIAL_CLEANUP_FUNC(BASIC_CONSTRAINTS *, BASIC_CONSTRAINTS_free);
DEFINE_TRIVIAL_CLEANUP_FUNC(AUTHORITY_KEYID *, AUTHORITY_KEYID_free);
DEFINE_TRIVIAL_CLEANUP_FUNC(EXTENDED_KEY_USAGE *, EXTENDED_KEY_USAGE_free);
DEFINE_TRIVIAL_CLEANUP_FUNC(NAME_CONSTRAINTS *, NAME_CONSTRAINTS_free);
DEFINE_TRIVIAL_CLEANUP_FUNC(X509_REQ *, X509_REQ_free);

static void x509_stack_freep(STACK_OF(X509) **s) {
        if (*s)
                sk_X509_pop_free(*s, X509_free);
}
#define _cleanup_x509_stack_ _cleanup_(x509_stack_freep)

struct Ca {
        X509 *cert;                 /* the signing CA: the first certificate of tls.crt */
        EVP_PKEY *key;
        STACK_OF(X509) *given;      /* all of tls.crt, in order */
        STACK_OF(X509) *chain;      /* what follows a leaf in its file: the CA and its issuers, roots excluded */
        STACK_OF(X509) *trust;      /* the trust anchors: ca.crt, else the root ending tls.crt */
        char *trust_pem;
        time_t not_after;           /* of the signing CA */
        time_t chain_not_after;     /* the earliest notAfter in tls.crt: no leaf may outlive it */
        time_t not_before;
};

/* ---- small helpers ---- */

static time_t clock_override = 0;

void pki_set_clock(time_t now) {
        clock_override = now;
}

static time_t pki_now(void) {
        return clock_override > 0 ? clock_override : time(NULL);
}

/* The last OpenSSL error as text, clearing the queue so it cannot leak into a later message. */
static const char *openssl_reason(char *buf, size_t n) {
        unsigned long e = ERR_peek_last_error();
        const char *s = e ? ERR_reason_error_string(e) : NULL;

        if (s)
                (void) snprintf(buf, n, "%s", s);
        else if (e)
                ERR_error_string_n(e, buf, n);
        else
                (void) snprintf(buf, n, "unknown error");
        ERR_clear_error();
        return buf;
}

static int asn1_time_get(const ASN1_TIME *a, time_t *ret) {
        struct tm tm = {};

        if (!a || ASN1_TIME_to_tm(a, &tm) != 1)
                return -EBADMSG;
        *ret = timegm(&tm);
        return 0;
}

static int cert_times(X509 *x, time_t *ret_not_before, time_t *ret_not_after) {
        int r;

        r = asn1_time_get(X509_get0_notBefore(x), ret_not_before);
        if (r < 0)
                return r;
        return asn1_time_get(X509_get0_notAfter(x), ret_not_after);
}

/* The subject's CN for messages, else the whole subject. */
static const char *cert_name(X509 *x, char *buf, size_t n) {
        X509_NAME *name = X509_get_subject_name(x);

        if (X509_NAME_get_text_by_NID(name, NID_commonName, buf, (int) n) < 0 && !X509_NAME_oneline(name, buf, (int) n))
                (void) snprintf(buf, n, "(no subject)");
        ERR_clear_error();
        return buf;
}
#define CERT_NAME(x) cert_name((x), (char[256]) {}, 256)

static uint64_t sec_to_usec(time_t t) {
        return t <= 0 ? 0 : (uint64_t) t * USEC_PER_SEC;
}

/* Private keys are never read interactively: an encrypted key is an error, not a prompt. */
static int no_passphrase(char *buf, int size, int rwflag, void *u) {
        return -1;
}

/* Parses every PEM certificate of a text (other PEM blocks are skipped); at least one. */
static int parse_certs(const void *data, size_t size, const char *what, STACK_OF(X509) **ret, NsError *error) {
        _cleanup_x509_stack_ STACK_OF(X509) *certs = NULL;
        _cleanup_(BIO_free_allp) BIO *b = NULL;
        char reason[256];

        if (size > INT_MAX)
                return ns_error_set(error, -EFBIG, "%s: too large", what);
        b = BIO_new_mem_buf(data, (int) size);
        certs = sk_X509_new_null();
        if (!b || !certs)
                return -ENOMEM;

        ERR_clear_error();
        for (;;) {
                X509 *x = PEM_read_bio_X509(b, NULL, no_passphrase, NULL);
                if (!x) {
                        unsigned long e = ERR_peek_last_error();
                        bool at_end = ERR_GET_LIB(e) == ERR_LIB_PEM && ERR_GET_REASON(e) == PEM_R_NO_START_LINE;

                        if (at_end && sk_X509_num(certs) > 0) {
                                ERR_clear_error();
                                break;
                        }
                        if (at_end) {
                                ERR_clear_error();
                                return ns_error_set(error, -EBADMSG, "%s: no PEM certificate found", what);
                        }
                        return ns_error_set(error, -EBADMSG, "%s: certificate %d is not valid PEM/X.509: %s", what,
                                            sk_X509_num(certs) + 1, openssl_reason(reason, sizeof(reason)));
                }
                if (!sk_X509_push(certs, x)) {
                        X509_free(x);
                        return -ENOMEM;
                }
        }
        *ret = TAKE_PTR(certs);
        return 0;
}

static int parse_key(const SecretValue *v, const char *what, EVP_PKEY **ret, NsError *error) {
        _cleanup_(BIO_free_allp) BIO *b = NULL;
        char reason[256];
        EVP_PKEY *k;

        if (v->size > INT_MAX)
                return ns_error_set(error, -EFBIG, "%s: too large", what);
        /* Reads straight from the secret memory: no copy of the PEM text is made. */
        b = BIO_new_mem_buf(v->data, (int) v->size);
        if (!b)
                return -ENOMEM;
        ERR_clear_error();
        k = PEM_read_bio_PrivateKey(b, NULL, no_passphrase, NULL);
        if (!k)
                return ns_error_set(error, -EBADMSG, "%s: not an unencrypted PEM private key (%s)", what,
                                    openssl_reason(reason, sizeof(reason)));
        *ret = k;
        return 0;
}

static bool key_matches(X509 *x, EVP_PKEY *key) {
        EVP_PKEY *pub = X509_get0_pubkey(x);
        bool ok = pub && EVP_PKEY_eq(pub, key) == 1;

        ERR_clear_error();
        return ok;
}

static bool cert_is_self_signed(X509 *x) {
        bool ok = X509_self_signed(x, 0) == 1;
        ERR_clear_error();
        return ok;
}

static bool cert_equal(X509 *a, X509 *b) {
        return X509_cmp(a, b) == 0;
}

/* Verifies target against the trust anchors with the untrusted certificates as possible links, at
 * pki's "now"; purpose 0 checks the chain only. On failure ret_reason says why. */
static int verify_chain_flags(X509 *target, STACK_OF(X509) *trust, STACK_OF(X509) *untrusted, int purpose,
                              unsigned long flags, const char **ret_reason) {
        _cleanup_(X509_STORE_CTX_freep) X509_STORE_CTX *ctx = NULL;
        _cleanup_(X509_STORE_freep) X509_STORE *store = NULL;
        int r;

        store = X509_STORE_new();
        ctx = X509_STORE_CTX_new();
        if (!store || !ctx)
                return -ENOMEM;
        for (int i = 0; i < sk_X509_num(trust); i++)
                if (X509_STORE_add_cert(store, sk_X509_value(trust, i)) != 1)
                        return -ENOMEM;
        if (X509_STORE_CTX_init(ctx, store, target, untrusted) != 1)
                return -ENOMEM;
        if (purpose > 0 && X509_STORE_CTX_set_purpose(ctx, purpose) != 1)
                return -EINVAL;
        /* A time set wins over X509_V_FLAG_NO_CHECK_TIME: set one or the other. */
        if (flags & X509_V_FLAG_NO_CHECK_TIME)
                X509_STORE_CTX_set_flags(ctx, flags);
        else {
                X509_STORE_CTX_set_time(ctx, 0, pki_now());
                if (flags != 0)
                        X509_STORE_CTX_set_flags(ctx, flags);
        }

        r = X509_verify_cert(ctx);
        ERR_clear_error();
        if (r == 1)
                return 0;
        if (ret_reason)
                *ret_reason = X509_verify_cert_error_string(X509_STORE_CTX_get_error(ctx));
        return -EKEYREJECTED;
}

static int verify_chain(X509 *target, STACK_OF(X509) *trust, STACK_OF(X509) *untrusted, int purpose,
                        const char **ret_reason) {
        return verify_chain_flags(target, trust, untrusted, purpose, 0, ret_reason);
}

static int bio_to_string(BIO *b, char **ret) {
        BUF_MEM *m = NULL;
        char *s;

        if (BIO_get_mem_ptr(b, &m) != 1 || !m)
                return -EIO;
        s = strndup(m->data, m->length);
        if (!s)
                return -ENOMEM;
        *ret = s;
        return 0;
}

/* PEM text of first (optional) followed by every certificate of rest (optional). */
static int certs_to_pem(X509 *first, STACK_OF(X509) *rest, char **ret) {
        _cleanup_(BIO_free_allp) BIO *b = NULL;

        b = BIO_new(BIO_s_mem());
        if (!b)
                return -ENOMEM;
        if (first && PEM_write_bio_X509(b, first) != 1)
                return -EIO;
        for (int i = 0; i < sk_X509_num(rest); i++)
                if (PEM_write_bio_X509(b, sk_X509_value(rest, i)) != 1)
                        return -EIO;
        return bio_to_string(b, ret);
}

/* The private key as PKCS#8 PEM, in secret memory; OpenSSL's buffer is a secure one, wiped on free. */
static int key_to_pem(EVP_PKEY *key, SecretValue **ret) {
        _cleanup_(BIO_free_allp) BIO *b = NULL;
        BUF_MEM *m = NULL;
        int r;

        b = BIO_new(BIO_s_secmem());
        if (!b)
                return -ENOMEM;
        if (PEM_write_bio_PrivateKey(b, key, NULL, NULL, 0, NULL, NULL) != 1 || BIO_get_mem_ptr(b, &m) != 1 || !m) {
                ERR_clear_error();
                return -EIO;
        }
        r = secret_value_new_copy(m->data, m->length, ret);
        OPENSSL_cleanse(m->data, m->length);
        return r;
}

static int key_generate(KeyType t, EVP_PKEY **ret) {
        EVP_PKEY *k = NULL;

        switch (t) {
        case KEY_TYPE_EC_P256:
                k = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
                break;
        case KEY_TYPE_EC_P384:
                k = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-384");
                break;
        case KEY_TYPE_RSA_2048:
                k = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t) 2048);
                break;
        case KEY_TYPE_RSA_3072:
                k = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t) 3072);
                break;
        case KEY_TYPE_RSA_4096:
                k = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t) 4096);
                break;
        case KEY_TYPE_ED25519:
                k = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
                break;
        default:
                return -EINVAL;
        }
        if (!k) {
                ERR_clear_error();
                return -EIO;
        }
        *ret = k;
        return 0;
}

static bool key_is_rsa(EVP_PKEY *k) {
        return EVP_PKEY_is_a(k, "RSA");
}

static bool key_type_matches(EVP_PKEY *k, KeyType t) {
        char group[80] = {};
        size_t n = 0;
        int nid;

        switch (t) {
        case KEY_TYPE_EC_P256:
        case KEY_TYPE_EC_P384:
                if (!EVP_PKEY_is_a(k, "EC") || EVP_PKEY_get_group_name(k, group, sizeof(group), &n) != 1) {
                        ERR_clear_error();
                        return false;
                }
                nid = OBJ_sn2nid(group);
                if (nid == NID_undef)
                        nid = EC_curve_nist2nid(group);
                return nid == (t == KEY_TYPE_EC_P256 ? NID_X9_62_prime256v1 : NID_secp384r1);
        case KEY_TYPE_RSA_2048:
                return key_is_rsa(k) && EVP_PKEY_get_bits(k) == 2048;
        case KEY_TYPE_RSA_3072:
                return key_is_rsa(k) && EVP_PKEY_get_bits(k) == 3072;
        case KEY_TYPE_RSA_4096:
                return key_is_rsa(k) && EVP_PKEY_get_bits(k) == 4096;
        case KEY_TYPE_ED25519:
                return EVP_PKEY_is_a(k, "ED25519");
        default:
                return false;
        }
}

/* The KeyType a CA key counts as for a profile's refusals: Ed448 as Ed25519 (EdDSA: no digest of
 * its own), P-521 as P-384 (not the P-256 gRPC's C core handshakes with); -EOPNOTSUPP for others. */
static int ca_key_class(EVP_PKEY *k, KeyType *ret) {
        char group[80] = {};
        size_t n = 0;

        for (KeyType t = 0; t < _KEY_TYPE_MAX; t++)
                if (key_type_matches(k, t)) {
                        *ret = t;
                        return 0;
                }
        if (EVP_PKEY_is_a(k, "ED448")) {
                *ret = KEY_TYPE_ED25519;
                return 0;
        }
        if (EVP_PKEY_is_a(k, "EC") && EVP_PKEY_get_group_name(k, group, sizeof(group), &n) == 1 &&
            (streq(group, "secp521r1") || streq(group, "P-521"))) {
                *ret = KEY_TYPE_EC_P384;
                return 0;
        }
        ERR_clear_error();
        return -EOPNOTSUPP;
}

/* The node certificate's signature is the CA's: refused where the profile's datastore cannot use it. */
static int check_ca_key(const CertificateConfig *cc, const Ca *ca, NsError *error) {
        const Profile *p = profile_get(cc->profile);
        const char *reason;
        KeyType t;

        if (!p || ca_key_class(ca->key, &t) < 0)
                return 0;
        reason = profile_refuses_key(p, t, true);
        if (!reason)
                return 0;
        return ns_error_set(error, -EKEYREJECTED,
                            "the CA's key is %s, which the %s profile refuses for the CA that signs its "
                            "certificates: %s; use a CA with an ECDSA P-256 or RSA key",
                            key_type_to_string(t), profile_type_to_string(p->type), reason);
}

/* EdDSA signs the message itself: no separate digest. Everything else: SHA-256. */
static const EVP_MD *sign_digest(EVP_PKEY *signer) {
        if (EVP_PKEY_is_a(signer, "ED25519") || EVP_PKEY_is_a(signer, "ED448"))
                return NULL;
        return EVP_sha256();
}

/* ---- wanted subject alternative names ---- */

typedef struct IpAddress {
        int family;
        int len;
        uint8_t bytes[16];
} IpAddress;

typedef struct WantedNames {
        char **dns;
        size_t n_dns;
        IpAddress *ips;
        size_t n_ips;
} WantedNames;

static void wanted_names_done(WantedNames *w) {
        for (size_t i = 0; i < w->n_dns; i++)
                free(w->dns[i]);
        free(w->dns);
        free(w->ips);
        *w = (WantedNames) {};
}

static int wanted_add_dns(WantedNames *w, char *name) {
        char **l;

        for (size_t i = 0; i < w->n_dns; i++)
                if (strcasecmp(w->dns[i], name) == 0) {
                        free(name);
                        return 0;
                }
        l = reallocarray(w->dns, w->n_dns + 1, sizeof(char *));
        if (!l) {
                free(name);
                return -ENOMEM;
        }
        w->dns = l;
        w->dns[w->n_dns++] = name;
        return 0;
}

static int wanted_add_ip(WantedNames *w, const IpAddress *a) {
        IpAddress *l;

        for (size_t i = 0; i < w->n_ips; i++)
                if (w->ips[i].len == a->len && memcmp(w->ips[i].bytes, a->bytes, (size_t) a->len) == 0)
                        return 0;
        l = reallocarray(w->ips, w->n_ips + 1, sizeof(IpAddress));
        if (!l)
                return -ENOMEM;
        w->ips = l;
        w->ips[w->n_ips++] = *a;
        return 0;
}

static const char *ip_to_string(const IpAddress *a, char *buf, size_t n) {
        if (!inet_ntop(a->family, a->bytes, buf, (socklen_t) n))
                (void) snprintf(buf, n, "(invalid)");
        return buf;
}

/* The node's own addresses: up, not loopback, not IPv6 link-local (meaningless without a scope). */
static int wanted_add_node_ips(WantedNames *w, NsError *error) {
        struct ifaddrs *list = NULL;
        int r = 0;

        if (getifaddrs(&list) < 0)
                return ns_error_set(error, -errno, "Failed to list the node's addresses: %m");

        for (struct ifaddrs *i = list; i && r >= 0; i = i->ifa_next) {
                IpAddress a = {};

                if (!i->ifa_addr || !(i->ifa_flags & IFF_UP) || (i->ifa_flags & IFF_LOOPBACK))
                        continue;
                if (i->ifa_addr->sa_family == AF_INET) {
                        const struct sockaddr_in *s = (const struct sockaddr_in *) i->ifa_addr;
                        if ((ntohl(s->sin_addr.s_addr) >> 24) == 127)
                                continue;
                        a.family = AF_INET;
                        a.len = 4;
                        memcpy(a.bytes, &s->sin_addr, 4);
                } else if (i->ifa_addr->sa_family == AF_INET6) {
                        const struct sockaddr_in6 *s = (const struct sockaddr_in6 *) i->ifa_addr;
                        if (IN6_IS_ADDR_LOOPBACK(&s->sin6_addr) || IN6_IS_ADDR_LINKLOCAL(&s->sin6_addr))
                                continue;
                        a.family = AF_INET6;
                        a.len = 16;
                        memcpy(a.bytes, &s->sin6_addr, 16);
                } else
                        continue;
                r = wanted_add_ip(w, &a);
        }
        freeifaddrs(list);
        return r;
}

static int wanted_names_collect(const Config *c, const CertificateConfig *cc, WantedNames *ret, NsError *error) {
        _cleanup_(wanted_names_done) WantedNames w = {};
        int r;

        STRV_FOREACH(t, cc->dns_names) {
                char *x;
                r = config_expand(c, *t, &x);
                if (r < 0)
                        return ns_error_set(error, r, "dns_names: cannot expand \"%s\"", *t);
                r = wanted_add_dns(&w, x);
                if (r < 0)
                        return r;
        }
        STRV_FOREACH(s, cc->ip_addresses) {
                IpAddress a = {};
                if (inet_pton(AF_INET, *s, a.bytes) == 1) {
                        a.family = AF_INET;
                        a.len = 4;
                } else if (inet_pton(AF_INET6, *s, a.bytes) == 1) {
                        a.family = AF_INET6;
                        a.len = 16;
                } else
                        return ns_error_set(error, -EINVAL, "ip_addresses: \"%s\" is not an IP address", *s);
                r = wanted_add_ip(&w, &a);
                if (r < 0)
                        return r;
        }
        if (cc->include_node_ips) {
                r = wanted_add_node_ips(&w, error);
                if (r < 0)
                        return r;
        }
        *ret = w;
        w = (WantedNames) {};
        return 0;
}

/* Writes "DNS:x" or "IP:y" of the first wanted name the certificate lacks into buf; 0 if none lacks. */
static int find_missing_name(X509 *x, const WantedNames *w, char *buf, size_t n) {
        _cleanup_(GENERAL_NAMES_freep) GENERAL_NAMES *names = NULL;
        char ip[INET6_ADDRSTRLEN];

        names = X509_get_ext_d2i(x, NID_subject_alt_name, NULL, NULL);
        ERR_clear_error();

        for (size_t i = 0; i < w->n_dns; i++) {
                size_t len = strlen(w->dns[i]);
                bool found = false;

                for (int j = 0; !found && j < sk_GENERAL_NAME_num(names); j++) {
                        const GENERAL_NAME *g = sk_GENERAL_NAME_value(names, j);
                        if (g->type != GEN_DNS)
                                continue;
                        found = (size_t) ASN1_STRING_length(g->d.dNSName) == len &&
                                strncasecmp((const char *) ASN1_STRING_get0_data(g->d.dNSName), w->dns[i], len) == 0;
                }
                if (!found) {
                        (void) snprintf(buf, n, "DNS:%s", w->dns[i]);
                        return 1;
                }
        }
        for (size_t i = 0; i < w->n_ips; i++) {
                bool found = false;

                for (int j = 0; !found && j < sk_GENERAL_NAME_num(names); j++) {
                        const GENERAL_NAME *g = sk_GENERAL_NAME_value(names, j);
                        if (g->type != GEN_IPADD)
                                continue;
                        found = ASN1_STRING_length(g->d.iPAddress) == w->ips[i].len &&
                                memcmp(ASN1_STRING_get0_data(g->d.iPAddress), w->ips[i].bytes, (size_t) w->ips[i].len) == 0;
                }
                if (!found) {
                        (void) snprintf(buf, n, "IP:%s", ip_to_string(&w->ips[i], ip, sizeof(ip)));
                        return 1;
                }
        }
        return 0;
}

/* ---- building certificates ---- */

/* A random positive serial of (at most) 128 bits: RFC 5280 allows 20 octets and wants it positive;
 * clearing the top bit keeps the DER encoding at 16 octets, with 127 random bits. */
static int random_serial(ASN1_INTEGER **ret) {
        _cleanup_(BN_freep) BIGNUM *bn = NULL;
        uint8_t b[16];
        ASN1_INTEGER *a;
        int r;

        do {
                r = random_bytes(b, sizeof(b));
                if (r < 0)
                        return r;
                b[0] &= 0x7f;
                bn = BN_bin2bn(b, sizeof(b), bn);
                if (!bn)
                        return -ENOMEM;
        } while (BN_is_zero(bn));
        explicit_bzero(b, sizeof(b));

        a = BN_to_ASN1_INTEGER(bn, NULL);
        if (!a)
                return -ENOMEM;
        *ret = a;
        return 0;
}

static int set_time(ASN1_TIME *t, time_t when) {
        return ASN1_TIME_set(t, when) ? 0 : -EINVAL;
}

/* Version 3, random serial, subject CN, issuer, validity and public key. */
static int cert_new(EVP_PKEY *subject_key, const char *cn, X509_NAME *issuer, time_t not_before, time_t not_after,
                    X509 **ret) {
        _cleanup_(ASN1_INTEGER_freep) ASN1_INTEGER *serial = NULL;
        _cleanup_(X509_NAME_freep) X509_NAME *subject = NULL;
        _cleanup_(X509_freep) X509 *x = NULL;
        int r;

        r = random_serial(&serial);
        if (r < 0)
                return r;
        x = X509_new();
        subject = X509_NAME_new();
        if (!x || !subject)
                return -ENOMEM;
        if (X509_NAME_add_entry_by_NID(subject, NID_commonName, MBSTRING_UTF8, (const unsigned char *) cn, -1, -1, 0) != 1)
                return -EINVAL;
        if (X509_set_version(x, X509_VERSION_3) != 1 || X509_set_serialNumber(x, serial) != 1 ||
            X509_set_subject_name(x, subject) != 1 || X509_set_issuer_name(x, issuer ?: subject) != 1 ||
            X509_set_pubkey(x, subject_key) != 1)
                return -EINVAL;
        r = set_time(X509_getm_notBefore(x), not_before);
        if (r < 0)
                return r;
        r = set_time(X509_getm_notAfter(x), not_after);
        if (r < 0)
                return r;
        *ret = TAKE_PTR(x);
        return 0;
}

static int add_basic_constraints(X509 *x, bool ca) {
        _cleanup_(BASIC_CONSTRAINTS_freep) BASIC_CONSTRAINTS *bc = BASIC_CONSTRAINTS_new();

        if (!bc)
                return -ENOMEM;
        bc->ca = ca ? 0xFF : 0;
        return X509_add1_ext_i2d(x, NID_basic_constraints, bc, 1, X509V3_ADD_REPLACE) == 1 ? 0 : -EINVAL;
}

static int add_key_usage(X509 *x, const int *bits, size_t n) {
        _cleanup_(ASN1_BIT_STRING_freep) ASN1_BIT_STRING *ku = ASN1_BIT_STRING_new();

        if (!ku)
                return -ENOMEM;
        for (size_t i = 0; i < n; i++)
                if (ASN1_BIT_STRING_set_bit(ku, bits[i], 1) != 1)
                        return -ENOMEM;
        return X509_add1_ext_i2d(x, NID_key_usage, ku, 1, X509V3_ADD_REPLACE) == 1 ? 0 : -EINVAL;
}

/* keyUsage bit numbers of RFC 5280 4.2.1.3. */
enum {
        KU_BIT_DIGITAL_SIGNATURE = 0,
        KU_BIT_KEY_ENCIPHERMENT = 2,
        KU_BIT_KEY_CERT_SIGN = 5,
        KU_BIT_CRL_SIGN = 6,
};

static int add_server_client_eku(X509 *x) {
        _cleanup_(EXTENDED_KEY_USAGE_freep) EXTENDED_KEY_USAGE *eku = sk_ASN1_OBJECT_new_null();

        if (!eku)
                return -ENOMEM;
        if (!sk_ASN1_OBJECT_push(eku, OBJ_nid2obj(NID_server_auth)) ||
            !sk_ASN1_OBJECT_push(eku, OBJ_nid2obj(NID_client_auth)))
                return -ENOMEM;
        return X509_add1_ext_i2d(x, NID_ext_key_usage, eku, 0, X509V3_ADD_REPLACE) == 1 ? 0 : -EINVAL;
}

/* Key identifier by RFC 5280's method 1: SHA-1 of the subjectPublicKey bits (an identifier, not a
 * security function). */
static int key_identifier(X509 *x, ASN1_OCTET_STRING **ret) {
        unsigned char md[EVP_MAX_MD_SIZE];
        unsigned n = 0;
        ASN1_OCTET_STRING *s;

        if (X509_pubkey_digest(x, EVP_sha1(), md, &n) != 1)
                return -EINVAL;
        s = ASN1_OCTET_STRING_new();
        if (!s || ASN1_OCTET_STRING_set(s, md, (int) n) != 1) {
                ASN1_OCTET_STRING_free(s);
                return -ENOMEM;
        }
        *ret = s;
        return 0;
}

static int add_key_identifiers(X509 *x, X509 *issuer) {
        _cleanup_(ASN1_OCTET_STRING_freep) ASN1_OCTET_STRING *ski = NULL;
        _cleanup_(AUTHORITY_KEYID_freep) AUTHORITY_KEYID *aki = NULL;
        const ASN1_OCTET_STRING *issuer_ski;
        int r;

        r = key_identifier(x, &ski);
        if (r < 0)
                return r;
        if (X509_add1_ext_i2d(x, NID_subject_key_identifier, ski, 0, X509V3_ADD_REPLACE) != 1)
                return -EINVAL;

        aki = AUTHORITY_KEYID_new();
        if (!aki)
                return -ENOMEM;
        issuer_ski = issuer ? X509_get0_subject_key_id(issuer) : NULL;
        if (issuer_ski)
                aki->keyid = ASN1_OCTET_STRING_dup(issuer_ski);
        else if (issuer)
                r = key_identifier(issuer, &aki->keyid);
        else
                aki->keyid = ASN1_OCTET_STRING_dup(ski);
        if (r < 0)
                return r;
        if (!aki->keyid)
                return -ENOMEM;
        return X509_add1_ext_i2d(x, NID_authority_key_identifier, aki, 0, X509V3_ADD_REPLACE) == 1 ? 0 : -EINVAL;
}

static int add_subject_alt_names(X509 *x, const WantedNames *w) {
        _cleanup_(GENERAL_NAMES_freep) GENERAL_NAMES *names = sk_GENERAL_NAME_new_null();

        if (!names)
                return -ENOMEM;
        for (size_t i = 0; i < w->n_dns; i++) {
                _cleanup_(GENERAL_NAME_freep) GENERAL_NAME *g = GENERAL_NAME_new();
                ASN1_IA5STRING *s = ASN1_IA5STRING_new();

                if (!g || !s || ASN1_STRING_set(s, w->dns[i], -1) != 1) {
                        ASN1_IA5STRING_free(s);
                        return -ENOMEM;
                }
                GENERAL_NAME_set0_value(g, GEN_DNS, s);
                if (!sk_GENERAL_NAME_push(names, g))
                        return -ENOMEM;
                g = NULL;
        }
        for (size_t i = 0; i < w->n_ips; i++) {
                _cleanup_(GENERAL_NAME_freep) GENERAL_NAME *g = GENERAL_NAME_new();
                ASN1_OCTET_STRING *s = ASN1_OCTET_STRING_new();

                if (!g || !s || ASN1_OCTET_STRING_set(s, w->ips[i].bytes, w->ips[i].len) != 1) {
                        ASN1_OCTET_STRING_free(s);
                        return -ENOMEM;
                }
                GENERAL_NAME_set0_value(g, GEN_IPADD, s);
                if (!sk_GENERAL_NAME_push(names, g))
                        return -ENOMEM;
                g = NULL;
        }
        if (sk_GENERAL_NAME_num(names) == 0)
                return 0;
        return X509_add1_ext_i2d(x, NID_subject_alt_name, names, 0, X509V3_ADD_REPLACE) == 1 ? 0 : -EINVAL;
}

static int cert_sign(X509 *x, EVP_PKEY *signer) {
        if (X509_sign(x, signer, sign_digest(signer)) <= 0) {
                ERR_clear_error();
                return -EIO;
        }
        return 0;
}

static int issue_leaf(const Ca *ca, EVP_PKEY *key, const char *cn, const WantedNames *w, time_t not_before,
                      time_t not_after, X509 **ret) {
        static const int rsa_usage[] = { KU_BIT_DIGITAL_SIGNATURE, KU_BIT_KEY_ENCIPHERMENT };
        static const int usage[] = { KU_BIT_DIGITAL_SIGNATURE };
        _cleanup_(X509_freep) X509 *x = NULL;
        int r;

        r = cert_new(key, cn, X509_get_subject_name(ca->cert), not_before, not_after, &x);
        if (r < 0)
                return r;
        r = add_basic_constraints(x, false);
        if (r >= 0)
                r = key_is_rsa(key) ? add_key_usage(x, rsa_usage, ELEMENTSOF(rsa_usage))
                                    : add_key_usage(x, usage, ELEMENTSOF(usage));
        if (r >= 0)
                r = add_server_client_eku(x);
        if (r >= 0)
                r = add_key_identifiers(x, ca->cert);
        if (r >= 0)
                r = add_subject_alt_names(x, w);
        if (r >= 0)
                r = cert_sign(x, ca->key);
        ERR_clear_error();
        if (r < 0)
                return r;
        *ret = TAKE_PTR(x);
        return 0;
}

/* ---- the CA ---- */

Ca *ca_free(Ca *ca) {
        if (!ca)
                return NULL;
        X509_free(ca->cert);
        EVP_PKEY_free(ca->key);
        x509_stack_freep(&ca->given);
        x509_stack_freep(&ca->chain);
        x509_stack_freep(&ca->trust);
        free(ca->trust_pem);
        free(ca);
        return NULL;
}

static int x509_stack_push_ref(STACK_OF(X509) *s, X509 *x) {
        if (X509_up_ref(x) != 1)
                return -EIO;
        if (!sk_X509_push(s, x)) {
                X509_free(x);
                return -ENOMEM;
        }
        return 0;
}

/* An expired CA in the trust bundle verifies nothing: it is left out of what is written, with a
 * warning, so that the operator sees it go (the rotation's finish step drops it from the Secret).
 * A CA not valid yet stays: peers must trust a new CA before it signs. */
static int drop_expired(STACK_OF(X509) *trust, time_t now) {
        for (int i = sk_X509_num(trust) - 1; i >= 0; i--) {
                X509 *x = sk_X509_value(trust, i);
                time_t nb, na;

                if (cert_times(x, &nb, &na) < 0 || now < na)
                        continue;
                if (sk_X509_num(trust) == 1)
                        break;   /* the chain check below says what is wrong */
                log_warning("ca.crt: \"%s\" expired on %s; left out of the trust bundle.", CERT_NAME(x),
                            FORMAT_UTC_SEC(na));
                X509_free(sk_X509_delete(trust, i));
        }
        return 0;
}

int ca_from_pem(const SecretValue *cert_pem, const SecretValue *key_pem, const SecretValue *bundle_pem, Ca **ret,
                NsError *error) {
        _cleanup_(ca_freep) Ca *ca = NULL;
        _cleanup_(BASIC_CONSTRAINTS_freep) BASIC_CONSTRAINTS *bc = NULL;
        const char *why = NULL, *name;
        time_t now = pki_now();
        int r;

        if (!cert_pem || !key_pem)
                return ns_error_set(error, -EINVAL, "tls.crt and tls.key are both required");

        ca = calloc(1, sizeof(*ca));
        if (!ca)
                return -ENOMEM;

        r = parse_certs(cert_pem->data, cert_pem->size, "tls.crt", &ca->given, error);
        if (r < 0)
                return r;
        r = parse_key(key_pem, "tls.key", &ca->key, error);
        if (r < 0)
                return r;

        ca->cert = sk_X509_value(ca->given, 0);
        if (X509_up_ref(ca->cert) != 1) {
                ca->cert = NULL;
                return -EIO;
        }
        name = CERT_NAME(ca->cert);

        /* The rules, in the order an operator would fix them. */
        bc = X509_get_ext_d2i(ca->cert, NID_basic_constraints, NULL, NULL);
        ERR_clear_error();
        if (!bc || !bc->ca)
                return ns_error_set(error, -EKEYREJECTED,
                                    "tls.crt: \"%s\" is not a CA certificate (basicConstraints CA:TRUE is missing)", name);
        if (!(X509_get_extension_flags(ca->cert) & EXFLAG_KUSAGE) || !(X509_get_key_usage(ca->cert) & KU_KEY_CERT_SIGN))
                return ns_error_set(error, -EKEYREJECTED,
                                    "tls.crt: \"%s\" may not sign certificates (keyUsage keyCertSign is missing)", name);

        r = cert_times(ca->cert, &ca->not_before, &ca->not_after);
        if (r < 0)
                return ns_error_set(error, r, "tls.crt: \"%s\" has unreadable validity dates", name);
        if (now < ca->not_before)
                return ns_error_set(error, -EKEYREJECTED, "tls.crt: \"%s\" is not valid yet (notBefore %s, now %s)", name,
                                    FORMAT_UTC_SEC(ca->not_before), FORMAT_UTC_SEC(now));
        if (now >= ca->not_after)
                return ns_error_set(error, -EKEYEXPIRED, "tls.crt: \"%s\" has expired (notAfter %s, now %s)", name,
                                    FORMAT_UTC_SEC(ca->not_after), FORMAT_UTC_SEC(now));

        if (!key_matches(ca->cert, ca->key))
                return ns_error_set(error, -EKEYREJECTED,
                                    "tls.key does not match the certificate of \"%s\" in tls.crt (different key pair)",
                                    name);

        /* The trust anchors: ca.crt when given (during a rotation it holds old and new CA), else
         * the root that ends tls.crt, which must then be there. */
        if (bundle_pem) {
                r = parse_certs(bundle_pem->data, bundle_pem->size, "ca.crt", &ca->trust, error);
                if (r < 0)
                        return r;
                r = drop_expired(ca->trust, now);
                if (r < 0)
                        return r;
        } else {
                X509 *last = sk_X509_value(ca->given, sk_X509_num(ca->given) - 1);

                if (!cert_is_self_signed(last))
                        return ns_error_set(error, -EKEYREJECTED,
                                            "tls.crt ends with \"%s\", which is not self-signed: append its issuers up to "
                                            "the root CA, or give the trust bundle as ca.crt",
                                            CERT_NAME(last));
                ca->trust = sk_X509_new_null();
                if (!ca->trust)
                        return -ENOMEM;
                r = x509_stack_push_ref(ca->trust, last);
                if (r < 0)
                        return r;
        }

        r = verify_chain(ca->cert, ca->trust, ca->given, 0, &why);
        if (r == -EKEYREJECTED)
                return ns_error_set(error, r, "tls.crt: \"%s\" does not chain to %s: %s", name,
                                    bundle_pem ? "the trust bundle in ca.crt" : "the root CA at the end of tls.crt", why);
        if (r < 0)
                return r;

        /* What a leaf's file carries after the leaf: every non-root certificate of tls.crt. */
        ca->chain = sk_X509_new_null();
        if (!ca->chain)
                return -ENOMEM;
        ca->chain_not_after = ca->not_after;
        for (int i = 0; i < sk_X509_num(ca->given); i++) {
                X509 *x = sk_X509_value(ca->given, i);
                time_t nb, na;

                if (cert_times(x, &nb, &na) >= 0)
                        ca->chain_not_after = MIN(ca->chain_not_after, na);
                if (cert_is_self_signed(x))
                        continue;
                r = x509_stack_push_ref(ca->chain, x);
                if (r < 0)
                        return r;
        }

        r = certs_to_pem(NULL, ca->trust, &ca->trust_pem);
        if (r < 0)
                return r;

        *ret = TAKE_PTR(ca);
        return 0;
}

int ca_load(SecretSource *s, Ca **ret, NsError *error) {
        _cleanup_(secret_value_freep) SecretValue *cert = NULL, *key = NULL, *bundle = NULL;
        int r;

        r = secret_source_get_ca(s, &cert, &key, &bundle, error);
        if (r < 0)
                return r;
        return ca_from_pem(cert, key, bundle, ret, error);
}

int ca_trust_pem(const Ca *ca, char **ret) {
        char *s;

        if (!ca || !ca->trust_pem)
                return -EINVAL;
        s = strdup(ca->trust_pem);
        if (!s)
                return -ENOMEM;
        *ret = s;
        return 0;
}

uint64_t ca_not_after(const Ca *ca) {
        return ca ? sec_to_usec(ca->not_after) : 0;
}

uint64_t ca_issue_limit(const Ca *ca) {
        return ca ? sec_to_usec(ca->chain_not_after) : 0;
}

int ca_generate(const char *common_name, KeyType key_type, uint32_t days, char **ret_cert_pem,
                SecretValue **ret_key_pem, NsError *error) {
        static const int usage[] = { KU_BIT_KEY_CERT_SIGN, KU_BIT_CRL_SIGN };
        _cleanup_(secret_value_freep) SecretValue *key_pem = NULL;
        _cleanup_(EVP_PKEY_freep) EVP_PKEY *key = NULL;
        _cleanup_(X509_freep) X509 *x = NULL;
        _cleanup_free_ char *cert_pem = NULL;
        time_t now = pki_now();
        int r;

        if (isempty(common_name))
                return ns_error_set(error, -EINVAL, "The CA needs a common name");
        if (days == 0)
                days = CA_DEFAULT_DAYS;

        r = key_generate(key_type, &key);
        if (r < 0)
                return ns_error_set(error, r, "Failed to generate a %s key for the CA", strna(key_type_to_string(key_type)));
        r = cert_new(key, common_name, NULL, now - CLOCK_SKEW_SEC, now + (time_t) days * SEC_PER_DAY, &x);
        if (r == -EINVAL)
                return ns_error_set(error, r, "\"%s\" cannot be the CA's common name (at most 64 characters)", common_name);
        if (r >= 0)
                r = add_basic_constraints(x, true);
        if (r >= 0)
                r = add_key_usage(x, usage, ELEMENTSOF(usage));
        if (r >= 0)
                r = add_key_identifiers(x, NULL);
        if (r >= 0)
                r = cert_sign(x, key);
        ERR_clear_error();
        if (r < 0)
                return ns_error_set(error, r, "Failed to build the CA certificate: %s", strerror(-r));

        r = certs_to_pem(x, NULL, &cert_pem);
        if (r >= 0)
                r = key_to_pem(key, &key_pem);
        if (r < 0)
                return ns_error_set(error, r, "Failed to encode the CA: %s", strerror(-r));

        *ret_cert_pem = TAKE_PTR(cert_pem);
        *ret_key_pem = TAKE_PTR(key_pem);
        return 0;
}

/* ---- node certificates on disk ---- */

/* The file name of one of a ProfileFiles' paths ("<directory>/<name>"). */
static const char *file_name(const char *path) {
        return strrchr(path, '/') + 1;
}

/* Opens the file path (in the directory dfd) for reading: a regular file, never through a symlink;
 * errors name it as what ("key file"). */
static int open_node_file(int dfd, const char *path, const char *what, int *ret_fd, NsError *error) {
        int r = path_open_regular_at(dfd, file_name(path), O_RDONLY, ret_fd, NULL);

        if (r == -ENOENT)
                return ns_error_set(error, r, "%s %s is missing", what, path);
        if (r == -ELOOP)
                return ns_error_set(error, r, "%s %s is a symbolic link; refusing to follow it", what, path);
        if (r < 0)
                return ns_error_set(error, r, "cannot read %s %s: %s", what, path, strerror(-r));
        return 0;
}

/* Reads and parses the key and certificate files in dfd: -ENOENT naming the missing one, -EBADMSG
 * naming the unparsable one. ret_certs holds the leaf, then whatever followed it in the file. */
static int load_node_files(int dfd, const ProfileFiles *f, EVP_PKEY **ret_key, STACK_OF(X509) **ret_certs,
                           NsError *error) {
        _cleanup_x509_stack_ STACK_OF(X509) *certs = NULL;
        _cleanup_(secret_value_freep) SecretValue *kv = NULL;
        _cleanup_close_ int cfd = -EBADF, kfd = -EBADF;
        _cleanup_free_ char *text = NULL;
        EVP_PKEY *key = NULL;
        size_t size = 0;
        int r;

        r = open_node_file(dfd, f->cert_path, "certificate file", &cfd, error);
        if (r < 0)
                return r;
        r = read_full_fd(cfd, PKI_FILE_MAX, &text, &size);
        if (r < 0)
                return ns_error_set(error, r, "cannot read certificate file %s: %s", f->cert_path, strerror(-r));
        r = open_node_file(dfd, f->key_path, "key file", &kfd, error);
        if (r < 0)
                return r;
        r = read_secret_fd(kfd, PKI_FILE_MAX, &kv);
        if (r < 0)
                return ns_error_set(error, r, "cannot read key file %s: %s", f->key_path, strerror(-r));

        r = parse_certs(text, size, f->cert_path, &certs, error);
        if (r < 0)
                return r;
        r = parse_key(kv, f->key_path, &key, error);
        if (r < 0)
                return r;

        *ret_key = key;
        *ret_certs = TAKE_PTR(certs);
        return 0;
}

/* The last renew_fraction of the lifetime, and never later than the check margin before notAfter:
 * a certificate that "nodeseal check" would call expiring (and so keep a datastore from starting)
 * is always due for renewal. */
static time_t renewal_point(const Config *c, time_t not_before, time_t not_after, double renew_fraction) {
        double life = difftime(not_after, not_before);
        time_t t = not_before + (time_t) (life * (1.0 - renew_fraction));
        time_t margin = (time_t) (c->check_margin_usec / USEC_PER_SEC);

        if (not_after - margin < t)
                t = MAX(not_after - margin, not_before);
        return t;
}

/* A file of ours: regular, reached without a symlink, and no other name for it. A hard link to
 * someone else's file (planted by whoever else owns the directory) is replaced, never reused: its
 * owner and mode would be changed in place. */
static bool file_is_plain(int dfd, const char *path) {
        struct stat st;
        return fstatat(dfd, file_name(path), &st, AT_SYMLINK_NOFOLLOW) >= 0 && S_ISREG(st.st_mode) &&
               st.st_nlink == 1;
}

/* 0 when the files on disk can stay; otherwise why not, in why. */
static int existing_reusable(const Config *c, const CertificateConfig *cc, const Ca *ca, int dfd,
                             const ProfileFiles *f, const WantedNames *w, bool may_sign_new, time_t *ret_not_after,
                             NsError *why) {
        _cleanup_x509_stack_ STACK_OF(X509) *certs = NULL;
        _cleanup_(EVP_PKEY_freep) EVP_PKEY *key = NULL;
        time_t now = pki_now(), nb, na, renew_at;
        const char *reason = NULL;
        char missing[300], cn[256] = {};
        X509 *leaf;
        int r, n;

        if (!file_is_plain(dfd, f->cert_path) || !file_is_plain(dfd, f->key_path))
                return ns_error_set(why, -ENOENT, "the key or certificate file is missing, not a regular file, or "
                                                  "has other names (hard links)");

        r = load_node_files(dfd, f, &key, &certs, why);
        if (r < 0)
                return r;
        leaf = sk_X509_value(certs, 0);

        if (!key_type_matches(key, cc->key_type))
                return ns_error_set(why, -EKEYREJECTED, "the key on disk is not of type %s", key_type_to_string(cc->key_type));
        if (!key_matches(leaf, key))
                return ns_error_set(why, -EKEYREJECTED, "the key does not match the certificate");
        r = cert_times(leaf, &nb, &na);
        if (r < 0)
                return ns_error_set(why, r, "unreadable validity dates");
        if (now < nb || now >= na)
                return ns_error_set(why, -EKEYEXPIRED, "not valid now (%s to %s)", FORMAT_UTC_SEC(nb), FORMAT_UTC_SEC(na));
        renew_at = renewal_point(c, nb, na, cc->renew_fraction);
        if (now >= renew_at) {
                /* A new certificate is capped at the CA's notAfter too: when this one already
                 * expires with the CA, reissuing gains nothing (and would reissue, and reload the
                 * datastore, on every attempt). It stays until the CA is replaced. */
                if (na < ca->chain_not_after)
                        return ns_error_set(why, -EKEYEXPIRED, "in its renewal window since %s", FORMAT_UTC_SEC(renew_at));
                log_warning("Certificate %s: in its renewal window since %s, but it already expires with the CA (%s); "
                            "a new one could not outlive it, so it stays until the CA is replaced.",
                            cc->name, FORMAT_UTC_SEC(renew_at), FORMAT_UTC_SEC(na));
        }

        /* Issued by the current CA itself, not just by something the bundle still trusts: after a
         * rotation every node moves to the new CA. */
        bool held = false;
        if (X509_check_issued(ca->cert, leaf) != X509_V_OK || X509_verify(leaf, X509_get0_pubkey(ca->cert)) != 1) {
                ERR_clear_error();
                if (may_sign_new)
                        return ns_error_set(why, -EKEYREJECTED, "not issued by the current CA");
                held = true;   /* kept if the bundle still trusts its issuer (checked next) */
        }
        /* A held certificate carries its own CA's intermediates, not the new CA's: let the chain
         * check find them in the file. */
        STACK_OF(X509) *untrusted = held ? certs : ca->chain;
        r = verify_chain(leaf, ca->trust, untrusted, X509_PURPOSE_SSL_SERVER, &reason);
        if (r >= 0)
                r = verify_chain(leaf, ca->trust, untrusted, X509_PURPOSE_SSL_CLIENT, &reason);
        if (r < 0 && held)
                return ns_error_set(why, -EKEYREJECTED, "not issued by the current CA, nor by one the bundle trusts");
        if (r < 0)
                return ns_error_set(why, r, "does not verify: %s", strna(reason));

        /* The intermediates in the file must be the CA's current ones. */
        n = held ? sk_X509_num(ca->chain) : sk_X509_num(certs) - 1;
        if (n != sk_X509_num(ca->chain))
                return ns_error_set(why, -EKEYREJECTED, "the file carries %d intermediate(s) instead of %d", n,
                                    sk_X509_num(ca->chain));
        for (int i = 0; i < n && !held; i++)
                if (!cert_equal(sk_X509_value(certs, i + 1), sk_X509_value(ca->chain, i)))
                        return ns_error_set(why, -EKEYREJECTED, "the intermediates in the file are not the CA's");

        if (X509_NAME_get_text_by_NID(X509_get_subject_name(leaf), NID_commonName, cn, sizeof(cn)) < 0 ||
            !streq(cn, c->node_name)) {
                ERR_clear_error();
                return ns_error_set(why, -EKEYREJECTED, "its CN is not the node name %s", c->node_name);
        }
        if (find_missing_name(leaf, w, missing, sizeof(missing)) > 0)
                return ns_error_set(why, -EKEYREJECTED, "it lacks the wanted SAN %s", missing);

        *ret_not_after = na;
        return held;
}

/* Writes the trust bundle unless the file already holds exactly it. >0 when written. */
static int update_ca_file(int dfd, const Ca *ca, const ProfileFiles *f, NsError *error) {
        _cleanup_free_ char *old = NULL;
        _cleanup_close_ int fd = -EBADF;
        size_t len = strlen(ca->trust_pem), old_len = 0;
        int r;

        if (file_is_plain(dfd, f->ca_path) && path_open_regular_at(dfd, file_name(f->ca_path), O_RDONLY, &fd, NULL) >= 0 &&
            read_full_fd(fd, PKI_FILE_MAX, &old, &old_len) >= 0 && old_len == len && memcmp(old, ca->trust_pem, len) == 0)
                return 0;

        r = write_file_atomic_at(dfd, file_name(f->ca_path), ca->trust_pem, len, f->ca_mode, f->uid, f->gid);
        if (r < 0)
                return ns_error_set(error, r, "Failed to write %s: %s", f->ca_path, strerror(-r));
        return 1;
}

/* Owner and mode of a file that stays: corrected in place through its fd, the content is not
 * touched. Never a file with other names: that could be anyone's file, linked here. */
static int fix_attributes(int dfd, const char *path, mode_t mode, uid_t uid, gid_t gid, NsError *error) {
        _cleanup_close_ int fd = -EBADF;
        struct stat st;
        int r;

        r = path_open_regular_at(dfd, file_name(path), O_RDONLY, &fd, &st);
        if (r < 0)
                return ns_error_set(error, r, "Failed to open %s: %s", path, strerror(-r));
        if (st.st_nlink != 1)
                return ns_error_set(error, -EMLINK, "Refusing to change the owner or mode of %s: it has %ju other name(s)",
                                    path, (uintmax_t) st.st_nlink - 1);
        if ((uid != (uid_t) -1 && st.st_uid != uid) || (gid != (gid_t) -1 && st.st_gid != gid)) {
                if (fchown(fd, uid, gid) < 0)
                        return ns_error_set(error, -errno, "Failed to change the owner of %s: %m", path);
                log_debug("Changed the owner of %s.", path);
        }
        /* chown may have cleared bits; compare against what is there now. */
        if (fstat(fd, &st) < 0)
                return -errno;
        if ((st.st_mode & 07777) != (mode & 07777)) {
                if (fchmod(fd, mode & 07777) < 0)
                        return ns_error_set(error, -errno, "Failed to change the mode of %s: %m", path);
                log_debug("Changed the mode of %s to %04o.", path, (unsigned) mode);
        }
        return 0;
}

/* The files on disk stay: the trust bundle brought up to date, owners and modes corrected. */
/* Replaces the certificate file with its own bytes: a new inode and mtime for a datastore that
 * reads its files again only when the certificate file's mtime moves (TiKV). */
static int rewrite_cert_file(int dfd, const ProfileFiles *f, NsError *error) {
        _cleanup_free_ char *data = NULL;
        _cleanup_close_ int fd = -EBADF;
        size_t size = 0;
        int r;

        r = path_open_regular_at(dfd, file_name(f->cert_path), O_RDONLY, &fd, NULL);
        if (r >= 0)
                r = read_full_fd(fd, PKI_FILE_MAX, &data, &size);
        if (r >= 0)
                r = write_file_atomic_at(dfd, file_name(f->cert_path), data, size, f->cert_mode, f->uid, f->gid);
        if (r < 0)
                return ns_error_set(error, r, "Failed to rewrite %s after its CA file changed: %s", f->cert_path,
                                    strerror(-r));
        return 0;
}

static int keep_existing(const CertificateConfig *cc, int dfd, const Ca *ca, const ProfileFiles *f,
                         NsError *error) {
        const Profile *p = profile_get(cc->profile);
        int r, changed;

        changed = update_ca_file(dfd, ca, f, error);
        if (changed < 0)
                return changed;
        if (changed > 0 && p && p->ca_reload == PROFILE_RELOAD_MTIME) {
                r = rewrite_cert_file(dfd, f, error);
                if (r < 0)
                        return r;
        }
        r = fix_attributes(dfd, f->key_path, f->key_mode, f->uid, f->gid, error);
        if (r >= 0)
                r = fix_attributes(dfd, f->cert_path, f->cert_mode, f->uid, f->gid, error);
        if (r >= 0)
                r = fix_attributes(dfd, f->ca_path, f->ca_mode, f->uid, f->gid, error);
        return r < 0 ? r : changed;
}

int certificate_provision(const Config *c, const CertificateConfig *cc, const Ca *ca, uint64_t *ret_not_after,
                          NsError *error) {
        return certificate_provision_full(c, cc, ca, false, ret_not_after, error);
}

/* A signer with name constraints (a node's intermediate CA) signs only names inside them: a name
 * outside would give a certificate every verifier rejects, so it is refused here, named. */
static int check_names_fit(const Ca *ca, const WantedNames *w, const char *cn, NsError *error) {
        _cleanup_(NAME_CONSTRAINTS_freep) NAME_CONSTRAINTS *nc = NULL;
        char ip[INET6_ADDRSTRLEN];

        nc = X509_get_ext_d2i(ca->cert, NID_name_constraints, NULL, NULL);
        ERR_clear_error();
        if (!nc)
                return 0;
        for (size_t i = 0; i < w->n_dns + w->n_ips; i++) {
                _cleanup_(X509_freep) X509 *probe = X509_new();
                WantedNames one = {};
                char what[300];
                int r;

                if (!probe)
                        return -ENOMEM;
                if (i < w->n_dns) {
                        one = (WantedNames) { .dns = w->dns + i, .n_dns = 1 };
                        (void) snprintf(what, sizeof(what), "DNS:%s", w->dns[i]);
                } else {
                        one = (WantedNames) { .ips = w->ips + (i - w->n_dns), .n_ips = 1 };
                        (void) snprintf(what, sizeof(what), "IP:%s", ip_to_string(one.ips, ip, sizeof(ip)));
                }
                r = add_subject_alt_names(probe, &one);
                if (r < 0)
                        return r;
                /* The check reads the names OpenSSL caches from the extensions: have it cache them. */
                (void) X509_get_extension_flags(probe);
                r = NAME_CONSTRAINTS_check(probe, nc);
                ERR_clear_error();
                if (r != X509_V_OK)
                        return ns_error_set(error, -EKEYREJECTED,
                                            "%s is outside the name constraints of the signing intermediate CA \"%s\" "
                                            "(%s): have the operator issue it with this name, or drop the name",
                                            what, CERT_NAME(ca->cert), X509_verify_cert_error_string(r));
        }
        /* Without a DNS name, verifiers hold the common name (the node name) to the DNS constraints
         * when it looks like a host name. */
        if (w->n_dns == 0) {
                _cleanup_(X509_NAME_freep) X509_NAME *subject = X509_NAME_new();
                _cleanup_(X509_freep) X509 *probe = X509_new();
                int r;

                if (!probe || !subject ||
                    X509_NAME_add_entry_by_NID(subject, NID_commonName, MBSTRING_UTF8, (const unsigned char *) cn, -1,
                                               -1, 0) != 1 || X509_set_subject_name(probe, subject) != 1)
                        return -ENOMEM;
                r = NAME_CONSTRAINTS_check_CN(probe, nc);
                ERR_clear_error();
                if (r != X509_V_OK)
                        return ns_error_set(error, -EKEYREJECTED,
                                            "the common name %s (what verifiers check when a certificate has no DNS "
                                            "name) is outside the name constraints of the signing intermediate CA \"%s\" "
                                            "(%s): give the certificate a DNS name inside them",
                                            cn, CERT_NAME(ca->cert), X509_verify_cert_error_string(r));
        }
        return 0;
}

/* A new key and certificate, written with the trust bundle into dfd. */
static int issue_and_write(const Config *c, const CertificateConfig *cc, const Ca *ca, int dfd, const ProfileFiles *f,
                           const WantedNames *w, time_t *ret_not_after, NsError *error) {
        _cleanup_(secret_value_freep) SecretValue *key_pem = NULL;
        _cleanup_(EVP_PKEY_freep) EVP_PKEY *key = NULL;
        _cleanup_(X509_freep) X509 *leaf = NULL;
        _cleanup_free_ char *cert_pem = NULL;
        time_t now, not_before, not_after;
        int r;

        /* X.520 caps a CN at 64 characters; a node name may be a longer DNS name. */
        if (strlen(c->node_name) > 64)
                return ns_error_set(error, -EINVAL,
                                    "node name %s is longer than the 64 characters a certificate's common name may hold",
                                    c->node_name);
        r = key_generate(cc->key_type, &key);
        if (r < 0)
                return ns_error_set(error, r, "Failed to generate a %s key", key_type_to_string(cc->key_type));

        /* Back-dated for clocks a little behind ours, but never before the CA; never past any CA. */
        now = pki_now();
        not_before = MAX(now - CLOCK_SKEW_SEC, ca->not_before);
        not_after = MIN(now + (time_t) cc->validity_days * SEC_PER_DAY, ca->chain_not_after);

        r = issue_leaf(ca, key, c->node_name, w, not_before, not_after, &leaf);
        if (r < 0)
                return ns_error_set(error, r, "Failed to issue the certificate: %s", strerror(-r));
        /* What replaces the files must verify as peers will check it: never a good certificate
         * replaced by one they reject (name constraints of an intermediate, a path length). Dates
         * are left out: the CA was valid when it was loaded, and a leaf back-dated to it is too. */
        {
                const char *why = NULL;

                r = verify_chain_flags(leaf, ca->trust, ca->chain, X509_PURPOSE_SSL_SERVER, X509_V_FLAG_NO_CHECK_TIME, &why);
                if (r >= 0)
                        r = verify_chain_flags(leaf, ca->trust, ca->chain, X509_PURPOSE_SSL_CLIENT,
                                               X509_V_FLAG_NO_CHECK_TIME, &why);
                if (r < 0)
                        return ns_error_set(error, r, "The new certificate does not verify against the trust bundle "
                                                      "(%s); nothing written", strna(why));
        }
        r = certs_to_pem(leaf, ca->chain, &cert_pem);
        if (r >= 0)
                r = key_to_pem(key, &key_pem);
        if (r < 0)
                return ns_error_set(error, r, "Failed to encode the certificate: %s", strerror(-r));

        /* Trust first, so that a peer's new certificate is trusted before ours changes. Then key
         * and certificate, both written and synced before either replaces its name, then renamed
         * key first, back to back: a datastore or peer that reads the pair per handshake (etcd)
         * finds a mismatch only in the microseconds between the two renames; a crash between them
         * leaves a new key with the old certificate, which the next run sees as a mismatch and
         * replaces; a datastore that reloads when the certificate file changes finds its key. */
        r = update_ca_file(dfd, ca, f, error);
        if (r < 0)
                return r;
        r = write_files_atomic_at(dfd, (const AtomicFile[]) {
                { file_name(f->key_path), key_pem->data, key_pem->size, f->key_mode, f->uid, f->gid },
                { file_name(f->cert_path), cert_pem, strlen(cert_pem), f->cert_mode, f->uid, f->gid },
        }, 2);
        if (r < 0)
                return ns_error_set(error, r, "Failed to write %s and %s: %s", f->key_path, f->cert_path, strerror(-r));
        *ret_not_after = not_after;
        return 0;
}

int certificate_provision_full(const Config *c, const CertificateConfig *cc, const Ca *ca, bool force,
                               uint64_t *ret_not_after, NsError *error) {
        return certificate_provision_gated(c, cc, ca, force, true, ret_not_after, NULL, error);
}

int certificate_provision_gated(const Config *c, const CertificateConfig *cc, const Ca *ca, bool force,
                                bool may_sign_new, uint64_t *ret_not_after, bool *ret_held, NsError *error) {
        _cleanup_(profile_files_done) ProfileFiles f = PROFILE_FILES_NULL;
        _cleanup_(wanted_names_done) WantedNames w = {};
        _cleanup_close_ int dfd = -EBADF;
        NsError why = {};
        time_t not_after = 0;
        int r;

        r = profile_files_resolve(cc, &f, error);
        if (r < 0)
                return r;
        r = check_ca_key(cc, ca, error);
        if (r < 0)
                return r;
        r = wanted_names_collect(c, cc, &w, error);
        if (r < 0)
                return r;
        r = check_names_fit(ca, &w, c->node_name, error);
        if (r < 0)
                return r;
        /* Everything below goes through this fd, never through the path again. */
        r = path_open_dir_safe(cc->directory, PATH_SAFE_MKDIR, f.uid, f.gid, &dfd, error);
        if (r < 0)
                return r;
        seam_pause("certificate-directory");

        if (force)
                r = ns_error_set(&why, -ECANCELED, "renewal requested");
        else
                r = existing_reusable(c, cc, ca, dfd, &f, &w, may_sign_new, &not_after, &why);
        if (r > 0 && ret_held)
                *ret_held = true;
        if (r >= 0)
                r = keep_existing(cc, dfd, ca, &f, error);
        else {
                log_debug("Certificate %s: issuing a new one: %s.", cc->name, why.message);
                r = issue_and_write(c, cc, ca, dfd, &f, &w, &not_after, error);
                if (r >= 0)
                        r = 1;
        }
        if (r < 0)
                return r;
        if (ret_not_after)
                *ret_not_after = sec_to_usec(not_after);
        return r;
}

/* What check reads: the key and certificate files, through the certificate directory opened
 * without symlinks below ancestors only root can change (check writes nothing, so its owner does
 * not matter), and whether the CA file is there. A missing directory is a missing file. */
static int load_checked_files(const CertificateConfig *cc, const ProfileFiles *f, EVP_PKEY **ret_key,
                              STACK_OF(X509) **ret_certs, NsError *error) {
        _cleanup_x509_stack_ STACK_OF(X509) *certs = NULL;
        _cleanup_(EVP_PKEY_freep) EVP_PKEY *key = NULL;
        _cleanup_close_ int dfd = -EBADF;
        NsError e = {};
        struct stat st;
        int r;

        r = path_open_dir_safe(cc->directory, PATH_SAFE_ANY_OWNER, (uid_t) -1, (gid_t) -1, &dfd, &e);
        if (r == -ENOENT)
                return ns_error_set(error, r, "certificate file %s is missing", f->cert_path);
        if (r < 0)
                return ns_error_set(error, r, "%s", e.message);

        /* Unparsable files are "invalid", not "missing": the message names the file. */
        r = load_node_files(dfd, f, &key, &certs, error);
        if (r == -ENOENT)
                return r;
        if (r < 0)
                return ns_error_is_set(error) ? (error->code = -EKEYREJECTED) : -EKEYREJECTED;
        if (fstatat(dfd, file_name(f->ca_path), &st, AT_SYMLINK_NOFOLLOW) < 0)
                return ns_error_set(error, errno == ENOENT ? -ENOENT : -errno, "CA file %s is missing", f->ca_path);

        *ret_key = TAKE_PTR(key);
        *ret_certs = TAKE_PTR(certs);
        return 0;
}

int certificate_check(const Config *c, const CertificateConfig *cc, const char *trust_pem, uint64_t margin_usec,
                      uint64_t *ret_not_after, uint64_t *ret_renew_at, NsError *error) {
        _cleanup_(profile_files_done) ProfileFiles f = PROFILE_FILES_NULL;
        _cleanup_(wanted_names_done) WantedNames w = {};
        _cleanup_x509_stack_ STACK_OF(X509) *certs = NULL, *trust = NULL;
        _cleanup_(EVP_PKEY_freep) EVP_PKEY *key = NULL;
        time_t now = pki_now(), nb, na;
        const char *reason = NULL;
        char missing[300];
        X509 *leaf;
        int r;

        r = profile_files_paths(cc, &f);
        if (r < 0)
                return ns_error_set(error, r, "Unknown profile");
        r = load_checked_files(cc, &f, &key, &certs, error);
        if (r < 0)
                return r;

        leaf = sk_X509_value(certs, 0);
        r = cert_times(leaf, &nb, &na);
        if (r < 0)
                return ns_error_set(error, -EKEYREJECTED, "%s: unreadable validity dates", f.cert_path);
        if (now >= na)
                return ns_error_set(error, -EKEYEXPIRED, "%s expired on %s", f.cert_path, FORMAT_UTC_SEC(na));
        if (now < nb)
                return ns_error_set(error, -EKEYREJECTED, "%s is not valid before %s", f.cert_path, FORMAT_UTC_SEC(nb));
        if ((uint64_t) (na - now) * USEC_PER_SEC < margin_usec)
                return ns_error_set(error, -EKEYEXPIRED, "%s expires on %s, within the %.3g-day margin", f.cert_path,
                                    FORMAT_UTC_SEC(na), (double) margin_usec / (double) USEC_PER_DAY);
        if (!key_matches(leaf, key))
                return ns_error_set(error, -EKEYREJECTED, "key file %s does not match certificate file %s", f.key_path,
                                    f.cert_path);

        if (isempty(trust_pem))
                return ns_error_set(error, -ENOENT, "no CA trust bundle to check against");
        r = parse_certs(trust_pem, strlen(trust_pem), "the CA trust bundle", &trust, error);
        if (r < 0)
                return ns_error_is_set(error) ? (error->code = -EKEYREJECTED) : -EKEYREJECTED;
        r = verify_chain(leaf, trust, certs, X509_PURPOSE_SSL_SERVER, &reason);
        if (r >= 0)
                r = verify_chain(leaf, trust, certs, X509_PURPOSE_SSL_CLIENT, &reason);
        if (r == -EKEYREJECTED)
                return ns_error_set(error, r, "%s does not chain to the current CA: %s", f.cert_path, strna(reason));
        if (r < 0)
                return ns_error_set(error, r, "Failed to verify %s: %s", f.cert_path, strerror(-r));

        r = wanted_names_collect(c, cc, &w, error);
        if (r < 0)
                return r;
        if (find_missing_name(leaf, &w, missing, sizeof(missing)) > 0)
                return ns_error_set(error, -EKEYREJECTED, "%s lacks the subject alternative name %s", f.cert_path,
                                    missing);

        if (ret_not_after)
                *ret_not_after = sec_to_usec(na);
        if (ret_renew_at)
                *ret_renew_at = sec_to_usec(renewal_point(c, nb, na, cc->renew_fraction));
        return 0;
}

/* ---- trust bundles during a CA rotation ---- */

static bool stack_has(STACK_OF(X509) *s, X509 *x) {
        for (int i = 0; i < sk_X509_num(s); i++)
                if (cert_equal(sk_X509_value(s, i), x))
                        return true;
        return false;
}

static int parse_optional(const char *pem, const char *what, STACK_OF(X509) **ret, NsError *error) {
        if (isempty(pem)) {
                *ret = sk_X509_new_null();
                return *ret ? 0 : -ENOMEM;
        }
        return parse_certs(pem, strlen(pem), what, ret, error);
}

static int append_name(char **list, X509 *x, const char *why) {
        char *n = NULL;

        if (asprintf(&n, "%s%s\"%s\" (%s)", strempty(*list), *list ? ", " : "", CERT_NAME(x), why) < 0)
                return -ENOMEM;
        free(*list);
        *list = n;
        return 0;
}

int pki_bundle_edit(const char *bundle, const char *add, const char *remove, const char *keep, char **ret_pem,
                    char **ret_dropped, NsError *error) {
        _cleanup_x509_stack_ STACK_OF(X509) *b = NULL, *a = NULL, *rm = NULL, *k = NULL, *out = NULL;
        _cleanup_free_ char *dropped = NULL, *pem = NULL;
        time_t now = pki_now();
        int r;

        r = parse_optional(bundle, "ca.crt", &b, error);
        if (r >= 0)
                r = parse_optional(add, "the certificate to add", &a, error);
        if (r >= 0)
                r = parse_optional(remove, "the certificate to remove", &rm, error);
        if (r >= 0)
                r = parse_optional(keep, "tls.crt", &k, error);
        if (r < 0)
                return r;
        out = sk_X509_new_null();
        if (!out)
                return -ENOMEM;

        for (int pass = 0; pass < 2; pass++) {
                STACK_OF(X509) *from = pass == 0 ? b : a;

                for (int i = 0; i < sk_X509_num(from); i++) {
                        X509 *x = sk_X509_value(from, i);
                        time_t nb, na;

                        if (stack_has(out, x) || (stack_has(rm, x) && !stack_has(k, x)))
                                continue;
                        /* An expired CA verifies nothing any more: leaving it in only hides that it
                         * is gone. A CA not valid yet stays: peers must trust it before it signs. */
                        if (cert_times(x, &nb, &na) >= 0 && now >= na) {
                                char why[64];
                                (void) snprintf(why, sizeof(why), "expired %s", FORMAT_UTC_SEC(na));
                                r = append_name(&dropped, x, why);
                                if (r < 0)
                                        return r;
                                continue;
                        }
                        r = x509_stack_push_ref(out, x);
                        if (r < 0)
                                return r;
                }
        }
        if (sk_X509_num(out) == 0)
                return ns_error_set(error, -ENOKEY, "no certificate would be left in the trust bundle%s%s",
                                    dropped ? "; left out: " : "", strempty(dropped));
        r = certs_to_pem(NULL, out, &pem);
        if (r < 0)
                return r;
        *ret_pem = TAKE_PTR(pem);
        if (ret_dropped)
                *ret_dropped = TAKE_PTR(dropped);
        return 0;
}

int pki_bundle_has_anchor(const char *bundle, size_t bundle_len, const char *chain, size_t chain_len) {
        _cleanup_x509_stack_ STACK_OF(X509) *b = NULL, *c = NULL;

        if (!bundle || !chain || parse_certs(bundle, bundle_len, "bundle", &b, NULL) < 0 ||
            parse_certs(chain, chain_len, "chain", &c, NULL) < 0)
                return 0;
        return stack_has(b, sk_X509_value(c, sk_X509_num(c) - 1));
}

int pki_pem_count(const char *pem, size_t len) {
        _cleanup_x509_stack_ STACK_OF(X509) *s = NULL;

        if (!pem || parse_certs(pem, len, "PEM", &s, NULL) < 0)
                return 0;
        return sk_X509_num(s);
}

int certificate_issued_by(const CertificateConfig *cc, const char *issuer_pem, size_t issuer_len) {
        _cleanup_(profile_files_done) ProfileFiles f = PROFILE_FILES_NULL;
        _cleanup_x509_stack_ STACK_OF(X509) *certs = NULL, *issuer = NULL;
        _cleanup_(EVP_PKEY_freep) EVP_PKEY *key = NULL;
        X509 *leaf, *ca;
        bool ok;

        if (profile_files_paths(cc, &f) < 0 || load_checked_files(cc, &f, &key, &certs, NULL) < 0 ||
            parse_certs(issuer_pem, issuer_len, "issuer", &issuer, NULL) < 0)
                return 0;
        leaf = sk_X509_value(certs, 0);
        ca = sk_X509_value(issuer, 0);
        ok = X509_check_issued(ca, leaf) == X509_V_OK && X509_verify(leaf, X509_get0_pubkey(ca)) == 1;
        ERR_clear_error();
        return ok;
}

int pki_bundle_covers(const char *a, const char *b) {
        _cleanup_x509_stack_ STACK_OF(X509) *sa = NULL, *sb = NULL;

        if (!a || !b || parse_certs(a, strlen(a), "bundle", &sa, NULL) < 0 ||
            parse_certs(b, strlen(b), "bundle", &sb, NULL) < 0)
                return 0;
        for (int i = 0; i < sk_X509_num(sb); i++)
                if (!stack_has(sa, sk_X509_value(sb, i)))
                        return 0;
        return 1;
}

int ca_given_pem(const Ca *ca, char **ret) {
        return certs_to_pem(NULL, ca->given, ret);
}

/* ---- per-node intermediate CAs ---- */

int pki_key_new_pem(KeyType t, SecretValue **ret, NsError *error) {
        _cleanup_(EVP_PKEY_freep) EVP_PKEY *key = NULL;
        int r;

        r = key_generate(t, &key);
        if (r < 0)
                return ns_error_set(error, r, "Failed to generate a %s key", strna(key_type_to_string(t)));
        r = key_to_pem(key, ret);
        if (r < 0)
                return ns_error_set(error, r, "Failed to encode the new key: %s", strerror(-r));
        return 0;
}

int intermediate_csr_new(const SecretValue *key_pem, const char *node, char **ret, NsError *error) {
        _cleanup_(X509_NAME_freep) X509_NAME *subject = NULL;
        _cleanup_(EVP_PKEY_freep) EVP_PKEY *key = NULL;
        _cleanup_(X509_REQ_freep) X509_REQ *req = NULL;
        _cleanup_(BIO_free_allp) BIO *b = NULL;
        _cleanup_free_ char *cn = NULL;
        int r;

        r = parse_key(key_pem, "the intermediate CA's key", &key, error);
        if (r < 0)
                return r;
        /* The names are the operator's to give; the request says whose key it is, nothing more. */
        if (asprintf(&cn, "nodeseal intermediate %s", node) < 0)
                return -ENOMEM;
        req = X509_REQ_new();
        subject = X509_NAME_new();
        b = BIO_new(BIO_s_mem());
        if (!req || !subject || !b)
                return -ENOMEM;
        if (strlen(cn) > 64 ||
            X509_NAME_add_entry_by_NID(subject, NID_commonName, MBSTRING_UTF8, (const unsigned char *) cn, -1, -1, 0) != 1 ||
            X509_REQ_set_version(req, X509_REQ_VERSION_1) != 1 || X509_REQ_set_subject_name(req, subject) != 1 ||
            X509_REQ_set_pubkey(req, key) != 1) {
                ERR_clear_error();
                return ns_error_set(error, -EINVAL, "Cannot build a certificate request for node %s "
                                                    "(a node name of at most 42 characters fits its common name)", node);
        }
        if (X509_REQ_sign(req, key, sign_digest(key)) <= 0 || PEM_write_bio_X509_REQ(b, req) != 1) {
                ERR_clear_error();
                return ns_error_set(error, -EIO, "Failed to sign the certificate request");
        }
        return bio_to_string(b, ret);
}

/* The request's public key, once its signature (proof that its sender holds the key) verifies. */
static int csr_public_key(const char *csr, size_t len, EVP_PKEY **ret, NsError *error) {
        _cleanup_(X509_REQ_freep) X509_REQ *req = NULL;
        _cleanup_(BIO_free_allp) BIO *b = NULL;
        char reason[256];
        EVP_PKEY *pub;

        if (len > PKI_FILE_MAX)
                return ns_error_set(error, -EFBIG, "intermediate.csr: larger than %d bytes", PKI_FILE_MAX);
        b = BIO_new_mem_buf(csr, (int) len);
        if (!b)
                return -ENOMEM;
        ERR_clear_error();
        req = PEM_read_bio_X509_REQ(b, NULL, no_passphrase, NULL);
        if (!req)
                return ns_error_set(error, -EBADMSG, "intermediate.csr: not a PEM certificate request (%s)",
                                    openssl_reason(reason, sizeof(reason)));
        pub = X509_REQ_get_pubkey(req);
        if (!pub) {
                ERR_clear_error();
                return ns_error_set(error, -EBADMSG, "intermediate.csr: its public key is unreadable");
        }
        if (X509_REQ_verify(req, pub) != 1) {
                EVP_PKEY_free(pub);
                ERR_clear_error();
                return ns_error_set(error, -EKEYREJECTED,
                                    "intermediate.csr: its signature does not verify with its own public key; "
                                    "refusing to certify a key its sender may not hold");
        }
        *ret = pub;
        return 0;
}

/* SHA-256 of the DER SubjectPublicKeyInfo, lower-case hex: what "openssl pkey -pubin -outform DER |
 * sha256sum" prints for the same key. */
static int key_sha256(EVP_PKEY *pub, char ret[static 65]) {
        unsigned char *der = NULL, md[32];
        unsigned n = 0;
        int len;

        len = i2d_PUBKEY(pub, &der);
        if (len <= 0) {
                ERR_clear_error();
                return -EINVAL;
        }
        if (EVP_Digest(der, (size_t) len, md, &n, EVP_sha256(), NULL) != 1 || n != sizeof(md)) {
                OPENSSL_free(der);
                ERR_clear_error();
                return -EIO;
        }
        OPENSSL_free(der);
        for (size_t i = 0; i < sizeof(md); i++)
                (void) snprintf(ret + 2 * i, 3, "%02x", md[i]);
        return 0;
}

int intermediate_csr_key_sha256(const char *csr, size_t len, char ret[static 65], NsError *error) {
        _cleanup_(EVP_PKEY_freep) EVP_PKEY *pub = NULL;
        int r;

        r = csr_public_key(csr, len, &pub, error);
        if (r < 0)
                return r;
        return key_sha256(pub, ret);
}

int intermediate_csr_matches_key(const char *csr, size_t len, const SecretValue *key_pem) {
        _cleanup_(EVP_PKEY_freep) EVP_PKEY *pub = NULL, *key = NULL;
        bool eq;

        if (csr_public_key(csr, len, &pub, NULL) < 0 || parse_key(key_pem, "key", &key, NULL) < 0)
                return 0;
        eq = EVP_PKEY_eq(pub, key) == 1;
        ERR_clear_error();
        return eq;
}

void intermediate_names_done(IntermediateNames *n) {
        strv_free(n->dns);
        free(n->ranges);
        *n = (IntermediateNames) {};
}

/* A DNS name constraint as RFC 5280 and the verifiers take it: "example.com" (it and every name
 * below it) or ".example.com" (only names below it); no wildcard, no empty label. */
static bool dns_constraint_is_valid(const char *s) {
        size_t n = strlen(s), label = 0;

        if (n == 0 || n > 253)
                return false;
        for (size_t i = s[0] == '.' ? 1 : 0; i <= n; i++) {
                char ch = s[i];
                if (ch == '.' || ch == '\0') {
                        if (label == 0 || label > 63 || s[i - 1] == '-')
                                return false;
                        label = 0;
                } else if (isalnum((unsigned char) ch) || (ch == '-' && label > 0))
                        label++;
                else
                        return false;
        }
        return true;
}

int intermediate_names_add_dns(IntermediateNames *n, const char *s, NsError *error) {
        _cleanup_free_ char *lower = NULL;
        size_t k = strv_length(n->dns);
        char **l;

        if (!dns_constraint_is_valid(s))
                return ns_error_set(error, -EINVAL,
                                    "--dns: \"%s\" is not a DNS name (\"node-a.example\" permits it and the names below "
                                    "it, \".example\" only the names below; no wildcards)", s);
        lower = strdup(s);
        if (!lower)
                return -ENOMEM;
        for (char *p = lower; *p; p++)
                *p = (char) tolower((unsigned char) *p);
        STRV_FOREACH(d, n->dns)
                if (streq(*d, lower))
                        return 0;
        l = reallocarray(n->dns, k + 2, sizeof(char *));
        if (!l)
                return -ENOMEM;
        n->dns = l;
        l[k] = TAKE_PTR(lower);
        l[k + 1] = NULL;
        return 0;
}

int intermediate_names_add_range(IntermediateNames *n, const char *s, NsError *error) {
        _cleanup_free_ char *addr = NULL;
        IpRange r = {};
        const char *slash = strchr(s, '/');
        unsigned long bits;
        char *end;
        IpRange *l;

        addr = slash ? strndup(s, slash - s) : strdup(s);
        if (!addr)
                return -ENOMEM;
        if (inet_pton(AF_INET, addr, r.addr) == 1)
                r.len = 4;
        else if (inet_pton(AF_INET6, addr, r.addr) == 1)
                r.len = 16;
        else
                return ns_error_set(error, -EINVAL, "--ip: \"%s\" is not an IP address or CIDR range", s);
        if (slash) {
                errno = 0;
                bits = strtoul(slash + 1, &end, 10);
                if (errno != 0 || end == slash + 1 || *end || bits > (unsigned long) r.len * 8)
                        return ns_error_set(error, -EINVAL, "--ip: \"%s\" has a prefix length outside 0-%d", s,
                                            r.len * 8);
        } else
                bits = (unsigned long) r.len * 8;
        /* Too wide is refused: a range with /0 gives the node every address. */
        if (bits < (r.len == 4 ? 8u : 32u))
                return ns_error_set(error, -EINVAL, "--ip: \"%s\" is wider than /%d; refusing to let one node mint "
                                                    "certificates for so many addresses", s, r.len == 4 ? 8 : 32);
        for (int i = 0; i < r.len; i++) {
                unsigned b = bits > (unsigned long) i * 8 ? (unsigned) MIN(bits - (unsigned long) i * 8, 8ul) : 0;
                r.mask[i] = (uint8_t) (b == 0 ? 0 : 0xFF << (8 - b));
                if (r.addr[i] & ~r.mask[i])
                        return ns_error_set(error, -EINVAL, "--ip: \"%s\" has host bits set beyond its /%lu prefix", s,
                                            bits);
        }
        for (size_t i = 0; i < n->n_ranges; i++)
                if (n->ranges[i].len == r.len && memcmp(n->ranges[i].addr, r.addr, r.len) == 0 &&
                    memcmp(n->ranges[i].mask, r.mask, r.len) == 0)
                        return 0;
        l = reallocarray(n->ranges, n->n_ranges + 1, sizeof(IpRange));
        if (!l)
                return -ENOMEM;
        n->ranges = l;
        n->ranges[n->n_ranges++] = r;
        return 0;
}

static int subtree_push(STACK_OF(GENERAL_SUBTREE) **l, int type, const uint8_t *data, int len) {
        GENERAL_SUBTREE *t;
        ASN1_STRING *s;

        if (!*l && !(*l = sk_GENERAL_SUBTREE_new_null()))
                return -ENOMEM;
        t = GENERAL_SUBTREE_new();
        s = type == GEN_DNS ? ASN1_IA5STRING_new() : ASN1_OCTET_STRING_new();
        if (!t || !s || ASN1_STRING_set(s, data, len) != 1) {
                ASN1_STRING_free(s);
                GENERAL_SUBTREE_free(t);
                return -ENOMEM;
        }
        GENERAL_NAME_set0_value(t->base, type, s);
        if (!sk_GENERAL_SUBTREE_push(*l, t)) {
                GENERAL_SUBTREE_free(t);
                return -ENOMEM;
        }
        return 0;
}

int intermediate_name_constraints(const IntermediateNames *n, NAME_CONSTRAINTS **ret) {
        _cleanup_(NAME_CONSTRAINTS_freep) NAME_CONSTRAINTS *nc = NAME_CONSTRAINTS_new();
        static const uint8_t any[32] = {};
        int r;

        if (!nc)
                return -ENOMEM;
        if ((!n->dns || !n->dns[0]))
                return -EINVAL;
        STRV_FOREACH(d, n->dns) {
                r = subtree_push(&nc->permittedSubtrees, GEN_DNS, (const uint8_t *) *d, (int) strlen(*d));
                if (r < 0)
                        return r;
        }
        for (size_t i = 0; i < n->n_ranges; i++) {
                uint8_t b[32];
                memcpy(b, n->ranges[i].addr, n->ranges[i].len);
                memcpy(b + n->ranges[i].len, n->ranges[i].mask, n->ranges[i].len);
                r = subtree_push(&nc->permittedSubtrees, GEN_IPADD, b, 2 * n->ranges[i].len);
                if (r < 0)
                        return r;
        }
        /* No permitted range would leave every address unconstrained: exclude them all instead. */
        if (n->n_ranges == 0) {
                r = subtree_push(&nc->excludedSubtrees, GEN_IPADD, any, 8);
                if (r >= 0)
                        r = subtree_push(&nc->excludedSubtrees, GEN_IPADD, any, 32);
                if (r < 0)
                        return r;
        }
        *ret = TAKE_PTR(nc);
        return 0;
}

int intermediate_issue(const Ca *ca, const char *csr, size_t csr_len, const char *node, const IntermediateNames *n,
                       const char *key_sha256_expected, uint32_t days, char **ret_pem, NsError *error) {
        static const int usage[] = { KU_BIT_KEY_CERT_SIGN, KU_BIT_CRL_SIGN };
        _cleanup_(NAME_CONSTRAINTS_freep) NAME_CONSTRAINTS *nc = NULL;
        _cleanup_(BASIC_CONSTRAINTS_freep) BASIC_CONSTRAINTS *bc = NULL;
        _cleanup_(EVP_PKEY_freep) EVP_PKEY *pub = NULL;
        _cleanup_(X509_freep) X509 *x = NULL;
        _cleanup_free_ char *cn = NULL;
        time_t now = pki_now(), not_before, not_after;
        const char *why = NULL;
        KeyType t;
        int r;

        if ((!n->dns || !n->dns[0]))
                return ns_error_set(error, -EINVAL,
                                    "no DNS names given for node %s: its intermediate CA may sign only the names the "
                                    "operator gives (--dns, and --ip for addresses)", node);
        r = csr_public_key(csr, csr_len, &pub, error);
        if (r < 0)
                return r;
        /* Any node can write any node's keys Secret: the key the node itself reported is the proof
         * that this request is its own. */
        if (key_sha256_expected) {
                char got[65];

                r = key_sha256(pub, got);
                if (r < 0)
                        return ns_error_set(error, r, "intermediate.csr: cannot digest its key");
                if (strcasecmp(got, key_sha256_expected) != 0)
                        return ns_error_set(error, -EKEYREJECTED,
                                            "intermediate.csr: its key's SHA-256 is %s, not %s (--key-sha256, what the "
                                            "node printed): the request is not the one the node made; refusing",
                                            got, key_sha256_expected);
        }
        if (ca_key_class(pub, &t) < 0)
                return ns_error_set(error, -EKEYREJECTED,
                                    "intermediate.csr: its key is of a type nodeseal does not use for CAs "
                                    "(ec-p256, ec-p384, rsa-2048/3072/4096 or ed25519)");
        /* Everything but the key comes from here, not from the request. */
        if (asprintf(&cn, "nodeseal intermediate %s", node) < 0)
                return -ENOMEM;
        not_before = MAX(now - CLOCK_SKEW_SEC, ca->not_before);
        not_after = MIN(now + (time_t) days * SEC_PER_DAY, ca->chain_not_after);
        r = cert_new(pub, cn, X509_get_subject_name(ca->cert), not_before, not_after, &x);
        if (r < 0)
                return ns_error_set(error, r, "Cannot build the intermediate CA certificate of node %s "
                                              "(a node name of at most 42 characters fits its common name)", node);
        bc = BASIC_CONSTRAINTS_new();
        if (!bc)
                return -ENOMEM;
        bc->ca = 0xFF;
        bc->pathlen = ASN1_INTEGER_new();
        if (!bc->pathlen || ASN1_INTEGER_set(bc->pathlen, 0) != 1)
                return -ENOMEM;
        r = X509_add1_ext_i2d(x, NID_basic_constraints, bc, 1, X509V3_ADD_REPLACE) == 1 ? 0 : -EINVAL;
        if (r >= 0)
                r = add_key_usage(x, usage, ELEMENTSOF(usage));
        if (r >= 0)
                r = intermediate_name_constraints(n, &nc);
        if (r >= 0)
                r = X509_add1_ext_i2d(x, NID_name_constraints, nc, 1, X509V3_ADD_REPLACE) == 1 ? 0 : -EINVAL;
        if (r >= 0)
                r = add_key_identifiers(x, ca->cert);
        if (r >= 0)
                r = cert_sign(x, ca->key);
        ERR_clear_error();
        if (r < 0)
                return ns_error_set(error, r, "Failed to build the intermediate CA certificate: %s", strerror(-r));

        /* It must chain to what peers trust before it is handed out. */
        r = verify_chain(x, ca->trust, ca->given, 0, &why);
        if (r < 0)
                return ns_error_set(error, r, "the new intermediate CA does not verify against the trust bundle: %s",
                                    strna(why));
        /* The intermediate, then the CA that signed it and its issuers: tls.crt for the node. */
        return certs_to_pem(x, ca->given, ret_pem);
}

int intermediate_cert_info(const char *pem, size_t len, char **ret_text, NsError *error) {
        _cleanup_x509_stack_ STACK_OF(X509) *certs = NULL;
        _cleanup_(BIO_free_allp) BIO *b = NULL;
        int r;

        r = parse_certs(pem, len, "intermediate.crt", &certs, error);
        if (r < 0)
                return r;
        b = BIO_new(BIO_s_mem());
        if (!b)
                return -ENOMEM;
        if (X509_print_ex(b, sk_X509_value(certs, 0), XN_FLAG_ONELINE,
                          X509_FLAG_NO_PUBKEY | X509_FLAG_NO_SIGDUMP | X509_FLAG_NO_HEADER | X509_FLAG_NO_VERSION) != 1) {
                ERR_clear_error();
                return -EIO;
        }
        return bio_to_string(b, ret_text);
}
