/* SPDX-License-Identifier: Apache-2.0 */
/* One pass over volumes and certificates: provision, check, close. */
#include <sys/stat.h>

#include "intermediate.h"
#include "log.h"
#include "path-util.h"
#include "provision.h"
#include "verbs.h"
#include "volume.h"

static int write_trust_bundle(const Config *c, const Ca *ca, NsError *error) {
        _cleanup_free_ char *pem = NULL;
        _cleanup_close_ int dfd = -EBADF;
        int r;

        r = ca_trust_pem(ca, &pem);
        if (r < 0)
                return ns_error_set(error, r, "Failed to encode the CA trust bundle: %s", strerror(-r));
        /* What "check" trusts: root's alone, reached without symlinks. */
        r = path_open_dir_safe(c->runtime_dir, PATH_SAFE_MKDIR, (uid_t) -1, (gid_t) -1, &dfd, error);
        if (r < 0)
                return r;
        r = write_file_atomic_at(dfd, PROVISION_CA_FILE, pem, strlen(pem), 0644, (uid_t) -1, (gid_t) -1);
        if (r < 0)
                return ns_error_set(error, r, "Failed to write %s/%s: %s", c->runtime_dir, PROVISION_CA_FILE,
                                    strerror(-r));
        return 0;
}

int provision_all(const Config *c, SecretSource *s, Ca **ret_ca, NsError *error) {
        return provision_all_gated(c, s, NULL, NULL, ret_ca, error);
}

/* One certificate, held back from a new CA while st says so; rr learns why. */
static int provision_certificate(const Config *c, const CertificateConfig *cc, const Ca *ca, const char *signer,
                                 RotationStage stage, const RotationState *st, RotationReport *rr, NsError *error) {
        bool jitter = false, held = false;
        bool may = !signer || rotation_may_sign(st, cc->name, signer, stage, &jitter);
        int r;

        r = certificate_provision_gated(c, cc, ca, false, may, NULL, &held, error);
        if (r < 0 || !held || !rr)
                return r;
        log_info("Certificate %s: kept under the previous CA for now: %s.", cc->name,
                 jitter ? "reissue under the new CA waits for this node's jitter"
                        : "its datastore has not loaded a trust bundle with the new CA yet");
        if (!jitter)
                rr->held_trust = true;
        else if (!rr->held_signer && !(rr->held_signer = strdup(signer)))
                return -ENOMEM;
        return r;
}

int provision_all_gated(const Config *c, SecretSource *s, const RotationState *st, RotationReport *rr, Ca **ret_ca,
                        NsError *error) {
        _cleanup_(ca_freep) Ca *ca = NULL;
        _cleanup_free_ char *signer = NULL;
        RotationStage stage = ROTATION_NONE;
        bool changed = false;
        int r;

        for (size_t i = 0; i < c->n_volumes; i++) {
                const VolumeConfig *v = c->volumes + i;

                r = volume_provision(c, v, s, error);
                if (r < 0)
                        return ns_error_prefix(error, r, "Volume %s", v->name);
                if (r > 0) {
                        log_info("Volume %s: open and mounted at %s.", v->name, v->mountpoint);
                        changed = true;
                } else
                        log_debug("Volume %s: already in place.", v->name);
        }

        if (c->n_certificates == 0 && !ret_ca)
                return changed;

        r = signer_load(c, s, &ca, error);
        if (r < 0 && c->secrets.signer == SIGNER_INTERMEDIATE)
                return ns_error_prefix(error, r, "Intermediate CA");
        if (r < 0)
                return ns_error_prefix(error, r, "CA (Secret %s)", c->secrets.ca_secret);
        r = write_trust_bundle(c, ca, error);
        if (r < 0)
                return r;
        if (rr) {
                r = rotation_secret_stage(s, &stage, error);
                if (r < 0)
                        return ns_error_prefix(error, r, "CA (Secret %s)", c->secrets.ca_secret);
                r = ca_given_pem(ca, &signer);
                if (r < 0)
                        return r;
        }

        for (size_t i = 0; i < c->n_certificates; i++) {
                const CertificateConfig *cc = c->certificates + i;

                r = provision_certificate(c, cc, ca, signer, stage, st, rr, error);
                if (r < 0)
                        return ns_error_prefix(error, r, "Certificate %s", cc->name);
                if (r > 0) {
                        log_info("Certificate %s: files in %s updated.", cc->name, cc->directory);
                        changed = true;
                } else
                        log_debug("Certificate %s: valid, reused.", cc->name);
        }

        if (rr) {
                r = rotation_evaluate(c, st, ca, stage, rr);
                if (r < 0)
                        return r;
        }
        if (ret_ca)
                *ret_ca = TAKE_PTR(ca);
        return changed;
}

int check_all(const Config *c, NsError *error) {
        _cleanup_free_ char *path = NULL, *trust = NULL;
        int r;

        for (size_t i = 0; i < c->n_volumes; i++) {
                const VolumeConfig *v = c->volumes + i;

                r = volume_check(c, v, error);
                if (r < 0) {
                        (void) ns_error_prefix(error, r, "Volume %s", v->name);
                        return CHECK_EXIT_VOLUME;
                }
        }

        if (c->n_certificates == 0)
                return CHECK_EXIT_OK;

        if (asprintf(&path, "%s/%s", c->runtime_dir, PROVISION_CA_FILE) < 0)
                return -ENOMEM;
        r = read_full_file(path, 1024 * 1024, &trust, NULL);
        if (r < 0) {
                (void) ns_error_set(error, r, "CA trust bundle %s: %s (not provisioned yet?)", path, strerror(-r));
                return CHECK_EXIT_CERT_MISSING;
        }

        for (size_t i = 0; i < c->n_certificates; i++) {
                const CertificateConfig *cc = c->certificates + i;

                r = certificate_check(c, cc, trust, c->check_margin_usec, NULL, NULL, error);
                if (r < 0) {
                        (void) ns_error_prefix(error, r, "Certificate %s", cc->name);
                        switch (r) {
                        case -ENOENT:
                                return CHECK_EXIT_CERT_MISSING;
                        case -EKEYEXPIRED:
                                return CHECK_EXIT_CERT_EXPIRING;
                        case -EKEYREJECTED:
                                return CHECK_EXIT_CERT_INVALID;
                        default:
                                return CHECK_EXIT_FAILURE;
                        }
                }
        }
        return CHECK_EXIT_OK;
}

int close_all(const Config *c, NsError *error) {
        for (size_t i = c->n_volumes; i > 0; i--) {
                const VolumeConfig *v = c->volumes + i - 1;
                int r = volume_close(c, v, error);
                if (r < 0)
                        return ns_error_prefix(error, r, "Volume %s", v->name);
        }
        return 0;
}
