/* SPDX-License-Identifier: Apache-2.0 */
/* The daemon: its pure part (renewal jitter), and its state machine over attempts
 * driven with canned worker reports, no processes. */
#include <inttypes.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "bus.h"
#include "manager.h"
#include "metrics.h"
#include "tests.h"

TEST(renewal_jitter_bounds) {
        uint64_t renew = 1000 * USEC_PER_SEC, not_after = 2000 * USEC_PER_SEC;

        /* Never before the renewal point. */
        ASSERT_EQ(manager_renewal_jitter(renew, not_after, 3600 * USEC_PER_SEC, 0.0), renew);
        /* At most a tenth of the window (100 s here) ... */
        ASSERT_TRUE(manager_renewal_jitter(renew, not_after, 3600 * USEC_PER_SEC, 0.999) < renew + 100 * USEC_PER_SEC);
        ASSERT_EQ(manager_renewal_jitter(renew, not_after, 3600 * USEC_PER_SEC, 0.5), renew + 50 * USEC_PER_SEC);
        /* ... and at most jitter_max. */
        ASSERT_EQ(manager_renewal_jitter(renew, not_after, 10 * USEC_PER_SEC, 0.5), renew + 5 * USEC_PER_SEC);
        /* A window already closed gets no jitter. */
        ASSERT_EQ(manager_renewal_jitter(renew, renew, 3600 * USEC_PER_SEC, 0.5), renew);
        ASSERT_EQ(manager_renewal_jitter(not_after, renew, 3600 * USEC_PER_SEC, 0.5), not_after);
}

TEST(state_names) {
        ASSERT_STREQ(manager_state_to_string(MANAGER_READY), "ready");
        ASSERT_STREQ(manager_state_to_string(MANAGER_WAITING), "waiting");
        ASSERT_TRUE(manager_state_to_string(_MANAGER_STATE_MAX) == NULL);
        ASSERT_STREQ(item_state_to_string(ITEM_PENDING), "pending");
        ASSERT_TRUE(item_state_to_string((ItemState) -1) == NULL);
}

/* ---- the state machine, with a fake worker ---- */

static unsigned fake_started, fake_stopped;
static AttemptKind fake_kind;
static int fake_start_result;

static int fake_start(Manager *m, AttemptKind kind) {
        fake_started++;
        fake_kind = kind;
        return fake_start_result;
}

static void fake_stop(Manager *m) {
        fake_stopped++;
}

static const ManagerWorkerOps fake_ops = { .start = fake_start, .stop = fake_stop };

/* A manager on the config text json, its worker the fake one. */
static Manager *fake_manager_config(const char *json) {
        Config *c = NULL;
        Manager *m = NULL;
        NsError e = {};

        fake_started = fake_stopped = 0;
        fake_start_result = 0;
        unsetenv("NOTIFY_SOCKET");
        if (config_parse(json, strlen(json), "test.json", &c, &e) < 0) {
                fprintf(stderr, "config: %s\n", e.message);
                return NULL;
        }
        if (manager_new(c, NULL, NULL, &m) < 0)
                return NULL;
        m->worker_ops = &fake_ops;
        return m;
}

static Manager *fake_manager(const char *daemon_fields, unsigned max_attempts) {
        _cleanup_free_ char *json = NULL;

        if (asprintf(&json,
                     "{\"node_name\": \"n1\", \"runtime_directory\": \"%s/run\", "
                     "\"secrets\": {\"directory\": \"%s/secrets\"}, "
                     "\"retry\": {\"initial_sec\": 1, \"max_sec\": 60, \"jitter\": 0, \"max_attempts\": %u}, "
                     "\"daemon\": {\"recheck_sec\": 600 %s}, "
                     "\"certificates\": [{\"name\": \"db\", \"directory\": \"%s/certs\"}]}",
                     test_tmpdir, test_tmpdir, max_attempts, daemon_fields, test_tmpdir) < 0)
                return NULL;
        return fake_manager_config(json);
}

static ItemReport cert_item = { .name = (char *) "db", .state = ITEM_READY };

