/* SPDX-License-Identifier: Apache-2.0 */
/* The Kubernetes API client: one curl handle, the bearer token, requests with retries, Secrets get/create/patch. */
#include <fcntl.h>
#include <math.h>
#include <openssl/ssl.h>
#include <sys/stat.h>
#include <time.h>

#include "backoff.h"
#include "build-config.h"
#include "kube-client.h"
#include "kube-counts.h"
#include "secure.h"
#include "json-util.h"
#include "kube-request.h"
#include "log.h"
#include "secret.h"

struct KubeClient {
        const KubeConfig *config;   /* borrowed */
        const RetryConfig *retry;   /* borrowed */
        KubeEndpoint endpoint;
        CURL *easy;                 /* blocking requests; kept for connection reuse */

        SecretValue *token;         /* the bearer token, NULL with a client certificate */
        struct stat token_stat;     /* what token_file was when token was read */
};

static void sleep_usec(uint64_t usec) {
        struct timespec ts = { .tv_sec = (time_t) (usec / USEC_PER_SEC), .tv_nsec = (long) (usec % USEC_PER_SEC) * 1000 };
        while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
                ;
}

/* ---- the client ---- */

const KubeEndpoint *kube_client_endpoint(const KubeClient *c) {
        return &c->endpoint;
}

const KubeConfig *kube_client_config(const KubeClient *c) {
        return c->config;
}

const RetryConfig *kube_client_retry(const KubeClient *c) {
        return c->retry;
}

int kube_client_refresh_token(KubeClient *c, bool force, NsError *error) {
        _cleanup_(secret_value_freep) SecretValue *t = NULL;
        struct stat st;
        size_t n;
        int r;

        if (!c->endpoint.token_file)
                return 0;

        /* Bound service-account tokens rotate: the kubelet swaps a symlink (new inode), other tools
         * rewrite the file (new mtime). stat() follows the symlink and sees either. */
        if (stat(c->endpoint.token_file, &st) < 0)
                return ns_error_set(error, -errno, "Cannot read the Kubernetes token file %s: %m",
                                    c->endpoint.token_file);
        if (!force && c->token && st.st_dev == c->token_stat.st_dev && st.st_ino == c->token_stat.st_ino &&
            st.st_size == c->token_stat.st_size && st.st_mtim.tv_sec == c->token_stat.st_mtim.tv_sec &&
            st.st_mtim.tv_nsec == c->token_stat.st_mtim.tv_nsec)
                return 0;

        r = read_secret_file(AT_FDCWD, c->endpoint.token_file, 64 * 1024, &t);
        if (r < 0)
                return ns_error_set(error, r, "Cannot read the Kubernetes token file %s: %s", c->endpoint.token_file,
                                    strerror(-r));
        n = t->size;
        while (n > 0 && strchr(" \t\r\n", t->data[n - 1]))
                n--;
        t->data[n] = '\0';
        t->size = n;
        if (n == 0)
                return ns_error_set(error, -ENOKEY, "The Kubernetes token file %s is empty", c->endpoint.token_file);
        for (size_t i = 0; i < n; i++)
                if (t->data[i] < 0x21 || t->data[i] > 0x7e)
                        /* Never print the token, not even a part of it. */
                        return ns_error_set(error, -EBADMSG,
                                            "The Kubernetes token file %s holds characters a bearer token cannot have",
                                            c->endpoint.token_file);

        secret_value_free(c->token);
        c->token = TAKE_PTR(t);
        c->token_stat = st;
        log_debug("Read the Kubernetes token from %s.", c->endpoint.token_file);
        return 0;
}

