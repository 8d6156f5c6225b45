/* SPDX-License-Identifier: Apache-2.0 */
/* kube-get: the public secret-source API from the command line, for the integration scenarios.
 * Prints SHA-256 digests of key values, never the values. */
#include <fcntl.h>
#include <getopt.h>
#include <openssl/evp.h>
#include <sys/mman.h>

#include "config.h"
#include "kube-client.h"
#include "kube-watch.h"
#include "log.h"
#include "secret.h"

static const char *arg_config = NULL;
static bool arg_no_read = false;
static unsigned arg_count = 0;
static unsigned events = 0;

static void print_digest(const char *label, const SecretValue *v) {
        unsigned char md[EVP_MAX_MD_SIZE];
        unsigned n = 0;

        if (EVP_Digest(v->data, v->size, md, &n, EVP_sha256(), NULL) != 1) {
                printf("%s digest-failed\n", label);
                return;
        }
        printf("%s sha256=", label);
        for (unsigned i = 0; i < n; i++)
                printf("%02x", md[i]);
        printf(" size=%zu\n", v->size);
        fflush(stdout);
}

/* ---- scan: where a Secret's value is left in this process's memory ---- */

/* A hit is any of these pieces of the value, raw or base64 (as the Secret's JSON carries it), so
 * that a partial copy (a TLS record, a read buffer holding part of the body) counts too. */
#define SCAN_PIECE 16
/* Larger mappings are address-space reservations (the sanitizers' shadow), not data. */
#define SCAN_MAPPING_MAX (UINT64_C(1) << 30)

typedef struct ScanPattern {
        /* Held bit-inverted, so that the pattern itself is never a hit: the memory read is inverted too. */
        SecretValue *raw_inv, *b64_inv;
} ScanPattern;

typedef struct ScanResult {
        unsigned raw, b64, skipped;
} ScanResult;

static void invert(uint8_t *p, size_t n) {
        for (size_t i = 0; i < n; i++)
                p[i] = (uint8_t) ~p[i];
}

static int scan_pattern_new(const SecretValue *v, ScanPattern *ret) {
        _cleanup_(secret_value_freep) SecretValue *raw = NULL, *b64 = NULL;
        int r;

        if (v->size < SCAN_PIECE)
                return -EINVAL;
        r = secret_value_new_copy(v->data, v->size, &raw);
        if (r < 0)
                return r;
        r = kube_base64_encode(v->data, v->size, &b64);
        if (r < 0)
                return r;
        invert(raw->data, raw->size);
        invert(b64->data, b64->size);
        *ret = (ScanPattern) { .raw_inv = TAKE_PTR(raw), .b64_inv = TAKE_PTR(b64) };
        return 0;
}

static const uint8_t *find_piece(const uint8_t *hay, size_t n, const uint8_t *piece) {
        for (const uint8_t *p = hay, *end = hay + n; end - p >= SCAN_PIECE;) {
                p = memchr(p, piece[0], (size_t) (end - p) - SCAN_PIECE + 1);
                if (!p)
                        return NULL;
                if (memcmp(p, piece, SCAN_PIECE) == 0)
                        return p;
                p++;
        }
        return NULL;
}

static unsigned count_pieces(const uint8_t *buf, size_t n, const SecretValue *pat) {
        unsigned hits = 0;

        for (size_t off = 0; off + SCAN_PIECE <= pat->size; off += SCAN_PIECE)
                for (const uint8_t *p = buf, *end = buf + n; p < end;) {
                        /* A plain loop, not memmem(): a sanitizer's memmem may copy the needle to its stack. */
                        const uint8_t *f = find_piece(p, (size_t) (end - p), pat->data + off);
                        if (!f)
                                break;
                        hits++;
                        p = f + 1;
                }
        return hits;
}

/* Reads [start, end) of our own memory through /proc/self/mem (unreadable pages read as zeros)
 * into a private buffer, inverted, and counts the pieces; the buffer is wiped after. */
