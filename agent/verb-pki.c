/* SPDX-License-Identifier: Apache-2.0 */
/* The ca and bootstrap verbs. PLACEHOLDER: being written. */
#include "log.h"
#include "verbs.h"

int verb_ca(int argc, char *argv[]) {
        return log_error_errno(-EOPNOTSUPP, "\"ca\" is not implemented yet.");
}
int verb_bootstrap(int argc, char *argv[]) {
        return log_error_errno(-EOPNOTSUPP, "\"bootstrap\" is not implemented yet.");
}
