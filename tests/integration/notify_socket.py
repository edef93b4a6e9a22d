#!/usr/bin/env python3
"""notify_socket.py - the service manager's end of sd_notify(3), for tests.

Binds an AF_UNIX datagram socket at PATH (what systemd passes as NOTIFY_SOCKET) and writes
one line per datagram to OUT: the CLOCK_MONOTONIC time in seconds when it arrived, a space,
and the message with its newlines shown as " | ". Runs until SIGTERM or --timeout seconds.
Standard library only.

  notify_socket.py PATH OUT [--timeout S]
"""
import argparse
import os
import signal
import socket
import sys
import time


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("path")
    ap.add_argument("out")
    ap.add_argument("--timeout", type=float, default=300.0)
    args = ap.parse_args()

    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    if os.path.exists(args.path):
        os.unlink(args.path)
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(args.path)
    os.chmod(args.path, 0o666)  # the daemon may run as another user (package test)
    deadline = time.monotonic() + args.timeout
    with open(args.out, "a", buffering=1) as out:
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return 0
            sock.settimeout(min(left, 1.0))
            try:
                data = sock.recv(4096)
            except socket.timeout:
                continue
            text = data.decode("utf-8", "replace").rstrip("\n").replace("\n", " | ")
            out.write("%.3f %s\n" % (time.monotonic(), text))


if __name__ == "__main__":
    sys.exit(main())
