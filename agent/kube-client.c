/* SPDX-License-Identifier: Apache-2.0 */
/* The Kubernetes API over libcurl: in-cluster config, Secrets get/create/patch, Status errors. */
#include <ctype.h>
#include <fcntl.h>
#include <libcryptsetup.h>
#include <math.h>
#include <openssl/ssl.h>
#include <stdatomic.h>
#include <sys/stat.h>
#include <time.h>

#include "build-config.h"
#include "kube-client.h"
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

struct KubeSecret {
        cJSON *json;
        const char *name;
        const char *resource_version;
        const cJSON *data;
};

/* ---- cJSON memory that is wiped on free ---- */

void kube_json_hooks_install(void) {
        static atomic_bool installed = false;
        cJSON_Hooks hooks = { .malloc_fn = malloc, .free_fn = secure_free };

        if (atomic_exchange(&installed, true))
                return;
        cJSON_InitHooks(&hooks);
}

/* ---- secret-memory buffers ---- */

int kube_buffer_append(KubeBuffer *b, const void *p, size_t n) {
        size_t max = b->max > 0 ? b->max : KUBE_BODY_SIZE_MAX;

        if (n > max - b->size) {
                b->overflow = true;
                return -EFBIG;
        }
        if (b->size + n + 1 > b->allocated) {
                size_t a = MAX(b->allocated * 2, (size_t) 4096);
                void *d;

                while (a < b->size + n + 1)
                        a *= 2;
                a = MIN(a, max + 1);
                /* crypt_safe_realloc() copies into fresh safe memory and wipes the old block. */
                d = b->data ? crypt_safe_realloc(b->data, a) : crypt_safe_alloc(a);
                if (!d)
                        return -ENOMEM;
                b->data = d;
                b->allocated = a;
        }
        memcpy(b->data + b->size, p, n);
        b->size += n;
        b->data[b->size] = '\0';
        return 0;
}

void kube_buffer_consume(KubeBuffer *b, size_t n) {
        n = MIN(n, b->size);
        if (n == 0)
                return;
        memmove(b->data, b->data + n, b->size - n);
        b->size -= n;
        crypt_safe_memzero(b->data + b->size, b->allocated - b->size);
}

void kube_buffer_done(KubeBuffer *b) {
        crypt_safe_free(b->data);
        b->data = NULL;
        b->size = b->allocated = 0;
        b->overflow = false;
}

size_t kube_buffer_curl_write(char *ptr, size_t size, size_t nmemb, void *userdata) {
        KubeBuffer *b = userdata;
        size_t n = size * nmemb;

        if (kube_buffer_append(b, ptr, n) < 0)
                return 0;   /* CURLE_WRITE_ERROR; b->overflow tells why */
        return n;
}

void kube_headers_free(struct curl_slist *l) {
        for (struct curl_slist *i = l; i; i = i->next)
                if (i->data)
                        explicit_bzero(i->data, strlen(i->data));
        curl_slist_free_all(l);
}

static void kube_headers_freep(struct curl_slist **l) {
        kube_headers_free(*l);
}

/* ---- base64, strict ---- */

static int b64_value(unsigned char c) {
        if (c >= 'A' && c <= 'Z')
                return c - 'A';
        if (c >= 'a' && c <= 'z')
                return c - 'a' + 26;
        if (c >= '0' && c <= '9')
                return c - '0' + 52;
        if (c == '+')
                return 62;
        if (c == '/')
                return 63;
        return -1;
}

int kube_base64_decode(const char *in, size_t n, SecretValue **ret) {
        _cleanup_(secret_value_freep) SecretValue *v = NULL;
        size_t pad = 0, out = 0;
        int r;

        if (n % 4 != 0)
                return -EBADMSG;
        if (n > 0 && in[n - 1] == '=')
                pad++;
        if (n > 1 && in[n - 2] == '=')
                pad++;

        r = secret_value_new(n / 4 * 3 - pad, &v);
        if (r < 0)
                return r;

        for (size_t i = 0; i < n; i += 4) {
                int a = b64_value(in[i]), b = b64_value(in[i + 1]), c, d;
                bool last = i + 4 == n;
                uint32_t w;

                if (a < 0 || b < 0)
                        return -EBADMSG;
                if (last && pad == 2) {
                        if (in[i + 2] != '=' || in[i + 3] != '=' || (b & 0x0f) != 0)
                                return -EBADMSG;
                        v->data[out++] = (uint8_t) (a << 2 | b >> 4);
                        break;
                }
                c = b64_value(in[i + 2]);
                if (c < 0)
                        return -EBADMSG;
                if (last && pad == 1) {
                        if (in[i + 3] != '=' || (c & 0x03) != 0)
                                return -EBADMSG;
                        w = (uint32_t) a << 18 | (uint32_t) b << 12 | (uint32_t) c << 6;
                        v->data[out++] = (uint8_t) (w >> 16);
                        v->data[out++] = (uint8_t) (w >> 8);
                        break;
                }
                d = b64_value(in[i + 3]);
                if (d < 0)
                        return -EBADMSG;
                w = (uint32_t) a << 18 | (uint32_t) b << 12 | (uint32_t) c << 6 | (uint32_t) d;
                v->data[out++] = (uint8_t) (w >> 16);
                v->data[out++] = (uint8_t) (w >> 8);
                v->data[out++] = (uint8_t) w;
                explicit_bzero(&w, sizeof(w));
        }
        if (out != v->size)
                return -EBADMSG;

        *ret = TAKE_PTR(v);
        return 0;
}

