/* SPDX-License-Identifier: Apache-2.0 */
/* A node during a CA rotation: the daemon's record of loaded trust and granted signers, the stage reached. */
#include <fcntl.h>

#include "json-util.h"
#include "path-util.h"
#include "profile.h"
#include "rotation-state.h"

#define ROTATION_STATE_MAX (4 * 1024 * 1024)

void rotation_state_done(RotationState *st) {
        free(st->granted);
        for (size_t i = 0; i < st->n; i++) {
                free(st->names[i]);
                free(st->loaded[i]);
        }
        free(st->names);
        free(st->loaded);
        *st = (RotationState) {};
}

void rotation_report_done(RotationReport *r) {
        free(r->waiting);
        free(r->held_signer);
        *r = (RotationReport) {};
}

const char *rotation_state_loaded(const RotationState *st, const char *name) {
        for (size_t i = 0; st && i < st->n; i++)
                if (streq(st->names[i], name))
                        return st->loaded[i];
        return NULL;
}

int rotation_state_set_loaded(RotationState *st, const char *name, const char *pem) {
        char *copy = strdup(pem), **n, **l;

        if (!copy)
                return -ENOMEM;
        for (size_t i = 0; i < st->n; i++)
                if (streq(st->names[i], name)) {
                        free(st->loaded[i]);
                        st->loaded[i] = copy;
                        return 0;
                }
        n = reallocarray(st->names, st->n + 1, sizeof(char *));
        if (n)
                st->names = n;
        l = n ? reallocarray(st->loaded, st->n + 1, sizeof(char *)) : NULL;
        if (l)
                st->loaded = l;
        if (!n || !l || !(st->names[st->n] = strdup(name))) {
                free(copy);
                return -ENOMEM;
        }
        st->loaded[st->n++] = copy;
        return 0;
}

static int state_path_dir(const Config *c, int *ret) {
        return path_open_dir_safe(c->runtime_dir, PATH_SAFE_MKDIR, (uid_t) -1, (gid_t) -1, ret, NULL);
}

int rotation_state_read(const Config *c, RotationState *ret) {
        _cleanup_(rotation_state_done) RotationState st = {};
        _cleanup_(cJSON_Deletep) cJSON *root = NULL;
        _cleanup_close_ int dfd = -EBADF, fd = -EBADF;
        _cleanup_free_ char *text = NULL;
        const cJSON *loaded, *o, *g;
        size_t size;
        int r;

        r = path_open_dir_safe(c->runtime_dir, 0, (uid_t) -1, (gid_t) -1, &dfd, NULL);
        if (r < 0)
                return r;
        r = path_open_regular_at(dfd, ROTATION_STATE_FILE, O_RDONLY, &fd, NULL);
        if (r < 0)
                return r;
        r = read_full_fd(fd, ROTATION_STATE_MAX, &text, &size);
        if (r < 0)
                return r;
        root = cJSON_ParseWithLength(text, size);
        if (!cJSON_IsObject(root))
                return -EBADMSG;
        g = cJSON_GetObjectItemCaseSensitive(root, "granted");
        if (cJSON_IsString(g) && !(st.granted = strdup(g->valuestring)))
                return -ENOMEM;
        loaded = cJSON_GetObjectItemCaseSensitive(root, "loaded");
        cJSON_ArrayForEach(o, loaded)
                if (cJSON_IsString(o) && o->string && (r = rotation_state_set_loaded(&st, o->string, o->valuestring)) < 0)
                        return r;
        *ret = st;
        st = (RotationState) {};
        return 0;
}

int rotation_state_write(const Config *c, const RotationState *st) {
        _cleanup_(cJSON_Deletep) cJSON *root = cJSON_CreateObject();
        _cleanup_close_ int dfd = -EBADF;
        _cleanup_free_ char *text = NULL;
        cJSON *loaded;
        int r;

        if (!root || (st->granted && !cJSON_AddStringToObject(root, "granted", st->granted)) ||
            !(loaded = cJSON_AddObjectToObject(root, "loaded")))
                return -ENOMEM;
        for (size_t i = 0; i < st->n; i++)
                if (!cJSON_AddStringToObject(loaded, st->names[i], st->loaded[i]))
                        return -ENOMEM;
        text = cJSON_PrintUnformatted(root);
        if (!text)
                return -ENOMEM;
        r = state_path_dir(c, &dfd);
        if (r < 0)
                return r;
        return write_file_atomic_at(dfd, ROTATION_STATE_FILE, text, strlen(text), 0600, (uid_t) -1, (gid_t) -1);
}

