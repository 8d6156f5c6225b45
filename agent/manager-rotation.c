/* SPDX-License-Identifier: Apache-2.0 */
/* The daemon during a CA rotation: what each datastore has loaded (recorded for the workers in
 * <runtime>/rotation.json), the jitter before reissuing under an activated CA, the node's stage. */
#include "backoff.h"
#include "bus.h"
#include "log.h"
#include "manager.h"
#include "profile.h"
#include "time-util.h"

/* The trust bundle in cc's CA file now: what its datastore loads next (public; NULL if none). */
static char *ca_file_now(const CertificateConfig *cc) {
        _cleanup_(profile_files_done) ProfileFiles f = PROFILE_FILES_NULL;
        char *text = NULL;

        if (profile_files_paths(cc, &f) >= 0)
                (void) read_full_file(f.ca_path, 1024 * 1024, &text, NULL);
        return text;
}

static void save_state(Manager *m) {
        int r = rotation_state_write(m->config, &m->rotation_state);
        if (r < 0)
                log_warning_errno(r, "Failed to write %s/%s: %m", m->config->runtime_dir, ROTATION_STATE_FILE);
}

/* Records that cc's datastore now trusts what its CA file holds; true if that changed anything. */
static bool mark_loaded(Manager *m, const CertificateConfig *cc) {
        _cleanup_free_ char *now = ca_file_now(cc);
        const char *before = rotation_state_loaded(&m->rotation_state, cc->name);

        if (!now || (before && streq(before, now)))
                return false;
        return rotation_state_set_loaded(&m->rotation_state, cc->name, now) >= 0;
}

static bool waiting(Manager *m) {
        return m->rotation.known && m->rotation.node_stage != m->rotation.secret_stage;
}

static int on_jitter(sd_event_source *s, uint64_t usec, void *userdata) {
        Manager *m = userdata;

        if (!m->rotation_jitter_for)
                return 0;
        log_info("Reissuing under the activated CA now (its jitter has passed).");
        free(m->rotation_state.granted);
        m->rotation_state.granted = TAKE_PTR(m->rotation_jitter_for);
        save_state(m);
        (void) manager_request_attempt(m, ATTEMPT_PROVISION);
        return 0;
}

/* A reissue under signer waits for its jitter: drawn once per signer, so that a fleet's nodes move
 * to the new CA spread over daemon.rotation_jitter_sec (the API server and the peers' handshakes
 * do not all see it at once, and datastores that restart to load it do not all restart at once). */
static void arm_jitter(Manager *m, const char *signer) {
        uint64_t delay;
        char *copy;

        if (m->rotation_jitter_for && streq(m->rotation_jitter_for, signer))
                return;
        copy = strdup(signer);
        if (!copy)
                return;
        free(m->rotation_jitter_for);
        m->rotation_jitter_for = copy;
        delay = (uint64_t) ((double) m->config->daemon.rotation_jitter_usec * backoff_random01());
        log_info("The CA Secret activated a new CA: reissuing under it in %.1f s (daemon.rotation_jitter_sec).",
                 (double) delay / USEC_PER_SEC);
        if (m->rotation_jitter_source)
                (void) sd_event_source_set_time(m->rotation_jitter_source, now_usec(CLOCK_MONOTONIC) + delay);
        else
                (void) sd_event_add_time(m->event, &m->rotation_jitter_source, CLOCK_MONOTONIC,
                                         now_usec(CLOCK_MONOTONIC) + delay, 0, on_jitter, m);
        (void) sd_event_source_set_enabled(m->rotation_jitter_source, SD_EVENT_ONESHOT);
}

static int copy_report(RotationReport *to, const RotationReport *from) {
        RotationReport c = *from;

        c.waiting = from->waiting ? strdup(from->waiting) : NULL;
        c.held_signer = from->held_signer ? strdup(from->held_signer) : NULL;
        if ((from->waiting && !c.waiting) || (from->held_signer && !c.held_signer)) {
                rotation_report_done(&c);
                return -ENOMEM;
        }
        rotation_report_done(to);
        *to = c;
        return 0;
}