static AttemptReport ok_report(void) {
        uint64_t now = (uint64_t) time(NULL) * USEC_PER_SEC;

        cert_item.not_after = now + 90 * USEC_PER_DAY;
        cert_item.renew_at = now + 60 * USEC_PER_DAY;
        return (AttemptReport) {
                .changed = true,
                .ca_pem = (char *) "-----BEGIN CERTIFICATE-----",
                .ca_not_after = now + 365 * USEC_PER_DAY,
                .certificates = &cert_item,
                .n_certificates = 1,
        };
}

static const AttemptReport fail_report = {
        .code = -ENOENT,
        .error = (char *) "CA (Secret nodeseal-ca): Secret nodeseal-ca not found",
};

TEST(attempt_triggers_coalesce_into_one_follow_up) {
        Manager *m = fake_manager("", 0);
        AttemptReport ok = ok_report();

        ASSERT_TRUE(m);
        ASSERT_OK(manager_request_attempt(m, ATTEMPT_PROVISION));
        ASSERT_EQ(fake_started, 1);
        for (int i = 0; i < 5; i++)
                ASSERT_OK(manager_request_attempt(m, ATTEMPT_PROVISION));
        ASSERT_EQ(fake_started, 1);
        ASSERT_TRUE(m->follow_up);
        manager_attempt_done(m, &ok, NULL);
        ASSERT_EQ(fake_started, 2);   /* the five triggers: one attempt */
        manager_attempt_done(m, &ok, NULL);
        ASSERT_EQ(fake_started, 2);
        ASSERT_FALSE(m->attempt_running);
        ASSERT_EQ(m->state, MANAGER_READY);
        ASSERT_STREQ(m->ca_pem, "-----BEGIN CERTIFICATE-----");
        ASSERT_EQ(m->certificates[0].state, ITEM_READY);
        manager_free(m);
}

TEST(attempt_follow_up_takes_the_strongest_kind) {
        Manager *m = fake_manager("", 0);
        AttemptReport ok = ok_report();

        ASSERT_TRUE(m);
        ASSERT_OK(manager_request_attempt(m, ATTEMPT_CHECK));
        ASSERT_OK(manager_request_attempt(m, ATTEMPT_RENEW));
        ASSERT_OK(manager_request_attempt(m, ATTEMPT_PROVISION));
        manager_attempt_done(m, &ok, NULL);
        ASSERT_EQ(fake_started, 2);
        ASSERT_EQ(fake_kind, ATTEMPT_RENEW);
        manager_free(m);
}

TEST(attempt_failures_back_off_then_recover) {
        Manager *m = fake_manager("", 0);
        AttemptReport ok = ok_report();

        ASSERT_TRUE(m);
        ASSERT_OK(manager_request_attempt(m, ATTEMPT_PROVISION));
        manager_attempt_done(m, &fail_report, NULL);
        ASSERT_EQ(m->state, MANAGER_WAITING);
        ASSERT_EQ(m->attempt, 1);
        ASSERT_TRUE(m->next_attempt > 0);
        ASSERT_CONTAINS(m->last_error, "Secret nodeseal-ca not found");
        ASSERT_CONTAINS(m->status_text, "next attempt in 1 s (attempt 1)");
        ASSERT_EQ(fake_started, 1);   /* no retry before the backoff is over */

        ASSERT_OK(manager_request_attempt(m, ATTEMPT_PROVISION));
        manager_attempt_done(m, &fail_report, NULL);
        ASSERT_EQ(m->attempt, 2);
        ASSERT_CONTAINS(m->status_text, "next attempt in 2 s (attempt 2)");

        ASSERT_OK(manager_request_attempt(m, ATTEMPT_PROVISION));
        ASSERT_EQ(m->next_attempt, 0);   /* a trigger starts it now: the retry is off */
        manager_attempt_done(m, &ok, NULL);
        ASSERT_EQ(m->state, MANAGER_READY);
        ASSERT_EQ(m->attempt, 0);
        ASSERT_TRUE(m->ever_ready);
        ASSERT_CONTAINS(m->last_error, "not found");   /* kept after recovery */
        manager_free(m);
}

