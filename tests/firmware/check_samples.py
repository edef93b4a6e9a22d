#!/usr/bin/env python3
"""check_samples.py - do the uplinks carry exactly the samples the sensors produced?

  check_samples.py --proto-dir DIR --payloads FILE --samples FILE [--min-uplinks N]

PAYLOADS has one decrypted uplink payload (hex) per line, in the order sent (the third
column of `lorawan_tool.py open`). SAMPLES is the host port's sample log, one reading per
line: "sample <unix_s> <quantity> <value>". Every payload is decoded with Google's protoc
(--decode=sensorbro.v1.Uplink, Debian's protobuf-compiler), its delta-coded series summed
back to values, and checked:
- seq counts up from 0 by one (an uplink the node sent again after a lost answer from
  the modem, with the same seq, counts once, as the gateway counts it);
- concatenated in order, each every-sample series (temperature, relative_humidity, co2) is
  exactly the sequence of readings the sensors gave, with none lost, none repeated, none
  altered (readings after the last uplink are not sent yet);
- the battery value of each uplink is the battery reading of the set its series end with.
Prints a summary; exit status 1 on the first mismatch.
"""
import argparse
import subprocess
import sys

SERIES = {4: "temperature", 5: "relative_humidity", 6: "co2"}
BATTERY = 7


def decode(proto_dir, payload_hex):
    text = subprocess.run(
        ["protoc", "--decode=sensorbro.v1.Uplink", "-I" + proto_dir,
         proto_dir + "/sensorbro/v1/telemetry.proto"],
        input=bytes.fromhex(payload_hex), capture_output=True, check=True).stdout.decode()
    fields = {}
    for line in text.splitlines():
        name, value = (part.strip() for part in line.split(":", 1))
        fields.setdefault(name, []).append(int(value) if value.lstrip("-").isdigit() else value)
    return fields


def absolute(deltas):
    values, total = [], 0
    for d in deltas:
        total += d
        values.append(total)
    return values


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--proto-dir", required=True)
    p.add_argument("--payloads", required=True)
    p.add_argument("--samples", required=True)
    p.add_argument("--min-uplinks", type=int, default=1)
    a = p.parse_args()

    readings = {q: [] for q in list(SERIES) + [BATTERY]}
    with open(a.samples) as f:
        for line in f:
            _, _, q, v = line.split()
            readings[int(q)].append(int(v))
    with open(a.payloads) as f:
        payloads = [line.split()[-1] for line in f if line.strip()]
    if len(payloads) < a.min_uplinks:
        sys.exit("only %d uplinks, expected at least %d" % (len(payloads), a.min_uplinks))

    sent = {q: [] for q in SERIES}
    expected_seq = 0
    uplinks = 0
    for i, payload in enumerate(payloads):
        u = decode(a.proto_dir, payload)
        seq = u.get("seq", [0])[0]
        if seq == expected_seq - 1:
            continue  # sent again
        if seq != expected_seq:
            sys.exit("uplink %d has seq %d, expected %d" % (i, seq, expected_seq))
        expected_seq += 1
        uplinks += 1
        for q, name in SERIES.items():
            sent[q].extend(absolute(u.get(name, [])))
        sets = len(sent[4])
        battery = u.get("battery", [])
        if battery != [readings[BATTERY][sets - 1]]:
            sys.exit("uplink %d: battery %s, the reading of its last set was %d"
                     % (i, battery, readings[BATTERY][sets - 1]))
    for q, name in SERIES.items():
        if sent[q] != readings[q][:len(sent[q])]:
            first = next(k for k, (x, y) in enumerate(zip(sent[q], readings[q])) if x != y)
            sys.exit("%s: sample %d was read as %d but sent as %d"
                     % (name, first, readings[q][first], sent[q][first]))
        if len(sent[q]) != len(sent[4]):
            sys.exit("%s has %d samples, temperature %d" % (name, len(sent[q]), len(sent[4])))
    values = sum(len(v) for v in sent.values()) + uplinks
    print("%d uplinks carry %d of %d sample sets: %.1f values per uplink, all equal to the "
          "sensor readings" % (uplinks, len(sent[4]), len(readings[4]), values / uplinks))


if __name__ == "__main__":
    main()
