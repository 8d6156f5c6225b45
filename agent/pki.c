/* SPDX-License-Identifier: Apache-2.0 */
/* CA validation and node certificates. PLACEHOLDER: being written; every call reports -EOPNOTSUPP. */
#include "pki.h"

int ca_from_pem(const SecretValue *cert_pem, const SecretValue *key_pem, const SecretValue *bundle_pem, Ca **ret,
                NsError *error) {
        return ns_error_set(error, -EOPNOTSUPP, "PKI not implemented yet");
}
int ca_load(SecretSource *s, Ca **ret, NsError *error) {
        return ns_error_set(error, -EOPNOTSUPP, "PKI not implemented yet");
}
Ca *ca_free(Ca *ca) {
        return NULL;
}
int ca_trust_pem(const Ca *ca, char **ret) {
        return -EOPNOTSUPP;
}
uint64_t ca_not_after(const Ca *ca) {
        return 0;
}
int certificate_provision(const Config *c, const CertificateConfig *cc, const Ca *ca, uint64_t *ret_not_after,
                          NsError *error) {
        return ns_error_set(error, -EOPNOTSUPP, "PKI not implemented yet");
}
int certificate_check(const Config *c, const CertificateConfig *cc, const char *trust_pem, uint64_t margin_usec,
                      uint64_t *ret_not_after, uint64_t *ret_renew_at, NsError *error) {
        return ns_error_set(error, -EOPNOTSUPP, "PKI not implemented yet");
}
int ca_generate(const char *common_name, KeyType key_type, uint32_t days, char **ret_cert_pem,
                SecretValue **ret_key_pem, NsError *error) {
        return ns_error_set(error, -EOPNOTSUPP, "PKI not implemented yet");
}
