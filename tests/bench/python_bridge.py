#!/usr/bin/python3
"""python_bridge.py - the benchmark's second reference (tests/bench/run, docs/performance.md):
the bridge a municipal developer would write instead of running sensorbro, with Debian's own
Python packages and the same promises in their plainest form.

    python_bridge.py --port UDP_PORT --mqtt-port P --db FILE --pb2-dir DIR --stats FILE

- UDP in: one datagram per uplink, the device's 8-byte EUI followed by the raw protobuf
  Uplink (tests/bench/udp_pace.c sends them). Nothing is acknowledged to the sender.
- Durable before publishing: each frame is INSERTed and COMMITted on its own (SQLite WAL,
  synchronous=FULL, as sensorbro's default journal.synchronous), one transaction per frame.
- Decoded with python3-protobuf (the module protoc --python_out generated into DIR), turned
  into JSON like sensorbro's (latest values with units, the samples with their times).
- Published with python3-paho-mqtt at QoS 1 (MQTT 3.1.1, the library's default; 32 in
  flight, as sensorbro's mqtt.max_inflight), on bridge/<device>/up; the row is deleted when
  its PUBACK arrives (in the next transaction of the main loop: paho calls on_publish with
  its own lock held, so the callback only queues the message id).
- The socket buffer is asked for 4 MiB, as sensorbro's coap.receive_buffer_kb.

Prints "ready" on stderr once the broker accepted the connection. On SIGTERM it reads what
is still in its socket buffer (until 50 ms pass with nothing), waits up to 5 s for the
PUBACKs still due, and writes its counters as JSON to --stats: received, committed,
published (PUBACKed), decode_errors, left_in_db, max_pending (the most rows that waited for
a PUBACK at once: its journal depth) and cpu_s (user + system seconds of the process, all
threads, from its start to that moment).
"""
import argparse
import collections
import json
import os
import signal
import socket
import sqlite3
import sys
import time

import paho.mqtt.client as mqtt

# (Uplink field, JSON key, divisor): the wire units of proto/sensorbro/v1/telemetry.proto
QUANTITIES = (
    ("temperature", "temperature_c", 100),
    ("relative_humidity", "relative_humidity_pct", 10),
    ("co2", "co2_ppm", 1),
    ("battery", "battery_v", 1000),
    ("sound_level", "sound_level_dba", 10),
    ("occupancy", "occupancy", 1),
    ("illuminance", "illuminance_lx", 1),
    ("pressure", "pressure_pa", 1),
    ("water_volume", "water_volume_l", 1),
    ("energy", "energy_wh", 1),
)


def iso(t):
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t)) + "Z"


def to_json(telemetry_pb2, device, gateway, payload, received):
    up = telemetry_pb2.Uplink.FromString(payload)
    last_time = up.time if up.time else received - up.age_s
    values, samples = {}, {}
    for field, key, divisor in QUANTITIES:
        series = getattr(up, field)
        if not series:
            continue
        total, n = 0, len(series)
        for i, delta in enumerate(series):
            total += delta  # element 0 absolute, then differences
            t = int(last_time - (n - 1 - i) * up.interval_s)
            samples.setdefault(t, {})[key] = total / divisor if divisor != 1 else total
        values[key] = total / divisor if divisor != 1 else total
    return json.dumps({
        "id": "%s-%d" % (device, up.seq),
        "device": device,
        "gateway": gateway,
        "seq": up.seq,
        "received": iso(received),
        "transport": "udp",
        "interval_s": up.interval_s,
        "status": up.status,
        "values": values,
        "samples": [dict(time=iso(t), **v) for t, v in sorted(samples.items())],
    }, separators=(",", ":"))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--mqtt-port", type=int, required=True)
    ap.add_argument("--db", required=True)
    ap.add_argument("--pb2-dir", required=True)
    ap.add_argument("--stats", required=True)
    ap.add_argument("--gateway", default="bridge")
    args = ap.parse_args()
    sys.path.insert(0, args.pb2_dir)
    from sensorbro.v1 import telemetry_pb2  # generated at run time by tests/bench/run

    db = sqlite3.connect(args.db, isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=FULL")
    db.execute("CREATE TABLE IF NOT EXISTS frames (id INTEGER PRIMARY KEY AUTOINCREMENT,"
               " device TEXT NOT NULL, received REAL NOT NULL, payload BLOB NOT NULL)")

    acked = collections.deque()  # message ids, appended by paho's thread
    connected = []

    def on_connect(client, userdata, flags, rc):
        connected.append(rc)

    def on_publish(client, userdata, mid):
        acked.append(mid)

    client = mqtt.Client(client_id="sensorbro-bench-python-bridge", clean_session=True)
    client.max_inflight_messages_set(32)
    client.on_connect = on_connect
    client.on_publish = on_publish
    client.connect("127.0.0.1", args.mqtt_port, keepalive=30)
    client.loop_start()
    deadline = time.monotonic() + 10
    while not connected and time.monotonic() < deadline:
        time.sleep(0.01)
    if connected != [0]:
        print("python_bridge: cannot connect to the broker", file=sys.stderr)
        return 1

    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
    sock.bind(("127.0.0.1", args.port))
    sock.settimeout(0.05)
    stopping = []
    signal.signal(signal.SIGTERM, lambda *_: stopping.append(1))
    signal.signal(signal.SIGINT, lambda *_: stopping.append(1))
    print("ready", file=sys.stderr, flush=True)

    stats = dict(received=0, committed=0, published=0, decode_errors=0, max_pending=0)
    in_flight = {}  # paho message id -> row id
    to_delete = []

    def collect_acks():
        while acked:
            row = in_flight.pop(acked.popleft(), None)
            if row is not None:
                to_delete.append(row)
                stats["published"] += 1

    def delete_acked():
        for row in to_delete:
            db.execute("DELETE FROM frames WHERE id = ?", (row,))
        to_delete.clear()

    while True:
        collect_acks()
        try:
            data = sock.recv(2048)
        except socket.timeout:
            if stopping:
                break  # asked to stop, and nothing more arrived for 50 ms
            if to_delete:
                db.execute("BEGIN")
                delete_acked()
                db.execute("COMMIT")
            continue
        except InterruptedError:
            continue
        stats["received"] += 1
        if len(data) <= 8:
            stats["decode_errors"] += 1
            continue
        device, payload, received = data[:8].hex(), data[8:], time.time()
        db.execute("BEGIN")
        row = db.execute("INSERT INTO frames (device, received, payload) VALUES (?, ?, ?)",
                         (device, received, payload)).lastrowid
        delete_acked()
        db.execute("COMMIT")
        stats["committed"] += 1
        try:
            message = to_json(telemetry_pb2, device, args.gateway, payload, received)
        except Exception:  # a DecodeError, or a field out of range: kept in the table
            stats["decode_errors"] += 1
            continue
        info = client.publish("bridge/%s/up" % device, message, qos=1)
        in_flight[info.mid] = row
        if len(in_flight) > stats["max_pending"]:
            stats["max_pending"] = len(in_flight)

    deadline = time.monotonic() + 5
    while in_flight and time.monotonic() < deadline:
        collect_acks()
        time.sleep(0.01)
    collect_acks()
    db.execute("BEGIN")
    delete_acked()
    db.execute("COMMIT")
    stats["left_in_db"] = db.execute("SELECT count(*) FROM frames").fetchone()[0]
    t = os.times()
    stats["cpu_s"] = t.user + t.system
    client.disconnect()
    client.loop_stop()
    db.close()
    with open(args.stats, "w") as f:
        json.dump(stats, f)
    return 0


if __name__ == "__main__":
    sys.exit(main())
