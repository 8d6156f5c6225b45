/* SPDX-License-Identifier: Apache-2.0 */
/* One attempt of the daemon: run in its worker process, reported to the daemon as JSON. */
#include "json-util.h"

#include "attempt.h"
#include "kube-event.h"
#include "log.h"
#include "time-util.h"
#include "pki.h"
#include "provision.h"
#include "string-table.h"
#include "volume.h"
#include "volume-grow.h"

DEFINE_STRING_TABLE(attempt_kind, AttemptKind, ATTEMPT_KIND,
                    [ATTEMPT_CHECK] = "check",
                    [ATTEMPT_PROVISION] = "provision",
                    [ATTEMPT_RENEW] = "renew");

DEFINE_STRING_TABLE(item_state, ItemState, ITEM_STATE,
                    [ITEM_PENDING] = "pending",
                    [ITEM_READY] = "ready",
                    [ITEM_FAILED] = "failed");

static void items_free(ItemReport *items, size_t n) {
        for (size_t i = 0; i < n; i++)
                free(items[i].name);
        free(items);
}

static void versions_free(SecretVersion *v, size_t n) {
        for (size_t i = 0; i < n; i++) {
                free(v[i].name);
                free(v[i].resource_version);
        }
        free(v);
}

void attempt_report_done(AttemptReport *r) {
        versions_free(r->secrets, r->n_secrets);
        free(r->error);
        free(r->ca_pem);
        items_free(r->volumes, r->n_volumes);
        items_free(r->certificates, r->n_certificates);
        kube_counts_done(&r->api_requests);
        rotation_report_done(&r->rotation);
        *r = (AttemptReport) {};
}

const ItemReport *attempt_report_find(const ItemReport *items, size_t n, const char *name) {
        for (size_t i = 0; i < n; i++)
                if (streq(items[i].name, name))
                        return items + i;
        return NULL;
}

/* ---- JSON ---- */

static int items_to_json(cJSON *root, const char *name, const ItemReport *items, size_t n) {
        cJSON *a = cJSON_AddArrayToObject(root, name);

        if (!a)
                return -ENOMEM;
        for (size_t i = 0; i < n; i++) {
                cJSON *o = cJSON_CreateObject();

                if (!o || !cJSON_AddItemToArray(a, o))
                        return cJSON_Delete(o), -ENOMEM;
                if (!cJSON_AddStringToObject(o, "name", items[i].name) ||
                    !cJSON_AddStringToObject(o, "state", item_state_to_string(items[i].state)) ||
                    !json_add_u64(o, "not_after", items[i].not_after) || !json_add_u64(o, "renew_at", items[i].renew_at))
                        return -ENOMEM;
                if (items[i].reencrypt.state != REENCRYPT_STATE_NONE) {
                        cJSON *re = NULL;

                        if (reencrypt_status_to_json(&items[i].reencrypt, &re) < 0)
                                return -ENOMEM;
                        if (!cJSON_AddItemToObject(o, "reencrypt", re))
                                return cJSON_Delete(re), -ENOMEM;
                }
        }
        return 0;
}

static int versions_to_json(cJSON *root, const SecretVersion *v, size_t n) {
        cJSON *a = cJSON_AddArrayToObject(root, "secrets");

        if (!a)
                return -ENOMEM;
        for (size_t i = 0; i < n; i++) {
                cJSON *o = cJSON_CreateObject();

                if (!o || !cJSON_AddItemToArray(a, o))
                        return cJSON_Delete(o), -ENOMEM;
                if (!cJSON_AddStringToObject(o, "name", v[i].name) ||
                    !(v[i].resource_version ? cJSON_AddStringToObject(o, "resource_version", v[i].resource_version)
                                            : cJSON_AddNullToObject(o, "resource_version")))
                        return -ENOMEM;
        }
        return 0;
}