/* Marks what each datastore has loaded, from its reload's state; true if anything changed. */
static bool update_loaded(Manager *m) {
        bool changed = false;

        for (size_t i = 0; i < m->n_certificates; i++) {
                const CertificateStatus *cs = m->certificates + i;
                ReloadState st = cs->reload ? reload_state(cs->reload) : RELOAD_DONE;

                /* Done as the profile says (a hook or a restart that succeeded, a datastore that
                 * reloads by itself) or confirmed by the serve check: what the CA file holds is
                 * loaded. Nothing changed since the daemon started: the datastore runs with the
                 * files as they are. Running, retrying, a restart nobody runs: not yet. */
                if (st == RELOAD_DONE || st == RELOAD_CONFIRMED ||
                    (st == RELOAD_IDLE && !rotation_state_loaded(&m->rotation_state, cs->config->name)))
                        changed |= mark_loaded(m, cs->config);
        }
        if (changed)
                save_state(m);
        return changed;
}

void manager_rotation_apply(Manager *m, const AttemptReport *report) {
        const RotationReport *rr = report ? &report->rotation : NULL;

        (void) update_loaded(m);
        if (!rr || !rr->known)
                return;
        if (!m->rotation.known || m->rotation.secret_stage != rr->secret_stage ||
            m->rotation.node_stage != rr->node_stage ||
            !streq(strempty(m->rotation.waiting), strempty(rr->waiting)))
                bus_mark_changed(m, BUS_PROPERTY_CA_ROTATION);
        if (m->rotation.known && m->rotation.node_stage != rr->node_stage)
                log_info("CA rotation: this node has reached stage %s (the CA Secret is %s).",
                         rotation_stage_to_string(rr->node_stage), rotation_stage_to_string(rr->secret_stage));
        (void) copy_report(&m->rotation, rr);
        if (rr->held_signer)
                arm_jitter(m, rr->held_signer);
}

static int on_look_again(sd_event_source *s, uint64_t usec, void *userdata) {
        (void) manager_request_attempt(userdata, ATTEMPT_PROVISION);
        return 0;
}

void manager_rotation_reload_changed(Manager *m) {
        /* A failed reload leaves the record as it was: the datastore may still run on the old
         * bundle, and nothing is reissued under a CA it may not trust. When what the node waited
         * for has come, look again (and reissue if due), from the loop: this runs inside the
         * handling of an attempt's end. */
        if (!update_loaded(m) || !waiting(m))
                return;
        if (m->rotation_look_source)
                (void) sd_event_source_set_time(m->rotation_look_source, now_usec(CLOCK_MONOTONIC));
        else
                (void) sd_event_add_time(m->event, &m->rotation_look_source, CLOCK_MONOTONIC, now_usec(CLOCK_MONOTONIC),
                                         0, on_look_again, m);
        (void) sd_event_source_set_enabled(m->rotation_look_source, SD_EVENT_ONESHOT);
}

int manager_rotation_describe(Manager *m, cJSON *root) {
        const RotationReport *rr = &m->rotation;
        cJSON *o;

        if (!rr->known)
                return 0;
        o = cJSON_AddObjectToObject(root, "ca_rotation");
        if (!o || !cJSON_AddStringToObject(o, "secret_stage", rotation_stage_to_string(rr->secret_stage)) ||
            !cJSON_AddStringToObject(o, "node_stage", strna(rotation_stage_to_string(rr->node_stage))) ||
            !cJSON_AddBoolToObject(o, "caught_up", rr->node_stage == rr->secret_stage) ||
            !cJSON_AddStringToObject(o, "waiting", strempty(rr->waiting)))
                return -ENOMEM;
        return 0;
}

void manager_rotation_done(Manager *m) {
        m->rotation_jitter_source = sd_event_source_disable_unref(m->rotation_jitter_source);
        m->rotation_look_source = sd_event_source_disable_unref(m->rotation_look_source);
        free(m->rotation_jitter_for);
        m->rotation_jitter_for = NULL;
        rotation_report_done(&m->rotation);
        rotation_state_done(&m->rotation_state);
}
