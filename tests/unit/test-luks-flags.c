/* SPDX-License-Identifier: Apache-2.0 */
/* Activation flags: decided from the config and the disk; the rotational answer of sysfs. */
#include <libcryptsetup.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>

#include "luks-flags.h"
#include "tests.h"

#define WQ (CRYPT_ACTIVATE_NO_READ_WORKQUEUE | CRYPT_ACTIVATE_NO_WRITE_WORKQUEUE)

TEST(auto_follows_the_disk) {
        LuksConfig l = { .no_read_workqueue = AUTO_BOOL_AUTO, .no_write_workqueue = AUTO_BOOL_AUTO };

        ASSERT_EQ(luks_flags_decide(&l, 0), WQ);
        ASSERT_EQ(luks_flags_decide(&l, 1), 0);
        /* Unknown: the kernel's defaults, as for a spinning disk. */
        ASSERT_EQ(luks_flags_decide(&l, -ENODATA), 0);
}

TEST(config_wins_over_the_disk) {
        LuksConfig l = { .no_read_workqueue = AUTO_BOOL_FALSE, .no_write_workqueue = AUTO_BOOL_TRUE,
                         .allow_discards = true };

        ASSERT_EQ(luks_flags_decide(&l, 0), CRYPT_ACTIVATE_NO_WRITE_WORKQUEUE | CRYPT_ACTIVATE_ALLOW_DISCARDS);
        ASSERT_EQ(luks_flags_decide(&l, 1), CRYPT_ACTIVATE_NO_WRITE_WORKQUEUE | CRYPT_ACTIVATE_ALLOW_DISCARDS);
}

TEST(describe) {
        char buf[96];

        luks_flags_describe(0, buf, sizeof(buf));
        ASSERT_STREQ(buf, "none");
        luks_flags_describe(WQ | CRYPT_ACTIVATE_ALLOW_DISCARDS, buf, sizeof(buf));
        ASSERT_STREQ(buf, "allow_discards no_read_workqueue no_write_workqueue");
        luks_flags_describe(CRYPT_ACTIVATE_NO_READ_WORKQUEUE, buf, sizeof(buf));
        ASSERT_STREQ(buf, "no_read_workqueue");
}

TEST(rotational_from_sysfs) {
        struct stat st = { .st_mode = S_IFREG, .st_dev = makedev(0, 42) };

        /* An anonymous device (tmpfs, overlay): nothing to ask. */
        ASSERT_ERROR(luks_flags_rotational(&st), ENODATA);
        /* /dev/null is a character device: its st_dev is the devtmpfs it lives on, anonymous too. */
        if (stat("/dev/null", &st) == 0 && major(st.st_dev) == 0)
                ASSERT_ERROR(luks_flags_rotational(&st), ENODATA);
        /* A block device number with no sysfs entry. */
        st = (struct stat) { .st_mode = S_IFBLK, .st_rdev = makedev(4095, 1048575) };
        ASSERT_ERROR(luks_flags_rotational(&st), ENODATA);
}