TEST(attempt_gives_up_after_max_attempts) {
        Manager *m = fake_manager("", 2);

        ASSERT_TRUE(m);
        ASSERT_OK(manager_request_attempt(m, ATTEMPT_PROVISION));
        manager_attempt_done(m, &fail_report, NULL);
        ASSERT_EQ(m->exit_code, 0);
        ASSERT_OK(manager_request_attempt(m, ATTEMPT_PROVISION));
        ASSERT_OK(manager_request_attempt(m, ATTEMPT_PROVISION));   /* a follow-up, not run */
        manager_attempt_done(m, &fail_report, NULL);
        ASSERT_EQ(m->exit_code, 1);
        ASSERT_CONTAINS(m->status_text, "Failed after 2 attempt(s)");
        ASSERT_EQ(fake_started, 2);
        manager_free(m);
}

TEST(attempt_deadline_stops_the_worker_and_fails) {
        Manager *m = fake_manager(", \"attempt_timeout_sec\": 0.05", 0);
        NsError killed = { .code = -ECHILD, .message = "The worker (pid 1) killed by signal TERM after 0.1 s" };

        ASSERT_TRUE(m);
        ASSERT_OK(manager_request_attempt(m, ATTEMPT_PROVISION));
        for (int i = 0; i < 50 && fake_stopped == 0; i++)
                ASSERT_OK(sd_event_run(m->event, 100 * USEC_PER_MSEC));
        ASSERT_EQ(fake_stopped, 1);
        ASSERT_TRUE(m->attempt_running);   /* until the worker is gone */
        manager_attempt_done(m, NULL, &killed);
        ASSERT_EQ(m->state, MANAGER_WAITING);
        ASSERT_EQ(m->attempt, 1);
        ASSERT_CONTAINS(m->last_error, "did not finish within 0.05 s (daemon.attempt_timeout_sec)");
        manager_free(m);
}

TEST(attempt_worker_without_report_fails_with_its_reason) {
        Manager *m = fake_manager("", 0);
        NsError crashed = { .code = -ECHILD, .message = "The worker (pid 7) killed by signal SEGV after 0.2 s" };

        ASSERT_TRUE(m);
        ASSERT_OK(manager_request_attempt(m, ATTEMPT_PROVISION));
        manager_attempt_done(m, NULL, &crashed);
        ASSERT_STREQ(m->last_error, crashed.message);
        ASSERT_EQ(m->state, MANAGER_WAITING);

        fake_start_result = -EAGAIN;   /* cannot even start one: a failed attempt, not a hang */
        ASSERT_OK(manager_request_attempt(m, ATTEMPT_PROVISION));
        ASSERT_FALSE(m->attempt_running);
        ASSERT_EQ(m->attempt, 2);
        ASSERT_CONTAINS(m->last_error, "Failed to start a worker");
        manager_free(m);
}

TEST(attempt_check_failure_provisions_at_once) {
        Manager *m = fake_manager("", 0);
        AttemptReport ok = ok_report();

        ASSERT_TRUE(m);
        ASSERT_OK(manager_request_attempt(m, ATTEMPT_PROVISION));
        manager_attempt_done(m, &ok, NULL);
        ASSERT_OK(manager_request_attempt(m, ATTEMPT_CHECK));
        ASSERT_EQ(fake_kind, ATTEMPT_CHECK);
        manager_attempt_done(m, &fail_report, NULL);
        ASSERT_EQ(fake_started, 3);
        ASSERT_EQ(fake_kind, ATTEMPT_PROVISION);
        ASSERT_EQ(m->attempt, 0);   /* a re-check that finds a problem is no failed attempt */
        manager_free(m);
}

