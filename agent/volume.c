/* SPDX-License-Identifier: Apache-2.0 */
/* LUKS2 volumes. PLACEHOLDER: being written; every call reports -EOPNOTSUPP. */
#include "volume.h"

int volume_provision(const Config *c, const VolumeConfig *v, SecretSource *s, NsError *error) {
        return ns_error_set(error, -EOPNOTSUPP, "volumes not implemented yet");
}
int volume_check(const Config *c, const VolumeConfig *v, NsError *error) {
        return ns_error_set(error, -EOPNOTSUPP, "volumes not implemented yet");
}
int volume_close(const Config *c, const VolumeConfig *v, NsError *error) {
        return ns_error_set(error, -EOPNOTSUPP, "volumes not implemented yet");
}
