/* SPDX-License-Identifier: Apache-2.0 */
/* GET /metrics over libmicrohttpd on the daemon's loop: MHD's epoll fd is an sd-event io source and
 * MHD_get_timeout() a timer, MHD_run() on either. Sockets are non-blocking and every connection has
 * a timeout, so a scraper that connects and sends nothing (or reads nothing) holds no one up. */
#include <arpa/inet.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <sys/epoll.h>

#include "log.h"
#include "metrics-server.h"
#include "time-util.h"

#define METRICS_CONNECTION_LIMIT 16
#define METRICS_CONNECTION_TIMEOUT_SEC 10
#define METRICS_CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"

struct MetricsServer {
        sd_event *event;
        struct MHD_Daemon *mhd;
        sd_event_source *io_source;
        sd_event_source *timer_source;
        MetricsRenderHandler render;
        void *userdata;
        char *address;
};

int metrics_server_parse_address(const char *s, struct sockaddr_storage *ret, socklen_t *ret_len) {
        struct sockaddr_storage sa = {};
        char host[INET6_ADDRSTRLEN + 1];
        const char *colon, *h = s;
        size_t hlen;
        unsigned long port;
        char *end;

        if (isempty(s))
                return -EINVAL;
        if (s[0] == '[') {
                const char *close = strchr(s, ']');
                if (!close || close[1] != ':')
                        return -EINVAL;
                h = s + 1;
                hlen = (size_t) (close - h);
                colon = close + 1;
        } else {
                colon = strrchr(s, ':');
                if (!colon || memchr(s, ':', (size_t) (colon - s)))
                        return -EINVAL;
                hlen = (size_t) (colon - s);
        }
        if (hlen == 0 || hlen >= sizeof(host) || !colon[1])
                return -EINVAL;
        memcpy(host, h, hlen);
        host[hlen] = '\0';
        errno = 0;
        port = strtoul(colon + 1, &end, 10);
        if (errno != 0 || *end || port < 1 || port > 65535 || colon[1] == '+' || colon[1] == '-')
                return -EINVAL;

        if (s[0] != '[' && inet_pton(AF_INET, host, &((struct sockaddr_in *) &sa)->sin_addr) == 1) {
                struct sockaddr_in *in = (struct sockaddr_in *) &sa;
                in->sin_family = AF_INET;
                in->sin_port = htons((uint16_t) port);
                *ret_len = sizeof(*in);
        } else if (s[0] == '[' && inet_pton(AF_INET6, host, &((struct sockaddr_in6 *) &sa)->sin6_addr) == 1) {
                struct sockaddr_in6 *in6 = (struct sockaddr_in6 *) &sa;
                in6->sin6_family = AF_INET6;
                in6->sin6_port = htons((uint16_t) port);
                *ret_len = sizeof(*in6);
        } else
                return -EINVAL;
        *ret = sa;
        return 0;
}

static enum MHD_Result reply(struct MHD_Connection *c, unsigned code, char *body, const char *ctype) {
        struct MHD_Response *resp;
        enum MHD_Result ok;

        resp = MHD_create_response_from_buffer(strlen(body), body, MHD_RESPMEM_MUST_FREE);
        if (!resp) {
                free(body);
                return MHD_NO;
        }
        (void) MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, ctype);
        if (code == MHD_HTTP_METHOD_NOT_ALLOWED)
                (void) MHD_add_response_header(resp, MHD_HTTP_HEADER_ALLOW, "GET, HEAD");
        ok = MHD_queue_response(c, code, resp);
        MHD_destroy_response(resp);
        return ok;
}

static enum MHD_Result reply_text(struct MHD_Connection *c, unsigned code, const char *text) {
        char *body = strdup(text);
        return body ? reply(c, code, body, "text/plain; charset=utf-8") : MHD_NO;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url, const char *method,
                                  const char *version, const char *upload_data, size_t *upload_data_size,
                                  void **req_cls) {
        static int headers_seen;
        MetricsServer *s = cls;
        char *body = NULL;
        int r;

        if (!*req_cls) {
                /* The headers only: answer once the request (and any body, ignored) is in. */
                *req_cls = &headers_seen;
                return MHD_YES;
        }
        if (*upload_data_size > 0) {
                *upload_data_size = 0;
                return MHD_YES;
        }
        if (!streq(url, "/metrics"))
                return reply_text(c, MHD_HTTP_NOT_FOUND, "Not found: the metrics are at /metrics.\n");
        if (!streq(method, MHD_HTTP_METHOD_GET) && !streq(method, MHD_HTTP_METHOD_HEAD))
                return reply_text(c, MHD_HTTP_METHOD_NOT_ALLOWED, "Only GET and HEAD are allowed.\n");
        r = s->render(s->userdata, &body);
        if (r < 0) {
                log_warning_errno(r, "Failed to render the metrics: %m");
                return reply_text(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "Failed to render the metrics.\n");
        }
        return reply(c, MHD_HTTP_OK, body, METRICS_CONTENT_TYPE);
}

