/* SPDX-License-Identifier: Apache-2.0 */
/* Watches of single Secrets on an sd-event loop, through the curl multi interface.
 *
 * Each watched Secret has one easy handle that goes through: LIST with the name's field selector
 * (when nothing is known: it gives the Secret's resourceVersion and the collection's, from which a
 * watch can always start) → WATCH from that version → on a normal end (timeoutSeconds reached)
 * WATCH again from the last version seen (events and bookmarks move it) → on 410 Gone, or an
 * ERROR event with code 410, LIST again → on any failure a backoff timer, then the same again.
 * Curl runs only from sd-event io and timer callbacks (no threads), and the handler is called
 * from a defer source, never from inside curl. Secret data in events passes only through
 * secret memory (the line buffer) and wiped cJSON memory. */
#include <ctype.h>
#include <sys/epoll.h>
#include <time.h>

#include "backoff.h"
#include "json-util.h"
#include "kube-buffer.h"
#include "kube-request.h"
#include "kube-counts.h"
#include "kube-watch.h"
#include "secure.h"
#include "log.h"
#include "string-table.h"
#include "time-util.h"

typedef enum EntryState {
        ENTRY_IDLE,
        ENTRY_GETTING,
        ENTRY_WATCHING,
        ENTRY_WAITING,
} EntryState;

typedef struct WatchEntry {
        KubeWatch *watch;
        char *name;
        EntryState state;

        bool known;             /* object_rv (or its absence) is what the caller or we last saw */
        bool need_get;          /* list the Secret (for a resourceVersion) before watching */
        char *object_rv;        /* the Secret's resourceVersion; NULL when it does not exist */
        char *cursor;           /* where to resume the watch; NULL: from now */
        bool notify;            /* a handler call is due */

        CURL *easy;
        struct curl_slist *headers;
        KubeBuffer buf;
        char errbuf[CURL_ERROR_SIZE];
        bool gone;              /* 410: the cursor is too old, read the Secret again */
        bool bad_stream;        /* an event we could not parse, or an ERROR event */
        KubeStatus stream_status;
        uint64_t retry_after_usec;
        uint64_t started_usec;
        bool force_token;       /* the last answer was 401: re-read the token file */

        unsigned failures;      /* consecutive, for the backoff */
        unsigned gone_in_a_row; /* 410s with no event between them: list again, but not in a loop */
        unsigned requests;
        NsError last_error;
        sd_event_source *timer;
} WatchEntry;

struct KubeWatch {
        KubeClient *client;
        sd_event *event;
        KubeWatchHandler handler;
        void *userdata;

        CURLM *multi;
        sd_event_source *curl_timer;
        sd_event_source *defer;

        WatchEntry **entries;
        size_t n_entries;
};

static int set_string(char **dst, const char *s) {
        char *n = NULL;

        if (s && !(n = strdup(s)))
                return -ENOMEM;
        free(*dst);
        *dst = n;
        return 0;
}

static bool string_eq(const char *a, const char *b) {
        return (!a && !b) || (a && b && streq(a, b));
}

/* ---- curl multi glued to sd-event ---- */

static void check_finished(KubeWatch *w);

static int on_io(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        KubeWatch *w = userdata;
        int action = 0, running;

        if (revents & (EPOLLIN | EPOLLHUP | EPOLLERR))
                action |= CURL_CSELECT_IN;
        if (revents & EPOLLOUT)
                action |= CURL_CSELECT_OUT;
        if (revents & EPOLLERR)
                action |= CURL_CSELECT_ERR;
        (void) curl_multi_socket_action(w->multi, fd, action, &running);
        secure_wipe_stack();   /* a watch event carries the whole Secret */
        check_finished(w);
        return 0;
}

