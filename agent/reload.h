/* SPDX-License-Identifier: Apache-2.0 */
/* Reload: what a certificate's datastore needs after its files changed (hook, restart or nothing,
 * as its profile says), confirmed by a serve_check and retried with backoff until it is. */
#pragma once

#include <systemd/sd-event.h>

#include "config.h"
#include "hook.h"

typedef enum ReloadChange {
        RELOAD_CHANGE_CERT = 1 << 0,  /* the certificate file (and key) were replaced */
        RELOAD_CHANGE_CA = 1 << 1,    /* the CA file (trust bundle) was replaced */
} ReloadChange;

typedef enum ReloadState {
        RELOAD_IDLE,          /* nothing changed since the daemon started */
        RELOAD_RUNNING,       /* a hook, a restart or the serve check is running */
        RELOAD_DONE,          /* done as the profile says; no serve_check to confirm it */
        RELOAD_CONFIRMED,     /* the serve_check sees the certificate of the file */
        RELOAD_RETRYING,      /* the hook failed or the old certificate is still served: retrying */
        RELOAD_NEEDS_RESTART, /* the datastore reads what changed at start only; no restart_command */
        _RELOAD_STATE_MAX,
        _RELOAD_STATE_INVALID = -EINVAL,
} ReloadState;

typedef struct Reload Reload;

/* Runs on the loop whenever state, message or served_not_after changed, or a hook ended. */
typedef void (*ReloadChangedHandler)(Reload *r, void *userdata);

typedef struct ReloadSettings {
        const CertificateConfig *config;    /* borrowed, like everything here */
        const RetryConfig *retry;           /* the backoff of a failed round */
        uint64_t timeout_usec;              /* of a hook, a restart or a serve check */
        const char *binary;                 /* what runs the serve check: this program */
} ReloadSettings;

int reload_new(sd_event *event, const ReloadSettings *settings, ReloadChangedHandler handler, void *userdata,
               Reload **ret);
/* The settings of a new configuration (SIGHUP); a round under way goes on with them. */
void reload_set_settings(Reload *r, const ReloadSettings *settings);
/* Children still running are killed. */
Reload *reload_free(Reload *r);
DEFINE_TRIVIAL_CLEANUP_FUNC(Reload *, reload_free);

/* What changed (ReloadChange bits): a round starts now, or after the running one, for all that
 * changed so far. */
void reload_request(Reload *r, unsigned changes);

ReloadState reload_state(const Reload *r) _pure_;
/* Why it is not confirmed (hook failed, old certificate still served); NULL when nothing to say. */
const char *reload_message(const Reload *r) _pure_;
/* notAfter (µs) of the certificate the datastore still serves, 0 when unknown or confirmed. */
uint64_t reload_served_not_after(const Reload *r) _pure_;
unsigned reload_failures(const Reload *r) _pure_;
/* Hooks and restarts that ended, whatever their outcome. */
unsigned reload_actions_run(const Reload *r) _pure_;

/* What a change needs of the datastore, from the profile and cc: a restart (restart_command, or
 * NEEDS_RESTART without one), the reload hook, or nothing. Pure, for tests. */
typedef enum ReloadAction {
        RELOAD_ACTION_NONE,
        RELOAD_ACTION_HOOK,
        RELOAD_ACTION_RESTART,
        RELOAD_ACTION_RESTART_MISSING,
} ReloadAction;
ReloadAction reload_action(const CertificateConfig *cc, unsigned changes);

const char *reload_state_to_string(ReloadState s) _pure_;