TEST(attempt_check_grown_volume_provisions_at_once) {
        Manager *m = fake_manager("", 0);
        AttemptReport ok = ok_report(), grown = ok_report();

        ASSERT_TRUE(m);
        ASSERT_OK(manager_request_attempt(m, ATTEMPT_PROVISION));
        manager_attempt_done(m, &ok, NULL);
        /* A check that finds everything in place and nothing wanted starts nothing more. */
        ASSERT_OK(manager_request_attempt(m, ATTEMPT_CHECK));
        ok.changed = false;
        manager_attempt_done(m, &ok, NULL);
        ASSERT_EQ(fake_started, 2);
        /* All in place, but a volume's device grew: a provision follows at once, still ready. */
        ASSERT_OK(manager_request_attempt(m, ATTEMPT_CHECK));
        grown.changed = false;
        grown.provision_wanted = true;
        manager_attempt_done(m, &grown, NULL);
        ASSERT_EQ(fake_started, 4);
        ASSERT_EQ(fake_kind, ATTEMPT_PROVISION);
        ASSERT_EQ(m->state, MANAGER_READY);
        ASSERT_EQ(m->attempt, 0);
        manager_free(m);
}

/* ---- a volume's re-encryption in the status ---- */

static Manager *fake_manager_volume(void) {
        _cleanup_free_ char *json = NULL;

        if (asprintf(&json,
                     "{\"node_name\": \"n1\", \"runtime_directory\": \"%s/run\", "
                     "\"secrets\": {\"directory\": \"%s/secrets\"}, "
                     "\"volumes\": [{\"name\": \"data\", \"device\": \"/dev/vdz\", \"mountpoint\": \"%s/data\"}]}",
                     test_tmpdir, test_tmpdir, test_tmpdir) < 0)
                return NULL;
        return fake_manager_config(json);
}

static void progress_line(Manager *m, const char *state, uint64_t done, bool resumed) {
        _cleanup_free_ char *line = NULL;

        ASSERT_TRUE(asprintf(&line,
                             "{\"volume\":\"data\",\"reencrypt\":{\"state\":\"%s\",\"resumed\":%s,\"done_bytes\":%" PRIu64 ","
                             "\"total_bytes\":50331648,\"rate_bytes_per_sec\":1048576,\"limit_bytes_per_sec\":33554432,"
                             "\"started_at\":1790000000000000}}",
                             state, resumed ? "true" : "false", done) >= 0);
        manager_worker_progress(m, line, strlen(line));
}

/* The status file, as "nodeseal status" and a datastore's init container read it. */
static char *status_file(void) {
        _cleanup_free_ char *path = NULL;
        char *text = NULL;

        if (asprintf(&path, "%s/run/status.json", test_tmpdir) < 0 || read_full_file(path, 1024 * 1024, &text, NULL) < 0)
                return NULL;
        return text;
}

TEST(reencrypt_progress_reaches_the_status_while_the_worker_runs) {
        Manager *m = fake_manager_volume();
        ItemReport vol = { .name = (char *) "data", .state = ITEM_READY };
        AttemptReport ok = { .volumes = &vol, .n_volumes = 1 };
        _cleanup_free_ char *text = NULL, *json = NULL;

        ASSERT_TRUE(m);
        ASSERT_OK(manager_request_attempt(m, ATTEMPT_PROVISION));
        progress_line(m, "pending", 0, false);
        ASSERT_EQ(m->volumes[0].reencrypt.state, REENCRYPT_STATE_PENDING);
        progress_line(m, "running", 16777216, false);
        ASSERT_EQ(m->volumes[0].reencrypt.state, REENCRYPT_STATE_RUNNING);
        ASSERT_EQ(m->volumes[0].reencrypt.done, 16777216);
        ASSERT_TRUE(m->bus_changed & BUS_PROPERTY_REENCRYPTION);
        /* Written to the status file at once, not when the attempt ends. */
        text = status_file();
        ASSERT_TRUE(text);
        ASSERT_CONTAINS(text, "\"reencrypt\":{\"state\":\"running\"");
        ASSERT_CONTAINS(text, "\"done_bytes\":16777216,\"total_bytes\":50331648");
        ASSERT_CONTAINS(text, "\"limit_bytes_per_sec\":33554432,\"started_at\":1790000000000000");
        ASSERT_OK(manager_describe(m, &json));
        ASSERT_CONTAINS(json, "\"state\":\"running\"");
        /* A line that is not one changes nothing. */
        manager_worker_progress(m, "{\"volume\":\"data\"", 16);
        manager_worker_progress(m, "{\"volume\":\"other\",\"reencrypt\":{\"state\":\"done\"}}", 52);
        ASSERT_EQ(m->volumes[0].reencrypt.state, REENCRYPT_STATE_RUNNING);
        progress_line(m, "done", 50331648, false);
        manager_attempt_done(m, &ok, NULL);
        ASSERT_EQ(m->volumes[0].reencrypt.state, REENCRYPT_STATE_DONE);
        ASSERT_EQ(m->volumes[0].reencrypt.done, 50331648);
        ASSERT_EQ(fake_started, 1);
        manager_free(m);
}