static int rotation_to_json(cJSON *root, const RotationReport *rr) {
        cJSON *o;

        if (!rr->known)
                return 0;
        o = cJSON_AddObjectToObject(root, "rotation");
        if (!o || !cJSON_AddStringToObject(o, "secret_stage", rotation_stage_to_string(rr->secret_stage)) ||
            !cJSON_AddStringToObject(o, "node_stage", strna(rotation_stage_to_string(rr->node_stage))) ||
            (rr->waiting && !cJSON_AddStringToObject(o, "waiting", rr->waiting)) ||
            !cJSON_AddBoolToObject(o, "held_trust", rr->held_trust) ||
            (rr->held_signer && !cJSON_AddStringToObject(o, "held_signer", rr->held_signer)))
                return -ENOMEM;
        return 0;
}

static int rotation_from_json(const cJSON *root, RotationReport *rr) {
        const cJSON *o = cJSON_GetObjectItemCaseSensitive(root, "rotation");
        const cJSON *w = cJSON_GetObjectItemCaseSensitive(o, "waiting"), *h = cJSON_GetObjectItemCaseSensitive(o, "held_signer");

        *rr = (RotationReport) {};
        if (!cJSON_IsObject(o))
                return 0;
        rr->known = true;
        rr->secret_stage = rotation_stage_from_string(cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(o, "secret_stage")));
        rr->node_stage = rotation_stage_from_string(cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(o, "node_stage")));
        if (rr->secret_stage < 0 || rr->node_stage < 0) {
                *rr = (RotationReport) {};
                return 0;
        }
        rr->held_trust = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(o, "held_trust"));
        if ((cJSON_IsString(w) && !(rr->waiting = strdup(w->valuestring))) ||
            (cJSON_IsString(h) && !(rr->held_signer = strdup(h->valuestring))))
                return -ENOMEM;
        return 0;
}

int attempt_report_to_json(const AttemptReport *r, char **ret) {
        _cleanup_(cJSON_Deletep) cJSON *root = cJSON_CreateObject();
        char *text;

        if (!root || !cJSON_AddNumberToObject(root, "code", r->code) ||
            !cJSON_AddStringToObject(root, "error", strempty(r->error)) ||
            !cJSON_AddBoolToObject(root, "changed", r->changed) ||
            !cJSON_AddBoolToObject(root, "provision_wanted", r->provision_wanted) ||
            !cJSON_AddBoolToObject(root, "reencrypt_unfinished", r->reencrypt_unfinished) ||
            (r->ca_pem && !cJSON_AddStringToObject(root, "ca_pem", r->ca_pem)) ||
            !json_add_u64(root, "ca_not_after", r->ca_not_after) || !json_add_u64(root, "ca_issue_limit", r->ca_issue_limit))
                return -ENOMEM;
        if (items_to_json(root, "volumes", r->volumes, r->n_volumes) < 0 ||
            items_to_json(root, "certificates", r->certificates, r->n_certificates) < 0 ||
            versions_to_json(root, r->secrets, r->n_secrets) < 0 || rotation_to_json(root, &r->rotation) < 0)
                return -ENOMEM;
        if (r->api_requests.n_items > 0) {
                cJSON *a;
                if (kube_counts_to_json(&r->api_requests, &a) < 0)
                        return -ENOMEM;
                if (!cJSON_AddItemToObject(root, "api_requests", a))
                        return cJSON_Delete(a), -ENOMEM;
        }
        text = cJSON_PrintUnformatted(root);
        if (!text)
                return -ENOMEM;
        *ret = text;
        return 0;
}

static const char *json_str(const cJSON *o, const char *name) {
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);
        return cJSON_IsString(v) ? v->valuestring : NULL;
}

