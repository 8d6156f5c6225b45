/* SPDX-License-Identifier: Apache-2.0 */
/* org.nodeseal.Agent1: the daemon's status for anyone, Reconcile() and RenewCertificates() for root. */
#include <stddef.h>

#include "bus.h"
#include "log.h"

#define BUS_RECONNECT_USEC (5 * USEC_PER_SEC)

static int property_get_state(sd_bus *bus, const char *path, const char *interface, const char *property,
                              sd_bus_message *reply, void *userdata, sd_bus_error *error) {
        Manager *m = userdata;
        return sd_bus_message_append(reply, "s", manager_state_to_string(m->state));
}

static int property_get_volumes(sd_bus *bus, const char *path, const char *interface, const char *property,
                                sd_bus_message *reply, void *userdata, sd_bus_error *error) {
        Manager *m = userdata;
        int r;

        r = sd_bus_message_open_container(reply, 'a', "(sss)");
        if (r < 0)
                return r;
        for (size_t i = 0; i < m->n_volumes; i++) {
                r = sd_bus_message_append(reply, "(sss)", m->volumes[i].config->name,
                                          item_state_to_string(m->volumes[i].state),
                                          m->volumes[i].config->mountpoint);
                if (r < 0)
                        return r;
        }
        return sd_bus_message_close_container(reply);
}

/* Per volume with a re-encryption known: name, state (pending, running, paused, done), whether
 * this run resumed one, bytes done, bytes in all, bytes per second now, the limit in bytes per
 * second (0 none), and when it began (µs since the epoch, 0 unknown). */
static int property_get_reencryption(sd_bus *bus, const char *path, const char *interface, const char *property,
                                     sd_bus_message *reply, void *userdata, sd_bus_error *error) {
        Manager *m = userdata;
        int r;

        r = sd_bus_message_open_container(reply, 'a', "(ssbttttt)");
        if (r < 0)
                return r;
        for (size_t i = 0; i < m->n_volumes; i++) {
                const ReencryptStatus *st = &m->volumes[i].reencrypt;

                if (st->state == REENCRYPT_STATE_NONE)
                        continue;
                r = sd_bus_message_append(reply, "(ssbttttt)", m->volumes[i].config->name,
                                          reencrypt_state_to_string(st->state), (int) st->resumed, st->done, st->total,
                                          st->rate, st->limit, st->started_at);
                if (r < 0)
                        return r;
        }
        return sd_bus_message_close_container(reply);
}

static int property_get_certificates(sd_bus *bus, const char *path, const char *interface, const char *property,
                                     sd_bus_message *reply, void *userdata, sd_bus_error *error) {
        Manager *m = userdata;
        int r;

        r = sd_bus_message_open_container(reply, 'a', "(sst)");
        if (r < 0)
                return r;
        for (size_t i = 0; i < m->n_certificates; i++) {
                r = sd_bus_message_append(reply, "(sst)", m->certificates[i].config->name,
                                          item_state_to_string(m->certificates[i].state),
                                          m->certificates[i].not_after);
                if (r < 0)
                        return r;
        }
        return sd_bus_message_close_container(reply);
}

/* Per certificate: the reload state, why it is not confirmed, and until when the certificate the
 * datastore still serves is valid (0: unknown, or it serves the file's). */
static int property_get_reloads(sd_bus *bus, const char *path, const char *interface, const char *property,
                                sd_bus_message *reply, void *userdata, sd_bus_error *error) {
        Manager *m = userdata;
        int r;

        r = sd_bus_message_open_container(reply, 'a', "(ssst)");
        if (r < 0)
                return r;
        for (size_t i = 0; i < m->n_certificates; i++) {
                const Reload *rl = m->certificates[i].reload;

                r = sd_bus_message_append(reply, "(ssst)", m->certificates[i].config->name,
                                          reload_state_to_string(rl ? reload_state(rl) : RELOAD_IDLE),
                                          rl ? strempty(reload_message(rl)) : "",
                                          rl ? reload_served_not_after(rl) : (uint64_t) 0);
                if (r < 0)
                        return r;
        }
        return sd_bus_message_close_container(reply);
}

/* (secret stage, node stage, what the node waits for): "" for each while no CA was read. */
static int property_get_ca_rotation(sd_bus *bus, const char *path, const char *interface, const char *property,
                                    sd_bus_message *reply, void *userdata, sd_bus_error *error) {
        Manager *m = userdata;
        const RotationReport *rr = &m->rotation;

        return sd_bus_message_append(reply, "(sss)", rr->known ? rotation_stage_to_string(rr->secret_stage) : "",
                                     rr->known ? strempty(rotation_stage_to_string(rr->node_stage)) : "",
                                     strempty(rr->waiting));
}

static int method_describe(sd_bus_message *message, void *userdata, sd_bus_error *error) {
        _cleanup_free_ char *json = NULL;
        int r;

        r = manager_describe(userdata, &json);
        if (r < 0)
                return r;
        return sd_bus_reply_method_return(message, "s", json);
}