TEST(reencrypt_worker_killed_at_its_deadline_is_not_left_running) {
        Manager *m = fake_manager_volume();
        NsError killed = { .code = -ECHILD, .message = "The worker (pid 1) killed by signal KILL after 600 s" };
        _cleanup_free_ char *text = NULL;

        ASSERT_TRUE(m);
        ASSERT_OK(manager_request_attempt(m, ATTEMPT_PROVISION));
        progress_line(m, "running", 16777216, false);
        manager_attempt_done(m, NULL, &killed);
        ASSERT_EQ(m->volumes[0].reencrypt.state, REENCRYPT_STATE_PAUSED);
        ASSERT_EQ(m->volumes[0].reencrypt.done, 16777216);   /* where it was */
        ASSERT_EQ(m->volumes[0].reencrypt.rate, 0);
        text = status_file();
        ASSERT_TRUE(text);
        ASSERT_CONTAINS(text, "\"state\":\"paused\"");
        /* A line after the worker's end is late: ignored. */
        progress_line(m, "running", 20000000, false);
        ASSERT_EQ(m->volumes[0].reencrypt.state, REENCRYPT_STATE_PAUSED);
        manager_free(m);
}

TEST(reencrypt_running_at_the_deadline_gets_it_once_more) {
        Manager *m = NULL;
        _cleanup_free_ char *json = NULL;

        ASSERT_TRUE(asprintf(&json,
                             "{\"node_name\": \"n1\", \"runtime_directory\": \"%s/run\", "
                             "\"secrets\": {\"directory\": \"%s/secrets\"}, \"daemon\": {\"attempt_timeout_sec\": 0.05}, "
                             "\"volumes\": [{\"name\": \"data\", \"device\": \"/dev/vdz\", \"mountpoint\": \"%s/data\"}]}",
                             test_tmpdir, test_tmpdir, test_tmpdir) >= 0);
        m = fake_manager_config(json);
        ASSERT_TRUE(m);
        ASSERT_OK(manager_request_attempt(m, ATTEMPT_PROVISION));
        progress_line(m, "running", 50331648, false);
        for (int i = 0; i < 50 && !m->attempt_deadline_extended; i++)
                ASSERT_OK(sd_event_run(m->event, 10 * USEC_PER_MSEC));
        ASSERT_TRUE(m->attempt_deadline_extended);
        ASSERT_EQ(fake_stopped, 0);   /* finishing: not stopped at the first deadline */
        for (int i = 0; i < 20 && fake_stopped == 0; i++)
                ASSERT_OK(sd_event_run(m->event, 100 * USEC_PER_MSEC));
        ASSERT_EQ(fake_stopped, 1);   /* but at the second */
        manager_free(m);
}

