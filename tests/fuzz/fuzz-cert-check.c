/* SPDX-License-Identifier: Apache-2.0 */
/* Fuzz target: a node's certificate files as certificate_check() finds them on disk (the
 * certificate file with the leaf and whatever chain follows it, the key file) checked against a
 * CA trust bundle: parsing, validity, key match, the chain for server and client use, the subject
 * alternative names. The input is split at NUL bytes into certificate file, key file and trust
 * bundle; the files go into a scratch directory. The clock is pinned so that the seeds stay valid. */
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "pki.h"
#include "profile.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_NOW 1796083200   /* 2026-12-01T00:00:00Z */

static Config *config;
static ProfileFiles files = PROFILE_FILES_NULL;
static char dir[256];

static void cleanup(void) {
        if (files.cert_path) {
                (void) unlink(files.cert_path);
                (void) unlink(files.key_path);
                (void) unlink(files.ca_path);
        }
        (void) rmdir(dir);
        profile_files_done(&files);
        config_free(config);
}

/* One certificate in a scratch directory, wanting names of both kinds (none from the host). */
static int setup(void) {
        const char *tmp = getenv("TMPDIR");
        char json[1024];
        NsError e = {};

        (void) snprintf(dir, sizeof(dir), "%s/nodeseal-fuzz-XXXXXX", tmp ?: "/tmp");
        if (!mkdtemp(dir))
                return -errno;
        (void) snprintf(json, sizeof(json),
                        "{\"node_name\": \"node-1\", \"runtime_directory\": \"%s\", \"certificates\": [{\"name\": \"c\","
                        " \"directory\": \"%s\", \"dns_names\": [\"node-1.example\", \"{node}\"],"
                        " \"ip_addresses\": [\"10.0.0.7\", \"fd00::7\"], \"include_node_ips\": false}]}",
                        dir, dir);
        if (config_parse(json, strlen(json), "fuzz.json", &config, &e) < 0 ||
            profile_files_paths(&config->certificates[0], &files) < 0 ||
            write_file_atomic(files.ca_path, "", 0, 0644, (uid_t) -1, (gid_t) -1) < 0) {
                fprintf(stderr, "fuzz-cert-check setup: %s\n", e.message);
                abort();
        }
        atexit(cleanup);
        return 0;
}

/* A plain write: write_file_atomic()'s two fsyncs a run would make the target a hundred times slower. */
static void write_file(const char *path, const void *data, size_t size, mode_t mode) {
        int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);

        if (fd < 0 || (size > 0 && write(fd, data, size) != (ssize_t) size))
                abort();
        (void) close(fd);
}

static const uint8_t *next_part(const uint8_t **p, const uint8_t *end, size_t *ret_n) {
        const uint8_t *start = *p, *nul = memchr(start, 0, (size_t) (end - start));

        *ret_n = nul ? (size_t) (nul - start) : (size_t) (end - start);
        *p = nul ? nul + 1 : end;
        return start;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        const uint8_t *p = data, *end = data + size, *cert, *key, *trust_data;
        size_t cert_n, key_n, trust_n;
        uint64_t not_after = 0, renew_at = 0;
        char *trust;
        NsError e = {};
        int r;

        if (!config && setup() < 0)
                abort();
        pki_set_clock(FUZZ_NOW);
        cert = next_part(&p, end, &cert_n);
        key = next_part(&p, end, &key_n);
        trust_data = next_part(&p, end, &trust_n);
        write_file(files.cert_path, cert, cert_n, 0644);
        write_file(files.key_path, key, key_n, 0600);
        trust = strndup((const char *) trust_data, trust_n);
        if (!trust)
                return 0;

        r = certificate_check(config, &config->certificates[0], trust, 0, &not_after, &renew_at, &e);
        if (r >= 0 && (renew_at > not_after || not_after <= (uint64_t) FUZZ_NOW * 1000000))
                abort();
        if (r < 0 && strnlen(e.message, sizeof(e.message)) == sizeof(e.message))
                abort();
        free(trust);
        return 0;
}