static int socket_callback(CURL *easy, curl_socket_t fd, int what, void *userdata, void *socketp) {
        KubeWatch *w = userdata;
        sd_event_source *io = socketp;
        uint32_t events = 0;
        int r;

        if (what == CURL_POLL_REMOVE) {
                if (io) {
                        (void) sd_event_source_disable_unref(io);
                        (void) curl_multi_assign(w->multi, fd, NULL);
                }
                return 0;
        }
        if (what == CURL_POLL_IN || what == CURL_POLL_INOUT)
                events |= EPOLLIN;
        if (what == CURL_POLL_OUT || what == CURL_POLL_INOUT)
                events |= EPOLLOUT;

        if (io) {
                r = sd_event_source_set_io_events(io, events);
                if (r >= 0)
                        r = sd_event_source_set_enabled(io, SD_EVENT_ON);
        } else {
                r = sd_event_add_io(w->event, &io, fd, events, on_io, w);
                if (r >= 0) {
                        (void) sd_event_source_set_description(io, "kube-watch-io");
                        (void) curl_multi_assign(w->multi, fd, io);
                }
        }
        return r < 0 ? -1 : 0;
}

static int on_curl_timer(sd_event_source *s, uint64_t usec, void *userdata) {
        KubeWatch *w = userdata;
        int running;

        (void) curl_multi_socket_action(w->multi, CURL_SOCKET_TIMEOUT, 0, &running);
        check_finished(w);
        return 0;
}

static int timer_callback(CURLM *multi, long timeout_ms, void *userdata) {
        KubeWatch *w = userdata;
        uint64_t usec;
        int r;

        if (timeout_ms < 0) {
                if (w->curl_timer)
                        (void) sd_event_source_set_enabled(w->curl_timer, SD_EVENT_OFF);
                return 0;
        }
        usec = (uint64_t) timeout_ms * USEC_PER_MSEC;
        if (w->curl_timer) {
                r = sd_event_source_set_time_relative(w->curl_timer, usec);
                if (r >= 0)
                        r = sd_event_source_set_enabled(w->curl_timer, SD_EVENT_ONESHOT);
        } else {
                r = sd_event_add_time_relative(w->event, &w->curl_timer, CLOCK_MONOTONIC, usec, USEC_PER_MSEC,
                                               on_curl_timer, w);
                if (r >= 0)
                        (void) sd_event_source_set_description(w->curl_timer, "kube-watch-curl-timer");
        }
        return r < 0 ? -1 : 0;
}

/* ---- notifications ---- */

static int on_defer(sd_event_source *s, void *userdata) {
        KubeWatch *w = userdata;

        for (size_t i = 0; i < w->n_entries; i++) {
                WatchEntry *e = w->entries[i];
                if (!e->notify)
                        continue;
                e->notify = false;
                log_debug("Secret %s changed.", e->name);
                if (w->handler)
                        (void) w->handler(w, e->name, w->userdata);
        }
        return 0;
}

static void entry_notify(WatchEntry *e) {
        e->notify = true;
        (void) sd_event_source_set_enabled(e->watch->defer, SD_EVENT_ONESHOT);
}

/* Records the Secret's new state; a change from what was known is a notification. */
static int entry_observe(WatchEntry *e, const char *object_rv) {
        if (e->known && !string_eq(e->object_rv, object_rv))
                entry_notify(e);
        e->known = true;
        return set_string(&e->object_rv, object_rv);
}

/* ---- one entry's life ---- */

static int entry_start(WatchEntry *e);

static int on_retry_timer(sd_event_source *s, uint64_t usec, void *userdata) {
        WatchEntry *e = userdata;

        e->state = ENTRY_IDLE;
        (void) entry_start(e);
        return 0;
}