TEST(reencrypt_longer_than_an_attempt_goes_on_in_the_next) {
        Manager *m = fake_manager_volume();
        ItemReport vol = { .name = (char *) "data", .state = ITEM_READY,
                           .reencrypt = { .state = REENCRYPT_STATE_PAUSED, .resumed = true,
                                          .started_at = UINT64_C(1790000000000000) } };
        AttemptReport paused = { .volumes = &vol, .n_volumes = 1, .reencrypt_unfinished = true };
        AttemptReport found = { .volumes = &vol, .n_volumes = 1, .provision_wanted = true };

        ASSERT_TRUE(m);
        ASSERT_OK(manager_request_attempt(m, ATTEMPT_PROVISION));
        progress_line(m, "running", 30000000, false);
        progress_line(m, "paused", 31457280, false);
        manager_attempt_done(m, &paused, NULL);
        /* Ready (the volume is in place), and the next provision starts at once. */
        ASSERT_EQ(m->state, MANAGER_READY);
        ASSERT_EQ(m->attempt, 0);
        ASSERT_EQ(fake_started, 2);
        ASSERT_EQ(fake_kind, ATTEMPT_PROVISION);
        /* The report's header state keeps the numbers the lines gave. */
        ASSERT_EQ(m->volumes[0].reencrypt.state, REENCRYPT_STATE_PAUSED);
        ASSERT_EQ(m->volumes[0].reencrypt.done, 31457280);
        ASSERT_EQ(m->volumes[0].reencrypt.total, 50331648);
        progress_line(m, "running", 40000000, true);
        ASSERT_TRUE(m->volumes[0].reencrypt.resumed);
        progress_line(m, "done", 50331648, true);
        vol.reencrypt.state = REENCRYPT_STATE_DONE;
        paused.reencrypt_unfinished = false;
        manager_attempt_done(m, &paused, NULL);
        ASSERT_EQ(fake_started, 2);
        ASSERT_EQ(m->volumes[0].reencrypt.state, REENCRYPT_STATE_DONE);

        /* A re-check that finds one under way and not running (a killed process, a daemon
         * restarted): paused in the status, and a provision resumes it. */
        vol.reencrypt.state = REENCRYPT_STATE_PAUSED;
        ASSERT_OK(manager_request_attempt(m, ATTEMPT_CHECK));
        manager_attempt_done(m, &found, NULL);
        ASSERT_EQ(m->volumes[0].reencrypt.state, REENCRYPT_STATE_PAUSED);
        ASSERT_EQ(fake_started, 4);
        ASSERT_EQ(fake_kind, ATTEMPT_PROVISION);
        manager_free(m);
}

typedef struct Reply {
        unsigned calls;
        int code;
        char error[256];
} Reply;

static void on_reply(Manager *m, int code, const char *error, void *userdata) {
        Reply *r = userdata;

        r->calls++;
        r->code = code;
        (void) snprintf(r->error, sizeof(r->error), "%s", strempty(error));
}

TEST(attempt_replies_wait_for_an_attempt_after_the_call) {
        Manager *m = fake_manager("", 0);
        AttemptReport ok = ok_report();
        Reply first = {}, second = {}, third = {};

        ASSERT_TRUE(m);
        ASSERT_OK(manager_reconcile(m, ATTEMPT_PROVISION, on_reply, &first));
        ASSERT_EQ(fake_started, 1);
        /* During attempt 1: answered by attempt 2, which started after the call. */
        ASSERT_OK(manager_reconcile(m, ATTEMPT_RENEW, on_reply, &second));
        ASSERT_EQ(first.calls + second.calls, 0);

        manager_attempt_done(m, &fail_report, NULL);
        ASSERT_EQ(first.calls, 1);
        ASSERT_EQ(first.code, -ENOENT);
        ASSERT_CONTAINS(first.error, "Secret nodeseal-ca not found");
        ASSERT_EQ(second.calls, 0);
        ASSERT_EQ(fake_started, 2);
        ASSERT_EQ(fake_kind, ATTEMPT_RENEW);

        manager_attempt_done(m, &ok, NULL);
        ASSERT_EQ(second.calls, 1);
        ASSERT_EQ(second.code, 0);
        ASSERT_EQ(first.calls, 1);

        /* Whoever still waits when the daemon goes is told so. */
        ASSERT_OK(manager_reconcile(m, ATTEMPT_PROVISION, on_reply, &third));
        manager_free(m);
        ASSERT_EQ(third.calls, 1);
        ASSERT_EQ(third.code, -ESHUTDOWN);
}