static int method_get_ca(sd_bus_message *message, void *userdata, sd_bus_error *error) {
        Manager *m = userdata;

        if (!m->ca_pem)
                return sd_bus_error_set(error, BUS_ERROR_NOT_READY, "No CA has been loaded yet.");
        return sd_bus_reply_method_return(message, "s", m->ca_pem);
}

/* The bus policy already keeps others away; this holds even under a policy that lets anyone call.
 * (The methods are marked unprivileged so that sd-bus's own capability check does not stand in for
 * this one: root, by effective uid, is the rule.) */
static int check_root(sd_bus_message *message, sd_bus_error *error) {
        _cleanup_(sd_bus_creds_unrefp) sd_bus_creds *creds = NULL;
        uid_t uid;
        int r;

        r = sd_bus_query_sender_creds(message, SD_BUS_CREDS_EUID | SD_BUS_CREDS_UID, &creds);
        if (r < 0)
                return r;
        r = sd_bus_creds_get_euid(creds, &uid);
        if (r < 0)
                r = sd_bus_creds_get_uid(creds, &uid);
        if (r < 0)
                return sd_bus_error_set(error, SD_BUS_ERROR_ACCESS_DENIED, "Cannot tell who the caller is.");
        if (uid != 0) {
                log_notice("Refused %s() to uid %u.", sd_bus_message_get_member(message), (unsigned) uid);
                return sd_bus_error_setf(error, SD_BUS_ERROR_ACCESS_DENIED, "%s() is for root only.",
                                         sd_bus_message_get_member(message));
        }
        return 0;
}

/* An attempt asked for by Reconcile() or RenewCertificates() has ended: its outcome is the answer. */
static void on_attempt_reply(Manager *m, int code, const char *error, void *userdata) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *message = userdata;
        int r;

        if (code == -ESHUTDOWN)
                r = sd_bus_reply_method_errorf(message, BUS_ERROR_STOPPING, "%s", strempty(error));
        else if (code < 0)
                r = sd_bus_reply_method_errorf(message, BUS_ERROR_FAILED, "%s", strempty(error));
        else
                r = sd_bus_reply_method_return(message, NULL);
        if (r < 0)
                log_debug_errno(r, "Failed to answer %s(): %m", strna(sd_bus_message_get_member(message)));
}

static int reconcile_reply(sd_bus_message *message, Manager *m, AttemptKind kind, sd_bus_error *error) {
        int r;

        r = check_root(message, error);
        if (r < 0 || sd_bus_error_is_set(error))
                return r;
        log_info("%s() called.", sd_bus_message_get_member(message));
        /* Answered when an attempt that starts after this call has ended; the loop goes on meanwhile. */
        r = manager_reconcile(m, kind, on_attempt_reply, sd_bus_message_ref(message));
        if (r < 0) {
                sd_bus_message_unref(message);
                if (r == -ESHUTDOWN)
                        return sd_bus_error_set(error, BUS_ERROR_STOPPING, "The daemon is stopping.");
                return r;
        }
        return 1;
}

static int method_reconcile(sd_bus_message *message, void *userdata, sd_bus_error *error) {
        return reconcile_reply(message, userdata, ATTEMPT_PROVISION, error);
}

static int method_renew_certificates(sd_bus_message *message, void *userdata, sd_bus_error *error) {
        return reconcile_reply(message, userdata, ATTEMPT_RENEW, error);
}

