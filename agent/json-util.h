/* SPDX-License-Identifier: Apache-2.0 */
/* cJSON helpers shared by every module that builds or reads JSON. */
#pragma once

#include <cjson/cJSON.h>

#include "macro.h"

DEFINE_TRIVIAL_CLEANUP_FUNC(cJSON *, cJSON_Delete);
