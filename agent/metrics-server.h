/* SPDX-License-Identifier: Apache-2.0 */
/* The HTTP /metrics endpoint: libmicrohttpd driven from the daemon's sd-event loop, no thread. */
#pragma once

#include <sys/socket.h>
#include <systemd/sd-event.h>

#include "error.h"
#include "macro.h"

typedef struct MetricsServer MetricsServer;

/* Fills *ret (malloc'd) with the body of a scrape: called from the loop, for each GET /metrics. */
typedef int (*MetricsRenderHandler)(void *userdata, char **ret);

/* "127.0.0.1:9464", "[::1]:9464", "[::]:9464": a numeric address and a port (1-65535). -EINVAL otherwise. */
int metrics_server_parse_address(const char *s, struct sockaddr_storage *ret, socklen_t *ret_len);

/* Listens on address (as metrics_server_parse_address() reads it) and serves GET /metrics from the loop. */
int metrics_server_new(sd_event *event, const char *address, MetricsRenderHandler render, void *userdata,
                       MetricsServer **ret, NsError *error);
MetricsServer *metrics_server_free(MetricsServer *s);
DEFINE_TRIVIAL_CLEANUP_FUNC(MetricsServer *, metrics_server_free);

/* The address it serves, as configured. */
const char *metrics_server_address(const MetricsServer *s);