int kube_client_new(const KubeConfig *k, const RetryConfig *retry, KubeClient **ret, NsError *error) {
        _cleanup_(kube_client_freep) KubeClient *c = NULL;
        int r;

        kube_json_hooks_install();
        /* libcurl's receive buffers hold the Secret bodies: wiped when freed. This takes effect
         * only in the first initialization of the process, which is this one. */
        if (curl_global_init_mem(CURL_GLOBAL_DEFAULT, malloc, secure_free, secure_realloc, strdup, calloc) != CURLE_OK)
                return ns_error_set(error, -EIO, "Failed to initialize libcurl");

        c = calloc(1, sizeof(*c));
        if (!c)
                return -ENOMEM;
        c->config = k;
        c->retry = retry;

        r = kube_endpoint_resolve(k, &c->endpoint, error);
        if (r < 0)
                return r;
        r = kube_client_refresh_token(c, true, error);
        if (r < 0)
                return r;

        c->easy = curl_easy_init();
        if (!c->easy)
                return -ENOMEM;

        *ret = TAKE_PTR(c);
        return 0;
}

KubeClient *kube_client_free(KubeClient *c) {
        if (!c)
                return NULL;
        if (c->easy)
                curl_easy_cleanup(c->easy);
        kube_endpoint_done(&c->endpoint);
        secret_value_free(c->token);
        free(c);
        return NULL;
}

static CURLcode ssl_ctx_callback(CURL *easy, void *ssl_ctx, void *userdata) {
        /* OpenSSL keeps received plaintext (the Secret body) in its record buffer until the next
         * record overwrites it; this wipes it as soon as libcurl has read it, and on free. */
        (void) SSL_CTX_set_options(ssl_ctx, SSL_OP_CLEANSE_PLAINTEXT);
        return CURLE_OK;
}

/* The request headers: JSON, and the bearer token when there is one. */
static int request_headers(KubeClient *c, struct curl_slist **ret) {
        _cleanup_(kube_headers_freep) struct curl_slist *l = NULL;
        _cleanup_(secret_value_freep) SecretValue *h = NULL;
        static const char prefix[] = "Authorization: Bearer ";
        struct curl_slist *n;
        int r;

        l = curl_slist_append(NULL, "Accept: application/json");
        if (!l)
                return -ENOMEM;
        if (c->token) {
                /* Built in secret memory; curl copies it into the list, which kube_headers_free() wipes. */
                r = secret_value_new(sizeof(prefix) - 1 + c->token->size, &h);
                if (r < 0)
                        return r;
                memcpy(h->data, prefix, sizeof(prefix) - 1);
                memcpy(h->data + sizeof(prefix) - 1, c->token->data, c->token->size);
                n = curl_slist_append(l, (const char *) h->data);
                if (!n)
                        return -ENOMEM;
                l = n;
        }
        *ret = TAKE_PTR(l);
        return 0;
}

#define SET(opt, val)                                                                   \
        do {                                                                            \
                CURLcode _cc = curl_easy_setopt(easy, opt, val);                        \
                if (_cc != CURLE_OK)                                                    \
                        return ns_error_set(error, -EIO, "libcurl refused option %s: %s", #opt, \
                                            curl_easy_strerror(_cc));                   \
        } while (0)

/* TLS always verified, against the cluster CA when there is one; the client certificate if any. */
static int set_tls(KubeClient *c, CURL *easy, NsError *error) {
        /* https only, also after a redirect, and no redirect is followed anyway: a redirect from the
         * API server would carry the token elsewhere. */
        SET(CURLOPT_PROTOCOLS_STR, "https");
        SET(CURLOPT_REDIR_PROTOCOLS_STR, "https");
        SET(CURLOPT_FOLLOWLOCATION, 0L);
        SET(CURLOPT_SSL_VERIFYPEER, 1L);
        SET(CURLOPT_SSL_VERIFYHOST, 2L);
        SET(CURLOPT_SSLVERSION, (long) CURL_SSLVERSION_TLSv1_2);
        SET(CURLOPT_SSL_CTX_FUNCTION, ssl_ctx_callback);
        if (c->endpoint.ca_file) {
                /* The cluster CA and nothing else. */
                SET(CURLOPT_CAINFO, c->endpoint.ca_file);
                SET(CURLOPT_CAPATH, (char *) NULL);
        }
#if LIBCURL_VERSION_NUM >= 0x075700
        /* libcurl keeps the store built from CAINFO for 24 hours (per multi handle: the daemon's
         * watch keeps one for its life), while the kubelet rewrites the service account's ca.crt
         * in place when the cluster's CA rotates. Read the file again for every new connection:
         * a few certificates, parsed once per connection (watches last minutes, connections are
         * reused), and the API server's next certificate is trusted as soon as the file says so. */
        SET(CURLOPT_CA_CACHE_TIMEOUT, 0L);
#endif
        if (c->endpoint.client_certificate) {
                SET(CURLOPT_SSLCERT, c->endpoint.client_certificate);
                SET(CURLOPT_SSLCERTTYPE, "PEM");
                SET(CURLOPT_SSLKEY, c->endpoint.client_key);
                SET(CURLOPT_SSLKEYTYPE, "PEM");
        }
        return 0;
}

