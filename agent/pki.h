/* SPDX-License-Identifier: Apache-2.0 */
/* CA validation, node key and certificate issuance and checking (OpenSSL 3). */
#pragma once

#include <stdint.h>
#include <time.h>

#include "config.h"
#include "error.h"
#include "secret.h"
#include "secure.h"

/* A validated CA: its certificate, its private key (in secret memory), any intermediates that
 * come with tls.crt, and the trust bundle clients should use (ca.crt, else the root of tls.crt). */
typedef struct Ca Ca;

/* Parses and validates: CA:TRUE, keyCertSign, valid now, private key matches; the error says
 * which rule failed. bundle_pem may be NULL. */
int ca_from_pem(const SecretValue *cert_pem, const SecretValue *key_pem, const SecretValue *bundle_pem, Ca **ret,
                NsError *error);
/* Fetches the CA Secret from the source and validates it. */
int ca_load(SecretSource *s, Ca **ret, NsError *error);
Ca *ca_free(Ca *ca);
DEFINE_TRIVIAL_CLEANUP_FUNC(Ca *, ca_free);

/* The PEM text clients should trust (the bundle). */
int ca_trust_pem(const Ca *ca, char **ret);
/* notAfter of the CA certificate, in µs since the epoch. */
uint64_t ca_not_after(const Ca *ca);
/* The latest notAfter a leaf may have: the earliest notAfter in the CA's tls.crt, in µs. */
uint64_t ca_issue_limit(const Ca *ca);

/* Issues or reuses the node certificate of cc in its profile's file layout, writing atomically.
 * Returns 0 when what is on disk was reused, >0 when it was (re)issued. ret_not_after (optional)
 * receives the certificate's notAfter (µs since the epoch). */
int certificate_provision(const Config *c, const CertificateConfig *cc, const Ca *ca, uint64_t *ret_not_after,
                          NsError *error);
/* The same; force=true issues a new key and certificate even when what is on disk could be reused
 * (the daemon's RenewCertificates()). */
int certificate_provision_full(const Config *c, const CertificateConfig *cc, const Ca *ca, bool force,
                               uint64_t *ret_not_after, NsError *error);

/* Checks the files of cc: present, valid now, key matches, chains to the trust anchors in
 * trust_pem, carries the wanted SANs, and not expiring within margin_usec. -ENOENT when missing,
 * -EKEYEXPIRED when expired or expiring, -EKEYREJECTED for mismatch/chain/SAN problems.
 * ret_not_after/ret_renew_at (optional) receive notAfter and the start of the renewal window. */
int certificate_check(const Config *c, const CertificateConfig *cc, const char *trust_pem, uint64_t margin_usec,
                      uint64_t *ret_not_after, uint64_t *ret_renew_at, NsError *error);

/* The clock pki uses for "now" (issuing, validity, renewal), in seconds since the epoch. Tests set
 * it to issue certificates in the past; 0 restores the real clock. */
void pki_set_clock(time_t now);

/* Creates a new self-signed CA (EC P-256 key unless told otherwise) valid for days. */
int ca_generate(const char *common_name, KeyType key_type, uint32_t days, char **ret_cert_pem,
                SecretValue **ret_key_pem, NsError *error);

/* ---- trust bundles during a CA rotation (rotation.c) ---- */

/* The bundle (bundle ∪ add) without the certificates of remove that keep does not also hold, in
 * order, each certificate once. Expired certificates are left out too; ret_dropped (optional)
 * names them ("CN (expired DATE)", comma-separated, NULL when none). Any argument but bundle may be
 * NULL. -ENOKEY when nothing would be left. */
int pki_bundle_edit(const char *bundle, const char *add, const char *remove, const char *keep, char **ret_pem,
                    char **ret_dropped, NsError *error);
