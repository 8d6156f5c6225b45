/* SPDX-License-Identifier: Apache-2.0 */
/* String tables: to_string and from_string both ways, holes, out-of-range values, NULL. */
#include <errno.h>
#include <syslog.h>

#include "attempt.h"
#include "config.h"
#include "log.h"
#include "string-table.h"
#include "tests.h"

typedef enum Color {
        COLOR_RED,
        COLOR_GREEN,
        COLOR_BLUE,
        _COLOR_MAX,
        _COLOR_INVALID = -EINVAL,
} Color;

/* COLOR_GREEN is a hole. */
DEFINE_PRIVATE_STRING_TABLE(color, Color, COLOR,
                            [COLOR_RED] = "red",
                            [COLOR_BLUE] = "blue");

TEST(private_table) {
        ASSERT_STREQ(color_to_string(COLOR_RED), "red");
        ASSERT_TRUE(color_to_string(COLOR_GREEN) == NULL);
        ASSERT_TRUE(color_to_string(_COLOR_MAX) == NULL);
        ASSERT_TRUE(color_to_string(_COLOR_INVALID) == NULL);
        ASSERT_EQ(color_from_string("blue"), COLOR_BLUE);
        ASSERT_EQ(color_from_string("green"), _COLOR_INVALID);
        ASSERT_EQ(color_from_string(""), _COLOR_INVALID);
        ASSERT_EQ(color_from_string(NULL), _COLOR_INVALID);
}

TEST(module_tables_round_trip) {
        for (ProfileType t = 0; t < _PROFILE_TYPE_MAX; t++)
                ASSERT_EQ(profile_type_from_string(profile_type_to_string(t)), t);
        for (KeyType t = 0; t < _KEY_TYPE_MAX; t++)
                ASSERT_EQ(key_type_from_string(key_type_to_string(t)), t);
        for (AttemptKind k = 0; k < _ATTEMPT_KIND_MAX; k++)
                ASSERT_EQ(attempt_kind_from_string(attempt_kind_to_string(k)), k);
        for (LogFormat f = 0; f < _LOG_FORMAT_MAX; f++)
                ASSERT_EQ(log_format_from_string(log_format_to_string(f)), f);
        ASSERT_EQ(secret_source_type_from_string("Directory"), _SECRET_SOURCE_TYPE_INVALID);
}

TEST(log_levels) {
        ASSERT_EQ(log_level_from_string("err"), LOG_ERR);
        ASSERT_EQ(log_level_from_string("error"), LOG_ERR);
        ASSERT_EQ(log_level_from_string("debug"), LOG_DEBUG);
        ASSERT_EQ(log_level_from_string("loud"), -EINVAL);
        ASSERT_EQ(log_level_from_string(NULL), -EINVAL);
        ASSERT_STREQ(log_level_to_string(LOG_WARNING), "warning");
        ASSERT_TRUE(log_level_to_string(LOG_DEBUG + 1) == NULL);
}
