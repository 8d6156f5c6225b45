/* SPDX-License-Identifier: Apache-2.0 */
/* The "kubernetes" secret source: Secrets read, created and watched through the API server. */
#include <time.h>

#include "kube-client.h"
#include "kube-watch.h"
#include "log.h"
#include "secret.h"
#include "time-util.h"

/* Reads of several keys of one Secret within this window use one GET: fewer requests, and the
 * CA's tls.crt and tls.key come from the same version of the Secret. A watch event for the
 * Secret drops the cached copy at once. */
#define CACHE_USEC (1 * USEC_PER_SEC)
/* Read-modify-write rounds of put_if_missing before giving up on a busy Secret. */
#define PUT_ROUNDS 10

typedef SecretVersion SeenSecret;   /* resource_version NULL: it did not exist */

typedef struct KubernetesSource {
        SecretSource source;
        KubeClient *client;

        KubeSecret *cached;
        uint64_t cached_usec;

        /* What get() last saw of each Secret, so that a watch starts from exactly there. */
        SeenSecret *seen;
        size_t n_seen;

        KubeWatch *watch;
        SecretChangedHandler handler;
        void *userdata;
} KubernetesSource;

static KubernetesSource *KSOURCE(SecretSource *s) {
        return (KubernetesSource *) s;
}

/* The client is made on first use, where an NsError can say what is wrong with the endpoint. */
static int ensure_client(KubernetesSource *k, NsError *error) {
        if (k->client)
                return 0;
        return kube_client_new(&k->source.config->secrets.kubernetes, &k->source.config->retry, &k->client, error);
}

static void drop_cache(KubernetesSource *k) {
        k->cached = kube_secret_free(k->cached);
}

static void remember(KubernetesSource *k, const char *name, const char *rv) {
        SeenSecret *e = NULL, *a;
        char *v = NULL;

        for (size_t i = 0; i < k->n_seen; i++)
                if (streq(k->seen[i].name, name))
                        e = k->seen + i;
        if (!e) {
                char *n = strdup(name);
                a = n ? reallocarray(k->seen, k->n_seen + 1, sizeof(*a)) : NULL;
                if (!a) {
                        free(n);
                        return;   /* only an optimisation: the watch then reads the Secret itself */
                }
                k->seen = a;
                e = k->seen + k->n_seen++;
                *e = (SeenSecret) { .name = n };
        }
        if (rv && !(v = strdup(rv)))
                return;
        free(e->resource_version);
        e->resource_version = v;
}

static int fetch(KubernetesSource *k, const char *secret, bool use_cache, KubeSecret **ret, NsError *error) {
        KubeSecret *s = NULL;
        int r;

        r = ensure_client(k, error);
        if (r < 0)
                return r;
        if (use_cache && k->cached && streq(kube_secret_name(k->cached), secret) &&
            now_usec(CLOCK_MONOTONIC) - k->cached_usec < CACHE_USEC) {
                *ret = k->cached;
                return 0;
        }
        drop_cache(k);

        r = kube_client_get_secret(k->client, secret, &s, error);
        if (r == -ENOENT)
                remember(k, secret, NULL);
        if (r < 0)
                return r;
        remember(k, secret, kube_secret_resource_version(s));
        k->cached = s;
        k->cached_usec = now_usec(CLOCK_MONOTONIC);
        *ret = s;
        return 0;
}

static int kubernetes_get(SecretSource *s, const char *secret, const char *key, SecretValue **ret, NsError *error) {
        KubernetesSource *k = KSOURCE(s);
        KubeSecret *obj;
        int r;

        r = fetch(k, secret, true, &obj, error);
        if (r < 0)
                return r;
        r = kube_secret_get(obj, key, ret, error);
        if (r == -ENOKEY)
                return ns_error_reset(error, r, "Secret %s in namespace %s has no key \"%s\"", secret,
                                      kube_client_endpoint(k->client)->namespace, key);
        if (r >= 0 && (*ret)->size > KUBE_SECRET_SIZE_MAX) {
                *ret = secret_value_free(*ret);
                return ns_error_set(error, -EFBIG, "Key \"%s\" of Secret %s is larger than %d bytes", key, secret,
                                    KUBE_SECRET_SIZE_MAX);
        }
        return r;
}

