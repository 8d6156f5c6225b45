/* SPDX-License-Identifier: Apache-2.0 */
/* Fuzz target: the status file (status.json in the runtime directory) as "nodeseal status" prints it
 * when no daemon answers on the bus: a damaged or hand-edited file gets a clear error or a table. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "verbs.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        static bool quiet;
        char *json;

        if (!quiet) {
                /* The table goes to stdout; the fuzzer's own report goes to stderr. */
                if (!freopen("/dev/null", "w", stdout))
                        abort();
                quiet = true;
        }
        json = strndup((const char *) data, size);
        if (!json)
                return 0;
        log_set_max_level(LOG_CRIT);   /* the "not a JSON object" error, once per input */
        (void) status_print_table(json, "fuzz");
        fflush(stdout);
        free(json);
        return 0;
}
