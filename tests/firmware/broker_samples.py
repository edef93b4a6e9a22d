#!/usr/bin/env python3
"""broker_samples.py - does the JSON on the broker hold exactly the samples the sensors gave?

  broker_samples.py --messages FILE --samples FILE --device EUI --min-uplinks N

MESSAGES: "topic json" lines as mosquitto_sub -v prints them. SAMPLES: the host port's
sample log ("sample <unix_s> <quantity> <value>"). The messages of DEVICE, one per seq
(a repeat after a lost PUSH_ACK counts once), in seq order: the values of their series
(temperature_c, relative_humidity_pct, co2_ppm, turned back into wire units) concatenated
must equal the readings, none lost, none added, none altered. Standard library only.
"""
import argparse
import json
import sys

SERIES = {4: ("temperature_c", 100), 5: ("relative_humidity_pct", 10), 6: ("co2_ppm", 1)}


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--messages", required=True)
    p.add_argument("--samples", required=True)
    p.add_argument("--device", required=True)
    p.add_argument("--min-uplinks", type=int, default=1)
    a = p.parse_args()
    readings = {q: [] for q in SERIES}
    with open(a.samples) as f:
        for line in f:
            _, _, q, v = line.split()
            if int(q) in readings:
                readings[int(q)].append(int(v))
    by_seq = {}
    with open(a.messages) as f:
        for line in f:
            doc = json.loads(line.split(" ", 1)[1])
            if doc["device"] != a.device or doc["transport"] != "semtech-udp":
                sys.exit("unexpected message: " + line)
            by_seq.setdefault(doc["seq"], doc)
    seqs = sorted(by_seq)
    if len(seqs) < a.min_uplinks or seqs != list(range(len(seqs))):
        sys.exit("seq numbers %s, expected 0.. with at least %d" % (seqs, a.min_uplinks))
    sent = {q: [] for q in SERIES}
    for s in seqs:
        for sample in by_seq[s]["samples"]:
            for q, (key, scale) in SERIES.items():
                if key in sample:
                    sent[q].append(round(sample[key] * scale))
    for q, (key, _) in SERIES.items():
        if not sent[q] or sent[q] != readings[q][:len(sent[q])]:
            sys.exit("%s: published %s, the sensors read %s" % (key, sent[q][:12], readings[q][:12]))
    print("%d messages carry %d readings per series, all equal to the sensors'" %
          (len(seqs), len(sent[4])))


if __name__ == "__main__":
    main()
