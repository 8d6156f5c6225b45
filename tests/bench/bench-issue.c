/* SPDX-License-Identifier: Apache-2.0 */
/* bench-issue: nodeseal's certificate issuance in process, for one key type: a new key, a
 * certificate signed by a CA (CN, DNS and IP SANs, serverAuth + clientAuth, SKI/AKI) and the files
 * written atomically, as certificate_provision_full() does it when forced to issue anew. Prints the
 * time per issuance (wall and CPU), so that the cost of a process start, of reading the config and
 * the CA and of the checks around issuance can be told apart from issuance itself. */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "config.h"
#include "pki.h"
#include "secure.h"

static double clock_s(clockid_t id) {
        struct timespec ts;
        (void) clock_gettime(id, &ts);
        return (double) ts.tv_sec + (double) ts.tv_nsec / 1e9;
}

int main(int argc, char *argv[]) {
        _cleanup_(secret_value_freep) SecretValue *ca_key = NULL, *ca_cert = NULL;
        _cleanup_(config_freep) Config *c = NULL;
        _cleanup_(ca_freep) Ca *ca = NULL;
        _cleanup_free_ char *ca_pem = NULL, *text = NULL;
        NsError error = {};
        double w0, c0, w, u;
        int n, r;

        if (argc != 4) {
                fprintf(stderr, "Usage: bench-issue KEY_TYPE COUNT DIRECTORY\n");
                return 2;
        }
        n = atoi(argv[2]);
        if (n < 1)
                return 2;
        r = ca_generate("nodeseal bench CA", KEY_TYPE_EC_P256, 365, &ca_pem, &ca_key, &error);
        if (r >= 0)
                r = secret_value_new_copy(ca_pem, strlen(ca_pem), &ca_cert);
        if (r >= 0)
                r = ca_from_pem(ca_cert, ca_key, NULL, &ca, &error);
        if (r < 0) {
                fprintf(stderr, "CA: %s\n", ns_error_message(&error, r));
                return 1;
        }
        if (asprintf(&text,
                     "{\"node_name\": \"bench-node\", \"runtime_directory\": \"%s/run\","
                     " \"secrets\": {\"directory\": \"%s/secrets\"},"
                     " \"certificates\": [{\"name\": \"bench\", \"directory\": \"%s/certs-%s\", \"key_type\": \"%s\","
                     " \"dns_names\": [\"{node}\", \"{node}.db.example.internal\"], \"ip_addresses\": [\"10.0.0.12\"],"
                     " \"reload\": false}]}",
                     argv[3], argv[3], argv[3], argv[1], argv[1]) < 0)
                return 2;
        r = config_parse(text, strlen(text), "bench-issue", &c, &error);
        if (r < 0) {
                fprintf(stderr, "Config: %s\n", ns_error_message(&error, r));
                return 1;
        }
        /* One issuance first: creates the directory, warms OpenSSL's provider caches. */
        r = certificate_provision_full(c, &c->certificates[0], ca, true, NULL, &error);
        w0 = clock_s(CLOCK_MONOTONIC);
        c0 = clock_s(CLOCK_PROCESS_CPUTIME_ID);
        for (int i = 0; r >= 0 && i < n; i++)
                r = certificate_provision_full(c, &c->certificates[0], ca, true, NULL, &error);
        if (r < 0) {
                fprintf(stderr, "Issuance: %s\n", ns_error_message(&error, r));
                return 1;
        }
        w = (clock_s(CLOCK_MONOTONIC) - w0) / n;
        u = (clock_s(CLOCK_PROCESS_CPUTIME_ID) - c0) / n;
        printf("key_type=%s issued=%d wall_ms=%.3f cpu_ms=%.3f\n", argv[1], n, w * 1000, u * 1000);
        return 0;
}