static void entry_retry_later(WatchEntry *e, uint64_t min_delay_usec) {
        const RetryConfig *rc = kube_client_retry(e->watch->client);
        uint64_t delay = MAX(backoff_retry_usec(rc, e->failures + 1, backoff_random01()), min_delay_usec);
        int r;

        e->failures = MIN(e->failures + 1, 64u);
        e->state = ENTRY_WAITING;
        if (e->timer) {
                r = sd_event_source_set_time_relative(e->timer, delay);
                if (r >= 0)
                        r = sd_event_source_set_enabled(e->timer, SD_EVENT_ONESHOT);
        } else
                r = sd_event_add_time_relative(e->watch->event, &e->timer, CLOCK_MONOTONIC, delay, USEC_PER_MSEC,
                                               on_retry_timer, e);
        if (r < 0)
                log_debug_errno(r, "Cannot arm the retry timer of the watch of Secret %s: %m", e->name);
        else
                log_debug("Watch of Secret %s: %s; retrying in %.1f s.", e->name,
                          ns_error_message(&e->last_error, -EIO), (double) delay / USEC_PER_SEC);
}

static size_t list_write(char *ptr, size_t size, size_t nmemb, void *userdata) {
        return kube_buffer_curl_write(ptr, size, nmemb, &((WatchEntry *) userdata)->buf);
}

DEFINE_PRIVATE_STRING_TABLE(kube_watch_event_type, KubeWatchEventType, KUBE_WATCH_EVENT,
                            [KUBE_WATCH_EVENT_ADDED] = "ADDED",
                            [KUBE_WATCH_EVENT_MODIFIED] = "MODIFIED",
                            [KUBE_WATCH_EVENT_DELETED] = "DELETED",
                            [KUBE_WATCH_EVENT_BOOKMARK] = "BOOKMARK",
                            [KUBE_WATCH_EVENT_ERROR] = "ERROR");

int kube_watch_event_parse(const char *line, size_t n, KubeWatchEvent *ret) {
        _cleanup_(cJSON_Deletep) cJSON *j = NULL;
        const cJSON *type, *object, *meta, *name, *rv;
        KubeWatchEvent ev = { .type = _KUBE_WATCH_EVENT_INVALID };

        j = cJSON_ParseWithLength(line, n);
        type = cJSON_GetObjectItemCaseSensitive(j, "type");
        object = cJSON_GetObjectItemCaseSensitive(j, "object");
        if (!cJSON_IsString(type) || !cJSON_IsObject(object))
                return -EBADMSG;
        ev.type = kube_watch_event_type_from_string(type->valuestring);
        if (ev.type < 0)
                return -EPROTONOSUPPORT;

        if (ev.type == KUBE_WATCH_EVENT_ERROR) {
                _cleanup_free_ char *text = cJSON_PrintUnformatted(object);
                (void) kube_status_parse(text, text ? strlen(text) : 0, 200, &ev.status);
                *ret = ev;
                return 0;
        }

        meta = cJSON_GetObjectItemCaseSensitive(object, "metadata");
        rv = cJSON_GetObjectItemCaseSensitive(meta, "resourceVersion");
        name = cJSON_GetObjectItemCaseSensitive(meta, "name");
        if (!cJSON_IsString(rv) || isempty(rv->valuestring))
                return -ENODATA;
        ev.resource_version = strdup(rv->valuestring);
        if (!ev.resource_version)
                return -ENOMEM;
        if (cJSON_IsString(name)) {
                ev.name = strdup(name->valuestring);
                if (!ev.name) {
                        free(ev.resource_version);
                        return -ENOMEM;
                }
        }
        *ret = ev;
        return 0;
}

void kube_watch_event_done(KubeWatchEvent *ev) {
        free(ev->name);
        free(ev->resource_version);
        ev->name = ev->resource_version = NULL;
}

