#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Writes or reads a LUKS2 volume's data area as dm-crypt would, without device-mapper:
aes-xts-plain64, the segment's sector size, the IV the sector's number in 512-byte units (dm-crypt
without iv_large_sectors, as LUKS2 sets it up). Independent of nodeseal and of libcryptsetup, so
that data put there before a re-encryption can be read back after it under the new volume key.

luks-xts.py encrypt|decrypt VK_FILE DEVICE DATA_OFFSET SECTOR_SIZE PLAIN_FILE
(encrypt: PLAIN_FILE onto the device from the data offset; decrypt: as many bytes into PLAIN_FILE)
"""
import os
import sys

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes


def main():
    op, vk_file, device, offset, sector, plain = sys.argv[1:7]
    offset, sector = int(offset), int(sector)
    with open(vk_file, "rb") as f:
        vk = f.read()
    if len(vk) not in (32, 64):
        sys.exit(f"{vk_file}: {len(vk)} bytes, not an aes-xts key")
    size = os.path.getsize(plain) if op == "encrypt" else int(os.environ.get("LUKS_XTS_BYTES", "0"))
    if size % sector:
        sys.exit(f"{size} bytes is not a whole number of {sector}-byte sectors")
    with open(device, "r+b" if op == "encrypt" else "rb") as dev, open(plain, "rb" if op == "encrypt" else "wb") as p:
        for i in range(size // sector):
            tweak = (i * (sector // 512)).to_bytes(16, "little")
            c = Cipher(algorithms.AES(vk), modes.XTS(tweak))
            if op == "encrypt":
                block = p.read(sector)
                dev.seek(offset + i * sector)
                dev.write(c.encryptor().update(block))
            else:
                dev.seek(offset + i * sector)
                p.write(c.decryptor().update(dev.read(sector)))
        if op == "encrypt":
            dev.flush()
            os.fsync(dev.fileno())


if __name__ == "__main__":
    main()
