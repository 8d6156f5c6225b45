/* SPDX-License-Identifier: Apache-2.0 */
/* Response buffers in secret memory: the cap and consuming. */
#include "kube-buffer.h"
#include "tests.h"

TEST(buffer_cap) {
        KubeBuffer b = { .max = 10 };

        ASSERT_OK(kube_buffer_append(&b, "12345", 5));
        ASSERT_OK(kube_buffer_append(&b, "67890", 5));
        ASSERT_ERROR(kube_buffer_append(&b, "x", 1), EFBIG);
        ASSERT_TRUE(b.overflow);
        kube_buffer_consume(&b, 4);
        ASSERT_EQ(b.size, 6);
        ASSERT_STREQ(b.data, "567890");
        kube_buffer_done(&b);
        ASSERT_TRUE(b.data == NULL);
}
