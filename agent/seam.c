/* SPDX-License-Identifier: Apache-2.0 */
/* Test seams: places where the suite stops nodeseal to change the world or kill it. */
#include <signal.h>
#include <stdlib.h>

#include "log.h"
#include "macro.h"
#include "seam.h"

void seam_pause(const char *step) {
        const char *at = secure_getenv("NODESEAL_TEST_PAUSE_AT");

        if (at && streq(at, step)) {
                log_info("NODESEAL_TEST_PAUSE_AT=%s: stopping until SIGCONT.", step);
                (void) raise(SIGSTOP);
        }
}

void seam_kill(const char *step) {
        const char *at = secure_getenv("NODESEAL_TEST_KILL_AT");

        if (at && streq(at, step)) {
                log_warning("NODESEAL_TEST_KILL_AT=%s: killing myself now.", step);
                (void) raise(SIGKILL);
        }
}
