/* SPDX-License-Identifier: Apache-2.0 */
/* Secret sources behind one interface: "directory" (embedded default) and "kubernetes". */
#pragma once

#include <systemd/sd-event.h>

#include "config.h"
#include "error.h"
#include "secure.h"

typedef struct SecretSource SecretSource;

/* The version of a Secret that reads saw: resourceVersion, NULL when it did not exist. */
typedef struct SecretVersion {
        char *name;
        char *resource_version;
} SecretVersion;

/* Called from the event loop when one of the watched Secrets may have changed. */
typedef int (*SecretChangedHandler)(SecretSource *s, const char *secret, void *userdata);

typedef struct SecretSourceVTable {
        SecretSourceType type;
        size_t object_size;
        int (*init)(SecretSource *s);
        void (*done)(SecretSource *s);
        /* -ENOENT: no such Secret; -ENOKEY: the Secret exists without that key. */
        int (*get)(SecretSource *s, const char *secret, const char *key, SecretValue **ret, NsError *error);
        /* Stores value under key unless the key already exists, then reads back and returns what is
         * stored (another node may have won a race; its value is the one to use). NULL when the
         * source cannot write (-EOPNOTSUPP). */
        int (*put_if_missing)(SecretSource *s, const char *secret, const char *key, const SecretValue *value,
                              SecretValue **ret_stored, NsError *error);
        /* Removes key only while it holds exactly expected (-ESTALE, naming it, when it holds something
         * else; -ENOKEY when it is gone already). NULL when the source cannot write. */
        int (*remove_key_if)(SecretSource *s, const char *secret, const char *key, const SecretValue *expected,
                             NsError *error);
        /* Forgets whatever the source keeps between reads, so that the next get reads the Secret
         * itself; NULL when the source keeps nothing. */
        void (*invalidate)(SecretSource *s);
        /* Whether a missing volume key may be made and stored here (put_if_missing); NULL: never. */
        bool (*generates_keys)(SecretSource *s);
        /* Notes how the named Secrets look now, just before another process (the worker) reads
         * them: the watch then reports only what changes after this point. NULL when the watch
         * starts from what the reads saw instead (versions/remember). */
        void (*snapshot)(SecretSource *s, char * const *secrets);
        /* Starts watching the named Secrets on the event loop; NULL when unsupported. */
        int (*watch)(SecretSource *s, sd_event *event, char * const *secrets, SecretChangedHandler handler,
                     void *userdata, NsError *error);
        /* What reads saw of each Secret, and what another process's reads saw: a watch then starts
         * from exactly there (the daemon watches what its worker read). NULL when unversioned. */
        void (*versions)(SecretSource *s, const SecretVersion **ret, size_t *ret_n);
        void (*remember)(SecretSource *s, const char *secret, const char *resource_version);
        /* Replaces the Secret as a whole: each of the n keys gets values[i] (NULL: the key goes),
         * other keys stay, and only while each key still holds expected[i] (NULL: absent):
         * -ESTALE when the Secret changed since it was read. NULL when the source cannot. */
        int (*replace)(SecretSource *s, const char *secret, const char * const *keys, SecretValue * const *expected,
                       SecretValue * const *values, size_t n, NsError *error);
} SecretSourceVTable;

struct SecretSource {
        const SecretSourceVTable *vtable;
        const Config *config;      /* borrowed; outlives the source */
        bool storing_record;       /* put_if_missing stores a format record, not a key */
};

/* Creates the source the config names. */
int secret_source_new(const Config *c, SecretSource **ret, NsError *error);
SecretSource *secret_source_free(SecretSource *s);
DEFINE_TRIVIAL_CLEANUP_FUNC(SecretSource *, secret_source_free);

int secret_source_get(SecretSource *s, const char *secret, const char *key, SecretValue **ret, NsError *error);
int secret_source_put_if_missing(SecretSource *s, const char *secret, const char *key, const SecretValue *value,
                                 SecretValue **ret_stored, NsError *error);
/* The same for a format record (format-record.h): stored whatever generate_missing_keys says,
 * since formatting without one is refused. */
int secret_source_put_record(SecretSource *s, const char *secret, const char *key, const SecretValue *value,
                             SecretValue **ret_stored, NsError *error);
/* See the vtable's remove_key_if; -EOPNOTSUPP for a source that cannot write. */
int secret_source_remove_key_if(SecretSource *s, const char *secret, const char *key, const SecretValue *expected,
                                NsError *error);
/* The next read goes to the Secret itself, not to a copy (before a decision that destroys). */
void secret_source_invalidate(SecretSource *s);
/* Whether get_key may make a missing volume key and store it in this source. */
bool secret_source_generates_keys(SecretSource *s);
void secret_source_snapshot(SecretSource *s, char * const *secrets);
int secret_source_watch(SecretSource *s, sd_event *event, char * const *secrets, SecretChangedHandler handler,
                        void *userdata, NsError *error);

/* See SecretSourceVTable.replace; -EOPNOTSUPP when the source cannot. */
int secret_source_replace(SecretSource *s, const char *secret, const char * const *keys, SecretValue * const *expected,
                          SecretValue * const *values, size_t n, NsError *error);

/* None for an unversioned source. */
void secret_source_versions(SecretSource *s, const SecretVersion **ret, size_t *ret_n);
void secret_source_remember(SecretSource *s, const char *secret, const char *resource_version);

/* A volume key: from the keys Secret, at least VOLUME_KEY_MIN_BYTES long (-EMSGSIZE otherwise).
 * previous=true reads "<key>.previous" (the old key during a rotation). "<key>.wrapped" is taken
 * first and unwrapped with this node's key (secrets.wrapping); a plain key is refused on a node that
 * wraps, unless secrets.wrapping.accept_plain_keys (during the migration). */
int secret_source_get_volume_key(SecretSource *s, const VolumeConfig *v, bool previous, SecretValue **ret,
                                 NsError *error);

/* Stores a new volume key (key) unless one exists, then reads back and returns what is stored (another
 * node may have won the race). With secrets.wrapping, it is stored wrapped to this node and to the
 * recovery key under "<key>.wrapped" (the node's key file is made if there is none). */
int secret_source_store_new_volume_key(SecretSource *s, const VolumeConfig *v, const SecretValue *key,
                                       SecretValue **ret, NsError *error);

/* The migration's step: the plain key (as read from "<key>[.previous]") stored wrapped to this node
 * unless a wrapped form exists, read back and unwrapped; the caller compares it with key. */
int secret_source_wrap_volume_key(SecretSource *s, const VolumeConfig *v, bool previous, const SecretValue *key,
                                  SecretValue **ret, NsError *error);

/* The CA: tls.crt and tls.key of the CA Secret; ca.crt (trust bundle) when present, else NULL. */
int secret_source_get_ca(SecretSource *s, SecretValue **ret_cert_pem, SecretValue **ret_key_pem,
                         SecretValue **ret_bundle_pem, NsError *error);

/* Checks a name for a Secret or a Secret key: what Kubernetes accepts, so that a directory source
 * can never be led outside its root. */
bool secret_name_is_valid(const char *name);
bool secret_key_is_valid(const char *key);

extern const SecretSourceVTable secret_source_directory_vtable;
extern const SecretSourceVTable secret_source_kubernetes_vtable;