static bool kubernetes_generates_keys(SecretSource *s) {
        return s->config->secrets.kubernetes.generate_missing_keys;
}

static int kubernetes_put_if_missing(SecretSource *s, const char *secret, const char *key, const SecretValue *value,
                                     SecretValue **ret_stored, NsError *error) {
        KubernetesSource *k = KSOURCE(s);
        int r;

        if (!s->storing_record && !kubernetes_generates_keys(s))
                return ns_error_set(error, -EPERM,
                                    "Key \"%s\" of Secret %s is missing and secrets.kubernetes.generate_missing_keys is off",
                                    key, secret);
        r = ensure_client(k, error);
        if (r < 0)
                return r;

        for (unsigned round = 0;; round++) {
                KubeSecret *obj = NULL;
                NsError e = {};

                if (round >= PUT_ROUNDS)
                        return ns_error_set(error, -EBUSY,
                                            "Gave up adding key \"%s\" to Secret %s: it kept changing under us (%u rounds)",
                                            key, secret, PUT_ROUNDS);

                r = fetch(k, secret, false, &obj, &e);
                if (r == -ENOENT) {
                        /* The "not found" that led here is no longer the news: the create's own
                         * failure (403, a missing namespace) must be what is reported. */
                        e = (NsError) {};
                        r = kube_client_create_secret(k->client, secret, key, value, &e);
                        if (r == -EEXIST) {
                                log_debug("Secret %s was created by someone else meanwhile; reading it again.", secret);
                                continue;
                        }
                } else if (r >= 0) {
                        if (kube_secret_has_key(obj, key))
                                /* Someone (another node, an operator) was first: use what is there. */
                                return kubernetes_get(s, secret, key, ret_stored, error);
                        r = kube_client_add_secret_key(k->client, secret, kube_secret_resource_version(obj), key, value,
                                                       &e);
                        if (r == -ESTALE || r == -ENOENT) {
                                log_debug("Secret %s changed while adding key \"%s\"; reading it again.", secret, key);
                                continue;
                        }
                }
                if (r < 0) {
                        if (error && !ns_error_is_set(error))
                                *error = e;
                        return r;
                }
                break;
        }

        /* Read back what is stored: that, not what we sent, is what the caller may use. */
        drop_cache(k);
        return kubernetes_get(s, secret, key, ret_stored, error);
}

static int kubernetes_remove_key_if(SecretSource *s, const char *secret, const char *key, const SecretValue *expected,
                                    NsError *error) {
        KubernetesSource *k = KSOURCE(s);
        int r;

        for (unsigned round = 0;; round++) {
                _cleanup_(secret_value_freep) SecretValue *now = NULL;
                KubeSecret *obj = NULL;
                NsError e = {};

                if (round >= PUT_ROUNDS)
                        return ns_error_set(error, -EBUSY,
                                            "Gave up removing key \"%s\" from Secret %s: it kept changing under us (%u rounds)",
                                            key, secret, PUT_ROUNDS);
                r = fetch(k, secret, false, &obj, error);
                if (r < 0)
                        return r;
                r = kube_secret_get(obj, key, &now, &e);
                if (r == -ENOKEY)
                        return ns_error_set(error, r, "Secret %s has no key \"%s\" any more", secret, key);
                if (r < 0) {
                        if (error)
                                *error = e;
                        return r;
                }
                if (!secret_value_equal(now, expected))
                        return ns_error_set(error, -ESTALE, "Key \"%s\" of Secret %s changed; it is left as it is", key,
                                            secret);
                /* Guarded by the resourceVersion of what was compared: a change in between is a 409. */
                r = kube_client_remove_secret_key(k->client, secret, kube_secret_resource_version(obj), key, &e);
                drop_cache(k);
                if (r == -ESTALE)
                        continue;
                if (r < 0) {
                        if (error)
                                *error = e;
                        return r;
                }
                return 0;
        }
}

