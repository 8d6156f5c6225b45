/* SPDX-License-Identifier: Apache-2.0 */
/* Fuzz target: the report a worker writes on its result pipe, read by the daemon. A report the
 * daemon accepts must survive being written again and read back (what it keeps is what it says);
 * the same for the progress lines it writes on its progress pipe. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "attempt.h"
#include "kube-client.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* A progress line of the worker (a volume's re-encryption), read by the daemon while the worker
 * runs: what it accepts must say the same when written again. */
static void progress_line(const uint8_t *data, size_t size) {
        _cleanup_(cJSON_Deletep) cJSON *o = NULL, *back = NULL;
        _cleanup_free_ char *volume = NULL, *again = NULL;
        ReencryptStatus st, st2;
        NsError e = {};

        if (attempt_progress_from_json((const char *) data, size, &volume, &st, &e) < 0)
                return;
        if (!volume || reencrypt_status_to_json(&st, &o) < 0 || !(again = cJSON_PrintUnformatted(o)) ||
            !(back = cJSON_Parse(again)))
                abort();
        if (reencrypt_status_from_json(back, &st2) < 0 || st.state != st2.state || st.resumed != st2.resumed ||
            st.done != st2.done || st.total != st2.total || st.rate != st2.rate || st.limit != st2.limit ||
            st.started_at != st2.started_at)
                abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        AttemptReport a = {}, b = {};
        char *json = NULL, *again = NULL;
        NsError e = {};

        kube_json_hooks_install();
        progress_line(data, size);
        if (attempt_report_from_json((const char *) data, size, &a, &e) < 0)
                return 0;
        if (attempt_report_to_json(&a, &json) < 0)
                abort();
        if (attempt_report_from_json(json, strlen(json), &b, &e) < 0)
                abort();
        if (attempt_report_to_json(&b, &again) < 0 || strcmp(json, again) != 0)
                abort();
        free(json);
        free(again);
        attempt_report_done(&a);
        attempt_report_done(&b);
        return 0;
}