/* One line of a watch stream: {"type": ..., "object": ...}. */
static int entry_process_event(WatchEntry *e, const char *line, size_t n) {
        _cleanup_(kube_watch_event_done) KubeWatchEvent ev = {};
        int r;

        r = kube_watch_event_parse(line, n, &ev);
        if (r == -ENOMEM)
                return r;
        if (r == -ENODATA) {
                e->bad_stream = true;
                return ns_error_reset(&e->last_error, -EBADMSG, "Watch of Secret %s: event without resourceVersion",
                                      e->name);
        }
        if (r == -EPROTONOSUPPORT)
                return 0;   /* a type this client does not know: ignore it, as client-go does */
        if (r < 0) {
                e->bad_stream = true;
                return ns_error_reset(&e->last_error, -EBADMSG,
                                      "Watch of Secret %s: the API server sent an event that is not valid JSON", e->name);
        }

        if (ev.type == KUBE_WATCH_EVENT_ERROR) {
                if (ev.status.code == 410 || streq(ev.status.reason, "Expired") || streq(ev.status.reason, "Gone")) {
                        e->gone = true;
                        return -ESTALE;
                }
                e->bad_stream = true;
                e->stream_status = ev.status;
                return ns_error_reset(&e->last_error, -EPROTO, "Watch of Secret %s: ERROR event: %s: %s", e->name,
                                      ev.status.reason, ev.status.message);
        }

        if (set_string(&e->cursor, ev.resource_version) < 0)
                return -ENOMEM;
        e->failures = 0;
        e->gone_in_a_row = 0;

        if (ev.type == KUBE_WATCH_EVENT_BOOKMARK)
                return 0;
        if (!ev.name || !streq(ev.name, e->name))
                return 0;   /* not ours; the field selector should have kept it away */
        if (ev.type == KUBE_WATCH_EVENT_DELETED)
                return entry_observe(e, NULL);
        return entry_observe(e, ev.resource_version);
}

int kube_watch_stream_feed(KubeBuffer *b, const void *chunk, size_t n, KubeWatchLineFunc f, void *userdata) {
        size_t done = 0;
        int r;

        r = kube_buffer_append(b, chunk, n);
        if (r < 0)
                return r;
        /* The lines are consumed at once, after the last one: one move of the rest, not one a line. */
        for (;;) {
                char *line = b->data + done, *nl = memchr(line, '\n', b->size - done);
                size_t len;

                if (!nl)
                        break;
                len = (size_t) (nl - line);
                r = len > 0 ? f(line, len, userdata) : 0;
                done += len + 1;
                if (r < 0)
                        break;
        }
        kube_buffer_consume(b, done);
        return MIN(r, 0);
}

int kube_watch_stream_finish(KubeBuffer *b, KubeWatchLineFunc f, void *userdata) {
        size_t i = 0;

        while (i < b->size && isspace((unsigned char) b->data[i]))
                i++;
        return i < b->size ? f(b->data + i, b->size - i, userdata) : 0;
}

static int entry_process_line(const char *line, size_t n, void *userdata) {
        return entry_process_event(userdata, line, n);
}

static size_t watch_write(char *ptr, size_t size, size_t nmemb, void *userdata) {
        WatchEntry *e = userdata;
        size_t n = size * nmemb;
        long code = 0;

        (void) curl_easy_getinfo(e->easy, CURLINFO_RESPONSE_CODE, &code);
        if (code != 200)
                /* A Status body, read when the transfer is done. */
                return kube_buffer_append(&e->buf, ptr, n) < 0 ? 0 : n;
        /* A failure ends the transfer; the done handler looks at gone/bad_stream. */
        return kube_watch_stream_feed(&e->buf, ptr, n, entry_process_line, e) < 0 ? 0 : n;
}

static size_t watch_header(char *buffer, size_t size, size_t nitems, void *userdata) {
        WatchEntry *e = userdata;
        size_t n = size * nitems;

        (void) kube_header_retry_after(buffer, n, &e->retry_after_usec);
        return n;
}