static void kubernetes_invalidate(SecretSource *s) {
        drop_cache(KSOURCE(s));
}

static int on_watch_change(KubeWatch *w, const char *name, void *userdata) {
        KubernetesSource *k = userdata;

        if (k->cached && streq(kube_secret_name(k->cached), name))
                drop_cache(k);
        return k->handler ? k->handler(&k->source, name, k->userdata) : 0;
}

static int kubernetes_watch(SecretSource *s, sd_event *event, char * const *secrets, SecretChangedHandler handler,
                            void *userdata, NsError *error) {
        KubernetesSource *k = KSOURCE(s);
        int r;

        r = ensure_client(k, error);
        if (r < 0)
                return r;
        if (k->watch && (k->handler != handler || k->userdata != userdata))
                return ns_error_set(error, -EBUSY, "The kubernetes secret source is already watching for another handler");
        if (!k->watch) {
                r = kube_watch_new(k->client, event, on_watch_change, k, &k->watch);
                if (r < 0)
                        return ns_error_set(error, r, "Failed to set up the watch of Secrets: %s", strerror(-r));
                k->handler = handler;
                k->userdata = userdata;
        }

        for (char * const *name = secrets; name && *name; name++) {
                KubeWatchStart start = KUBE_WATCH_START_UNKNOWN;
                const char *rv = NULL;

                if (!secret_name_is_valid(*name))
                        return ns_error_set(error, -EINVAL, "Invalid Secret name \"%s\"", *name);
                for (size_t i = 0; i < k->n_seen; i++)
                        if (streq(k->seen[i].name, *name)) {
                                rv = k->seen[i].resource_version;
                                start = rv ? KUBE_WATCH_START_AT_VERSION : KUBE_WATCH_START_ABSENT;
                        }
                r = kube_watch_add(k->watch, *name, start, rv);
                if (r < 0)
                        return ns_error_set(error, r, "Failed to watch Secret %s: %s", *name, strerror(-r));
                log_debug("Watching Secret %s from %s.", *name,
                          start == KUBE_WATCH_START_AT_VERSION ? rv :
                          start == KUBE_WATCH_START_ABSENT ? "now (it did not exist)" : "a fresh read");
        }
        return 0;
}

static void kubernetes_done(SecretSource *s) {
        KubernetesSource *k = KSOURCE(s);

        k->watch = kube_watch_free(k->watch);
        drop_cache(k);
        for (size_t i = 0; i < k->n_seen; i++) {
                free(k->seen[i].name);
                free(k->seen[i].resource_version);
        }
        free(k->seen);
        k->client = kube_client_free(k->client);
}

static void kubernetes_versions(SecretSource *s, const SecretVersion **ret, size_t *ret_n) {
        *ret = KSOURCE(s)->seen;
        *ret_n = KSOURCE(s)->n_seen;
}

static void kubernetes_remember(SecretSource *s, const char *secret, const char *resource_version) {
        remember(KSOURCE(s), secret, resource_version);
}

const SecretSourceVTable secret_source_kubernetes_vtable = {
        .type = SECRET_SOURCE_KUBERNETES,
        .object_size = sizeof(KubernetesSource),
        .done = kubernetes_done,
        .get = kubernetes_get,
        .put_if_missing = kubernetes_put_if_missing,
        .remove_key_if = kubernetes_remove_key_if,
        .generates_keys = kubernetes_generates_keys,
        .invalidate = kubernetes_invalidate,
        .watch = kubernetes_watch,
        .versions = kubernetes_versions,
        .remember = kubernetes_remember,
};

int secret_source_kubernetes_watch_state(SecretSource *s, const char *name, unsigned *ret_requests, bool *ret_streaming,
                                         NsError *ret_last_error) {
        if (s->vtable != &secret_source_kubernetes_vtable || !KSOURCE(s)->watch)
                return -EOPNOTSUPP;
        return kube_watch_get_state(KSOURCE(s)->watch, name, ret_requests, ret_streaming, ret_last_error);
}