static int items_from_json(const cJSON *root, const char *name, ItemReport **ret, size_t *ret_n, NsError *error) {
        const cJSON *a = cJSON_GetObjectItemCaseSensitive(root, name), *o;
        ItemReport *items;
        size_t n = 0;

        if (!cJSON_IsArray(a))
                return ns_error_set(error, -EBADMSG, "no \"%s\" array", name);
        items = calloc((size_t) cJSON_GetArraySize(a) + 1, sizeof(*items));
        if (!items)
                return -ENOMEM;
        cJSON_ArrayForEach(o, a) {
                ItemReport *it = items + n;
                const char *s = json_str(o, "name");

                it->state = item_state_from_string(json_str(o, "state"));
                if (!s || it->state < 0) {
                        items_free(items, n);
                        return ns_error_set(error, -EBADMSG, "%s[%zu]: no name or no valid state", name, n);
                }
                if (!(it->name = strdup(s)))
                        return items_free(items, n), -ENOMEM;
                it->not_after = json_get_u64(o, "not_after");
                it->renew_at = json_get_u64(o, "renew_at");
                /* Optional; one that is not a re-encryption status counts as none. */
                if (reencrypt_status_from_json(cJSON_GetObjectItemCaseSensitive(o, "reencrypt"), &it->reencrypt) < 0 ||
                    it->reencrypt.state == REENCRYPT_STATE_NONE)
                        it->reencrypt = (ReencryptStatus) {};
                n++;
        }
        *ret = items;
        *ret_n = n;
        return 0;
}

/* Optional: a report without them only means the watch reads the Secrets itself. */
static int versions_from_json(const cJSON *root, SecretVersion **ret, size_t *ret_n) {
        const cJSON *a = cJSON_GetObjectItemCaseSensitive(root, "secrets"), *o;
        SecretVersion *v;
        size_t n = 0;

        v = calloc((size_t) cJSON_GetArraySize(a) + 1, sizeof(*v));
        if (!v)
                return -ENOMEM;
        cJSON_ArrayForEach(o, a) {
                const char *name = json_str(o, "name"), *rv = json_str(o, "resource_version");

                if (!name)
                        continue;
                if (!(v[n].name = strdup(name)) || (rv && !(v[n].resource_version = strdup(rv)))) {
                        versions_free(v, n + 1);
                        return -ENOMEM;
                }
                n++;
        }
        *ret = v;
        *ret_n = n;
        return 0;
}

int attempt_report_from_json(const char *json, size_t size, AttemptReport *ret, NsError *error) {
        _cleanup_(cJSON_Deletep) cJSON *root = cJSON_ParseWithLength(json, size);
        AttemptReport r = {};
        const cJSON *code;
        int k;

        code = cJSON_GetObjectItemCaseSensitive(root, "code");
        if (!cJSON_IsObject(root) || !cJSON_IsNumber(code) || code->valuedouble > 0 || code->valuedouble < -4095)
                return ns_error_set(error, -EBADMSG, "not a JSON object with a \"code\" (an errno, 0 or negative)");
        r.code = (int) code->valuedouble;
        r.changed = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(root, "changed"));
        r.provision_wanted = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(root, "provision_wanted"));
        r.reencrypt_unfinished = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(root, "reencrypt_unfinished"));
        r.ca_not_after = json_get_u64(root, "ca_not_after");
        r.ca_issue_limit = json_get_u64(root, "ca_issue_limit");
        if ((json_str(root, "error") && !(r.error = strdup(json_str(root, "error")))) ||
            (json_str(root, "ca_pem") && !(r.ca_pem = strdup(json_str(root, "ca_pem")))))
                k = -ENOMEM;
        else
                k = items_from_json(root, "volumes", &r.volumes, &r.n_volumes, error);
        if (k >= 0)
                k = items_from_json(root, "certificates", &r.certificates, &r.n_certificates, error);
        if (k >= 0)
                k = versions_from_json(root, &r.secrets, &r.n_secrets);
        if (k >= 0)
                k = kube_counts_from_json(cJSON_GetObjectItemCaseSensitive(root, "api_requests"), &r.api_requests);
        if (k >= 0)
                k = rotation_from_json(root, &r.rotation);
        if (k >= 0 && r.code < 0 && isempty(r.error))
                k = ns_error_set(error, -EBADMSG, "a failure (code %d) without a message", r.code);
        if (k < 0) {
                attempt_report_done(&r);
                return k;
        }
        *ret = r;
        return 0;
}

