#!/usr/bin/env python3
"""firmware-figures.py - the numbers behind tests/bench/firmware-figures.sh.

  firmware-figures.py sizes MAP...            flash and RAM by component, from GNU ld maps
  firmware-figures.py payload PROTO_DIR LOG   values and airtime per uplink, Sensorbro vs LPP

Sizes: every input section the linker kept is attributed to its archive or object and
summed as flash (.text, .rodata, .isr_vector, the load image of .data) and static RAM
(.data, .bss). Components: core (firmware/core), nanopb (runtime and the generated
descriptors), port (board code, startup, or the size probe's stubs), sim sensors (the fleet
simulator's signal models and the soft-float libm they need), libc and libgcc helpers.

Payload: LOG is the host port's stderr; each "uplink ... hex=" payload is decoded with
Google's protoc and its values counted. Cayenne LPP carries the same readings as channel +
type + data per value: temperature 4 bytes, humidity 3, CO2 and battery as analog input 4,
and has no time base. Airtime: Semtech's formula at SF12/125 kHz, CR 4/5, 13 bytes of
LoRaWAN overhead (no FOpts).
"""
import math
import re
import subprocess
import sys

LIMIT_DR0 = 51
LORAWAN_OVERHEAD = 13


def component(path):
    name = path.split("/")[-1]
    if re.search(r"lib\w*_core\.a", name):
        return "core"
    if re.search(r"lib\w*_nanopb\.a", name):
        return "nanopb"
    if "signals" in name or name.startswith("libm.a"):
        return "sim sensors"
    if name.startswith("libc"):
        return "libc"
    if name.startswith("libgcc"):
        return "libgcc"
    return "port"


def map_sizes(path):
    text = open(path).read()
    text = text[text.index("Linker script and memory map"):]
    text = re.sub(r"\n\s+(0x[0-9a-f]+)", r" \1", text)  # long names wrap the line
    sizes = {}
    for m in re.finditer(r"^ (\.[\w.]+)\s+0x[0-9a-f]+\s+(0x[0-9a-f]+)\s+(\S+)", text, re.M):
        section, size, obj = m.group(1), int(m.group(2), 16), m.group(3)
        if size == 0 or section.startswith(".debug") or section.startswith(".comment"):
            continue
        if section.startswith(".nvm"):
            continue  # the NVM area, not RAM
        c = sizes.setdefault(component(obj), {"flash": 0, "ram": 0})
        if section.startswith(".bss") or section.startswith("COMMON"):
            c["ram"] += size
        elif section.startswith(".data"):
            c["ram"] += size
            c["flash"] += size
        elif re.match(r"\.(text|rodata|isr_vector|ARM\.exidx)", section):
            c["flash"] += size
    return sizes


def cmd_sizes(maps):
    order = ["core", "nanopb", "port", "sim sensors", "libc", "libgcc"]
    for path in maps:
        sizes = map_sizes(path)
        name = path.split("/")[-1].replace(".map", "")
        print("%s" % name)
        print("  %-12s %8s %8s" % ("component", "flash B", "RAM B"))
        total_f = total_r = 0
        for c in order:
            if c in sizes:
                print("  %-12s %8d %8d" % (c, sizes[c]["flash"], sizes[c]["ram"]))
                total_f += sizes[c]["flash"]
                total_r += sizes[c]["ram"]
        print("  %-12s %8d %8d" % ("total", total_f, total_r))
        cn = {k: sizes.get(k, {"flash": 0, "ram": 0}) for k in order}
        both_f = cn["core"]["flash"] + cn["nanopb"]["flash"]
        both_r = cn["core"]["ram"] + cn["nanopb"]["ram"] + cn["port"]["ram"]
        helpers = cn["libc"]["flash"] + cn["libgcc"]["flash"]
        print("  core + nanopb: %d B flash (%.1f KiB; %.1f KiB with libc/libgcc helpers)"
              % (both_f, both_f / 1024, (both_f + helpers) / 1024))
        print()


def airtime_ms(phy_len, sf=12, bw_khz=125):
    t_sym = (1 << sf) / bw_khz
    de = 1 if bw_khz == 125 and sf >= 11 else 0
    n = 8 + max(math.ceil((8 * phy_len - 4 * sf + 28 + 16) / (4 * (sf - 2 * de))) * 5, 0)
    return (8 + 4.25) * t_sym + n * t_sym


def decode(proto_dir, payload):
    return subprocess.run(
        ["protoc", "--decode=sensorbro.v1.Uplink", "-I" + proto_dir,
         proto_dir + "/sensorbro/v1/telemetry.proto"],
        input=bytes.fromhex(payload), capture_output=True, check=True).stdout.decode()


def cmd_payload(proto_dir, log):
    payloads = re.findall(r"uplink seq=\d+ len=\d+ dr=\d+ hex=([0-9A-F]+)", open(log).read())
    if not payloads:
        sys.exit("no uplinks in " + log)
    values = 0
    airtime = 0.0
    per_quantity = {}
    for p in payloads:
        for line in decode(proto_dir, p).splitlines():
            name = line.split(":")[0]
            if name in ("temperature", "relative_humidity", "co2", "battery"):
                values += 1
                per_quantity[name] = per_quantity.get(name, 0) + 1
        airtime += airtime_ms(len(p) // 2 + LORAWAN_OVERHEAD)
    n = len(payloads)
    sb_values = values / n
    sb_bytes = sum(len(p) // 2 for p in payloads) / n
    sb_airtime = airtime / n
    # LPP: sets of temperature (4) + humidity (3) + CO2 analog (4), battery analog (4) once.
    lpp_sets = (LIMIT_DR0 - 4) // 11
    lpp_values = 3 * lpp_sets + 1
    lpp_bytes = 11 * lpp_sets + 4
    lpp_airtime = airtime_ms(lpp_bytes + LORAWAN_OVERHEAD)
    print("payload efficiency, a simulated day of 5-minute samples, DR0 (SF12, 51 bytes):")
    print("  %-28s %10s %10s %12s %14s" % ("", "values", "bytes", "airtime ms", "ms per value"))
    print("  %-28s %10.1f %10.1f %12.1f %14.1f" % ("Sensorbro (%d uplinks)" % n, sb_values,
                                                  sb_bytes, sb_airtime, sb_airtime / sb_values))
    print("  %-28s %10d %10d %12.1f %14.1f" % ("Cayenne LPP", lpp_values, lpp_bytes,
                                              lpp_airtime, lpp_airtime / lpp_values))
    print("  values per uplink: %.2fx LPP (target at least 2.3x); airtime per value: %.2fx less"
          % (sb_values / lpp_values, (lpp_airtime / lpp_values) / (sb_airtime / sb_values)))
    print("  Sensorbro values by quantity per uplink: " +
          ", ".join("%s %.1f" % (k, v / n) for k, v in sorted(per_quantity.items())))
    print("  (LPP has no time base: each value's time is unknown unless sent alone)")


def main():
    if len(sys.argv) >= 3 and sys.argv[1] == "sizes":
        cmd_sizes(sys.argv[2:])
    elif len(sys.argv) == 4 and sys.argv[1] == "payload":
        cmd_payload(sys.argv[2], sys.argv[3])
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
