/* SPDX-License-Identifier: Apache-2.0 */
/* Per-datastore certificate layout: file names, modes, default owner and reload hook. */
#pragma once

#include <sys/types.h>

#include "config.h"
#include "error.h"

typedef struct Profile {
        ProfileType type;
        const char *cert_file;      /* the node certificate followed by the intermediates, if any */
        const char *key_file;       /* the node's private key, PKCS#8 PEM */
        const char *ca_file;        /* the trust bundle: the root(s) peers and clients are checked against */
        const char *default_owner;  /* user owning the files; NULL: the agent's own user (root) */
        const char *reload_hook;    /* hook run after a change; NULL when the datastore needs none */
        bool watches_files;         /* the datastore re-reads the files by itself when they change */
        bool group_key_needs_root;  /* a group-readable key is accepted only when root owns it */
} Profile;

/* The profile of a type; NULL for an invalid type. */
const Profile *profile_get(ProfileType type) _pure_;

/* Where the files of a certificate go, and who owns them with which modes. */
typedef struct ProfileFiles {
        char *cert_path;
        char *key_path;
        char *ca_path;
        uid_t uid;              /* (uid_t) -1: leave as created */
        gid_t gid;              /* (gid_t) -1: leave as created */
        mode_t key_mode;        /* 0600, or 0640 when a group is set */
        mode_t cert_mode;       /* 0644 */
        mode_t ca_mode;         /* 0644 */
} ProfileFiles;

#define PROFILE_FILES_NULL ((ProfileFiles) { .uid = (uid_t) -1, .gid = (gid_t) -1 })

/* Fills the paths only (what "check" needs; it resolves no users). */
int profile_files_paths(const CertificateConfig *cc, ProfileFiles *ret);
/* Fills paths, owner and modes: cc->owner, else the profile's default owner, must exist on this
 * machine (-ESRCH, naming the user and the "owner" setting); cc->group likewise. */
int profile_files_resolve(const CertificateConfig *cc, ProfileFiles *ret, NsError *error);
void profile_files_done(ProfileFiles *f);