int rotation_secret_stage(SecretSource *s, RotationStage *ret, NsError *error) {
        bool has[2];
        static const char * const keys[2] = { "next.crt", "previous.crt" };

        for (size_t i = 0; i < 2; i++) {
                _cleanup_(secret_value_freep) SecretValue *v = NULL;
                NsError e = {};
                int r = secret_source_get(s, s->config->secrets.ca_secret, keys[i], &v, &e);

                if (r < 0 && r != -ENOKEY)
                        return ns_error_set(error, r, "%s", ns_error_message(&e, r));
                has[i] = r >= 0;
        }
        *ret = has[0] ? ROTATION_PREPARED : has[1] ? ROTATION_ACTIVATED : ROTATION_NONE;
        return 0;
}

static bool has_anchor(const char *bundle, const char *chain) {
        return bundle && chain && pki_bundle_has_anchor(bundle, strlen(bundle), chain, strlen(chain)) > 0;
}

bool rotation_may_sign(const RotationState *st, const char *name, const char *signer, RotationStage stage,
                       bool *ret_jitter) {
        const char *loaded = rotation_state_loaded(st, name);

        *ret_jitter = false;
        if (!st)
                return true;
        if (loaded && !has_anchor(loaded, signer))
                return false;
        *ret_jitter = true;
        return stage != ROTATION_ACTIVATED || has_anchor(st->granted, signer);
}

/* What the datastore of cc has loaded: the daemon's record, else the CA file as written. */
static char *loaded_trust(const RotationState *st, const CertificateConfig *cc) {
        _cleanup_(profile_files_done) ProfileFiles f = PROFILE_FILES_NULL;
        const char *l = rotation_state_loaded(st, cc->name);
        char *text = NULL;

        if (l)
                return strdup(l);
        if (profile_files_paths(cc, &f) >= 0)
                (void) read_full_file(f.ca_path, ROTATION_STATE_MAX, &text, NULL);
        return text;
}

static int set_waiting(RotationReport *r, const char *cert, const char *why) {
        if (r->waiting)
                return 0;
        return asprintf(&r->waiting, "certificate %s: %s", cert, why) < 0 ? -ENOMEM : 0;
}

int rotation_evaluate(const Config *c, const RotationState *st, const Ca *ca, RotationStage secret_stage,
                      RotationReport *ret) {
        _cleanup_free_ char *trust = NULL, *given = NULL;
        bool bundle_loaded = true, signed_by_current = true, bundle_exact = true;
        int r;

        r = ca_trust_pem(ca, &trust);
        if (r >= 0)
                r = ca_given_pem(ca, &given);
        if (r < 0)
                return r;
        for (size_t i = 0; i < c->n_certificates && r >= 0; i++) {
                const CertificateConfig *cc = c->certificates + i;
                _cleanup_free_ char *loaded = loaded_trust(st, cc);

                if (!pki_bundle_covers(loaded, trust)) {
                        bundle_loaded = false;
                        r = set_waiting(ret, cc->name, "its datastore has not loaded the CA Secret's trust bundle "
                                                       "(reload pending or failed)");
                } else if (!pki_bundle_covers(trust, loaded)) {
                        bundle_exact = false;
                        r = set_waiting(ret, cc->name, "its datastore still trusts a CA the bundle has dropped");
                }
                if (r >= 0 && certificate_issued_by(cc, given, strlen(given)) <= 0) {
                        signed_by_current = false;
                        r = set_waiting(ret, cc->name, ret->held_signer ? "reissue under the new CA waits for its jitter"
                                                                        : "not issued by the signing CA yet");
                }
        }
        if (r < 0)
                return r;
        ret->known = true;
        ret->secret_stage = secret_stage;
        ret->node_stage = rotation_node_stage(secret_stage, bundle_loaded, signed_by_current, bundle_exact);
        if (ret->node_stage == secret_stage) {
                free(ret->waiting);
                ret->waiting = NULL;
        }
        return 0;
}