static int entry_setup(WatchEntry *e, const char *url, bool watch) {
        KubeClient *c = e->watch->client;
        NsError error = {};
        int r;

        r = kube_client_refresh_token(c, e->force_token, &error);
        if (r < 0)
                goto fail;
        e->force_token = false;

        curl_easy_reset(e->easy);
        kube_headers_free(e->headers);
        e->headers = NULL;
        r = kube_client_setup_easy(c, e->easy, url, watch, &e->headers, &error);
        if (r < 0)
                goto fail;
        (void) curl_easy_setopt(e->easy, CURLOPT_WRITEFUNCTION, watch ? watch_write : list_write);
        (void) curl_easy_setopt(e->easy, CURLOPT_WRITEDATA, e);
        (void) curl_easy_setopt(e->easy, CURLOPT_HEADERFUNCTION, watch_header);
        (void) curl_easy_setopt(e->easy, CURLOPT_HEADERDATA, e);
        (void) curl_easy_setopt(e->easy, CURLOPT_PRIVATE, e);
        e->retry_after_usec = 0;
        (void) curl_easy_setopt(e->easy, CURLOPT_ERRORBUFFER, e->errbuf);
        e->errbuf[0] = '\0';
        kube_buffer_done(&e->buf);
        e->buf.max = KUBE_BODY_SIZE_MAX;
        e->gone = e->bad_stream = false;
        e->stream_status = (KubeStatus) {};
        e->started_usec = now_usec(CLOCK_MONOTONIC);

        if (curl_multi_add_handle(e->watch->multi, e->easy) != CURLM_OK) {
                r = ns_error_reset(&error, -EIO, "Watch of Secret %s: libcurl refused the request", e->name);
                goto fail;
        }
        e->state = watch ? ENTRY_WATCHING : ENTRY_GETTING;
        e->requests += watch;
        return 0;

fail:
        e->last_error = error;
        e->state = ENTRY_IDLE;
        entry_retry_later(e, 0);
        return r;
}

static int entry_start(WatchEntry *e) {
        const KubeEndpoint *ep = kube_client_endpoint(e->watch->client);
        const KubeConfig *k = kube_client_config(e->watch->client);
        _cleanup_free_ char *url = NULL;
        int r;

        if (e->state != ENTRY_IDLE)
                return 0;
        if (e->need_get)
                r = kube_list_url(ep->server, ep->namespace, e->name, &url);
        else
                r = kube_watch_url(ep->server, ep->namespace, e->name, e->cursor,
                                   (unsigned) MAX(k->watch_timeout_usec / USEC_PER_SEC, (uint64_t) 1), &url);
        if (r < 0)
                return r;
        return entry_setup(e, url, !e->need_get);
}