TEST(bus_changes_marked_and_sent_once) {
        Manager *m = fake_manager("", 0);
        AttemptReport ok = ok_report();

        ASSERT_TRUE(m);
        ASSERT_OK(sd_event_run(m->event, 0));
        ASSERT_EQ(m->bus_changed, 0);
        ASSERT_OK(manager_request_attempt(m, ATTEMPT_PROVISION));
        manager_attempt_done(m, &ok, NULL);
        ASSERT_EQ(m->bus_changed & (BUS_PROPERTY_STATE | BUS_PROPERTY_READY | BUS_PROPERTY_CERTIFICATES |
                                    BUS_PROPERTY_CA_NOT_AFTER | BUS_PROPERTY_STATUS_TEXT),
                  BUS_PROPERTY_STATE | BUS_PROPERTY_READY | BUS_PROPERTY_CERTIFICATES | BUS_PROPERTY_CA_NOT_AFTER |
                          BUS_PROPERTY_STATUS_TEXT);
        ASSERT_EQ(m->bus_changed & BUS_PROPERTY_LAST_ERROR, 0);
        ASSERT_OK(sd_event_run(m->event, 0));   /* the deferred source sends them, once */
        ASSERT_EQ(m->bus_changed, 0);

        /* The same report again changes nothing a client could see. */
        ASSERT_OK(manager_request_attempt(m, ATTEMPT_PROVISION));
        manager_attempt_done(m, &ok, NULL);
        ASSERT_EQ(m->bus_changed & ~BUS_PROPERTY_STATUS_TEXT, 0);
        manager_free(m);
}

TEST(metrics_count_attempts_api_requests_and_state) {
        Manager *m = fake_manager("", 0);
        AttemptReport ok = ok_report(), failed = fail_report;
        KubeCount counts[] = { { .verb = "get", .code = 200, .n = 3 }, { .verb = "get", .code = 0, .n = 1 } };
        _cleanup_free_ char *text = NULL;
        char want[160];

        ASSERT_TRUE(m);
        kube_counts_done(kube_counts_process());
        failed.api_requests = (KubeCounts) { .items = counts + 1, .n_items = 1 };
        ok.api_requests = (KubeCounts) { .items = counts, .n_items = 1 };
        ASSERT_OK(manager_request_attempt(m, ATTEMPT_PROVISION));
        manager_attempt_done(m, &failed, NULL);
        ASSERT_OK(manager_request_attempt(m, ATTEMPT_PROVISION));
        manager_attempt_done(m, &ok, NULL);
        ASSERT_OK(manager_request_attempt(m, ATTEMPT_PROVISION));
        manager_attempt_done(m, &ok, NULL);

        ASSERT_OK(metrics_render(m, &text));
        ASSERT_CONTAINS(text, "# TYPE nodeseal_ready gauge\nnodeseal_ready 1\n");
        ASSERT_CONTAINS(text, "nodeseal_state{state=\"ready\"} 1\n");
        ASSERT_CONTAINS(text, "nodeseal_state{state=\"waiting\"} 0\n");
        ASSERT_CONTAINS(text, "nodeseal_certificate_state{name=\"db\",state=\"ready\"} 1\n");
        ASSERT_CONTAINS(text, "nodeseal_certificate_state{name=\"db\",state=\"failed\"} 0\n");
        (void) snprintf(want, sizeof(want), "nodeseal_certificate_expiry_timestamp_seconds{name=\"db\"} %llu.000000\n",
                        (unsigned long long) (cert_item.not_after / USEC_PER_SEC));
        ASSERT_CONTAINS(text, want);
        (void) snprintf(want, sizeof(want), "nodeseal_certificate_renewal_timestamp_seconds{name=\"db\"} %llu.000000\n",
                        (unsigned long long) (cert_item.renew_at / USEC_PER_SEC));
        ASSERT_CONTAINS(text, want);
        (void) snprintf(want, sizeof(want), "nodeseal_ca_expiry_timestamp_seconds %llu.000000\n",
                        (unsigned long long) (ok.ca_not_after / USEC_PER_SEC));
        ASSERT_CONTAINS(text, want);
        ASSERT_CONTAINS(text, "# TYPE nodeseal_reconcile_attempts_total counter\n");
        ASSERT_CONTAINS(text, "nodeseal_reconcile_attempts_total{kind=\"provision\"} 3\n");
        ASSERT_CONTAINS(text, "nodeseal_reconcile_failures_total{kind=\"provision\"} 1\n");
        ASSERT_CONTAINS(text, "nodeseal_reconcile_attempts_total{kind=\"check\"} 0\n");
        /* The workers' counts add up in the daemon; no answer is "<error>". */
        ASSERT_CONTAINS(text, "nodeseal_kubernetes_api_requests_total{verb=\"get\",code=\"200\"} 6\n");
        ASSERT_CONTAINS(text, "nodeseal_kubernetes_api_requests_total{verb=\"get\",code=\"<error>\"} 1\n");
        ASSERT_CONTAINS(text, "nodeseal_hook_failures_total{name=\"db\"} 0\n");
        kube_counts_done(kube_counts_process());
        manager_free(m);
}

