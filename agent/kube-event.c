/* SPDX-License-Identifier: Apache-2.0 */
/* Kubernetes Events, the kubelet's way (client-go's EventCorrelator): one Event per reason and
 * message, its count raised with a PATCH when it happens again, not one Event per retry. Posted by
 * the worker, so the daemon's loop never waits for the API; state between workers in a small file. */
#include <stdio.h>
#include <sys/stat.h>

#include "json-util.h"
#include "kube-client.h"
#include "kube-event.h"
#include "log.h"
#include "secure.h"
#include "string-table.h"
#include "time-util.h"

#define EVENTS_FILE "events.json"
#define EVENTS_KEPT 32
#define EVENTS_FILE_MAX (256 * 1024)

DEFINE_STRING_TABLE_TO_STRING(kube_event_reason, KubeEventReason, KUBE_EVENT_REASON,
                              [KUBE_EVENT_DEVICE_REFUSED] = "DeviceRefused",
                              [KUBE_EVENT_WRONG_KEY] = "WrongKey",
                              [KUBE_EVENT_CA_INVALID] = "CAInvalid",
                              [KUBE_EVENT_CERTIFICATE_NOT_RENEWED] = "CertificateNotRenewed",
                              [KUBE_EVENT_HOOK_FAILING] = "ReloadHookFailing");

int kube_event_target_from_env(const char *node, KubeEventTarget *ret) {
        const char *pod = getenv("POD_NAME"), *ns = getenv("POD_NAMESPACE"), *uid = getenv("POD_UID");

        if (isempty(pod) || isempty(ns))
                return -ENXIO;
        *ret = (KubeEventTarget) { .pod = pod, .namespace = ns, .uid = isempty(uid) ? NULL : uid, .node = node };
        return 0;
}

KubeEventReason kube_event_reason_for(int code, const char *error) {
        if (!error)
                return _KUBE_EVENT_REASON_INVALID;
        if (strneq(error, "Volume ", 7)) {
                if (code == -EUCLEAN)
                        return KUBE_EVENT_DEVICE_REFUSED;
                if (code == -EKEYREJECTED)
                        return KUBE_EVENT_WRONG_KEY;
        }
        /* The CA Secret was read, and what it holds will not do (a missing Secret is -ENOENT). */
        if (strneq(error, "CA ", 3) &&
            (code == -EKEYREJECTED || code == -EKEYEXPIRED || code == -EBADMSG || code == -EINVAL))
                return KUBE_EVENT_CA_INVALID;
        return _KUBE_EVENT_REASON_INVALID;
}

static cJSON *object_ref(cJSON *parent, const char *field, const char *kind, const char *name, const char *ns,
                         const char *uid) {
        cJSON *o = cJSON_AddObjectToObject(parent, field);

        if (!o || !cJSON_AddStringToObject(o, "apiVersion", "v1") || !cJSON_AddStringToObject(o, "kind", kind) ||
            !cJSON_AddStringToObject(o, "name", name) || (ns && !cJSON_AddStringToObject(o, "namespace", ns)) ||
            (uid && !cJSON_AddStringToObject(o, "uid", uid)))
                return NULL;
        return o;
}

static char *print(cJSON *root) {
        return cJSON_PrintUnformatted(root);
}

int kube_event_create_body(const KubeEventTarget *t, const char *name, KubeEventReason reason, const char *message,
                           unsigned count, uint64_t first_usec, uint64_t now_usec, char **ret) {
        _cleanup_(cJSON_Deletep) cJSON *root = cJSON_CreateObject();
        char first[ISO8601_TIME_MAX], last[ISO8601_TIME_MAX];
        cJSON *meta, *source;
        char *text;

        (void) format_iso8601_usec(first_usec, false, first, sizeof(first));
        (void) format_iso8601_usec(now_usec, false, last, sizeof(last));
        if (!root || !cJSON_AddStringToObject(root, "apiVersion", "v1") ||
            !cJSON_AddStringToObject(root, "kind", "Event") || !(meta = cJSON_AddObjectToObject(root, "metadata")) ||
            !cJSON_AddStringToObject(meta, "name", name) || !cJSON_AddStringToObject(meta, "namespace", t->namespace) ||
            !object_ref(root, "involvedObject", "Pod", t->pod, t->namespace, t->uid) ||
            (t->node && !object_ref(root, "related", "Node", t->node, NULL, NULL)) ||
            !cJSON_AddStringToObject(root, "reason", kube_event_reason_to_string(reason)) ||
            !cJSON_AddStringToObject(root, "message", message) || !cJSON_AddStringToObject(root, "type", "Warning") ||
            !(source = cJSON_AddObjectToObject(root, "source")) ||
            !cJSON_AddStringToObject(source, "component", "nodeseal") ||
            (t->node && !cJSON_AddStringToObject(source, "host", t->node)) ||
            !cJSON_AddStringToObject(root, "firstTimestamp", first) || !cJSON_AddStringToObject(root, "lastTimestamp", last) ||
            !cJSON_AddNumberToObject(root, "count", count) ||
            !cJSON_AddStringToObject(root, "reportingComponent", "nodeseal") ||
            !cJSON_AddStringToObject(root, "reportingInstance", t->node ?: t->pod))
                return -ENOMEM;
        text = print(root);
        if (!text)
                return -ENOMEM;
        *ret = text;
        return 0;
}