/* After every MHD_run(): when MHD wants to run next (connection timeouts), if ever. */
static void arm_timer(MetricsServer *s) {
        MHD_UNSIGNED_LONG_LONG ms;

        if (MHD_get_timeout(s->mhd, &ms) != MHD_YES) {
                (void) sd_event_source_set_enabled(s->timer_source, SD_EVENT_OFF);
                return;
        }
        (void) sd_event_source_set_time_relative(s->timer_source, (uint64_t) ms * USEC_PER_MSEC);
        (void) sd_event_source_set_enabled(s->timer_source, SD_EVENT_ONESHOT);
}

static void run_mhd(MetricsServer *s) {
        (void) MHD_run(s->mhd);
        arm_timer(s);
}

static int on_io(sd_event_source *src, int fd, uint32_t revents, void *userdata) {
        run_mhd(userdata);
        return 0;
}

static int on_timer(sd_event_source *src, uint64_t usec, void *userdata) {
        run_mhd(userdata);
        return 0;
}

static int start_mhd(MetricsServer *s, const struct sockaddr_storage *sa, NsError *error) {
        unsigned flags = MHD_USE_EPOLL | (sa->ss_family == AF_INET6 ? MHD_USE_IPv6 : 0);
        const union MHD_DaemonInfo *info;

        /* Port 0: no default port; the address comes with MHD_OPTION_SOCK_ADDR. */
        s->mhd = MHD_start_daemon(flags, 0, NULL, NULL, on_request, s,
                                  MHD_OPTION_SOCK_ADDR, (const struct sockaddr *) sa,
                                  MHD_OPTION_CONNECTION_LIMIT, (unsigned) METRICS_CONNECTION_LIMIT,
                                  MHD_OPTION_CONNECTION_TIMEOUT, (unsigned) METRICS_CONNECTION_TIMEOUT_SEC,
                                  MHD_OPTION_LISTENING_ADDRESS_REUSE, (unsigned) 1,
                                  MHD_OPTION_END);
        if (!s->mhd)
                /* MHD says no more than that; binding is what fails in practice. */
                return ns_error_set(error, -EADDRNOTAVAIL,
                                    "metrics.listen: cannot listen on %s (address in use or not on this host?)",
                                    s->address);
        info = MHD_get_daemon_info(s->mhd, MHD_DAEMON_INFO_EPOLL_FD);
        if (!info || info->epoll_fd < 0)
                return ns_error_set(error, -EIO, "metrics.listen: libmicrohttpd has no epoll fd");
        return info->epoll_fd;
}

int metrics_server_new(sd_event *event, const char *address, MetricsRenderHandler render, void *userdata,
                       MetricsServer **ret, NsError *error) {
        _cleanup_(metrics_server_freep) MetricsServer *s = NULL;
        struct sockaddr_storage sa;
        socklen_t len;
        int r, fd;

        if (metrics_server_parse_address(address, &sa, &len) < 0)
                return ns_error_set(error, -EINVAL, "metrics.listen: \"%s\" is not ADDRESS:PORT", address);
        s = calloc(1, sizeof(*s));
        if (!s)
                return -ENOMEM;
        *s = (MetricsServer) { .event = sd_event_ref(event), .render = render, .userdata = userdata };
        s->address = strdup(address);
        if (!s->address)
                return -ENOMEM;
        fd = start_mhd(s, &sa, error);
        if (fd < 0)
                return fd;
        r = sd_event_add_io(event, &s->io_source, fd, EPOLLIN, on_io, s);
        if (r >= 0)
                r = sd_event_add_time_relative(event, &s->timer_source, CLOCK_MONOTONIC, 0, 0, on_timer, s);
        if (r < 0)
                return ns_error_set(error, r, "metrics.listen: cannot add to the event loop: %s", strerror(-r));
        (void) sd_event_source_set_description(s->io_source, "metrics-io");
        (void) sd_event_source_set_description(s->timer_source, "metrics-timer");
        arm_timer(s);
        *ret = TAKE_PTR(s);
        return 0;
}

MetricsServer *metrics_server_free(MetricsServer *s) {
        if (!s)
                return NULL;
        sd_event_source_disable_unref(s->io_source);
        sd_event_source_disable_unref(s->timer_source);
        if (s->mhd)
                MHD_stop_daemon(s->mhd);
        sd_event_unref(s->event);
        free(s->address);
        free(s);
        return NULL;
}

const char *metrics_server_address(const MetricsServer *s) {
        return s->address;
}
