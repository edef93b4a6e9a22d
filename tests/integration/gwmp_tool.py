#!/usr/bin/env python3
"""gwmp_tool.py - packet forwarders and LoRaWAN devices for the Semtech UDP tests, independent
of the project's C (crypto: the openssl command line, through tests/firmware/lorawan_tool.py).

  uplink  --dev-addr HEX8 --nwk-s-key HEX --app-s-key HEX --fcnt N --payload-file FILE
          [--port P] [--confirmed]
          Prints a LoRaWAN 1.0.x uplink PHYPayload (hex) carrying the file's bytes.
  push    --server PORT --phy HEX --eui HEX16 [--eui HEX16]... [--rssi DBM]...
          [--timeout S] [--pull]
          Sends the same PUSH_DATA (one rxpk with PHY) from one UDP socket per EUI, all at
          once, as forwarders that heard the same frame do; prints "ack <eui>" for every
          PUSH_ACK received within the timeout, and with --pull first sends PULL_DATA from
          each socket and afterwards prints "downlink <eui> <txpk json>" for each PULL_RESP.
  raw     --server PORT --hex DATAGRAM [--timeout S]
          Sends one datagram as given; prints the reply's hex, or "none".
Standard library only.
"""
import argparse
import base64
import json
import os
import select
import socket
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "firmware"))
from lorawan_tool import crypt, mic  # noqa: E402


def cmd_uplink(a):
    dev_addr = int(a.dev_addr, 16)
    with open(a.payload_file, "rb") as f:
        payload = f.read()
    mhdr = 0x80 if a.confirmed else 0x40
    fhdr = dev_addr.to_bytes(4, "little") + bytes([0]) + (a.fcnt & 0xFFFF).to_bytes(2, "little")
    enc = crypt(bytes.fromhex(a.app_s_key), 0, dev_addr, a.fcnt, payload)
    msg = bytes([mhdr]) + fhdr + bytes([a.port]) + enc
    print((msg + mic(bytes.fromhex(a.nwk_s_key), 0, dev_addr, a.fcnt, msg)).hex())


def push_datagram(token, eui, phy, rssi, tmst):
    rxpk = {"time": time.strftime("%Y-%m-%dT%H:%M:%S.000000Z", time.gmtime()), "tmst": tmst,
            "chan": 0, "rfch": 0, "freq": 868.1, "stat": 1, "modu": "LORA",
            "datr": "SF7BW125", "codr": "4/5", "rssi": rssi, "lsnr": 7.5, "size": len(phy),
            "data": base64.b64encode(phy).decode()}
    body = json.dumps({"rxpk": [rxpk]}).encode()
    return bytes([2]) + token.to_bytes(2, "big") + bytes([0]) + bytes.fromhex(eui) + body


def cmd_push(a):
    phy = bytes.fromhex(a.phy)
    rssis = a.rssi or []
    socks = []
    for i, eui in enumerate(a.eui):
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.connect(("127.0.0.1", a.server))
        socks.append((s, eui, rssis[i] if i < len(rssis) else -80))
    if a.pull:
        for s, eui, _ in socks:
            s.send(bytes([2, 0, 1, 2]) + bytes.fromhex(eui))
    for i, (s, eui, rssi) in enumerate(socks):
        s.send(push_datagram(0x1000 + i, eui, phy, rssi, 1000000 * (i + 1)))
    deadline = time.monotonic() + a.timeout
    by_fd = {s.fileno(): (s, eui) for s, eui, _ in socks}
    while time.monotonic() < deadline:
        ready, _, _ = select.select(list(by_fd), [], [], max(0, deadline - time.monotonic()))
        for fd in ready:
            s, eui = by_fd[fd]
            try:
                data = s.recv(65535)
            except OSError:
                continue
            if len(data) >= 4 and data[3] == 1:
                print("ack", eui, flush=True)
            elif len(data) > 4 and data[3] == 3:
                print("downlink", eui, json.dumps(json.loads(data[4:])["txpk"]), flush=True)


def cmd_raw(a):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.connect(("127.0.0.1", a.server))
    s.send(bytes.fromhex(a.hex))
    ready, _, _ = select.select([s], [], [], a.timeout)
    try:
        print(s.recv(65535).hex() if ready else "none")
    except OSError:
        print("none")


def main():
    p = argparse.ArgumentParser()
    sub = p.add_subparsers(dest="cmd", required=True)
    u = sub.add_parser("uplink")
    u.add_argument("--dev-addr", required=True)
    u.add_argument("--nwk-s-key", required=True)
    u.add_argument("--app-s-key", required=True)
    u.add_argument("--fcnt", type=int, required=True)
    u.add_argument("--payload-file", required=True)
    u.add_argument("--port", type=int, default=1)
    u.add_argument("--confirmed", action="store_true")
    q = sub.add_parser("push")
    q.add_argument("--server", type=int, required=True)
    q.add_argument("--phy", required=True)
    q.add_argument("--eui", action="append", required=True)
    q.add_argument("--rssi", type=int, action="append")
    q.add_argument("--timeout", type=float, default=3)
    q.add_argument("--pull", action="store_true")
    r = sub.add_parser("raw")
    r.add_argument("--server", type=int, required=True)
    r.add_argument("--hex", required=True)
    r.add_argument("--timeout", type=float, default=1)
    a = p.parse_args()
    {"uplink": cmd_uplink, "push": cmd_push, "raw": cmd_raw}[a.cmd](a)


if __name__ == "__main__":
    main()