/* The daemon watches each volume's device path: a link re-pointed, removed or made again while
 * ready starts a check attempt at once (not at the next re-check, 600 s here); a change of another
 * name in the same directory does not. */
TEST(device_path_repointed_checks_at_once) {
        _cleanup_free_ char *json = NULL, *dir = NULL, *link = NULL, *tmp = NULL, *other = NULL;
        ItemReport vol = { .name = (char *) "data", .state = ITEM_READY };
        AttemptReport ok = { .changed = true, .volumes = &vol, .n_volumes = 1 };
        Config *c = NULL;
        Manager *m = NULL;
        NsError e = {};
        unsigned before;

        ASSERT_TRUE(asprintf(&dir, "%s/devwatch", test_tmpdir) > 0);
        ASSERT_TRUE(asprintf(&link, "%s/data-device", dir) > 0);
        ASSERT_TRUE(asprintf(&tmp, "%s/data-device.new", dir) > 0);
        ASSERT_TRUE(asprintf(&other, "%s/other", dir) > 0);
        ASSERT_OK(mkdir(dir, 0700) < 0 ? -errno : 0);
        ASSERT_OK(symlink("disk-a", link) < 0 ? -errno : 0);
        ASSERT_TRUE(asprintf(&json,
                             "{\"node_name\": \"n1\", \"runtime_directory\": \"%s/run\", "
                             "\"secrets\": {\"directory\": \"%s/secrets\"}, \"daemon\": {\"recheck_sec\": 600}, "
                             "\"volumes\": [{\"name\": \"data\", \"device\": \"%s\", \"mountpoint\": \"%s/mnt\"}]}",
                             test_tmpdir, test_tmpdir, link, test_tmpdir) > 0);
        ASSERT_OK(config_parse(json, strlen(json), "test.json", &c, &e));
        unsetenv("NOTIFY_SOCKET");
        ASSERT_OK(manager_new(c, NULL, NULL, &m));
        m->worker_ops = &fake_ops;
        fake_started = 0;
        fake_start_result = 0;
        ASSERT_OK(manager_request_attempt(m, ATTEMPT_PROVISION));
        manager_attempt_done(m, &ok, NULL);
        ASSERT_EQ(m->state, MANAGER_READY);
        manager_devices_watch(m);
        ASSERT_EQ(m->n_device_watches, 1);

        /* Another name in the directory: nothing. */
        before = fake_started;
        ASSERT_OK(symlink("disk-b", other) < 0 ? -errno : 0);
        for (int i = 0; i < 5; i++)
                ASSERT_TRUE(sd_event_run(m->event, 20 * USEC_PER_MSEC) >= 0);
        ASSERT_EQ(fake_started, before);

        /* The device path re-pointed atomically, as the chaos soak does it. */
        ASSERT_OK(symlink("disk-b", tmp) < 0 ? -errno : 0);
        ASSERT_OK(rename(tmp, link) < 0 ? -errno : 0);
        for (int i = 0; i < 50 && fake_started == before; i++)
                ASSERT_TRUE(sd_event_run(m->event, 20 * USEC_PER_MSEC) >= 0);
        ASSERT_EQ(fake_started, before + 1);
        ASSERT_EQ(fake_kind, ATTEMPT_CHECK);
        manager_free(m);
}