static int set_timeouts(KubeClient *c, CURL *easy, bool watch, NsError *error) {
        const KubeConfig *k = c->config;
        long connect_ms = (long) MAX(k->connect_timeout_usec / USEC_PER_MSEC, (uint64_t) 1);
        long request_ms = (long) MAX(k->request_timeout_usec / USEC_PER_MSEC, (uint64_t) 1);

        SET(CURLOPT_CONNECTTIMEOUT_MS, connect_ms);
        SET(CURLOPT_TCP_KEEPALIVE, 1L);
        SET(CURLOPT_TCP_KEEPIDLE, 30L);
        SET(CURLOPT_TCP_KEEPINTVL, 10L);
        if (watch) {
                /* The server ends a watch after timeoutSeconds; we allow it that plus a request
                 * timeout, so a server that goes silent mid-watch is dropped within bounded time. */
                SET(CURLOPT_TIMEOUT_MS, (long) (k->watch_timeout_usec / USEC_PER_MSEC) + request_ms);
                return 0;
        }
        SET(CURLOPT_TIMEOUT_MS, request_ms);
        /* A server trickling bytes is dropped well before the whole timeout when it is long. */
        SET(CURLOPT_LOW_SPEED_LIMIT, 1L);
        SET(CURLOPT_LOW_SPEED_TIME, (long) MAX(MIN(request_ms / 1000, 10L), 1L));
        SET(CURLOPT_MAXFILESIZE_LARGE, (curl_off_t) KUBE_BODY_SIZE_MAX);
        return 0;
}

int kube_client_setup_easy(KubeClient *c, CURL *easy, const char *url, bool watch, struct curl_slist **headers,
                           NsError *error) {
        _cleanup_(kube_headers_freep) struct curl_slist *l = NULL;
        int r;

        if (strncasecmp(url, "https://", 8) != 0)
                return ns_error_set(error, -EPROTONOSUPPORT, "Refusing a non-https URL for the Kubernetes API");
        r = request_headers(c, &l);
        if (r < 0)
                return r;

        SET(CURLOPT_URL, url);
        r = set_tls(c, easy, error);
        if (r < 0)
                return r;
        SET(CURLOPT_NOSIGNAL, 1L);
        SET(CURLOPT_NOPROGRESS, 1L);
        SET(CURLOPT_VERBOSE, 0L);   /* verbose output would print the Authorization header */
        r = set_timeouts(c, easy, watch, error);
        if (r < 0)
                return r;
        SET(CURLOPT_USERAGENT, "nodeseal/" NODESEAL_VERSION);
        SET(CURLOPT_HTTPHEADER, l);

        *headers = TAKE_PTR(l);
        return 0;
}

#undef SET

/* ---- requests ---- */

int kube_client_error(KubeClient *c, CURLcode cc, const char *curl_message, const KubeStatus *st, const char *what,
                      const char *verb, const char *secret, bool *ret_retryable, NsError *error) {
        KubeStatusContext ctx = {
                .endpoint = &c->endpoint,
                .connect_timeout_usec = c->config->connect_timeout_usec,
                .request_timeout_usec = c->config->request_timeout_usec,
                .what = what,
                .verb = verb,
                .secret = secret,
        };

        return kube_status_to_error(cc, curl_message, st, &ctx, ret_retryable, error);
}

