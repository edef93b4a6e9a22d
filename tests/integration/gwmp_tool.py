#!/usr/bin/env python3
"""gwmp_tool.py - packet forwarders and LoRaWAN devices for the Semtech UDP tests, independent
of the project's C (crypto: the openssl command line, through tests/firmware/lorawan_tool.py).

  uplink  --dev-addr HEX8 --nwk-s-key HEX --app-s-key HEX --fcnt N --payload-file FILE
          [--port P] [--confirmed]
          Prints a LoRaWAN 1.0.x uplink PHYPayload (hex) carrying the file's bytes.
  join    --join-eui HEX16 --dev-eui HEX16 --app-key HEX --dev-nonce N
          Prints a LoRaWAN 1.0.x Join-Request PHYPayload (hex).
  push    --server PORT --phy HEX --eui HEX16 [--eui HEX16]... [--rssi DBM]...
          [--tmst US]... [--freq MHZ] [--timeout S] [--pull] [--at UNIX_S]
          [--late-eui HEX16 [--late-rssi DBM] [--late-tmst US]]... [--late-after S]
          [--late-out FILE] [--bind HOST]
          Sends the same PUSH_DATA (one rxpk with PHY) from one UDP socket per EUI, all at
          once, as forwarders that heard the same frame do; the i-th EUI reports the i-th
          --rssi and --tmst (default -80 dBm, (i + 1) s). Prints "ack <eui>" for every
          PUSH_ACK received within the timeout, and with --pull first sends PULL_DATA from
          each socket and afterwards prints "downlink <eui> <txpk json>" for each PULL_RESP.
  open    --nwk-s-key HEX --app-s-key HEX --data BASE64
          Opens a data downlink PHYPayload (a txpk's data): prints one JSON object with
          mtype, dev_addr, ack, fpending, fcnt, fport, payload (decrypted, hex), mic_ok.
  pull    --server PORT --eui HEX16 [--bind HOST] [--timeout S]
          Sends PULL_DATA as that forwarder (from HOST of the loopback, e.g. 127.0.0.2: a
          forwarder at another address) and prints "pull_ack <eui>", then
          "downlink <eui> <txpk json>" for each PULL_RESP within the timeout.
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
from lorawan_tool import cmac, crypt, mic  # noqa: E402


def cmd_uplink(a):
    dev_addr = int(a.dev_addr, 16)
    with open(a.payload_file, "rb") as f:
        payload = f.read()
    mhdr = 0x80 if a.confirmed else 0x40
    fhdr = dev_addr.to_bytes(4, "little") + bytes([0]) + (a.fcnt & 0xFFFF).to_bytes(2, "little")
    enc = crypt(bytes.fromhex(a.app_s_key), 0, dev_addr, a.fcnt, payload)
    msg = bytes([mhdr]) + fhdr + bytes([a.port]) + enc
    print((msg + mic(bytes.fromhex(a.nwk_s_key), 0, dev_addr, a.fcnt, msg)).hex())


def cmd_join(a):
    msg = (bytes([0x00]) + int(a.join_eui, 16).to_bytes(8, "little") +
           int(a.dev_eui, 16).to_bytes(8, "little") + a.dev_nonce.to_bytes(2, "little"))
    print((msg + cmac(bytes.fromhex(a.app_key), msg)[:4]).hex())


def cmd_open(a):
    phy = base64.b64decode(a.data)
    if len(phy) < 12 or phy[0] >> 5 not in (3, 5):
        print(json.dumps({"error": "not a data downlink", "hex": phy.hex()}))
        return
    dev_addr = int.from_bytes(phy[1:5], "little")
    fctrl = phy[5]
    fcnt = int.from_bytes(phy[6:8], "little")  # 16 bits on air; the tests stay below
    nwk, app = bytes.fromhex(a.nwk_s_key), bytes.fromhex(a.app_s_key)
    body = phy[8 + (fctrl & 0x0F):-4]
    out = {"mtype": phy[0] >> 5, "dev_addr": "%08X" % dev_addr, "ack": bool(fctrl & 0x20),
           "fpending": bool(fctrl & 0x10), "fcnt": fcnt, "fport": None, "payload": "",
           "mic_ok": mic(nwk, 1, dev_addr, fcnt, phy[:-4]) == phy[-4:]}
    if body:
        out["fport"] = body[0]
        out["payload"] = crypt(nwk if body[0] == 0 else app, 1, dev_addr, fcnt, body[1:]).hex()
    print(json.dumps(out))


def push_datagram(token, eui, phy, rssi, tmst, freq):
    rxpk = {"time": time.strftime("%Y-%m-%dT%H:%M:%S.000000Z", time.gmtime()), "tmst": tmst,
            "chan": 0, "rfch": 0, "freq": freq, "stat": 1, "modu": "LORA",
            "datr": "SF7BW125", "codr": "4/5", "rssi": rssi, "lsnr": 7.5, "size": len(phy),
            "data": base64.b64encode(phy).decode()}
    body = json.dumps({"rxpk": [rxpk]}).encode()
    return bytes([2]) + token.to_bytes(2, "big") + bytes([0]) + bytes.fromhex(eui) + body


def open_forwarders(a, euis, rssis, tmsts):
    socks = []
    for i, eui in enumerate(euis):
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        if getattr(a, "bind", None):
            s.bind((a.bind, 0))
        s.connect(("127.0.0.1", a.server))
        socks.append((s, eui, rssis[i] if i < len(rssis) else -80,
                      tmsts[i] if i < len(tmsts) else 1000000 * (i + 1)))
    return socks


def send_copies(a, phy, socks):
    """PULL_DATA (with --pull), then one PUSH_DATA per forwarder."""
    if a.pull:
        for s, eui, _, _ in socks:
            s.send(bytes([2, 0, 1, 2]) + bytes.fromhex(eui))
    for i, (s, eui, rssi, tmst) in enumerate(socks):
        s.send(push_datagram(0x1000 + i, eui, phy, rssi, tmst, a.freq))


def listen(listeners, until):
    """Prints every PUSH_ACK and PULL_RESP arriving on the sockets of listeners (a list of
    (socks, out)) until `until` (monotonic)."""
    by_fd = {s.fileno(): (s, eui, out) for socks, out in listeners for s, eui, _, _ in socks}
    while time.monotonic() < until:
        ready, _, _ = select.select(list(by_fd), [], [], max(0, until - time.monotonic()))
        for fd in ready:
            s, eui, out = by_fd[fd]
            try:
                data = s.recv(65535)
            except OSError:
                continue
            if len(data) >= 4 and data[3] == 1:
                print("ack", eui, file=out, flush=True)
            elif len(data) > 4 and data[3] == 3:
                print("downlink", eui, json.dumps(json.loads(data[4:])["txpk"]), file=out,
                      flush=True)


def cmd_push(a):
    if a.at is not None:
        # a send time fixed in advance, so that the process's own start-up (slow on a busy
        # machine) does not move it
        time.sleep(max(0.0, a.at - time.time()))
    phy = bytes.fromhex(a.phy)
    socks = open_forwarders(a, a.eui, a.rssi or [], a.tmst or [])
    start = time.monotonic()
    send_copies(a, phy, socks)
    if not a.late_eui:
        listen([(socks, sys.stdout)], start + a.timeout)
        return
    # straggling copies of the same reception, sent by this same process --late-after
    # seconds after the first ones (a second process could start late and send first);
    # their replies go to --late-out
    late = open_forwarders(a, a.late_eui, a.late_rssi or [], a.late_tmst or [])
    listen([(socks, sys.stdout)], start + a.late_after)
    with open(a.late_out, "w") as out:
        send_copies(a, phy, late)
        listen([(socks, sys.stdout), (late, out)], start + max(a.timeout, a.late_after + 1.0))


def cmd_pull(a):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    if a.bind:
        s.bind((a.bind, 0))
    s.connect(("127.0.0.1", a.server))
    s.send(bytes([2, 0, 2, 2]) + bytes.fromhex(a.eui))
    until = time.monotonic() + a.timeout
    while time.monotonic() < until:
        ready, _, _ = select.select([s], [], [], max(0, until - time.monotonic()))
        if not ready:
            continue
        try:
            data = s.recv(65535)
        except OSError:
            continue
        if len(data) >= 4 and data[3] == 4:
            print("pull_ack", a.eui, flush=True)
        elif len(data) > 4 and data[3] == 3:
            print("downlink", a.eui, json.dumps(json.loads(data[4:])["txpk"]), flush=True)


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
    q.add_argument("--tmst", type=int, action="append")
    q.add_argument("--freq", type=float, default=868.1)
    q.add_argument("--timeout", type=float, default=3)
    q.add_argument("--pull", action="store_true")
    q.add_argument("--at", type=float, help="send at this unix time (seconds)")
    q.add_argument("--late-eui", action="append")
    q.add_argument("--late-rssi", type=int, action="append")
    q.add_argument("--late-tmst", type=int, action="append")
    q.add_argument("--late-after", type=float, default=1.1)
    q.add_argument("--late-out")
    q.add_argument("--bind")
    pl = sub.add_parser("pull")
    pl.add_argument("--server", type=int, required=True)
    pl.add_argument("--eui", required=True)
    pl.add_argument("--bind")
    pl.add_argument("--timeout", type=float, default=3)
    j = sub.add_parser("join")
    j.add_argument("--join-eui", required=True)
    j.add_argument("--dev-eui", required=True)
    j.add_argument("--app-key", required=True)
    j.add_argument("--dev-nonce", type=int, required=True)
    o = sub.add_parser("open")
    o.add_argument("--nwk-s-key", required=True)
    o.add_argument("--app-s-key", required=True)
    o.add_argument("--data", required=True)
    r = sub.add_parser("raw")
    r.add_argument("--server", type=int, required=True)
    r.add_argument("--hex", required=True)
    r.add_argument("--timeout", type=float, default=1)
    a = p.parse_args()
    {"uplink": cmd_uplink, "join": cmd_join, "push": cmd_push, "open": cmd_open,
     "pull": cmd_pull, "raw": cmd_raw}[a.cmd](a)


if __name__ == "__main__":
    main()
