#!/usr/bin/env python3
"""lorawan_tool.py - the network side of the firmware tests, independent of the project's C.

  receive  --port P --out FILE [--downlink AFTER:HEX]...
           A GWMP (Semtech UDP v2) server on 127.0.0.1:P, as a network server would run it:
           PUSH_ACK for every PUSH_DATA, PULL_ACK for every PULL_DATA, and each rxpk written
           to FILE as one JSON line. --downlink sends the LoRaWAN frame HEX as a PULL_RESP
           right after uplink number AFTER (1-based) arrived. Runs until SIGTERM.
  open     --keys FILE --in FILE
           Checks the MIC of every captured uplink and decrypts it; prints
           "<fcnt> <fport> <payload hex>" per frame. Exit 1 if any frame fails.
  downlink --keys FILE --fcnt N --port P --payload HEX [--confirmed] [--ack]
           Prints a LoRaWAN 1.0.x downlink PHYPayload (hex) carrying PAYLOAD.

The crypto is the openssl command line's (AES-128-ECB for the key stream, CMAC for the
MIC), so nothing here shares code with the modem simulator it checks. Standard library
only.
"""
import argparse
import base64
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile


def read_keys(path):
    keys = {}
    with open(path) as f:
        for line in f:
            line = line.split("#", 1)[0].strip()
            if line:
                name, value = (part.strip() for part in line.split("=", 1))
                keys[name] = value
    return int(keys["devaddr"], 16), bytes.fromhex(keys["nwkskey"]), bytes.fromhex(keys["appskey"])


def aes_ecb(key, data):
    out = subprocess.run(["openssl", "enc", "-aes-128-ecb", "-nopad", "-K", key.hex()],
                         input=data, capture_output=True, check=True)
    return out.stdout


def cmac(key, data):
    with tempfile.NamedTemporaryFile() as f:
        f.write(data)
        f.flush()
        out = subprocess.run(["openssl", "mac", "-cipher", "AES-128-CBC", "-macopt",
                              "hexkey:" + key.hex(), "-in", f.name, "CMAC"],
                             capture_output=True, check=True, text=True)
    return bytes.fromhex(out.stdout.strip())


def spec_block(tag, direction, dev_addr, fcnt, last):
    return (bytes([tag, 0, 0, 0, 0, direction]) + dev_addr.to_bytes(4, "little") +
            fcnt.to_bytes(4, "little") + bytes([0, last]))


def crypt(key, direction, dev_addr, fcnt, payload):
    blocks = (len(payload) + 15) // 16
    stream = aes_ecb(key, b"".join(spec_block(1, direction, dev_addr, fcnt, i + 1)
                                   for i in range(blocks)))
    return bytes(a ^ b for a, b in zip(payload, stream))


def mic(nwk_s_key, direction, dev_addr, fcnt, msg):
    return cmac(nwk_s_key, spec_block(0x49, direction, dev_addr, fcnt, len(msg)) + msg)[:4]


def cmd_open(args):
    dev_addr, nwk, app = read_keys(args.keys)
    failed = False
    with open(args.input) as f:
        for line in f:
            phy = base64.b64decode(json.loads(line)["data"])
            if len(phy) < 13 or phy[0] not in (0x40, 0x80):
                print("not a data uplink: " + phy.hex(), file=sys.stderr)
                failed = True
                continue
            addr = int.from_bytes(phy[1:5], "little")
            fopts = phy[5] & 0x0F
            fcnt = int.from_bytes(phy[6:8], "little")  # 16 bits on air; tests stay below
            if addr != dev_addr or mic(nwk, 0, dev_addr, fcnt, phy[:-4]) != phy[-4:]:
                print("bad MIC or DevAddr in frame fcnt %d" % fcnt, file=sys.stderr)
                failed = True
                continue
            body = phy[8 + fopts:-4]
            port, payload = body[0], body[1:]
            plain = crypt(nwk if port == 0 else app, 0, dev_addr, fcnt, payload)
            print("%d %d %s" % (fcnt, port, plain.hex().upper()))
    return 1 if failed else 0


def cmd_downlink(args):
    dev_addr, nwk, app = read_keys(args.keys)
    payload = bytes.fromhex(args.payload)
    mhdr = 0xA0 if args.confirmed else 0x60
    fctrl = 0x20 if args.ack else 0x00
    msg = (bytes([mhdr]) + dev_addr.to_bytes(4, "little") + bytes([fctrl]) +
           (args.fcnt & 0xFFFF).to_bytes(2, "little") + bytes([args.port]) +
           crypt(nwk if args.port == 0 else app, 1, dev_addr, args.fcnt, payload))
    print((msg + mic(nwk, 1, dev_addr, args.fcnt, msg)).hex().upper())
    return 0


def cmd_receive(args):
    downlinks = {}
    for spec in args.downlink:
        after, hexframe = spec.split(":", 1)
        downlinks[int(after)] = bytes.fromhex(hexframe)
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", args.port))
    print("listening on udp 127.0.0.1:%d" % args.port, file=sys.stderr, flush=True)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    pull_addr = None
    seen = set()
    uplinks = 0
    with open(args.out, "a") as out:
        while True:
            data, addr = sock.recvfrom(65535)
            if len(data) < 4 or data[0] != 2:
                continue
            token, kind = data[1:3], data[3]
            if kind == 0:  # PUSH_DATA
                sock.sendto(bytes([2]) + token + bytes([1]), addr)
                if token in seen:  # a retry of one we acknowledged
                    continue
                seen.add(token)
                for rxpk in json.loads(data[12:]).get("rxpk", []):
                    out.write(json.dumps(rxpk) + "\n")
                    out.flush()
                    uplinks += 1
                    frame = downlinks.get(uplinks)
                    if frame is not None and pull_addr is not None:
                        txpk = {"imme": False, "tmst": (rxpk["tmst"] + 1000000) % 2**32,
                                "freq": rxpk["freq"], "rfch": 0, "powe": 14, "modu": "LORA",
                                "datr": rxpk["datr"], "codr": "4/5", "ipol": True,
                                "size": len(frame), "data": base64.b64encode(frame).decode()}
                        sock.sendto(bytes([2]) + os.urandom(2) + bytes([3]) +
                                    json.dumps({"txpk": txpk}).encode(), pull_addr)
            elif kind == 2:  # PULL_DATA
                pull_addr = addr
                sock.sendto(bytes([2]) + token + bytes([4]), addr)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("receive")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--downlink", action="append", default=[])
    p = sub.add_parser("open")
    p.add_argument("--keys", required=True)
    p.add_argument("--in", dest="input", required=True)
    p = sub.add_parser("downlink")
    p.add_argument("--keys", required=True)
    p.add_argument("--fcnt", type=int, required=True)
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--payload", required=True)
    p.add_argument("--confirmed", action="store_true")
    p.add_argument("--ack", action="store_true")
    args = parser.parse_args()
    return {"receive": cmd_receive, "open": cmd_open, "downlink": cmd_downlink}[args.command](args)


if __name__ == "__main__":
    sys.exit(main())
