/* SPDX-License-Identifier: Apache-2.0 */
/* A minimal test runner: TEST() cases registered at load time, ASSERT_*() that stop the case. */
#pragma once

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct TestCase {
        const char *name;
        void (*func)(void);
        struct TestCase *next;
} TestCase;

extern TestCase *test_cases;
extern int test_failed;
extern const char *test_tmpdir;   /* a fresh directory per test file, removed at the end */

#define TEST(n)                                                                         \
        static void test_##n(void);                                                     \
        static TestCase test_case_##n = { #n, test_##n, NULL };                         \
        __attribute__((constructor)) static void test_register_##n(void) {             \
                TestCase **p = &test_cases;                                             \
                while (*p)                                                              \
                        p = &(*p)->next;                                                \
                *p = &test_case_##n;                                                    \
        }                                                                               \
        static void test_##n(void)

#define TEST_FAIL_AT(fmt, ...)                                                          \
        do {                                                                            \
                fprintf(stderr, "  %s:%d: " fmt "\n", __FILE__, __LINE__, __VA_ARGS__); \
                test_failed = 1;                                                        \
                return;                                                                 \
        } while (0)

#define ASSERT_TRUE(expr)                                                               \
        do {                                                                            \
                if (!(expr))                                                            \
                        TEST_FAIL_AT("expected true: %s", #expr);                       \
        } while (0)
#define ASSERT_FALSE(expr) ASSERT_TRUE(!(expr))

#define ASSERT_EQ(a, b)                                                                 \
        do {                                                                            \
                long long _a = (long long) (a), _b = (long long) (b);                   \
                if (_a != _b)                                                           \
                        TEST_FAIL_AT("%s == %s: %lld != %lld", #a, #b, _a, _b);         \
        } while (0)

#define ASSERT_OK(expr)                                                                 \
        do {                                                                            \
                long long _r = (long long) (expr);                                      \
                if (_r < 0)                                                             \
                        TEST_FAIL_AT("%s failed: %lld (%s)", #expr, _r, strerror((int) -_r)); \
        } while (0)

#define ASSERT_ERROR(expr, err)                                                         \
        do {                                                                            \
                long long _r = (long long) (expr);                                      \
                if (_r != -(long long) (err))                                           \
                        TEST_FAIL_AT("%s: expected -%s, got %lld (%s)", #expr, #err, _r,  \
                                     _r < 0 ? strerror((int) -_r) : "success");         \
        } while (0)

#define ASSERT_STREQ(a, b)                                                              \
        do {                                                                            \
                const char *_a = (a), *_b = (b);                                        \
                if (!_a || !_b || strcmp(_a, _b) != 0)                                  \
                        TEST_FAIL_AT("%s == %s: \"%s\" != \"%s\"", #a, #b, _a ? _a : "(null)", \
                                     _b ? _b : "(null)");                              \
        } while (0)

#define ASSERT_CONTAINS(haystack, needle)                                               \
        do {                                                                            \
                const char *_h = (haystack), *_n = (needle);                            \
                if (!_h || !strstr(_h, _n))                                             \
                        TEST_FAIL_AT("\"%s\" does not contain \"%s\"", _h ? _h : "(null)", _n); \
        } while (0)

/* Writes a file under test_tmpdir (relative path) or at an absolute path; returns its path in buf. */
const char *test_write_file(const char *path, const char *content, char *buf, size_t n);