static void entry_done(WatchEntry *e, CURLcode cc) {
        KubeClient *c = e->watch->client;
        bool was_watch = e->state == ENTRY_WATCHING, retryable = false;
        uint64_t lasted = now_usec(CLOCK_MONOTONIC) - e->started_usec;
        KubeStatus st = {};
        NsError error = {};
        long code = 0;
        char what[300];

        (void) curl_easy_getinfo(e->easy, CURLINFO_RESPONSE_CODE, &code);
        kube_count_request(was_watch ? "watch" : "list", code);
        (void) curl_multi_remove_handle(e->watch->multi, e->easy);
        kube_headers_free(e->headers);
        e->headers = NULL;
        e->state = ENTRY_IDLE;
        (void) snprintf(what, sizeof(what), "%s Secret %s/%s", was_watch ? "watch" : "list",
                        kube_client_endpoint(c)->namespace, e->name);

        if (was_watch && cc == CURLE_OK && code == 200) {
                /* A stream that ended cleanly may end with an event that has no newline after it
                 * (a final 410 ERROR, say): it is an event all the same. */
                if (kube_watch_stream_finish(&e->buf, entry_process_line, e) == -ENOMEM)
                        e->bad_stream = true;
                kube_buffer_done(&e->buf);
        }

        if (was_watch && (e->gone || code == 410)) {
                /* Our resourceVersion is older than the server keeps: read the Secret again. */
                log_debug("Watch of Secret %s: resourceVersion %s expired; listing it again.", e->name, strna(e->cursor));
                e->need_get = true;
                (void) set_string(&e->cursor, NULL);
                kube_buffer_done(&e->buf);
                if (++e->gone_in_a_row > 1) {
                        /* Even a fresh list's version was refused: a confused server; do not spin. */
                        (void) ns_error_reset(&e->last_error, -ESTALE,
                                              "Watch of Secret %s: the API server refused a fresh resourceVersion (410)",
                                              e->name);
                        entry_retry_later(e, 0);
                } else
                        (void) entry_start(e);
                return;
        }
        if (was_watch && e->bad_stream) {
                kube_buffer_done(&e->buf);
                entry_retry_later(e, 0);
                return;
        }

        if (cc == CURLE_OK && code == 200) {
                if (was_watch) {
                        e->last_error = (NsError) {};
                        kube_buffer_done(&e->buf);
                        /* A watch that ended at once, again and again, must not spin. */
                        if (lasted < USEC_PER_SEC) {
                                (void) ns_error_reset(&e->last_error, -EPIPE,
                                                      "Watch of Secret %s: the API server ended the watch at once", e->name);
                                entry_retry_later(e, 0);
                        } else {
                                e->failures = 0;
                                (void) entry_start(e);
                        }
                        return;
                } else {
                        _cleanup_free_ char *list_rv = NULL, *object_rv = NULL;
                        int r = kube_secret_list_parse(e->buf.data ?: "", e->buf.size, e->name, &list_rv, &object_rv,
                                                       &error);
                        kube_buffer_done(&e->buf);
                        if (r >= 0) {
                                e->failures = 0;
                                e->last_error = (NsError) {};
                                e->need_get = false;
                                /* After a 410, a resourceVersion that moved means we missed a change. */
                                (void) entry_observe(e, object_rv);
                                /* The list's version, not the object's: that one may be older than the
                                 * server keeps, and a watch from it would end in 410 again. */
                                free(e->cursor);
                                e->cursor = TAKE_PTR(list_rv);
                                (void) entry_start(e);
                                return;
                        }
                        e->last_error = error;
                        entry_retry_later(e, 0);
                        return;
                }
        }

        if (cc == CURLE_WRITE_ERROR && e->buf.overflow)
                cc = CURLE_FILESIZE_EXCEEDED;
        if (cc == CURLE_OK)
                (void) kube_status_parse(e->buf.data, e->buf.size, code, &st);
        kube_buffer_done(&e->buf);
        if (code == 401)
                e->force_token = true;
        (void) kube_client_error(c, cc, e->errbuf, &st, what, was_watch ? "watch" : "list", e->name, &retryable, &error);
        e->last_error = error;
        /* Whatever failed, the watch keeps trying (a fixed RBAC or a new token must be picked up),
         * with the backoff, and never sooner than the server's Retry-After. */
        entry_retry_later(e, MAX(st.retry_after_usec, e->retry_after_usec));
}

static void check_finished(KubeWatch *w) {
        CURLMsg *m;
        int left;

        while ((m = curl_multi_info_read(w->multi, &left))) {
                WatchEntry *e = NULL;

                if (m->msg != CURLMSG_DONE)
                        continue;
                if (curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **) &e) != CURLE_OK || !e)
                        continue;
                entry_done(e, m->data.result);
        }
}

/* ---- the watch ---- */

static WatchEntry *entry_free(WatchEntry *e) {
        if (!e)
                return NULL;
        if (e->easy) {
                if (e->state == ENTRY_GETTING || e->state == ENTRY_WATCHING)
                        (void) curl_multi_remove_handle(e->watch->multi, e->easy);
                curl_easy_cleanup(e->easy);
        }
        kube_headers_free(e->headers);
        kube_buffer_done(&e->buf);
        sd_event_source_disable_unref(e->timer);
        free(e->name);
        free(e->object_rv);
        free(e->cursor);
        free(e);
        return NULL;
}

