/* SPDX-License-Identifier: Apache-2.0 */
/* The subcommands and what they share: the global options and loading the config. */
#pragma once

#include "config.h"
#include "secure.h"

/* Global options, set by run() before a verb is called. */
extern const char *arg_config;

typedef struct Verb {
        const char *name;
        int (*func)(int argc, char *argv[]);
        const char *summary;
} Verb;

extern const Verb verbs[];

/* Exit codes of "check": distinct per reason, so probes and scripts can tell them apart. */
enum {
        CHECK_EXIT_OK = 0,
        CHECK_EXIT_FAILURE = 1,        /* config or internal error */
        CHECK_EXIT_VOLUME = 3,         /* a volume is not open/mounted/writable */
        CHECK_EXIT_CERT_MISSING = 4,   /* a certificate file or the CA is missing */
        CHECK_EXIT_CERT_EXPIRING = 5,  /* expired, or expiring within the margin */
        CHECK_EXIT_CERT_INVALID = 6,   /* mismatching key, wrong CA, missing SAN */
        CHECK_EXIT_TIMEOUT = 7,        /* --wait ran out */
        CHECK_EXIT_NOT_SERVING = 8,    /* --serving: a datastore serves another certificate than its file */
};

/* Loads arg_config; logs the error (naming file, field, reason) itself. */
int verb_load_config(Config **ret);
/* mlockall() for the verbs that hold keys; one warning when not permitted, never a failure. */
void verb_lock_memory(void);

/* Blocks SIGTERM, SIGINT, SIGHUP and SIGCHLD for an sd-event loop and ignores SIGPIPE; logs a failure. */
int verb_block_loop_signals(void);

/* Parses "-h/--help" and no other option; prints usage and returns 0 (caller exits) on help,
 * 1 to go on, negative on a bad option. */
int verb_parse_simple(int argc, char *argv[], const char *usage);
/* The value in base64 (what a Secret's data holds), in secret memory. */
int verb_base64(const SecretValue *v, SecretValue **ret);

/* Prints the status JSON (Describe() or status.json; from names where it came from) as the table of
 * "nodeseal status". -EBADMSG, logged, when it is not a JSON object. */
int status_print_table(const char *json, const char *from);
/* A command-line number of seconds (fractions allowed, at most a year) in µs; -EINVAL otherwise. */
int parse_seconds_arg(const char *s, uint64_t *ret);

int verb_provision(int argc, char *argv[]);
int verb_check(int argc, char *argv[]);
int verb_close(int argc, char *argv[]);
int verb_recover_key(int argc, char *argv[]);
int verb_enrol(int argc, char *argv[]);
int verb_wrap_keys(int argc, char *argv[]);
int verb_recover(int argc, char *argv[]);
int verb_reencrypt(int argc, char *argv[]);
int verb_ca(int argc, char *argv[]);
int verb_bootstrap(int argc, char *argv[]);
int verb_intermediate(int argc, char *argv[]);
int verb_run(int argc, char *argv[]);
int verb_status(int argc, char *argv[]);
int verb_ca_rotate(int argc, char *argv[]);
int verb_reload_sidecar(int argc, char *argv[]);
