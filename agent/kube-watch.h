/* SPDX-License-Identifier: Apache-2.0 */
/* Watches of single Secrets on an sd-event loop, through the curl multi interface. */
#pragma once

#include <systemd/sd-event.h>

#include "kube-client.h"

typedef struct KubeWatch KubeWatch;

/* Called from the event loop (never from inside a curl callback) when the named Secret was added,
 * modified or deleted, or may have changed while the watch could not follow (after 410 Gone the
 * Secret is read again and the handler is called only if its resourceVersion moved). */
typedef int (*KubeWatchHandler)(KubeWatch *w, const char *name, void *userdata);

/* What is already known of a Secret when its watch starts: the caller read it (at that
 * resourceVersion), found it missing, or knows nothing (the watch reads it first). */
typedef enum KubeWatchStart {
        KUBE_WATCH_START_UNKNOWN,
        KUBE_WATCH_START_AT_VERSION,
        KUBE_WATCH_START_ABSENT,
        _KUBE_WATCH_START_MAX,
        _KUBE_WATCH_START_INVALID = -EINVAL,
} KubeWatchStart;

/* One event of a watch stream, parsed (pure; the fuzzer's entry point). */
typedef enum KubeWatchEventType {
        KUBE_WATCH_EVENT_ADDED,
        KUBE_WATCH_EVENT_MODIFIED,
        KUBE_WATCH_EVENT_DELETED,
        KUBE_WATCH_EVENT_BOOKMARK,
        KUBE_WATCH_EVENT_ERROR,
        _KUBE_WATCH_EVENT_MAX,
        _KUBE_WATCH_EVENT_INVALID = -EINVAL,
} KubeWatchEventType;

typedef struct KubeWatchEvent {
        KubeWatchEventType type;
        char *name;               /* metadata.name, NULL if absent */
        char *resource_version;   /* metadata.resourceVersion; NULL for ERROR */
        KubeStatus status;        /* ERROR: the Status object */
} KubeWatchEvent;

/* -EBADMSG: not JSON or no type/object; -EPROTONOSUPPORT: an unknown type; -ENODATA: an object
 * event without resourceVersion. */
int kube_watch_event_parse(const char *line, size_t n, KubeWatchEvent *ret);
void kube_watch_event_done(KubeWatchEvent *ev);

/* The framing of a watch stream: one event a line. kube_watch_stream_feed() appends a chunk (as
 * curl hands it over, cut anywhere) to b and calls f for each complete non-empty line, without its
 * newline; what follows the last newline stays in b for the next chunk. It stops at the first
 * negative return of f (that line consumed) and returns it; -EFBIG when b would outgrow its cap.
 * kube_watch_stream_finish(), at the clean end of a stream, hands f the rest of b as a last event
 * when it is more than whitespace (a final event may come without its newline). Pure; the
 * fuzzer's entry point for the framing. */
typedef int (*KubeWatchLineFunc)(const char *line, size_t n, void *userdata);
int kube_watch_stream_feed(KubeBuffer *b, const void *chunk, size_t n, KubeWatchLineFunc f, void *userdata);
int kube_watch_stream_finish(KubeBuffer *b, KubeWatchLineFunc f, void *userdata);

/* The client is borrowed and must outlive the watch. */
int kube_watch_new(KubeClient *client, sd_event *event, KubeWatchHandler handler, void *userdata, KubeWatch **ret);
KubeWatch *kube_watch_free(KubeWatch *w);
DEFINE_TRIVIAL_CLEANUP_FUNC(KubeWatch *, kube_watch_free);

/* Starts watching one Secret (a second add of the same name is a no-op). resource_version is the
 * one the caller last read, with KUBE_WATCH_START_AT_VERSION. */
int kube_watch_add(KubeWatch *w, const char *name, KubeWatchStart start, const char *resource_version);

/* For tests and status: how many watch requests were started for name, whether one is streaming
 * now, and the last failure (code 0 if the last attempt succeeded). -ENOENT if not watched. */
int kube_watch_get_state(KubeWatch *w, const char *name, unsigned *ret_requests, bool *ret_streaming,
                         NsError *ret_last_error);

/* The same for the watch of a "kubernetes" SecretSource; -EOPNOTSUPP for another source or before
 * secret_source_watch(). */
typedef struct SecretSource SecretSource;
int secret_source_kubernetes_watch_state(SecretSource *s, const char *name, unsigned *ret_requests, bool *ret_streaming,
                                         NsError *ret_last_error);
