/* SPDX-License-Identifier: Apache-2.0 */
/* Per-node intermediate CAs: the node makes the key (stored wrapped to itself) and a request; the
 * operator, holding the root key, certifies it for the names they give; the node then signs its
 * certificates with it and never needs the root key. */
#pragma once

#include "config.h"
#include "error.h"
#include "pki.h"
#include "secret.h"

/* The keys of the node's keys Secret (config.c reserves "intermediate.*" for them). */
#define INTERMEDIATE_KEY_WRAPPED "intermediate.key.wrapped"
#define INTERMEDIATE_CSR "intermediate.csr"
#define INTERMEDIATE_CRT "intermediate.crt"
/* What the wrapped key's associated data names in place of a volume. */
#define INTERMEDIATE_WRAP_LABEL "intermediate.key"
#define INTERMEDIATE_DEFAULT_DAYS 365

/* This node's side: makes the intermediate key unless its keys Secret has one, stores it wrapped
 * (to the node key and the recovery key), reads it back and unwraps it, and stores the request for
 * it as intermediate.csr. ret_csr: the request (PEM). ret_new: whether a key was made. */
int intermediate_request(const Config *c, SecretSource *s, KeyType t, char **ret_csr, bool *ret_new, NsError *error);

/* The operator's side: certifies the request in node's keys Secret (keys_secret) with the CA of the
 * CA Secret, for the names in n, and stores it as intermediate.crt there; key_sha256 (NULL: not
 * checked) is what the node printed for its key. ret_pem: what was stored; ret_key_sha256 (optional)
 * the digest of the key certified. */
int intermediate_issue_for(SecretSource *s, const Ca *ca, const char *node, const char *keys_secret,
                           const IntermediateNames *n, const char *key_sha256, uint32_t days, char **ret_pem,
                           char ret_key_sha256[static 65], NsError *error);

/* What signs this node's certificates with secrets.signer "intermediate": intermediate.crt and the
 * unwrapped key from the keys Secret, checked against the trust bundle of the CA Secret (ca.crt,
 * else tls.crt); tls.key is never read. */
int intermediate_load(const Config *c, SecretSource *s, Ca **ret, NsError *error);

/* The signer secrets.signer names: the CA Secret's CA, or this node's intermediate. */
int signer_load(const Config *c, SecretSource *s, Ca **ret, NsError *error);