/* Whether bundle holds the last certificate of chain (its root, or the CA itself): 1 yes, 0 no. */
int pki_bundle_has_anchor(const char *bundle, size_t bundle_len, const char *chain, size_t chain_len);
/* Whether every certificate of b is in a: 1 yes, 0 no (or unparsable). */
int pki_bundle_covers(const char *a, const char *b);
/* tls.crt as given: the signing CA and its issuers, PEM. */
int ca_given_pem(const Ca *ca, char **ret);
/* certificate_provision_full(), but with may_sign_new false a certificate that is in place except
 * that another CA of the trust bundle issued it (a rotation's old CA) stays, and *ret_held is set:
 * the node does not move to the new CA before its datastore trusts it. */
int certificate_provision_gated(const Config *c, const CertificateConfig *cc, const Ca *ca, bool force,
                                bool may_sign_new, uint64_t *ret_not_after, bool *ret_held, NsError *error);
/* How many certificates the PEM text holds (0 for none or garbage). */
int pki_pem_count(const char *pem, size_t len);
/* Whether the leaf of cc's certificate file on disk was signed by the first certificate of
 * issuer_pem: 1 yes, 0 no or no readable file. Reads the file without following symlinks. */
int certificate_issued_by(const CertificateConfig *cc, const char *issuer_pem, size_t issuer_len);

/* ---- per-node intermediate CAs (intermediate.h has the flow) ---- */

/* A new private key of type t, PKCS#8 PEM in secret memory. */
int pki_key_new_pem(KeyType t, SecretValue **ret, NsError *error);
/* A certificate request (PEM) for key_pem: subject "nodeseal intermediate NODE", no extensions. */
int intermediate_csr_new(const SecretValue *key_pem, const char *node, char **ret, NsError *error);
/* The SHA-256 of the request's public key (DER SubjectPublicKeyInfo, hex), once its signature
 * verifies: what "openssl pkey -pubin -outform DER | sha256sum" prints. */
int intermediate_csr_key_sha256(const char *csr, size_t len, char ret[static 65], NsError *error);
/* Whether the request verifies and is for the key: 1 yes, 0 no. */
int intermediate_csr_matches_key(const char *csr, size_t len, const SecretValue *key_pem);

/* The names the operator lets one node's intermediate sign. */
typedef struct IpRange {
        int len;                   /* 4 or 16 */
        uint8_t addr[16];
        uint8_t mask[16];
} IpRange;
typedef struct IntermediateNames {
        char **dns;                /* lower case, "name" or ".name" */
        IpRange *ranges;
        size_t n_ranges;
} IntermediateNames;
void intermediate_names_done(IntermediateNames *n);
/* -EINVAL, naming the value and why, for what is not a DNS name constraint / an address or CIDR. */
int intermediate_names_add_dns(IntermediateNames *n, const char *s, NsError *error);
int intermediate_names_add_range(IntermediateNames *n, const char *s, NsError *error);
/* The nameConstraints extension: permitted DNS names and ranges; every address excluded when no
 * range is given (otherwise no address would be constrained). -EINVAL without a DNS name. */
typedef struct NAME_CONSTRAINTS_st NAME_CONSTRAINTS;
int intermediate_name_constraints(const IntermediateNames *n, NAME_CONSTRAINTS **ret);

/* Certifies the key of the request csr (whose signature must verify, and whose key has the SHA-256
 * key_sha256_expected unless NULL) as node's intermediate CA:
 * CA:TRUE pathlen 0, keyCertSign and cRLSign, the name constraints of n, valid for days (capped at
 * the CA's). The request's subject and extensions are ignored. ret_pem: the intermediate followed by
 * the CA's tls.crt. */
int intermediate_issue(const Ca *ca, const char *csr, size_t csr_len, const char *node, const IntermediateNames *n,
                       const char *key_sha256_expected, uint32_t days, char **ret_pem, NsError *error);
/* A short text description of the first certificate of pem (subject, validity, extensions). */
int intermediate_cert_info(const char *pem, size_t len, char **ret_text, NsError *error);