int kube_event_patch_body(unsigned count, uint64_t now_usec, char **ret) {
        _cleanup_(cJSON_Deletep) cJSON *root = cJSON_CreateObject();
        char last[ISO8601_TIME_MAX];
        char *text;

        (void) format_iso8601_usec(now_usec, false, last, sizeof(last));
        if (!root || !cJSON_AddNumberToObject(root, "count", count) ||
            !cJSON_AddStringToObject(root, "lastTimestamp", last))
                return -ENOMEM;
        text = print(root);
        if (!text)
                return -ENOMEM;
        *ret = text;
        return 0;
}

/* ---- what was posted before: runtime_dir/events.json ---- */

typedef struct Posted {
        cJSON *root;            /* {"forbidden_logged": bool, "events": [{"key", "name", "count", "first"}]} */
        char *path;
} Posted;

static void posted_done(Posted *p) {
        cJSON_Delete(p->root);
        free(p->path);
}

static int posted_load(const Config *c, Posted *ret) {
        _cleanup_free_ char *path = NULL, *text = NULL;
        cJSON *root = NULL;

        if (asprintf(&path, "%s/%s", c->runtime_dir, EVENTS_FILE) < 0)
                return -ENOMEM;
        /* Missing or damaged: start afresh (at worst one Event more). */
        if (read_full_file(path, EVENTS_FILE_MAX, &text, NULL) >= 0)
                root = cJSON_Parse(text);
        if (!cJSON_IsObject(root)) {
                cJSON_Delete(root);
                root = cJSON_CreateObject();
        }
        if (!root)
                return -ENOMEM;
        if (!cJSON_IsArray(cJSON_GetObjectItemCaseSensitive(root, "events"))) {
                cJSON_DeleteItemFromObjectCaseSensitive(root, "events");
                if (!cJSON_AddArrayToObject(root, "events")) {
                        cJSON_Delete(root);
                        return -ENOMEM;
                }
        }
        *ret = (Posted) { .root = root, .path = TAKE_PTR(path) };
        return 0;
}

static int posted_save(const Posted *p) {
        _cleanup_free_ char *text = cJSON_PrintUnformatted(p->root);
        if (!text)
                return -ENOMEM;
        return write_file_atomic(p->path, text, strlen(text), 0600, (uid_t) -1, (gid_t) -1);
}

static cJSON *posted_find(const Posted *p, const char *key) {
        cJSON *e;

        cJSON_ArrayForEach(e, cJSON_GetObjectItemCaseSensitive(p->root, "events")) {
                const cJSON *k = cJSON_GetObjectItemCaseSensitive(e, "key");
                if (cJSON_IsString(k) && streq(k->valuestring, key))
                        return e;
        }
        return NULL;
}

static int posted_set(Posted *p, const char *key, const char *name, unsigned count, uint64_t first_usec) {
        cJSON *events = cJSON_GetObjectItemCaseSensitive(p->root, "events"), *e;
        char first[32];

        e = posted_find(p, key);
        if (e)
                cJSON_Delete(cJSON_DetachItemViaPointer(events, e));
        while (cJSON_GetArraySize(events) >= EVENTS_KEPT)
                cJSON_DeleteItemFromArray(events, 0);
        (void) snprintf(first, sizeof(first), "%llu", (unsigned long long) first_usec);
        e = cJSON_CreateObject();
        if (!e || !cJSON_AddItemToArray(events, e))
                return cJSON_Delete(e), -ENOMEM;
        if (!cJSON_AddStringToObject(e, "key", key) || !cJSON_AddStringToObject(e, "name", name) ||
            !cJSON_AddNumberToObject(e, "count", count) || !cJSON_AddStringToObject(e, "first", first))
                return -ENOMEM;
        return 0;
}

/* ---- posting ---- */

static int event_request(KubeClient *kc, const char *method, const char *url, const char *ctype, const char *body,
                         const char *verb, NsError *error) {
        _cleanup_(kube_response_done) KubeResponse resp = {};
        int r;

        r = kube_client_request(kc, &(KubeRequest) { .method = method, .url = url, .content_type = ctype,
                                                     .body = body, .body_size = strlen(body),
                                                     .what = verb[0] == 'c' ? "create an Event" : "update an Event",
                                                     .verb = verb },
                                &resp, error);
        return r;
}