static const sd_bus_vtable agent_vtable[] = {
        SD_BUS_VTABLE_START(0),
        SD_BUS_PROPERTY("State", "s", property_get_state, 0, SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_PROPERTY("Ready", "b", NULL, offsetof(Manager, ready), SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_PROPERTY("StatusText", "s", NULL, offsetof(Manager, status_text), SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_PROPERTY("LastError", "s", NULL, offsetof(Manager, last_error), SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_PROPERTY("Volumes", "a(sss)", property_get_volumes, 0, SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_PROPERTY("Certificates", "a(sst)", property_get_certificates, 0, SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_PROPERTY("CANotAfter", "t", NULL, offsetof(Manager, ca_not_after), SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_PROPERTY("Reloads", "a(ssst)", property_get_reloads, 0, SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_PROPERTY("CARotation", "(sss)", property_get_ca_rotation, 0, SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_PROPERTY("Reencryption", "a(ssbttttt)", property_get_reencryption, 0, SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_METHOD_WITH_ARGS("Describe", SD_BUS_NO_ARGS, SD_BUS_RESULT("s", json), method_describe,
                                SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("GetCA", SD_BUS_NO_ARGS, SD_BUS_RESULT("s", pem), method_get_ca,
                                SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("Reconcile", SD_BUS_NO_ARGS, SD_BUS_NO_RESULT, method_reconcile,
                                SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("RenewCertificates", SD_BUS_NO_ARGS, SD_BUS_NO_RESULT,
                                method_renew_certificates, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_VTABLE_END
};

/* ---- PropertiesChanged: marked where things change, sent once per turn of the loop ---- */

static const char * const property_names[] = {
        "State", "Ready", "StatusText", "LastError", "Volumes", "Certificates", "CANotAfter", "Reloads",
        "CARotation", "Reencryption",
};

static int on_emit_changed(sd_event_source *s, void *userdata) {
        Manager *m = userdata;
        const char *changed[ELEMENTSOF(property_names) + 1] = {};
        size_t n = 0;

        for (size_t i = 0; i < ELEMENTSOF(property_names); i++)
                if (m->bus_changed & (1u << i))
                        changed[n++] = property_names[i];
        m->bus_changed = 0;
        if (n == 0 || !m->bus)
                return 0;
        return sd_bus_emit_properties_changed_strv(m->bus, BUS_PATH, BUS_INTERFACE, (char **) changed);
}

void bus_mark_changed(Manager *m, unsigned properties) {
        int r;

        if ((properties & _BUS_PROPERTY_ALL) == 0)
                return;
        m->bus_changed |= properties & _BUS_PROPERTY_ALL;
        if (m->bus_emit_source)
                r = sd_event_source_set_enabled(m->bus_emit_source, SD_EVENT_ONESHOT);
        else
                r = sd_event_add_defer(m->event, &m->bus_emit_source, on_emit_changed, m);
        if (r < 0)
                log_debug_errno(r, "Failed to schedule PropertiesChanged: %m");
}

/* ---- connection ---- */

int bus_connect_client(const char *address, sd_bus **ret) {
        _cleanup_(sd_bus_unrefp) sd_bus *bus = NULL;
        int r;

        if (!address)
                return sd_bus_open_system(ret);
        r = sd_bus_new(&bus);
        if (r < 0)
                return r;
        r = sd_bus_set_address(bus, address);
        if (r < 0)
                return r;
        r = sd_bus_set_bus_client(bus, true);
        if (r < 0)
                return r;
        r = sd_bus_start(bus);
        if (r < 0)
                return r;
        *ret = TAKE_PTR(bus);
        return 0;
}

static int on_reconnect(sd_event_source *s, uint64_t usec, void *userdata) {
        Manager *m = userdata;

        if (bus_open(m) >= 0) {
                log_info("Connected to the bus again.");
                bus_mark_changed(m, _BUS_PROPERTY_ALL);
                return 0;
        }
        (void) sd_event_source_set_time_relative(s, BUS_RECONNECT_USEC);
        return sd_event_source_set_enabled(s, SD_EVENT_ONESHOT);
}

int bus_schedule_reconnect(Manager *m) {
        int r;

        if (m->bus_retry_source) {
                r = sd_event_source_set_time_relative(m->bus_retry_source, BUS_RECONNECT_USEC);
                if (r < 0)
                        return r;
                return sd_event_source_set_enabled(m->bus_retry_source, SD_EVENT_ONESHOT);
        }
        return sd_event_add_time_relative(m->event, &m->bus_retry_source, CLOCK_MONOTONIC, BUS_RECONNECT_USEC, 0,
                                          on_reconnect, m);
}

static int on_disconnected(sd_bus_message *message, void *userdata, sd_bus_error *error) {
        Manager *m = userdata;

        log_warning("Lost the bus connection; reconnecting every %.0f s.", (double) BUS_RECONNECT_USEC / USEC_PER_SEC);
        bus_close(m);
        (void) bus_schedule_reconnect(m);
        return 0;
}

int bus_open(Manager *m) {
        _cleanup_(sd_bus_unrefp) sd_bus *bus = NULL;
        int r;

        if (m->bus)
                return 0;
        r = bus_connect_client(m->bus_address, &bus);
        if (r < 0)
                return r;
        r = sd_bus_add_object_vtable(bus, NULL, BUS_PATH, BUS_INTERFACE, agent_vtable, m);
        if (r < 0)
                return log_error_errno(r, "Failed to export " BUS_PATH ": %m");
        r = sd_bus_match_signal(bus, NULL, "org.freedesktop.DBus.Local", "/org/freedesktop/DBus/Local",
                                "org.freedesktop.DBus.Local", "Disconnected", on_disconnected, m);
        if (r < 0)
                return log_error_errno(r, "Failed to watch for the bus going away: %m");
        r = sd_bus_request_name(bus, BUS_NAME, 0);
        if (r < 0)
                return log_error_errno(r, "Failed to take the bus name " BUS_NAME ": %m");
        r = sd_bus_attach_event(bus, m->event, SD_EVENT_PRIORITY_NORMAL);
        if (r < 0)
                return log_error_errno(r, "Failed to attach the bus to the event loop: %m");
        m->bus = TAKE_PTR(bus);
        return 0;
}

void bus_close(Manager *m) {
        m->bus = sd_bus_flush_close_unref(m->bus);
}
