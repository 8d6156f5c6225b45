/* SPDX-License-Identifier: Apache-2.0 */
/* Fuzz target: the report a worker writes on its result pipe, read by the daemon. A report the
 * daemon accepts must survive being written again and read back (what it keeps is what it says). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "attempt.h"
#include "kube-client.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        AttemptReport a = {}, b = {};
        char *json = NULL, *again = NULL;
        NsError e = {};

        kube_json_hooks_install();
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