static int scan_range(int mem, uint64_t start, uint64_t end, const ScanPattern *pat, unsigned *ret_raw,
                      unsigned *ret_b64) {
        size_t n = (size_t) (end - start), done = 0;
        uint8_t *buf;

        buf = mmap(NULL, n, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (buf == MAP_FAILED)
                return -errno;
        while (done < n) {
                ssize_t k = pread(mem, buf + done, n - done, (off_t) (start + done));
                if (k <= 0)
                        k = (ssize_t) MIN((size_t) 4096, n - done);   /* left as zeros */
                done += (size_t) k;
        }
        invert(buf, n);
        *ret_raw = count_pieces(buf, n, pat->raw_inv);
        *ret_b64 = count_pieces(buf, n, pat->b64_inv);
        explicit_bzero(buf, n);
        (void) munmap(buf, n);
        return 0;
}

static int scan_memory(const ScanPattern *pat, const char *label, ScanResult *ret) {
        _cleanup_fclose_ FILE *maps = NULL;
        _cleanup_close_ int mem = -EBADF;
        ScanResult res = {};
        char line[4096];

        maps = fopen("/proc/self/maps", "re");
        mem = open("/proc/self/mem", O_RDONLY | O_CLOEXEC);
        if (!maps || mem < 0)
                return -errno;
        while (fgets(line, sizeof(line), maps)) {
                unsigned long long start, end;
                char perms[8] = "", name[4096] = "";
                unsigned raw = 0, b64 = 0;
                int r;

                if (sscanf(line, "%llx-%llx %7s %*s %*s %*s %4095[^\n]", &start, &end, perms, name) < 3)
                        continue;
                if (perms[0] != 'r' || streq(name, "[vsyscall]") || streq(name, "[vvar]"))
                        continue;
                if (end - start > SCAN_MAPPING_MAX) {
                        res.skipped++;
                        continue;
                }
                r = scan_range(mem, start, end, pat, &raw, &b64);
                if (r < 0)
                        return r;
                if (raw + b64 > 0)
                        printf("%s hit raw=%u base64=%u in %s\n", label, raw, b64, name[0] ? name : "[anonymous]");
                res.raw += raw;
                res.b64 += b64;
        }
        printf("%s raw=%u base64=%u skipped=%u\n", label, res.raw, res.b64, res.skipped);
        fflush(stdout);
        *ret = res;
        return 0;
}

/* Reads SECRET's KEY, scans while the value is held (the scan must find it: it can fail), then
 * frees the value and the source and scans again: whatever is found then was left behind. */
static int do_scan(SecretSource **source, const char *secret, const char *key) {
        _cleanup_(secret_value_freep) SecretValue *v = NULL;
        ScanPattern pat = {};
        ScanResult res;
        NsError error = {};
        int r;

        r = secret_source_get(*source, secret, key, &v, &error);
        if (r < 0)
                return log_error_errno(r, "%s", ns_error_message(&error, r));
        r = scan_pattern_new(v, &pat);
        if (r < 0)
                return log_error_errno(r, "Cannot make the scan pattern (a value of at least %d bytes): %m", SCAN_PIECE);
        r = scan_memory(&pat, "held", &res);
        if (r >= 0) {
                v = secret_value_free(v);
                *source = secret_source_free(*source);
                r = scan_memory(&pat, "freed", &res);
        }
        secret_value_free(pat.raw_inv);
        secret_value_free(pat.b64_inv);
        if (r < 0)
                return log_error_errno(r, "Cannot scan this process's memory: %m");
        return 0;
}

static int on_change(SecretSource *s, const char *secret, void *userdata) {
        sd_event *e = userdata;

        printf("changed %s\n", secret);
        fflush(stdout);
        if (arg_count > 0 && ++events >= arg_count)
                (void) sd_event_exit(e, 0);
        return 0;
}

static int on_timeout(sd_event_source *s, uint64_t usec, void *userdata) {
        return sd_event_exit(sd_event_source_get_event(s), -ETIME);
}

static int do_watch(SecretSource *source, unsigned timeout_sec, char **names) {
        _cleanup_(sd_event_unrefp) sd_event *event = NULL;
        NsError error = {};
        int r;

        if (!arg_no_read)
                /* Read first, as the daemon does: the watch then starts from exactly what was read. */
                STRV_FOREACH(n, names) {
                        _cleanup_(secret_value_freep) SecretValue *v = NULL;
                        NsError e = {};
                        r = secret_source_get(source, *n, "probe-no-such-key", &v, &e);
                        if (r < 0 && r != -ENOKEY && r != -ENOENT)
                                return log_error_errno(r, "%s", ns_error_message(&e, r));
                }

        r = sd_event_default(&event);
        if (r < 0)
                return log_error_errno(r, "Failed to get an event loop: %m");
        r = secret_source_watch(source, event, names, on_change, event, &error);
        if (r < 0)
                return log_error_errno(r, "Failed to watch: %s", ns_error_message(&error, r));
        if (timeout_sec > 0) {
                r = sd_event_add_time_relative(event, NULL, CLOCK_MONOTONIC, timeout_sec * USEC_PER_SEC, 0, on_timeout,
                                               NULL);
                if (r < 0)
                        return log_error_errno(r, "Failed to add a timer: %m");
        }
        printf("watching\n");
        fflush(stdout);
        r = sd_event_loop(event);
        STRV_FOREACH(n, names) {
                NsError e = {};
                unsigned requests = 0;
                bool streaming = false;
                if (secret_source_kubernetes_watch_state(source, *n, &requests, &streaming, &e) >= 0)
                        printf("state %s requests=%u streaming=%s last_error=%s\n", *n, requests,
                               streaming ? "yes" : "no", e.code != 0 ? e.message : "none");
        }
        fflush(stdout);
        if (r == -ETIME)
                return log_error_errno(r, "Timed out after %u s with %u change(s).", timeout_sec, events);
        return r;
}

int main(int argc, char *argv[]) {
        static const struct option options[] = {
                { "config", required_argument, NULL, 'c' },
                { "no-read", no_argument, NULL, 'n' },
                {}
        };
        _cleanup_(secret_source_freep) SecretSource *source = NULL;
        _cleanup_(config_freep) Config *c = NULL;
        NsError error = {};
        const char *verb;
        int opt, r;

        (void) secure_openssl_memory_setup();   /* as nodeseal does, before OpenSSL allocates */
        log_setup_default();
        (void) secure_process_setup();
        while ((opt = getopt_long(argc, argv, "c:n", options, NULL)) >= 0)
                switch (opt) {
                case 'c':
                        arg_config = optarg;
                        break;
                case 'n':
                        arg_no_read = true;
                        break;
                default:
                        return 2;
                }
        if (optind >= argc) {
                fprintf(stderr, "Usage: kube-get [--config FILE] get SECRET KEY | put SECRET KEY |\n"
                                "       scan SECRET KEY | watch COUNT TIMEOUT_SEC SECRET... | config\n");
                return 2;
        }
        verb = argv[optind];

        r = config_load(arg_config, &c, &error);
        if (r < 0) {
                log_error_errno(r, "Invalid configuration: %s", ns_error_message(&error, r));
                return 1;
        }
        if (streq(verb, "config") && argc - optind == 1) {
                /* The config parsed: for the manifest checks. */
                printf("ok source=%s keys_secret=%s volumes=%zu certificates=%zu\n",
                       secret_source_type_to_string(c->secrets.type), c->secrets.keys_secret, c->n_volumes,
                       c->n_certificates);
                return 0;
        }
        r = secret_source_new(c, &source, &error);
        if (r < 0) {
                log_error_errno(r, "%s", ns_error_message(&error, r));
                return 1;
        }

        if (streq(verb, "get") && argc - optind == 3) {
                _cleanup_(secret_value_freep) SecretValue *v = NULL;

                r = secret_source_get(source, argv[optind + 1], argv[optind + 2], &v, &error);
                if (r < 0) {
                        log_error_errno(r, "%s", ns_error_message(&error, r));
                        return r == -ENOENT ? 4 : r == -ENOKEY ? 5 : 1;
                }
                print_digest("value", v);
                return 0;
        }
        if (streq(verb, "put") && argc - optind == 3) {
                _cleanup_(secret_value_freep) SecretValue *mine = NULL, *stored = NULL;

                r = secret_value_new(64, &mine);
                if (r >= 0)
                        r = random_bytes(mine->data, mine->size);
                if (r < 0)
                        return 1;
                r = secret_source_put_if_missing(source, argv[optind + 1], argv[optind + 2], mine, &stored, &error);
                if (r < 0) {
                        log_error_errno(r, "%s", ns_error_message(&error, r));
                        return 1;
                }
                print_digest(secret_value_equal(mine, stored) ? "stored-mine" : "stored-other", stored);
                return 0;
        }
        if (streq(verb, "scan") && argc - optind == 3)
                return do_scan(&source, argv[optind + 1], argv[optind + 2]) < 0 ? 1 : 0;
        if (streq(verb, "watch") && argc - optind >= 4) {
                arg_count = (unsigned) atoi(argv[optind + 1]);
                r = do_watch(source, (unsigned) atoi(argv[optind + 2]), argv + optind + 3);
                return r < 0 ? 1 : 0;
        }
        fprintf(stderr, "kube-get: bad arguments\n");
        return 2;
}
