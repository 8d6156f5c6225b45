/* SPDX-License-Identifier: Apache-2.0 */
/* Reload hooks: a certificate's datastore told that its files changed (profile hook or reload_command). */
#pragma once

#include <systemd/sd-event.h>

#include "config.h"

typedef struct Hook Hook;

/* Runs argv (NULL: cc's reload hook, if it has one) as a child on the loop, with the certificate's
 * files in its environment, added to *list; it leaves the list and is freed when it exits, after
 * on_done (ok: it exited 0; how: what happened, for messages). Killed after timeout_usec. what
 * names it in logs ("reload hook", "restart command"). 0: nothing to run; 1: started. */
int hook_start(sd_event *event, const CertificateConfig *cc, char **argv, const char *what, uint64_t timeout_usec,
               Hook **list, void (*on_done)(void *userdata, bool ok, const char *how), void *userdata);
/* Whether cc has a reload hook: reload_command, else its profile's (and "reload" is on). */
bool hook_exists(const CertificateConfig *cc);
/* Frees every hook of the list; those still running are killed. */
void hook_free_all(Hook **list);
