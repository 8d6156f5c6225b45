/* SPDX-License-Identifier: Apache-2.0 */
/* The run and status verbs. PLACEHOLDER: being written. */
#include "log.h"
#include "verbs.h"

int verb_run(int argc, char *argv[]) {
        return log_error_errno(-EOPNOTSUPP, "\"run\" is not implemented yet.");
}
int verb_status(int argc, char *argv[]) {
        return log_error_errno(-EOPNOTSUPP, "\"status\" is not implemented yet.");
}