int attempt_progress_from_json(const char *line, size_t size, char **ret_volume, ReencryptStatus *ret, NsError *error) {
        _cleanup_(cJSON_Deletep) cJSON *root = cJSON_ParseWithLength(line, size);
        const char *volume = json_str(root, "volume");
        ReencryptStatus st;
        char *name;

        if (!cJSON_IsObject(root) || isempty(volume))
                return ns_error_set(error, -EBADMSG, "not a JSON object with a \"volume\"");
        if (reencrypt_status_from_json(cJSON_GetObjectItemCaseSensitive(root, "reencrypt"), &st) < 0)
                return ns_error_set(error, -EBADMSG, "no \"reencrypt\" object with a known state");
        name = strdup(volume);
        if (!name)
                return -ENOMEM;
        *ret_volume = name;
        *ret = st;
        return 0;
}

/* ---- the worker's side ---- */

static int renew_certificates(const Config *c, const Ca *ca, NsError *error) {
        for (size_t i = 0; i < c->n_certificates; i++) {
                const CertificateConfig *cc = c->certificates + i;
                int r = certificate_provision_full(c, cc, ca, true, NULL, error);
                if (r < 0)
                        return ns_error_prefix(error, r, "Certificate %s", cc->name);
                log_info("Certificate %s: renewed on request.", cc->name);
        }
        return 1;
}

static int copy_versions(SecretSource *source, AttemptReport *report) {
        const SecretVersion *v;
        size_t n;

        secret_source_versions(source, &v, &n);
        report->secrets = calloc(n + 1, sizeof(SecretVersion));
        if (!report->secrets)
                return -ENOMEM;
        for (size_t i = 0; i < n; i++, report->n_secrets++)
                if (!(report->secrets[i].name = strdup(v[i].name)) ||
                    (v[i].resource_version && !(report->secrets[i].resource_version = strdup(v[i].resource_version))))
                        return -ENOMEM;
        return 0;
}

/* Volumes, the CA, certificates (all of them anew for ATTEMPT_RENEW); >0 when anything changed. */
static int provision_pass(const Config *c, AttemptKind kind, AttemptReport *report, NsError *error) {
        _cleanup_(secret_source_freep) SecretSource *source = NULL;
        _cleanup_(ca_freep) Ca *ca = NULL;
        int r, k;

        _cleanup_(rotation_state_done) RotationState st = {};
        bool have_state;

        r = secret_source_new(c, &source, error);
        if (r < 0)
                return r;
        /* The daemon's record of what its datastores loaded: without one nothing is held back. */
        have_state = rotation_state_read(c, &st) >= 0;
        r = provision_all_gated(c, source, have_state ? &st : NULL, c->n_certificates > 0 ? &report->rotation : NULL,
                                c->n_certificates > 0 || kind == ATTEMPT_RENEW ? &ca : NULL, error);
        if (r >= 0 && kind == ATTEMPT_RENEW)
                r = renew_certificates(c, ca, error);
        k = copy_versions(source, report);
        if (k < 0)
                return k;
        if (ca) {
                k = ca_trust_pem(ca, &report->ca_pem);
                if (k < 0)
                        return k;
                report->ca_not_after = ca_not_after(ca);
                report->ca_issue_limit = ca_issue_limit(ca);
        }
        return r;
}