static unsigned max_attempts(const RetryConfig *r) {
        return r->max_attempts > 0 ? r->max_attempts : KUBE_DEFAULT_ATTEMPTS;
}

/* One transfer of req on the client's handle. Returns -errno (and e) when it could not be made;
 * otherwise 0, with the transfer's outcome in *ret_cc and resp. */
static int perform_once(KubeClient *c, const KubeRequest *req, KubeResponse *resp, char *errbuf, CURLcode *ret_cc,
                        NsError *e) {
        _cleanup_(kube_headers_freep) struct curl_slist *headers = NULL;
        CURLcode cc;
        int r;

        r = kube_client_refresh_token(c, false, e);
        if (r < 0)
                return r;
        curl_easy_reset(c->easy);
        r = kube_client_setup_easy(c, c->easy, req->url, false, &headers, e);
        if (r < 0)
                return r;
        r = kube_request_apply(req, c->easy, &headers, resp);
        if (r < 0)
                return r;
        (void) curl_easy_setopt(c->easy, CURLOPT_ERRORBUFFER, errbuf);

        cc = curl_easy_perform(c->easy);
        secure_wipe_stack();
        (void) curl_easy_getinfo(c->easy, CURLINFO_RESPONSE_CODE, &resp->http_code);
        kube_count_request(req->verb, resp->http_code);
        kube_request_clear(c->easy);
        if (cc == CURLE_WRITE_ERROR && resp->body.overflow)
                cc = CURLE_FILESIZE_EXCEEDED;
        *ret_cc = cc;
        return 0;
}

/* A bound token may have rotated under us: on the first 401 the token file is read again and the
 * request retried at once. Returns 1 when it was, 0 when this 401 is final. */
static int reread_token_on_401(KubeClient *c, const KubeRequest *req, long http_code, bool *reread, NsError *e) {
        int r;

        if (http_code != 401 || !c->endpoint.token_file || *reread)
                return 0;
        *reread = true;
        r = kube_client_refresh_token(c, true, e);
        if (r < 0)
                return r;
        log_debug("API server said 401 for %s; token file re-read, retrying.", req->what);
        return 1;
}

/* One request with retries. Returns 0 with *ret filled on a 2xx; otherwise -errno and error. */
static int kube_client_perform(KubeClient *c, const KubeRequest *req, KubeResponse *ret, NsError *error) {
        unsigned attempts = max_attempts(c->retry);
        bool reread_token = false;
        int r = -EIO;

        for (unsigned attempt = 0;; attempt++) {
                _cleanup_(kube_response_done) KubeResponse resp = { .body.max = KUBE_BODY_SIZE_MAX };
                char errbuf[CURL_ERROR_SIZE] = "";
                NsError e = {};
                KubeStatus st = {};
                bool retryable = false;
                uint64_t delay;
                CURLcode cc;

                r = perform_once(c, req, &resp, errbuf, &cc, &e);
                if (r < 0)
                        goto failed;
                if (cc == CURLE_OK && resp.http_code >= 200 && resp.http_code <= 299) {
                        *ret = resp;
                        resp = (KubeResponse) {};
                        return 0;
                }
                if (cc == CURLE_OK) {
                        r = kube_status_parse(resp.body.data, resp.body.size, resp.http_code, &st);
                        if (r < 0)
                                return r;
                        if (st.retry_after_usec == 0)
                                st.retry_after_usec = resp.retry_after_usec;
                        r = reread_token_on_401(c, req, resp.http_code, &reread_token, &e);
                        if (r < 0)
                                goto failed;
                        if (r > 0) {
                                attempt--;
                                continue;
                        }
                }
                r = kube_client_error(c, cc, errbuf, &st, req->what, req->verb, req->secret, &retryable, &e);
                if (!retryable || attempt + 1 >= attempts) {
                        if (retryable && attempts > 1)
                                (void) ns_error_prefix(&e, r, "Gave up after %u attempts", attempts);
                        goto failed;
                }

                delay = backoff_retry_usec(c->retry, attempt + 1, backoff_random01());
                /* Retry-After is the server's word on when to come back: never earlier. */
                delay = MAX(delay, MAX(st.retry_after_usec, resp.retry_after_usec));
                log_debug("%s (attempt %u of %u); retrying in %.1f s.", e.message, attempt + 1, attempts,
                          (double) delay / USEC_PER_SEC);
                sleep_usec(delay);
                continue;

        failed:
                if (error && !ns_error_is_set(error))
                        *error = e;
                return r;
        }
}

