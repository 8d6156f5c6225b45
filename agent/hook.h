/* SPDX-License-Identifier: Apache-2.0 */
/* Reload hooks: a certificate's datastore told that its files changed (profile hook or reload_command). */
#pragma once

#include <systemd/sd-event.h>

#include "config.h"

typedef struct Hook Hook;

/* Runs cc's hook, if it has one, as a child on the loop, added to *list; it leaves the list and
 * is freed when it exits, after on_done. Killed after timeout_usec. 0: no hook; 1: started. */
typedef void (*HookDoneHandler)(void *userdata, const char *certificate, bool succeeded);

int hook_start(sd_event *event, const CertificateConfig *cc, uint64_t timeout_usec, Hook **list,
               HookDoneHandler on_done, void *userdata);
/* Whether cc has a hook to run after its files change. */
bool hook_wanted(const CertificateConfig *cc);
/* Whether a hook of the named certificate is running in the list. */
bool hook_running(const Hook *list, const char *certificate);

/* Frees every hook of the list; those still running are killed. */
void hook_free_all(Hook **list);
