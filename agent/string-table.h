/* SPDX-License-Identifier: Apache-2.0 */
/* String tables of enums with _X_MAX / _X_INVALID sentinels: x_to_string() and x_from_string(). */
#pragma once

#include <stddef.h>
#include <string.h>

#include "macro.h"

/* The index of s in table[0..n), skipping holes; -1 when s is NULL or not there. */
static inline int string_table_lookup(const char * const *table, size_t n, const char *s) {
        if (!s)
                return -1;
        for (size_t i = 0; i < n; i++)
                if (table[i] && streq(table[i], s))
                        return (int) i;
        return -1;
}

#define _DEFINE_STRING_TABLE_TO_STRING(name, type, max, scope)                  \
        scope const char *name##_to_string(type t) {                            \
                if ((int) t < 0 || (int) t >= (int) (max))                       \
                        return NULL;                                             \
                return name##_table[t];                                          \
        }

#define _DEFINE_STRING_TABLE_FROM_STRING(name, type, max, invalid, scope)       \
        scope type name##_from_string(const char *s) {                          \
                int _i = string_table_lookup(name##_table, (max), s);            \
                return _i < 0 ? (invalid) : (type) _i;                           \
        }

/* For an enum `type` whose values are PREFIX_..., with sentinels _PREFIX_MAX and _PREFIX_INVALID:
 * name_table[] from the designated initializers that follow, name_to_string() (NULL out of range)
 * and name_from_string() (_PREFIX_INVALID when NULL or unknown). */
#define DEFINE_STRING_TABLE(name, type, PREFIX, ...)                                            \
        static const char * const name##_table[_##PREFIX##_MAX] = { __VA_ARGS__ };              \
        _DEFINE_STRING_TABLE_TO_STRING(name, type, _##PREFIX##_MAX, )                           \
        _DEFINE_STRING_TABLE_FROM_STRING(name, type, _##PREFIX##_MAX, _##PREFIX##_INVALID, )

/* Only name_to_string(): an enum that is written, never read back. */
#define DEFINE_STRING_TABLE_TO_STRING(name, type, PREFIX, ...)                                  \
        static const char * const name##_table[_##PREFIX##_MAX] = { __VA_ARGS__ };              \
        _DEFINE_STRING_TABLE_TO_STRING(name, type, _##PREFIX##_MAX, )

/* Both, static to the module that defines them. */
#define DEFINE_PRIVATE_STRING_TABLE(name, type, PREFIX, ...)                                    \
        static const char * const name##_table[_##PREFIX##_MAX] = { __VA_ARGS__ };              \
        _DEFINE_STRING_TABLE_TO_STRING(name, type, _##PREFIX##_MAX, _unused_ static)            \
        _DEFINE_STRING_TABLE_FROM_STRING(name, type, _##PREFIX##_MAX, _##PREFIX##_INVALID, _unused_ static)
