/* SPDX-License-Identifier: Apache-2.0 */
/* The daemon's state in the Prometheus text format, for the /metrics endpoint and the textfile. */
#pragma once

#include "manager.h"

/* The exposition text (format 0.0.4) of m's state and counters. */
int metrics_render(Manager *m, char **ret);

/* Writes it atomically to metrics.textfile when set and changed; 1 written, 0 nothing to do. */
int metrics_write_textfile(Manager *m);

/* Starts, stops or moves the /metrics endpoint to what m->config->metrics.listen says. */
int metrics_setup_server(Manager *m, NsError *error);
