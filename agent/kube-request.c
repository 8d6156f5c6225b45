/* SPDX-License-Identifier: Apache-2.0 */
/* One request to the Kubernetes API: what it asks, where, and what came back. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "kube-request.h"
#include "kube-status.h"
#include "macro.h"
#include "time-util.h"

void kube_response_done(KubeResponse *r) {
        kube_buffer_done(&r->body);
}

bool kube_header_retry_after(const char *line, size_t n, uint64_t *ret_usec) {
        char value[128];
        size_t k;

        if (n <= 12 || strncasecmp(line, "Retry-After:", 12) != 0)
                return false;
        k = MIN(n - 12, sizeof(value) - 1);
        memcpy(value, line + 12, k);
        value[k] = '\0';
        *ret_usec = kube_parse_retry_after(value, now_usec(CLOCK_REALTIME));
        return true;
}

static size_t header_callback(char *buffer, size_t size, size_t nitems, void *userdata) {
        KubeResponse *resp = userdata;
        size_t n = size * nitems;

        (void) kube_header_retry_after(buffer, n, &resp->retry_after_usec);
        return n;
}

int kube_request_apply(const KubeRequest *req, CURL *easy, struct curl_slist **headers, KubeResponse *resp) {
        if (req->content_type) {
                char h[128];
                struct curl_slist *n;

                (void) snprintf(h, sizeof(h), "Content-Type: %s", req->content_type);
                n = curl_slist_append(*headers, h);
                if (!n)
                        return -ENOMEM;
                *headers = n;
                (void) curl_easy_setopt(easy, CURLOPT_HTTPHEADER, *headers);
        }
        (void) curl_easy_setopt(easy, CURLOPT_CUSTOMREQUEST, req->method);
        if (req->body) {
                (void) curl_easy_setopt(easy, CURLOPT_POSTFIELDS, req->body);
                (void) curl_easy_setopt(easy, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t) req->body_size);
        }
        (void) curl_easy_setopt(easy, CURLOPT_WRITEFUNCTION, kube_buffer_curl_write);
        (void) curl_easy_setopt(easy, CURLOPT_WRITEDATA, &resp->body);
        (void) curl_easy_setopt(easy, CURLOPT_HEADERFUNCTION, header_callback);
        (void) curl_easy_setopt(easy, CURLOPT_HEADERDATA, resp);
        return 0;
}

void kube_request_clear(CURL *easy) {
        (void) curl_easy_setopt(easy, CURLOPT_HTTPHEADER, NULL);
        (void) curl_easy_setopt(easy, CURLOPT_POSTFIELDS, NULL);
        (void) curl_easy_setopt(easy, CURLOPT_ERRORBUFFER, NULL);
}

void kube_headers_free(struct curl_slist *l) {
        for (struct curl_slist *i = l; i; i = i->next)
                if (i->data)
                        explicit_bzero(i->data, strlen(i->data));
        curl_slist_free_all(l);
}

void kube_headers_freep(struct curl_slist **l) {
        kube_headers_free(*l);
}

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