int kube_base64_encode(const void *data, size_t n, SecretValue **ret) {
        static const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        _cleanup_(secret_value_freep) SecretValue *v = NULL;
        const uint8_t *p = data;
        size_t o = 0;
        int r;

        r = secret_value_new((n + 2) / 3 * 4, &v);
        if (r < 0)
                return r;
        for (size_t i = 0; i < n; i += 3) {
                uint32_t w = (uint32_t) p[i] << 16;
                if (i + 1 < n)
                        w |= (uint32_t) p[i + 1] << 8;
                if (i + 2 < n)
                        w |= p[i + 2];
                v->data[o++] = (uint8_t) alphabet[w >> 18 & 63];
                v->data[o++] = (uint8_t) alphabet[w >> 12 & 63];
                v->data[o++] = (uint8_t) (i + 1 < n ? alphabet[w >> 6 & 63] : '=');
                v->data[o++] = (uint8_t) (i + 2 < n ? alphabet[w & 63] : '=');
                explicit_bzero(&w, sizeof(w));
        }
        v->data[o] = '\0';
        *ret = TAKE_PTR(v);
        return 0;
}

/* ---- URLs ---- */

int kube_url_escape(const char *s, char **ret) {
        static const char hex[] = "0123456789ABCDEF";
        char *out, *o;

        out = o = malloc(strlen(s) * 3 + 1);
        if (!out)
                return -ENOMEM;
        for (const unsigned char *p = (const unsigned char *) s; *p; p++) {
                if ((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') ||
                    *p == '-' || *p == '.' || *p == '_' || *p == '~')
                        *o++ = (char) *p;
                else {
                        *o++ = '%';
                        *o++ = hex[*p >> 4];
                        *o++ = hex[*p & 15];
                }
        }
        *o = '\0';
        *ret = out;
        return 0;
}

int kube_secret_url(const char *server, const char *ns, const char *name, char **ret) {
        _cleanup_free_ char *ens = NULL, *ename = NULL;
        int r;

        r = kube_url_escape(ns, &ens);
        if (r < 0)
                return r;
        if (name) {
                r = kube_url_escape(name, &ename);
                if (r < 0)
                        return r;
        }
        if (asprintf(ret, "%s/api/v1/namespaces/%s/secrets%s%s", server, ens, ename ? "/" : "", strempty(ename)) < 0)
                return -ENOMEM;
        return 0;
}

int kube_list_url(const char *server, const char *ns, const char *name, char **ret) {
        _cleanup_free_ char *base = NULL, *selector = NULL, *eselector = NULL;
        int r;

        r = kube_secret_url(server, ns, NULL, &base);
        if (r < 0)
                return r;
        if (asprintf(&selector, "metadata.name=%s", name) < 0)
                return -ENOMEM;
        r = kube_url_escape(selector, &eselector);
        if (r < 0)
                return r;
        if (asprintf(ret, "%s?fieldSelector=%s", base, eselector) < 0)
                return -ENOMEM;
        return 0;
}

int kube_watch_url(const char *server, const char *ns, const char *name, const char *resource_version,
                   unsigned timeout_sec, char **ret) {
        _cleanup_free_ char *base = NULL, *selector = NULL, *eselector = NULL, *erv = NULL;
        int r;

        r = kube_secret_url(server, ns, NULL, &base);
        if (r < 0)
                return r;
        if (asprintf(&selector, "metadata.name=%s", name) < 0)
                return -ENOMEM;
        r = kube_url_escape(selector, &eselector);
        if (r < 0)
                return r;
        if (resource_version) {
                r = kube_url_escape(resource_version, &erv);
                if (r < 0)
                        return r;
        }
        if (asprintf(ret, "%s?watch=1&fieldSelector=%s%s%s&allowWatchBookmarks=true&timeoutSeconds=%u", base,
                     eselector, erv ? "&resourceVersion=" : "", strempty(erv), timeout_sec) < 0)
                return -ENOMEM;
        return 0;
}

/* ---- backoff ---- */

uint64_t kube_backoff_usec(const RetryConfig *r, unsigned attempt, double random01) {
        double d = (double) r->initial_usec, max = (double) r->max_usec;

        for (unsigned i = 0; i < attempt && d < max; i++)
                d *= r->multiplier;
        d = MIN(d, max);
        if (random01 < 0 || random01 >= 1)
                random01 = 0.5;
        d *= 1.0 + r->jitter * (2.0 * random01 - 1.0);
        d = MIN(d, max);
        return d < 0 ? 0 : (uint64_t) d;
}

double kube_random01(void) {
        uint64_t x = 0;

        if (random_bytes(&x, sizeof(x)) < 0)
                return 0.5;
        return (double) (x >> 11) / (double) (UINT64_C(1) << 53);
}

uint64_t kube_parse_retry_after(const char *value, uint64_t now_realtime_usec) {
        char *end;
        unsigned long long s;
        time_t t;

        while (*value == ' ' || *value == '\t')
                value++;
        if (*value >= '0' && *value <= '9') {
                errno = 0;
                s = strtoull(value, &end, 10);
                while (*end == ' ' || *end == '\t' || *end == '\r' || *end == '\n')
                        end++;
                if (errno != 0 || *end)
                        return 0;
                return MIN(s, KUBE_RETRY_AFTER_MAX_USEC / USEC_PER_SEC) * USEC_PER_SEC;
        }
        t = curl_getdate(value, NULL);
        if (t < 0 || (uint64_t) t * USEC_PER_SEC <= now_realtime_usec)
                return 0;
        return MIN((uint64_t) t * USEC_PER_SEC - now_realtime_usec, KUBE_RETRY_AFTER_MAX_USEC);
}

static uint64_t now_usec(clockid_t clock) {
        struct timespec ts;
        (void) clock_gettime(clock, &ts);
        return (uint64_t) ts.tv_sec * USEC_PER_SEC + (uint64_t) ts.tv_nsec / 1000;
}

static void sleep_usec(uint64_t usec) {
        struct timespec ts = { .tv_sec = (time_t) (usec / USEC_PER_SEC), .tv_nsec = (long) (usec % USEC_PER_SEC) * 1000 };
        while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
                ;
}

/* ---- Status ---- */

static void copy_string(char *dst, size_t n, const char *s) {
        (void) snprintf(dst, n, "%s", strempty(s));
        /* A message goes into logs: no control characters from the server. */
        for (char *p = dst; *p; p++)
                if ((unsigned char) *p < 0x20 || *p == 0x7f)
                        *p = ' ';
}

int kube_status_parse(const char *body, size_t size, long http_code, KubeStatus *ret) {
        _cleanup_(cJSON_Deletep) cJSON *j = NULL;
        const cJSON *kind, *x, *details;
        KubeStatus st = { .http_code = http_code };

        if (body && size > 0)
                j = cJSON_ParseWithLength(body, size);
        kind = cJSON_GetObjectItemCaseSensitive(j, "kind");
        if (cJSON_IsObject(j) && cJSON_IsString(kind) && streq(kind->valuestring, "Status")) {
                st.is_status = true;
                x = cJSON_GetObjectItemCaseSensitive(j, "reason");
                if (cJSON_IsString(x))
                        copy_string(st.reason, sizeof(st.reason), x->valuestring);
                x = cJSON_GetObjectItemCaseSensitive(j, "message");
                if (cJSON_IsString(x))
                        copy_string(st.message, sizeof(st.message), x->valuestring);
                x = cJSON_GetObjectItemCaseSensitive(j, "code");
                if (cJSON_IsNumber(x))
                        st.code = (long) x->valuedouble;
                details = cJSON_GetObjectItemCaseSensitive(j, "details");
                x = cJSON_GetObjectItemCaseSensitive(details, "kind");
                if (cJSON_IsString(x))
                        copy_string(st.details_kind, sizeof(st.details_kind), x->valuestring);
                x = cJSON_GetObjectItemCaseSensitive(details, "name");
                if (cJSON_IsString(x))
                        copy_string(st.details_name, sizeof(st.details_name), x->valuestring);
                x = cJSON_GetObjectItemCaseSensitive(details, "retryAfterSeconds");
                if (cJSON_IsNumber(x) && x->valuedouble > 0)
                        st.retry_after_usec = MIN((uint64_t) x->valuedouble, KUBE_RETRY_AFTER_MAX_USEC / USEC_PER_SEC) *
                                              USEC_PER_SEC;
        }
        *ret = st;
        return 0;
}

/* ---- endpoint ---- */

void kube_endpoint_done(KubeEndpoint *e) {
        free(e->server);
        free(e->ca_file);
        free(e->token_file);
        free(e->client_certificate);
        free(e->client_key);
        free(e->namespace);
        *e = (KubeEndpoint) {};
}

static int path_join(const char *dir, const char *file, char **ret) {
        return asprintf(ret, "%s/%s", dir, file) < 0 ? -ENOMEM : 0;
}

static int strdup_to(char **dst, const char *s) {
        if (!s) {
                *dst = NULL;
                return 0;
        }
        *dst = strdup(s);
        return *dst ? 0 : -ENOMEM;
}

int kube_endpoint_resolve(const KubeConfig *k, KubeEndpoint *ret, NsError *error) {
        _cleanup_(kube_endpoint_done) KubeEndpoint e = {};
        const char *sa = k->service_account_dir ?: CONFIG_DEFAULT_SERVICE_ACCOUNT_DIR;
        _cleanup_free_ char *sa_ca = NULL, *sa_token = NULL, *sa_ns = NULL;
        bool in_cluster = !k->api_url;
        int r;

        if (path_join(sa, "ca.crt", &sa_ca) < 0 || path_join(sa, "token", &sa_token) < 0 ||
            path_join(sa, "namespace", &sa_ns) < 0)
                return -ENOMEM;

        if (k->api_url) {
                size_t n = strlen(k->api_url);
                /* The config refuses http:// already; refuse here too, so no caller can get around it. */
                if (strncasecmp(k->api_url, "https://", 8) != 0)
                        return ns_error_set(error, -EPROTONOSUPPORT,
                                            "Kubernetes API URL \"%s\" refused: only https:// is allowed", k->api_url);
                while (n > 8 && k->api_url[n - 1] == '/')
                        n--;
                e.server = strndup(k->api_url, n);
                if (!e.server)
                        return -ENOMEM;
        } else {
                const char *host = getenv("KUBERNETES_SERVICE_HOST"), *port = getenv("KUBERNETES_SERVICE_PORT");

                if (isempty(host) || isempty(port))
                        return ns_error_set(error, -ENXIO,
                                            "Not running in a Kubernetes pod (KUBERNETES_SERVICE_HOST/_PORT unset) "
                                            "and no secrets.kubernetes.api_url configured");
                for (const char *p = port; *p; p++)
                        if (*p < '0' || *p > '9')
                                return ns_error_set(error, -EINVAL, "KUBERNETES_SERVICE_PORT=\"%s\" is not a port", port);
                for (const char *p = host; *p; p++)
                        if (!(isalnum((unsigned char) *p) || strchr(".-:[]", *p)))
                                return ns_error_set(error, -EINVAL, "KUBERNETES_SERVICE_HOST=\"%s\" is not a host", host);
                if (asprintf(&e.server, strchr(host, ':') && host[0] != '[' ? "https://[%s]:%s" : "https://%s:%s",
                             host, port) < 0)
                        return -ENOMEM;
        }

        if (k->ca_file)
                r = strdup_to(&e.ca_file, k->ca_file);
        else if (in_cluster || access(sa_ca, F_OK) >= 0)
                r = strdup_to(&e.ca_file, sa_ca);
        else
                r = 0;   /* an api_url with a publicly trusted certificate */
        if (r < 0)
                return r;

        if (k->client_certificate) {
                if (strdup_to(&e.client_certificate, k->client_certificate) < 0 ||
                    strdup_to(&e.client_key, k->client_key) < 0)
                        return -ENOMEM;
        }
        if (k->token_file)
                r = strdup_to(&e.token_file, k->token_file);
        else if (!k->client_certificate && (in_cluster || access(sa_token, F_OK) >= 0))
                r = strdup_to(&e.token_file, sa_token);
        else
                r = 0;
        if (r < 0)
                return r;
        if (!e.token_file && !e.client_certificate)
                return ns_error_set(error, -ENOKEY,
                                    "No credentials for the Kubernetes API server %s: set secrets.kubernetes.token_file "
                                    "or client_certificate/client_key (no %s either)", e.server, sa_token);

        if (k->namespace)
                r = strdup_to(&e.namespace, k->namespace);
        else {
                _cleanup_free_ char *ns = NULL;
                r = read_full_file(sa_ns, 256, &ns, NULL);
                if (r >= 0) {
                        ns[strcspn(ns, " \t\r\n")] = '\0';
                        if (!secret_name_is_valid(ns))
                                return ns_error_set(error, -EINVAL, "%s: \"%s\" is not a namespace name", sa_ns, ns);
                        e.namespace = TAKE_PTR(ns);
                        r = 0;
                } else if (r == -ENOENT && !in_cluster)
                        r = strdup_to(&e.namespace, "default");
                else
                        return ns_error_set(error, r, "Cannot read the pod's namespace from %s: %s "
                                            "(set secrets.kubernetes.namespace)", sa_ns, strerror(-r));
        }
        if (r < 0)
                return r;

        *ret = e;
        e = (KubeEndpoint) {};
        return 0;
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

int kube_client_setup_easy(KubeClient *c, CURL *easy, const char *url, bool watch, struct curl_slist **headers,
                           NsError *error) {
        _cleanup_(kube_headers_freep) struct curl_slist *l = NULL;
        const KubeConfig *k = c->config;
        long connect_ms = (long) MAX(k->connect_timeout_usec / USEC_PER_MSEC, (uint64_t) 1);
        long request_ms = (long) MAX(k->request_timeout_usec / USEC_PER_MSEC, (uint64_t) 1);

        if (strncasecmp(url, "https://", 8) != 0)
                return ns_error_set(error, -EPROTONOSUPPORT, "Refusing a non-https URL for the Kubernetes API");

        l = curl_slist_append(NULL, "Accept: application/json");
        if (!l)
                return -ENOMEM;
        if (c->token) {
                /* Built in secret memory; curl copies it into the list, which kube_headers_free() wipes. */
                _cleanup_(secret_value_freep) SecretValue *h = NULL;
                static const char prefix[] = "Authorization: Bearer ";
                struct curl_slist *n;
                int r;

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

#define SET(opt, val)                                                                   \
        do {                                                                            \
                CURLcode _cc = curl_easy_setopt(easy, opt, val);                        \
                if (_cc != CURLE_OK)                                                    \
                        return ns_error_set(error, -EIO, "libcurl refused option %s: %s", #opt, \
                                            curl_easy_strerror(_cc));                   \
        } while (0)

        SET(CURLOPT_URL, url);
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
        if (c->endpoint.client_certificate) {
                SET(CURLOPT_SSLCERT, c->endpoint.client_certificate);
                SET(CURLOPT_SSLCERTTYPE, "PEM");
                SET(CURLOPT_SSLKEY, c->endpoint.client_key);
                SET(CURLOPT_SSLKEYTYPE, "PEM");
        }
        SET(CURLOPT_NOSIGNAL, 1L);
        SET(CURLOPT_NOPROGRESS, 1L);
        SET(CURLOPT_VERBOSE, 0L);   /* verbose output would print the Authorization header */
        SET(CURLOPT_CONNECTTIMEOUT_MS, connect_ms);
        SET(CURLOPT_TCP_KEEPALIVE, 1L);
        SET(CURLOPT_TCP_KEEPIDLE, 30L);
        SET(CURLOPT_TCP_KEEPINTVL, 10L);
        if (watch) {
                /* The server ends a watch after timeoutSeconds; we allow it that plus a request
                 * timeout, so a server that goes silent mid-watch is dropped within bounded time. */
                SET(CURLOPT_TIMEOUT_MS, (long) (k->watch_timeout_usec / USEC_PER_MSEC) + request_ms);
        } else {
                SET(CURLOPT_TIMEOUT_MS, request_ms);
                /* A server trickling bytes is dropped well before the whole timeout when it is long. */
                SET(CURLOPT_LOW_SPEED_LIMIT, 1L);
                SET(CURLOPT_LOW_SPEED_TIME, (long) MAX(MIN(request_ms / 1000, 10L), 1L));
                SET(CURLOPT_MAXFILESIZE_LARGE, (curl_off_t) KUBE_BODY_SIZE_MAX);
        }
        SET(CURLOPT_USERAGENT, "nodeseal/" NODESEAL_VERSION);
        SET(CURLOPT_HTTPHEADER, l);
#undef SET

        *headers = TAKE_PTR(l);
        return 0;
}

/* ---- errors ---- */

static bool is_tls_failure(CURLcode cc) {
        return cc == CURLE_PEER_FAILED_VERIFICATION || cc == CURLE_SSL_CACERT_BADFILE ||
               cc == CURLE_SSL_CERTPROBLEM || cc == CURLE_SSL_ISSUER_ERROR || cc == CURLE_SSL_PINNEDPUBKEYNOTMATCH ||
               cc == CURLE_SSL_CRL_BADFILE || cc == CURLE_SSL_INVALIDCERTSTATUS;
}

/* A 404 says "the Secret does not exist" only when its Status names that Secret; a missing
 * namespace (on create) or a path the server does not know (a wrong api_url, a proxy) is something
 * else, and must not be taken for a missing Secret, which would make a new key to create. */
static int not_found_error(KubeClient *c, const KubeStatus *st, const char *what, const char *secret,
                           const char *detail, NsError *error) {
        const KubeEndpoint *e = &c->endpoint;

        if (secret && st->is_status && streq(st->details_kind, "secrets") && streq(st->details_name, secret))
                return ns_error_set(error, -ENOENT, "Secret %s not found in namespace %s (API server %s: %s)", secret,
                                    e->namespace, e->server, detail);
        if (st->is_status && streq(st->details_kind, "namespaces"))
                return ns_error_set(error, -ENOENT, "Failed to %s: namespace %s does not exist (API server %s: %s)",
                                    what, st->details_name[0] ? st->details_name : e->namespace, e->server, detail);
        return ns_error_set(error, -ENXIO,
                            "Failed to %s: the API server %s has no such resource (HTTP 404, %s); is "
                            "secrets.kubernetes.api_url the API server's root?",
                            what, e->server, detail);
}

int kube_client_error(KubeClient *c, CURLcode cc, const char *curl_message, const KubeStatus *st, const char *what,
                      const char *verb, const char *secret, bool *ret_retryable, NsError *error) {
        const KubeEndpoint *e = &c->endpoint;
        const char *cm = !isempty(curl_message) ? curl_message : curl_easy_strerror(cc);
        char detail[700] = "";
        bool retry = false;
        int r;

        if (cc != CURLE_OK) {
                if (is_tls_failure(cc)) {
                        if (cc == CURLE_SSL_CERTPROBLEM)
                                r = ns_error_set(error, -EKEYREJECTED,
                                                 "Failed to %s at %s: the client certificate %s or key %s was not usable: %s",
                                                 what, e->server, strna(e->client_certificate), strna(e->client_key), cm);
                        else if (cc == CURLE_SSL_CACERT_BADFILE)
                                r = ns_error_set(error, -ENOENT, "Failed to %s at %s: cannot use the CA file %s: %s", what,
                                                 e->server, strna(e->ca_file), cm);
                        else
                                r = ns_error_set(error, -ECONNABORTED,
                                                 "Failed to %s: the certificate of the API server %s failed verification "
                                                 "against the CA file %s: %s",
                                                 what, e->server, e->ca_file ?: "(system trust store)", cm);
                } else
                        switch (cc) {
                        case CURLE_COULDNT_CONNECT:
                                retry = true;
                                r = ns_error_set(error, -ECONNREFUSED, "Failed to %s: cannot connect to the API server %s: %s",
                                                 what, e->server, cm);
                                break;
                        case CURLE_COULDNT_RESOLVE_HOST:
                                retry = true;
                                r = ns_error_set(error, -EHOSTUNREACH, "Failed to %s: cannot resolve the API server %s: %s",
                                                 what, e->server, cm);
                                break;
                        case CURLE_OPERATION_TIMEDOUT:
                                retry = true;
                                r = ns_error_set(error, -ETIMEDOUT,
                                                 "Failed to %s: the API server %s did not answer in time (connect timeout %.1f s, "
                                                 "request timeout %.1f s): %s",
                                                 what, e->server, (double) c->config->connect_timeout_usec / USEC_PER_SEC,
                                                 (double) c->config->request_timeout_usec / USEC_PER_SEC, cm);
                                break;
                        case CURLE_PARTIAL_FILE:
                                retry = true;
                                r = ns_error_set(error, -EPROTO, "Failed to %s: the response of the API server %s was cut short: %s",
                                                 what, e->server, cm);
                                break;
                        case CURLE_FILESIZE_EXCEEDED:
                        case CURLE_WRITE_ERROR:
                                r = ns_error_set(error, -EFBIG,
                                                 "Failed to %s: the response of the API server %s is larger than %d bytes",
                                                 what, e->server, KUBE_BODY_SIZE_MAX);
                                break;
                        case CURLE_UNSUPPORTED_PROTOCOL:
                                r = ns_error_set(error, -EPROTONOSUPPORT, "Failed to %s at %s: %s", what, e->server, cm);
                                break;
                        case CURLE_GOT_NOTHING:
                        case CURLE_SEND_ERROR:
                        case CURLE_RECV_ERROR:
                        case CURLE_SSL_CONNECT_ERROR:
                        case CURLE_HTTP2:
                        case CURLE_HTTP2_STREAM:
                                retry = true;
                                r = ns_error_set(error, -ECONNRESET, "Failed to %s: the connection to the API server %s failed: %s",
                                                 what, e->server, cm);
                                break;
                        default:
                                r = ns_error_set(error, -EIO, "Failed to %s at %s: %s", what, e->server, cm);
                        }
                *ret_retryable = retry;
                return r;
        }

        if (st->is_status)
                (void) snprintf(detail, sizeof(detail), "%s%s%s", st->reason[0] ? st->reason : "(no reason)",
                                st->message[0] ? ": " : "", st->message);
        else
                (void) snprintf(detail, sizeof(detail), "HTTP %ld with a body that is not a Kubernetes Status", st->http_code);

        switch (st->http_code) {
        case 401:
                r = ns_error_set(error, -EACCES,
                                 "Failed to %s: the API server %s did not accept our credentials (%s); token file %s%s",
                                 what, e->server, detail, e->token_file ?: "(none, client certificate)",
                                 !e->token_file ? "" :
                                 /* The watch re-reads it before its next attempt, not before this answer. */
                                 streq(verb, "watch") || streq(verb, "list") ? " is re-read before the next attempt" :
                                                                               " was re-read and the request retried");
                break;
        case 403:
                /* create cannot be limited to a name (RBAC has no resourceNames for it); patch is
                 * granted by name, but by the key-generation Role, not the read-only one. */
                if (secret && !streq(verb, "create"))
                        r = ns_error_set(error, -EPERM,
                                         "Failed to %s: %s. The ServiceAccount needs \"%s\" on secrets \"%s\" in namespace %s "
                                         "(see the %s)",
                                         what, detail, verb, secret, e->namespace,
                                         streq(verb, "patch") ? "key-generation Role in deploy/kubernetes/rbac-generate-keys.yaml" :
                                                                "Role in deploy/kubernetes/rbac.yaml");
                else
                        r = ns_error_set(error, -EPERM,
                                         "Failed to %s: %s. The ServiceAccount needs \"%s\" on secrets in namespace %s "
                                         "(see the key-generation Role in deploy/kubernetes/rbac-generate-keys.yaml)",
                                         what, detail, verb, e->namespace);
                break;
        case 404:
                r = not_found_error(c, st, what, secret, detail, error);
                break;
        case 409:
                r = ns_error_set(error, streq(st->reason, "AlreadyExists") ? -EEXIST : -ESTALE, "Failed to %s: %s", what,
                                 detail);
                break;
        case 410:
                r = ns_error_set(error, -ESTALE, "Failed to %s: %s", what, detail);
                break;
        case 400:
        case 422:
                r = ns_error_set(error, -EINVAL, "Failed to %s: the API server %s refused the request: %s", what,
                                 e->server, detail);
                break;
        case 413:
                r = ns_error_set(error, -EFBIG, "Failed to %s: %s", what, detail);
                break;
        case 429:
                retry = true;
                r = ns_error_set(error, -EBUSY, "Failed to %s: the API server %s is throttling us: %s", what, e->server,
                                 detail);
                break;
        default:
                if (st->http_code >= 500 && st->http_code <= 599) {
                        retry = true;
                        r = ns_error_set(error, -EIO, "Failed to %s: server error from the API server %s: HTTP %ld %s",
                                         what, e->server, st->http_code, detail);
                } else if (st->http_code >= 300 && st->http_code <= 399)
                        r = ns_error_set(error, -EPROTO,
                                         "Failed to %s: the API server %s answered with a redirect (HTTP %ld), which is "
                                         "never followed", what, e->server, st->http_code);
                else
                        r = ns_error_set(error, -EPROTO, "Failed to %s: unexpected answer from the API server %s: HTTP %ld %s",
                                         what, e->server, st->http_code, detail);
        }
        *ret_retryable = retry;
        return r;
}

/* ---- requests ---- */

typedef struct KubeResponse {
        long http_code;
        KubeBuffer body;
        uint64_t retry_after_usec;
} KubeResponse;

static void kube_response_done(KubeResponse *r) {
        kube_buffer_done(&r->body);
}

static size_t header_callback(char *buffer, size_t size, size_t nitems, void *userdata) {
        KubeResponse *resp = userdata;
        size_t n = size * nitems;
        char value[128];

        if (n > 12 && strncasecmp(buffer, "Retry-After:", 12) == 0) {
                size_t k = MIN(n - 12, sizeof(value) - 1);
                memcpy(value, buffer + 12, k);
                value[k] = '\0';
                resp->retry_after_usec = kube_parse_retry_after(value, now_usec(CLOCK_REALTIME));
        }
        return n;
}

static unsigned max_attempts(const RetryConfig *r) {
        return r->max_attempts > 0 ? r->max_attempts : KUBE_DEFAULT_ATTEMPTS;
}

/* One request with retries. Returns 0 with *ret filled on a 2xx; otherwise -errno and error. */
static int kube_request(KubeClient *c, const char *method, const char *url, const char *content_type,
                        const char *body, size_t body_size, const char *what, const char *verb, const char *secret,
                        KubeResponse *ret, NsError *error) {
        unsigned attempts = max_attempts(c->retry);
        bool reread_token = false;
        int r = -EIO;

        for (unsigned attempt = 0;; attempt++) {
                _cleanup_(kube_headers_freep) struct curl_slist *headers = NULL;
                _cleanup_(kube_response_done) KubeResponse resp = { .body.max = KUBE_BODY_SIZE_MAX };
                char errbuf[CURL_ERROR_SIZE] = "";
                NsError e = {};
                KubeStatus st = {};
                bool retryable = false;
                uint64_t delay;
                CURLcode cc;

                r = kube_client_refresh_token(c, false, &e);
                if (r < 0)
                        goto failed;

                curl_easy_reset(c->easy);
                r = kube_client_setup_easy(c, c->easy, url, false, &headers, &e);
                if (r < 0)
                        goto failed;
                if (content_type) {
                        char h[128];
                        struct curl_slist *n;
                        (void) snprintf(h, sizeof(h), "Content-Type: %s", content_type);
                        n = curl_slist_append(headers, h);
                        if (!n)
                                return -ENOMEM;
                        headers = n;
                        (void) curl_easy_setopt(c->easy, CURLOPT_HTTPHEADER, headers);
                }
                (void) curl_easy_setopt(c->easy, CURLOPT_CUSTOMREQUEST, method);
                if (body) {
                        (void) curl_easy_setopt(c->easy, CURLOPT_POSTFIELDS, body);
                        (void) curl_easy_setopt(c->easy, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t) body_size);
                }
                (void) curl_easy_setopt(c->easy, CURLOPT_WRITEFUNCTION, kube_buffer_curl_write);
                (void) curl_easy_setopt(c->easy, CURLOPT_WRITEDATA, &resp.body);
                (void) curl_easy_setopt(c->easy, CURLOPT_HEADERFUNCTION, header_callback);
                (void) curl_easy_setopt(c->easy, CURLOPT_HEADERDATA, &resp);
                (void) curl_easy_setopt(c->easy, CURLOPT_ERRORBUFFER, errbuf);

                cc = curl_easy_perform(c->easy);
                (void) curl_easy_getinfo(c->easy, CURLINFO_RESPONSE_CODE, &resp.http_code);
                /* Nothing of this request may outlive it in the handle: not the header list, not the body. */
                (void) curl_easy_setopt(c->easy, CURLOPT_HTTPHEADER, NULL);
                (void) curl_easy_setopt(c->easy, CURLOPT_POSTFIELDS, NULL);
                (void) curl_easy_setopt(c->easy, CURLOPT_ERRORBUFFER, NULL);
                if (cc == CURLE_WRITE_ERROR && resp.body.overflow)
                        cc = CURLE_FILESIZE_EXCEEDED;

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
                        /* A bound token may have rotated under us: read it again and retry at once. */
                        if (resp.http_code == 401 && c->endpoint.token_file && !reread_token) {
                                reread_token = true;
                                r = kube_client_refresh_token(c, true, &e);
                                if (r < 0)
                                        goto failed;
                                log_debug("API server said 401 for %s; token file re-read, retrying.", what);
                                attempt--;
                                continue;
                        }
                }
                r = kube_client_error(c, cc, errbuf, &st, what, verb, secret, &retryable, &e);
                if (!retryable || attempt + 1 >= attempts) {
                        if (retryable && attempts > 1)
                                (void) ns_error_prefix(&e, r, "Gave up after %u attempts", attempts);
                        goto failed;
                }

                delay = kube_backoff_usec(c->retry, attempt, kube_random01());
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

/* ---- Secrets ---- */

KubeSecret *kube_secret_free(KubeSecret *s) {
        if (!s)
                return NULL;
        cJSON_Delete(s->json);
        free(s);
        return NULL;
}

int kube_secret_parse(const char *json, size_t size, const char *name, KubeSecret **ret, NsError *error) {
        _cleanup_(kube_secret_freep) KubeSecret *s = NULL;
        const cJSON *kind, *meta, *x;

        s = calloc(1, sizeof(*s));
        if (!s)
                return -ENOMEM;
        s->json = cJSON_ParseWithLength(json, size);
        if (!s->json)
                return ns_error_set(error, -EBADMSG, "The API server's answer for Secret %s is not valid JSON", name);
        kind = cJSON_GetObjectItemCaseSensitive(s->json, "kind");
        if (!cJSON_IsObject(s->json) || (kind && (!cJSON_IsString(kind) || !streq(kind->valuestring, "Secret"))))
                return ns_error_set(error, -EBADMSG, "The API server's answer for Secret %s is not a Secret (kind %s)",
                                    name, cJSON_IsString(kind) ? kind->valuestring : "missing");
        meta = cJSON_GetObjectItemCaseSensitive(s->json, "metadata");
        x = cJSON_GetObjectItemCaseSensitive(meta, "name");
        if (!cJSON_IsString(x) || !streq(x->valuestring, name))
                return ns_error_set(error, -EBADMSG, "The API server's answer for Secret %s names another object", name);
        s->name = x->valuestring;
        x = cJSON_GetObjectItemCaseSensitive(meta, "resourceVersion");
        if (!cJSON_IsString(x) || isempty(x->valuestring))
                return ns_error_set(error, -EBADMSG, "The API server's answer for Secret %s has no resourceVersion", name);
        s->resource_version = x->valuestring;
        s->data = cJSON_GetObjectItemCaseSensitive(s->json, "data");
        if (s->data && !cJSON_IsObject(s->data) && !cJSON_IsNull(s->data))
                return ns_error_set(error, -EBADMSG, "The data of Secret %s is not an object", name);

        *ret = TAKE_PTR(s);
        return 0;
}

const char *kube_secret_name(const KubeSecret *s) {
        return s->name;
}

const char *kube_secret_resource_version(const KubeSecret *s) {
        return s->resource_version;
}

bool kube_secret_has_key(const KubeSecret *s, const char *key) {
        return cJSON_IsObject(s->data) && cJSON_GetObjectItemCaseSensitive(s->data, key);
}

int kube_secret_get(const KubeSecret *s, const char *key, SecretValue **ret, NsError *error) {
        const cJSON *v = cJSON_IsObject(s->data) ? cJSON_GetObjectItemCaseSensitive(s->data, key) : NULL;
        int r;

        if (!v)
                return ns_error_set(error, -ENOKEY, "Secret %s has no key \"%s\"", s->name, key);
        if (!cJSON_IsString(v))
                return ns_error_set(error, -EBADMSG, "Key \"%s\" of Secret %s is not a string", key, s->name);
        r = kube_base64_decode(v->valuestring, strlen(v->valuestring), ret);
        if (r == -EBADMSG)
                return ns_error_set(error, r, "Key \"%s\" of Secret %s is not valid base64", key, s->name);
        if (r < 0)
                return ns_error_set(error, r, "Key \"%s\" of Secret %s: %s", key, s->name, strerror(-r));
        return 0;
}

int kube_secret_list_parse(const char *json, size_t size, const char *name, char **ret_list_rv, char **ret_object_rv,
                           NsError *error) {
        _cleanup_(cJSON_Deletep) cJSON *j = NULL;
        _cleanup_free_ char *list_rv = NULL, *object_rv = NULL;
        const cJSON *kind, *rv, *items, *item;

        j = cJSON_ParseWithLength(json, size);
        if (!j)
                return ns_error_set(error, -EBADMSG, "The API server's list of Secret %s is not valid JSON", name);
        kind = cJSON_GetObjectItemCaseSensitive(j, "kind");
        rv = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(j, "metadata"), "resourceVersion");
        items = cJSON_GetObjectItemCaseSensitive(j, "items");
        if (!cJSON_IsString(kind) || !streq(kind->valuestring, "SecretList") || !cJSON_IsString(rv) ||
            isempty(rv->valuestring) || !(cJSON_IsArray(items) || cJSON_IsNull(items)))
                return ns_error_set(error, -EBADMSG, "The API server's list of Secret %s is not a SecretList with a "
                                    "resourceVersion", name);
        list_rv = strdup(rv->valuestring);
        if (!list_rv)
                return -ENOMEM;
        cJSON_ArrayForEach(item, items) {
                const cJSON *meta = cJSON_GetObjectItemCaseSensitive(item, "metadata");
                const cJSON *n = cJSON_GetObjectItemCaseSensitive(meta, "name");
                const cJSON *orv = cJSON_GetObjectItemCaseSensitive(meta, "resourceVersion");

                if (!cJSON_IsString(n) || !streq(n->valuestring, name))
                        continue;
                if (!cJSON_IsString(orv) || isempty(orv->valuestring))
                        return ns_error_set(error, -EBADMSG, "Secret %s in the API server's list has no resourceVersion",
                                            name);
                free(object_rv);
                object_rv = strdup(orv->valuestring);
                if (!object_rv)
                        return -ENOMEM;
        }
        *ret_list_rv = TAKE_PTR(list_rv);
        *ret_object_rv = TAKE_PTR(object_rv);
        return 0;
}

int kube_client_get_secret(KubeClient *c, const char *name, KubeSecret **ret, NsError *error) {
        _cleanup_(kube_response_done) KubeResponse resp = {};
        _cleanup_free_ char *url = NULL;
        char what[512];
        int r;

        r = kube_secret_url(c->endpoint.server, c->endpoint.namespace, name, &url);
        if (r < 0)
                return r;
        (void) snprintf(what, sizeof(what), "read Secret %s/%s", c->endpoint.namespace, name);
        r = kube_request(c, "GET", url, NULL, NULL, 0, what, "get", name, &resp, error);
        if (r < 0)
                return r;
        r = kube_secret_parse(resp.body.data ?: "", resp.body.size, name, ret, error);
        if (r < 0)
                return ns_error_prefix(error, r, "API server %s", c->endpoint.server);
        return 0;
}

static int secret_body(const char *ns, const char *name, const char *rv, const char *key, const SecretValue *value,
                       char **ret) {
        _cleanup_(secret_value_freep) SecretValue *b64 = NULL;
        _cleanup_(cJSON_Deletep) cJSON *j = NULL;
        cJSON *meta, *data, *labels;
        char *s;
        int r;

        r = kube_base64_encode(value->data, value->size, &b64);
        if (r < 0)
                return r;

        j = cJSON_CreateObject();
        if (!j)
                return -ENOMEM;
        meta = cJSON_AddObjectToObject(j, "metadata");
        if (!meta)
                return -ENOMEM;
        if (rv) {
                /* A merge patch carrying metadata.resourceVersion is refused with 409 Conflict when
                 * the Secret changed since we read it: the write is guarded. */
                if (!cJSON_AddStringToObject(meta, "resourceVersion", rv))
                        return -ENOMEM;
        } else {
                if (!cJSON_AddStringToObject(j, "apiVersion", "v1") || !cJSON_AddStringToObject(j, "kind", "Secret") ||
                    !cJSON_AddStringToObject(meta, "name", name) || !cJSON_AddStringToObject(meta, "namespace", ns) ||
                    !(labels = cJSON_AddObjectToObject(meta, "labels")) ||
                    !cJSON_AddStringToObject(labels, "app.kubernetes.io/managed-by", "nodeseal") ||
                    !cJSON_AddStringToObject(j, "type", "Opaque"))
                        return -ENOMEM;
        }
        data = cJSON_AddObjectToObject(j, "data");
        if (!data || !cJSON_AddStringToObject(data, key, (const char *) b64->data))
                return -ENOMEM;

        s = cJSON_PrintUnformatted(j);
        if (!s)
                return -ENOMEM;
        *ret = s;
        return 0;
}

static void cjson_freep(char **p) {
        /* Allocated through the wiping hooks: cJSON_free() wipes. */
        if (*p)
                cJSON_free(*p);
}

int kube_client_create_secret(KubeClient *c, const char *name, const char *key, const SecretValue *value,
                              NsError *error) {
        _cleanup_(kube_response_done) KubeResponse resp = {};
        _cleanup_(cjson_freep) char *body = NULL;
        _cleanup_free_ char *url = NULL;
        char what[512];
        int r;

        r = kube_secret_url(c->endpoint.server, c->endpoint.namespace, NULL, &url);
        if (r < 0)
                return r;
        r = secret_body(c->endpoint.namespace, name, NULL, key, value, &body);
        if (r < 0)
                return r;
        (void) snprintf(what, sizeof(what), "create Secret %s/%s", c->endpoint.namespace, name);
        return kube_request(c, "POST", url, "application/json", body, strlen(body), what, "create", name, &resp, error);
}

int kube_client_add_secret_key(KubeClient *c, const char *name, const char *resource_version, const char *key,
                               const SecretValue *value, NsError *error) {
        _cleanup_(kube_response_done) KubeResponse resp = {};
        _cleanup_(cjson_freep) char *body = NULL;
        _cleanup_free_ char *url = NULL;
        char what[512];
        int r;

        r = kube_secret_url(c->endpoint.server, c->endpoint.namespace, name, &url);
        if (r < 0)
                return r;
        r = secret_body(c->endpoint.namespace, name, resource_version, key, value, &body);
        if (r < 0)
                return r;
        (void) snprintf(what, sizeof(what), "add key \"%s\" to Secret %s/%s", key, c->endpoint.namespace, name);
        return kube_request(c, "PATCH", url, "application/merge-patch+json", body, strlen(body), what, "patch", name,
                            &resp, error);
}