static int check_volumes(const Config *c, ItemReport *items, bool *ret_provision_wanted, NsError *error) {
        int first = 0;

        for (size_t i = 0; i < c->n_volumes; i++) {
                const VolumeConfig *v = c->volumes + i;
                NsError e = {};
                int r = volume_check(c, v, &e);

                items[i].state = r >= 0 ? ITEM_READY : ITEM_FAILED;
                if (r < 0 && first == 0)
                        first = ns_error_set(error, r, "Volume %s: %s", v->name, ns_error_message(&e, r));
                /* In place and usable, but grown underneath: the daemon provisions to follow it. */
                if (r >= 0 && volume_grow_pending(v, &e) > 0) {
                        log_info("Volume %s: %s.", v->name, e.message);
                        *ret_provision_wanted = true;
                }
                /* A re-encryption under way that no process runs (the last one was killed, with
                 * the volume open or not): a provision resumes it. */
                if (r >= 0 && volume_reencrypt_probe(v, &items[i].reencrypt) > 0 &&
                    items[i].reencrypt.state == REENCRYPT_STATE_PAUSED) {
                        log_info("Volume %s: a re-encryption is under way and not running; resuming it.", v->name);
                        *ret_provision_wanted = true;
                }
        }
        return first;
}

static int check_certificate(const Config *c, const CertificateConfig *cc, const char *trust, ItemReport *item,
                             NsError *error) {
        NsError e = {};
        int r;

        if (!trust) {
                item->state = ITEM_PENDING;
                return ns_error_set(error, -ENOENT, "Certificate %s: no CA yet", cc->name);
        }
        r = certificate_check(c, cc, trust, 0, &item->not_after, &item->renew_at, &e);
        if (r < 0) {
                item->state = r == -ENOENT ? ITEM_PENDING : ITEM_FAILED;
                return ns_error_set(error, r, "Certificate %s: %s", cc->name, ns_error_message(&e, r));
        }
        item->state = ITEM_READY;
        return 0;
}

static int check_certificates(const Config *c, const char *ca_pem, ItemReport *items, NsError *error) {
        _cleanup_free_ char *path = NULL, *file = NULL;
        const char *trust = ca_pem;
        int first = 0;

        if (!trust && c->n_certificates > 0) {
                if (asprintf(&path, "%s/%s", c->runtime_dir, PROVISION_CA_FILE) < 0)
                        return -ENOMEM;
                if (read_full_file(path, 1024 * 1024, &file, NULL) >= 0)
                        trust = file;
        }
        for (size_t i = 0; i < c->n_certificates; i++) {
                int r = check_certificate(c, c->certificates + i, trust, items + i, error);
                if (r < 0 && first == 0)
                        first = r;
        }
        return first;
}

static int items_new(const Config *c, AttemptReport *report) {
        report->volumes = calloc(c->n_volumes + 1, sizeof(ItemReport));
        report->certificates = calloc(c->n_certificates + 1, sizeof(ItemReport));
        if (!report->volumes || !report->certificates)
                return -ENOMEM;
        for (size_t i = 0; i < c->n_volumes; i++, report->n_volumes++)
                if (!(report->volumes[i].name = strdup(c->volumes[i].name)))
                        return -ENOMEM;
        for (size_t i = 0; i < c->n_certificates; i++, report->n_certificates++)
                if (!(report->certificates[i].name = strdup(c->certificates[i].name)))
                        return -ENOMEM;
        return 0;
}

/* Looks at every volume and certificate; the first problem, if any. */
static int check_items(const Config *c, AttemptReport *report, NsError *error) {
        int r, k;

        r = items_new(c, report);
        if (r < 0)
                return r;
        r = check_volumes(c, report->volumes, &report->provision_wanted, error);
        k = check_certificates(c, report->ca_pem, report->certificates, error);
        return r < 0 ? r : k;
}

/* ---- Events for what an operator must act on ---- */

static void post_event(const Config *c, const KubeEventTarget *t, KubeEventReason reason, const char *message) {
        NsError e = {};
        int r = kube_event_record(c, t, reason, message, &e);
        /* A 403 was logged (once) by kube_event_record(); anything else only matters for debugging. */
        if (r < 0 && r != -EPERM)
                log_debug("Event %s not posted: %s", kube_event_reason_to_string(reason), ns_error_message(&e, r));
}