static int events_url(const Config *c, const KubeClient *kc, const KubeEventTarget *t, const char *name, char **ret) {
        _cleanup_free_ char *ens = NULL, *ename = NULL;

        if (kube_url_escape(t->namespace, &ens) < 0 || (name && kube_url_escape(name, &ename) < 0))
                return -ENOMEM;
        if (asprintf(ret, "%s/api/v1/namespaces/%s/events%s%s", kube_client_endpoint(kc)->server, ens,
                     name ? "/" : "", strempty(ename)) < 0)
                return -ENOMEM;
        return 0;
}

/* PATCH the one posted before (count + 1); -ENOENT when it is gone (Events expire after an hour). */
static int post_again(const Config *c, KubeClient *kc, const KubeEventTarget *t, const char *name, unsigned count,
                      uint64_t now, NsError *error) {
        _cleanup_free_ char *url = NULL, *body = NULL;

        if (events_url(c, kc, t, name, &url) < 0 || kube_event_patch_body(count, now, &body) < 0)
                return -ENOMEM;
        return event_request(kc, "PATCH", url, "application/strategic-merge-patch+json", body, "patch", error);
}

static int post_new(const Config *c, KubeClient *kc, const KubeEventTarget *t, const char *name,
                    KubeEventReason reason, const char *message, uint64_t now, NsError *error) {
        _cleanup_free_ char *url = NULL, *body = NULL;

        if (events_url(c, kc, t, NULL, &url) < 0 || kube_event_create_body(t, name, reason, message, 1, now, now, &body) < 0)
                return -ENOMEM;
        return event_request(kc, "POST", url, "application/json", body, "create", error);
}

/* A 403 is logged once (the flag stays in the file), then only at debug level. */
static void note_forbidden(Posted *p, int r, const NsError *e) {
        const cJSON *logged = cJSON_GetObjectItemCaseSensitive(p->root, "forbidden_logged");

        if (cJSON_IsTrue(logged)) {
                log_debug("Not allowed to post Events: %s", ns_error_message(e, r));
                return;
        }
        log_warning("Not allowed to post Events (grant create and patch on events, see deploy/kubernetes/rbac.yaml); "
                    "carrying on without them: %s", ns_error_message(e, r));
        cJSON_DeleteItemFromObjectCaseSensitive(p->root, "forbidden_logged");
        (void) cJSON_AddTrueToObject(p->root, "forbidden_logged");
}

int kube_event_record(const Config *c, const KubeEventTarget *t, KubeEventReason reason, const char *message,
                      NsError *error) {
        RetryConfig once = { .max_attempts = 1 };   /* an Event is not worth a retry: the next attempt posts */
        _cleanup_(kube_client_freep) KubeClient *kc = NULL;
        _cleanup_free_ char *key = NULL, *name = NULL;
        _cleanup_(posted_done) Posted p = {};
        uint64_t now = now_usec(CLOCK_REALTIME), first = now;
        unsigned count = 1;
        const cJSON *e;
        int r;

        r = posted_load(c, &p);
        if (r < 0)
                return r;
        r = kube_client_new(&c->secrets.kubernetes, &once, &kc, error);
        if (r < 0)
                return r;
        if (asprintf(&key, "%s|%s", kube_event_reason_to_string(reason), message) < 0)
                return -ENOMEM;

        e = posted_find(&p, key);
        if (e) {
                const cJSON *n = cJSON_GetObjectItemCaseSensitive(e, "name"),
                            *k = cJSON_GetObjectItemCaseSensitive(e, "count"),
                            *f = cJSON_GetObjectItemCaseSensitive(e, "first");
                if (cJSON_IsString(n) && cJSON_IsNumber(k) && k->valuedouble >= 1 && k->valuedouble < 1e9 &&
                    cJSON_IsString(f)) {
                        count = (unsigned) k->valuedouble + 1;
                        first = strtoull(f->valuestring, NULL, 10);
                        name = strdup(n->valuestring);
                        if (!name)
                                return -ENOMEM;
                        r = post_again(c, kc, t, name, count, now, error);
                        if (r == -ENOENT) {
                                if (error)
                                        *error = NS_ERROR_NULL;
                                free(TAKE_PTR(name));
                                count = 1;
                                first = now;
                        }
                }
        }
        if (!name) {
                /* The kubelet's naming: the object's name and the time in hex. */
                if (asprintf(&name, "%s.%llx", t->pod, (unsigned long long) now * 1000) < 0)
                        return -ENOMEM;
                r = post_new(c, kc, t, name, reason, message, now, error);
        }
        if (r == -EPERM)
                note_forbidden(&p, r, error);
        else if (r >= 0 && posted_set(&p, key, name, count, first) < 0)
                return -ENOMEM;
        (void) posted_save(&p);
        return r;
}
