/* SPDX-License-Identifier: Apache-2.0 */
/* Prometheus metrics of the daemon: names and labels after the Prometheus conventions (base units,
 * _total counters, _timestamp_seconds), one set for the HTTP endpoint and the textfile collector. */
#include <stddef.h>
#include <stdio.h>

#include "kube-counts.h"
#include "log.h"
#include "metrics.h"
#include "metrics-server.h"
#include "path-util.h"
#include "secure.h"

static void escape_label(FILE *f, const char *v) {
        for (const char *p = v; *p; p++)
                if (*p == '\\')
                        fputs("\\\\", f);
                else if (*p == '"')
                        fputs("\\\"", f);
                else if (*p == '\n')
                        fputs("\\n", f);
                else
                        fputc(*p, f);
}

static void family(FILE *f, const char *name, const char *type, const char *help) {
        fprintf(f, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* name{label="value"} */
static void sample_start(FILE *f, const char *name, const char *label, const char *value) {
        fputs(name, f);
        if (label) {
                fprintf(f, "{%s=\"", label);
                escape_label(f, value);
                fputs("\"}", f);
        }
}

static void sample_u64(FILE *f, const char *name, const char *label, const char *value, uint64_t v) {
        sample_start(f, name, label, value);
        fprintf(f, " %llu\n", (unsigned long long) v);
}

/* µs since the epoch, as seconds. */
static void sample_time(FILE *f, const char *name, const char *label, const char *value, uint64_t usec) {
        sample_start(f, name, label, value);
        fprintf(f, " %llu.%06llu\n", (unsigned long long) (usec / USEC_PER_SEC),
                (unsigned long long) (usec % USEC_PER_SEC));
}

/* A state set: one sample per state, 1 for the one it is in. */
static void item_states(FILE *f, const char *name, const char *label, const char *item, ItemState state) {
        for (ItemState s = 0; s < _ITEM_STATE_MAX; s++) {
                fprintf(f, "%s{%s=\"", name, label);
                escape_label(f, item);
                fprintf(f, "\",state=\"%s\"} %d\n", item_state_to_string(s), s == state);
        }
}

static void render_state(FILE *f, Manager *m) {
        family(f, "nodeseal_ready", "gauge", "1 when every volume and certificate is in place, else 0.");
        fprintf(f, "nodeseal_ready %d\n", m->ready ? 1 : 0);
        family(f, "nodeseal_state", "gauge", "The daemon's state: 1 for the state it is in.");
        for (ManagerState s = 0; s < MANAGER_STOPPED; s++)
                fprintf(f, "nodeseal_state{state=\"%s\"} %d\n", manager_state_to_string(s), s == m->state);

        family(f, "nodeseal_volume_state", "gauge", "Each volume's state: 1 for the state it is in.");
        for (size_t i = 0; i < m->n_volumes; i++)
                item_states(f, "nodeseal_volume_state", "volume", m->volumes[i].config->name, m->volumes[i].state);
        family(f, "nodeseal_certificate_state", "gauge", "Each certificate's state: 1 for the state it is in.");
        for (size_t i = 0; i < m->n_certificates; i++)
                item_states(f, "nodeseal_certificate_state", "name", m->certificates[i].config->name,
                            m->certificates[i].state);
}

/* One time of each certificate (a uint64_t µs field of CertificateStatus), 0 (unknown) left out. */
static void certificate_times(FILE *f, Manager *m, const char *name, const char *help, size_t field) {
        family(f, name, "gauge", help);
        for (size_t i = 0; i < m->n_certificates; i++) {
                uint64_t usec = *(const uint64_t *) ((const uint8_t *) (m->certificates + i) + field);
                if (usec > 0)
                        sample_time(f, name, "name", m->certificates[i].config->name, usec);
        }
}

static void render_times(FILE *f, Manager *m) {
        certificate_times(f, m, "nodeseal_certificate_expiry_timestamp_seconds",
                          "The notAfter of each certificate on disk, in seconds since the epoch.",
                          offsetof(CertificateStatus, not_after));
        certificate_times(f, m, "nodeseal_certificate_renewal_timestamp_seconds",
                          "When each certificate enters its renewal window, in seconds since the epoch.",
                          offsetof(CertificateStatus, renew_at));
        family(f, "nodeseal_ca_expiry_timestamp_seconds", "gauge",
               "The notAfter of the CA that signs the certificates, in seconds since the epoch.");
        if (m->ca_not_after > 0)
                sample_time(f, "nodeseal_ca_expiry_timestamp_seconds", NULL, NULL, m->ca_not_after);
}

static void render_attempts(FILE *f, Manager *m) {
        family(f, "nodeseal_reconcile_attempts_total", "counter", "Reconcile attempts that ended, by kind.");
        for (AttemptKind k = 0; k < _ATTEMPT_KIND_MAX; k++)
                sample_u64(f, "nodeseal_reconcile_attempts_total", "kind", attempt_kind_to_string(k),
                           m->attempts_ended[k]);
        family(f, "nodeseal_reconcile_failures_total", "counter", "Reconcile attempts that failed, by kind.");
        for (AttemptKind k = 0; k < _ATTEMPT_KIND_MAX; k++)
                sample_u64(f, "nodeseal_reconcile_failures_total", "kind", attempt_kind_to_string(k),
                           m->attempts_failed[k]);
        family(f, "nodeseal_reconcile_last_duration_seconds", "gauge", "How long the last reconcile attempt took.");
        fprintf(f, "nodeseal_reconcile_last_duration_seconds %.6f\n", (double) m->last_attempt_usec / USEC_PER_SEC);
}

static void render_api(FILE *f) {
        const KubeCounts *c = kube_counts_process();

        family(f, "nodeseal_kubernetes_api_requests_total", "counter",
               "Requests to the Kubernetes API by RBAC verb and HTTP status (\"<error>\": no answer).");
        for (size_t i = 0; i < c->n_items; i++) {
                char code[24];
                if (c->items[i].code > 0)
                        (void) snprintf(code, sizeof(code), "%ld", c->items[i].code);
                else
                        strcpy(code, "<error>");
                fputs("nodeseal_kubernetes_api_requests_total{verb=\"", f);
                escape_label(f, c->items[i].verb);
                fprintf(f, "\",code=\"%s\"} %llu\n", code, (unsigned long long) c->items[i].n);
        }
}

static void render_hooks(FILE *f, Manager *m) {
        family(f, "nodeseal_hook_runs_total", "counter", "Reload hook runs that ended, by certificate.");
        for (size_t i = 0; i < m->n_certificates; i++)
                sample_u64(f, "nodeseal_hook_runs_total", "name", m->certificates[i].config->name,
                           m->certificates[i].hook_runs);
        family(f, "nodeseal_hook_failures_total", "counter",
               "Reload hook runs that failed (exit status not 0, killed), by certificate.");
        for (size_t i = 0; i < m->n_certificates; i++)
                sample_u64(f, "nodeseal_hook_failures_total", "name", m->certificates[i].config->name,
                           m->certificates[i].hook_failures);
}

int metrics_render(Manager *m, char **ret) {
        _cleanup_free_ char *text = NULL;
        size_t size = 0;
        FILE *f;

        f = open_memstream(&text, &size);
        if (!f)
                return -ENOMEM;
        render_state(f, m);
        render_times(f, m);
        render_attempts(f, m);
        render_api(f);
        render_hooks(f, m);
        if (fflush(f) != 0 || ferror(f)) {
                fclose(f);
                return -ENOMEM;
        }
        fclose(f);
        *ret = TAKE_PTR(text);
        return 0;
}

int metrics_write_textfile(Manager *m) {
        _cleanup_free_ char *text = NULL;
        int r;

        if (!m->config->metrics.textfile)
                return 0;
        r = metrics_render(m, &text);
        if (r < 0)
                return r;
        if (m->metrics_written && streq(m->metrics_written, text))
                return 0;
        /* Atomic: the collector never reads half a file (and a half file fails the whole scrape). */
        r = write_file_atomic(m->config->metrics.textfile, text, strlen(text), 0644, (uid_t) -1, (gid_t) -1);
        if (r < 0)
                return r;
        free(m->metrics_written);
        m->metrics_written = TAKE_PTR(text);
        return 1;
}

static int render_for_server(void *userdata, char **ret) {
        return metrics_render(userdata, ret);
}

int metrics_setup_server(Manager *m, NsError *error) {
        const char *want = m->config->metrics.listen;
        int r;

        if (m->metrics_server && want && streq(metrics_server_address(m->metrics_server), want))
                return 0;
        m->metrics_server = metrics_server_free(m->metrics_server);
        if (!want)
                return 0;
        r = metrics_server_new(m->event, want, render_for_server, m, &m->metrics_server, error);
        if (r < 0)
                return r;
        log_info("Serving metrics on http://%s/metrics.", want);
        return 1;
}