/* A certificate close to its end that this attempt could not renew. */
static void post_expiring(const Config *c, const KubeEventTarget *t, const AttemptReport *r) {
        uint64_t now = now_usec(CLOCK_REALTIME);

        for (size_t i = 0; i < r->n_certificates; i++) {
                const ItemReport *it = r->certificates + i;
                _cleanup_free_ char *msg = NULL;

                if (it->not_after == 0 || it->not_after > now + c->check_margin_usec)
                        continue;
                if (asprintf(&msg, "Certificate %s expires %s and could not be renewed: %s", it->name,
                             FORMAT_UTC_USEC(it->not_after), strempty(r->error)) >= 0)
                        post_event(c, t, KUBE_EVENT_CERTIFICATE_NOT_RENEWED, msg);
        }
}

/* Reload hooks the daemon saw fail again and again: it says so in the status file. */
static void post_hooks_failing(const Config *c, const KubeEventTarget *t) {
        _cleanup_free_ char *path = NULL, *text = NULL;
        _cleanup_(cJSON_Deletep) cJSON *status = NULL;
        const cJSON *cert;

        if (asprintf(&path, "%s/status.json", c->runtime_dir) < 0 || read_full_file(path, 1024 * 1024, &text, NULL) < 0)
                return;
        status = cJSON_Parse(text);
        cJSON_ArrayForEach(cert, cJSON_GetObjectItemCaseSensitive(status, "certificates")) {
                const char *name = json_str(cert, "name");
                uint64_t n = json_get_u64(cert, "hook_failures_in_row");
                _cleanup_free_ char *msg = NULL;

                if (!name || n < ATTEMPT_HOOK_FAILURES_EVENT)
                        continue;
                if (asprintf(&msg, "Certificate %s: its reload hook keeps failing (%d times in a row or more), so "
                             "the datastore may still serve the old certificate; see the agent's log", name,
                             ATTEMPT_HOOK_FAILURES_EVENT) >= 0)
                        post_event(c, t, KUBE_EVENT_HOOK_FAILING, msg);
        }
}

static void post_events(const Config *c, const AttemptReport *r) {
        KubeEventTarget t;
        KubeEventReason reason;

        if (c->secrets.type != SECRET_SOURCE_KUBERNETES || kube_event_target_from_env(c->node_name, &t) < 0)
                return;
        reason = r->code < 0 ? kube_event_reason_for(r->code, r->error) : _KUBE_EVENT_REASON_INVALID;
        if (reason >= 0)
                post_event(c, &t, reason, r->error);
        if (r->code < 0)
                post_expiring(c, &t, r);
        post_hooks_failing(c, &t);
}

int attempt_run(const Config *c, AttemptKind kind, AttemptReport *ret) {
        AttemptReport report = {};
        NsError error = {}, state_error = {};
        int r = 0, k;

        if (kind != ATTEMPT_CHECK)
                r = provision_pass(c, kind, &report, &error);
        report.changed = r > 0;
        k = check_items(c, &report, &state_error);
        /* Stopped at its time budget: the next attempt goes on with it at once. */
        report.reencrypt_unfinished = volume_reencrypt_unfinished();
        if (k != -ENOMEM)
                k = kube_counts_merge(&report.api_requests, kube_counts_process()) < 0 ? -ENOMEM : k;
        if (k == -ENOMEM || r == -ENOMEM) {
                attempt_report_done(&report);
                return -ENOMEM;
        }
        if (r >= 0 && k < 0) {
                /* Provisioned, yet the result does not check out: that is a failure too. */
                r = k;
                error = state_error;
        }
        if (r < 0) {
                report.code = r;
                report.error = strdup(ns_error_message(&error, r));
                if (!report.error) {
                        attempt_report_done(&report);
                        return -ENOMEM;
                }
        }
        post_events(c, &report);
        *ret = report;
        return 0;
}