int kube_client_request(KubeClient *c, const KubeRequest *req, KubeResponse *ret, NsError *error) {
        return kube_client_perform(c, req, ret, error);
}

/* ---- Secrets ---- */

int kube_client_get_secret(KubeClient *c, const char *name, KubeSecret **ret, NsError *error) {
        _cleanup_(kube_response_done) KubeResponse resp = {};
        _cleanup_free_ char *url = NULL;
        char what[512];
        int r;

        r = kube_secret_url(c->endpoint.server, c->endpoint.namespace, name, &url);
        if (r < 0)
                return r;
        (void) snprintf(what, sizeof(what), "read Secret %s/%s", c->endpoint.namespace, name);
        r = kube_client_perform(c, &(KubeRequest) { .method = "GET", .url = url, .what = what, .verb = "get",
                                                    .secret = name },
                                &resp, error);
        if (r < 0)
                return r;
        r = kube_secret_parse(resp.body.data ?: "", resp.body.size, name, ret, error);
        if (r < 0)
                return ns_error_prefix(error, r, "API server %s", c->endpoint.server);
        return 0;
}

static void cjson_freep(char **p) {
        /* Allocated through the wiping hooks: cJSON_free() wipes. */
        if (*p)
                cJSON_free(*p);
}

/* Writes one key with a body from kube_secret_body(): POST a new Secret to the collection (create),
 * or PATCH the Secret. */
static int write_secret_key(KubeClient *c, bool create, const char *name, const char *resource_version,
                            const char *key, const SecretValue *value, const char *what, NsError *error) {
        _cleanup_(kube_response_done) KubeResponse resp = {};
        _cleanup_(cjson_freep) char *body = NULL;
        _cleanup_free_ char *url = NULL;
        int r;

        r = kube_secret_url(c->endpoint.server, c->endpoint.namespace, create ? NULL : name, &url);
        if (r < 0)
                return r;
        r = kube_secret_body(c->endpoint.namespace, name, resource_version, key, value, &body);
        if (r < 0)
                return r;
        return kube_client_perform(c, &(KubeRequest) {
                                           .method = create ? "POST" : "PATCH",
                                           .url = url,
                                           .content_type = create ? "application/json" : "application/merge-patch+json",
                                           .body = body,
                                           .body_size = strlen(body),
                                           .what = what,
                                           .verb = create ? "create" : "patch",
                                           .secret = name,
                                   },
                                   &resp, error);
}

int kube_client_create_secret(KubeClient *c, const char *name, const char *key, const SecretValue *value,
                              NsError *error) {
        char what[512];

        (void) snprintf(what, sizeof(what), "create Secret %s/%s", c->endpoint.namespace, name);
        return write_secret_key(c, true, name, NULL, key, value, what, error);
}

int kube_client_add_secret_key(KubeClient *c, const char *name, const char *resource_version, const char *key,
                               const SecretValue *value, NsError *error) {
        char what[512];

        (void) snprintf(what, sizeof(what), "add key \"%s\" to Secret %s/%s", key, c->endpoint.namespace, name);
        return write_secret_key(c, false, name, resource_version, key, value, what, error);
}

int kube_client_remove_secret_key(KubeClient *c, const char *name, const char *resource_version, const char *key,
                                  NsError *error) {
        char what[512];

        (void) snprintf(what, sizeof(what), "remove key \"%s\" from Secret %s/%s", key, c->endpoint.namespace, name);
        return write_secret_key(c, false, name, resource_version, key, NULL, what, error);
}