int kube_watch_new(KubeClient *client, sd_event *event, KubeWatchHandler handler, void *userdata, KubeWatch **ret) {
        _cleanup_(kube_watch_freep) KubeWatch *w = NULL;
        int r;

        w = calloc(1, sizeof(*w));
        if (!w)
                return -ENOMEM;
        w->client = client;
        w->event = sd_event_ref(event);
        w->handler = handler;
        w->userdata = userdata;

        w->multi = curl_multi_init();
        if (!w->multi)
                return -ENOMEM;
        if (curl_multi_setopt(w->multi, CURLMOPT_SOCKETFUNCTION, socket_callback) != CURLM_OK ||
            curl_multi_setopt(w->multi, CURLMOPT_SOCKETDATA, w) != CURLM_OK ||
            curl_multi_setopt(w->multi, CURLMOPT_TIMERFUNCTION, timer_callback) != CURLM_OK ||
            curl_multi_setopt(w->multi, CURLMOPT_TIMERDATA, w) != CURLM_OK)
                return -EIO;

        r = sd_event_add_defer(event, &w->defer, on_defer, w);
        if (r < 0)
                return r;
        (void) sd_event_source_set_enabled(w->defer, SD_EVENT_OFF);
        (void) sd_event_source_set_description(w->defer, "kube-watch-notify");

        *ret = TAKE_PTR(w);
        return 0;
}

KubeWatch *kube_watch_free(KubeWatch *w) {
        if (!w)
                return NULL;
        for (size_t i = 0; i < w->n_entries; i++)
                entry_free(w->entries[i]);
        free(w->entries);
        if (w->multi)
                (void) curl_multi_cleanup(w->multi);
        sd_event_source_disable_unref(w->curl_timer);
        sd_event_source_disable_unref(w->defer);
        sd_event_unref(w->event);
        free(w);
        return NULL;
}

static WatchEntry *find_entry(KubeWatch *w, const char *name) {
        for (size_t i = 0; i < w->n_entries; i++)
                if (streq(w->entries[i]->name, name))
                        return w->entries[i];
        return NULL;
}

int kube_watch_add(KubeWatch *w, const char *name, KubeWatchStart start, const char *resource_version) {
        WatchEntry *e, **a;

        if (find_entry(w, name))
                return 0;
        if (start < 0 || start >= _KUBE_WATCH_START_MAX || (start == KUBE_WATCH_START_AT_VERSION && !resource_version))
                return -EINVAL;

        a = reallocarray(w->entries, w->n_entries + 1, sizeof(*a));
        if (!a)
                return -ENOMEM;
        w->entries = a;
        e = calloc(1, sizeof(*e));
        if (!e)
                return -ENOMEM;
        e->watch = w;
        e->name = strdup(name);
        e->easy = curl_easy_init();
        if (!e->name || !e->easy ||
            (start == KUBE_WATCH_START_AT_VERSION &&
             (set_string(&e->object_rv, resource_version) < 0 || set_string(&e->cursor, resource_version) < 0))) {
                entry_free(e);
                return -ENOMEM;
        }
        e->known = start != KUBE_WATCH_START_UNKNOWN;
        e->need_get = start == KUBE_WATCH_START_UNKNOWN;
        w->entries[w->n_entries++] = e;

        /* Errors are retried from the timer; the watch is in place either way. */
        (void) entry_start(e);
        return 0;
}

int kube_watch_get_state(KubeWatch *w, const char *name, unsigned *ret_requests, bool *ret_streaming,
                         NsError *ret_last_error) {
        WatchEntry *e = find_entry(w, name);

        if (!e)
                return -ENOENT;
        if (ret_requests)
                *ret_requests = e->requests;
        if (ret_streaming)
                *ret_streaming = e->state == ENTRY_WATCHING;
        if (ret_last_error)
                *ret_last_error = e->last_error;
        return 0;
}
