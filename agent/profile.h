/* SPDX-License-Identifier: Apache-2.0 */
/* Per-datastore certificate layout: file names, modes, default owner, how files are picked up. */
#pragma once

#include <sys/types.h>

#include "config.h"
#include "error.h"

/* How a datastore picks up a changed file, and so what nodeseal does after it wrote one. */
typedef enum ProfileReload {
        PROFILE_RELOAD_HOOK,      /* when told: nodeseal runs the reload hook (signal, SQL, CONFIG SET) */
        PROFILE_RELOAD_HANDSHAKE, /* read again on every TLS handshake: nothing to do */
        PROFILE_RELOAD_MTIME,     /* read again when the certificate file's mtime changes: nodeseal
                                   * rewrites the certificate file when only another file changed */
        PROFILE_RELOAD_WATCH,     /* read again when its file watch (inotify) sees the file replaced */
        PROFILE_RELOAD_RESTART,   /* read at start only: nodeseal runs restart_command */
        _PROFILE_RELOAD_MAX,
        _PROFILE_RELOAD_INVALID = -EINVAL,
} ProfileReload;

typedef struct Profile {
        ProfileType type;
        const char *cert_file;      /* the node certificate followed by the intermediates, if any */
        const char *key_file;       /* the node's private key, PKCS#8 PEM */
        const char *ca_file;        /* the trust bundle: the root(s) peers and clients are checked against */
        const char *default_owner;  /* user owning the files; NULL: the agent's own user (root) */
        const char *reload_hook;    /* hook run after a change; NULL when the datastore needs none */
        bool group_key_needs_root;  /* a group-readable key is accepted only when root owns it */
        ProfileReload cert_reload;  /* how a new certificate and key are picked up */
        ProfileReload ca_reload;    /* how a new CA file (trust bundle) is picked up */
        const char *reload_since;   /* the first release whose cert_reload is as said; older ones only
                                     * read their files at start (restart_command); NULL: all */
        unsigned refused_node_keys; /* 1u << KeyType: node key types its TLS stack cannot use */
        unsigned refused_ca_keys;   /* 1u << KeyType: CA key types (the signature of the node
                                     * certificate) it cannot use */
        const char *refused_reason; /* why, for the error message */
} Profile;

/* The profile of a type; NULL for an invalid type. */
const Profile *profile_get(ProfileType type) _pure_;

const char *profile_reload_to_string(ProfileReload r) _pure_;
ProfileReload profile_reload_from_string(const char *s) _pure_;

/* NULL when the profile's datastore can use a node key (as_ca=false) or a CA key (as_ca=true) of
 * type t; else the reason it cannot. */
const char *profile_refuses_key(const Profile *p, KeyType t, bool as_ca) _pure_;

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
