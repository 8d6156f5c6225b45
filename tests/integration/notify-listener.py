#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
# Stands in for systemd's notification socket: binds a unix datagram socket and appends every
# line of every message (READY=1, STATUS=..., STOPPING=1, WATCHDOG=1) to a log, one per line.
import os
import socket
import sys

path, log = sys.argv[1], sys.argv[2]
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(path)
with open(log, "a", buffering=1) as f:
    f.write("LISTENING\n")
    while True:
        data = s.recv(65536).decode(errors="replace")
        for line in data.split("\n"):
            if line:
                f.write(line + "\n")
