/*
 * uplink_bounds.c - compile-time proof that the encode buffer holds the worst case.
 *
 * This file is compiled against the nanopb code generated with telemetry_bounds.options
 * (every series one sample, extra at its cap), not the firmware's own generated code, and
 * contains no code: only the assertions below. See telemetry_bounds.options for why.
 */
#include "sample_store.h"
#include "sensorbro/v1/telemetry.pb.h"
#include "uplink.h"

/* The bounds variant must describe the same caps as the firmware. */
_Static_assert(sizeof(((sensorbro_v1_Uplink *)0)->extra) /
                       sizeof(((sensorbro_v1_Uplink *)0)->extra[0]) ==
                   STORE_MAX_EXTRA,
               "telemetry_bounds.options: extra max_count must be STORE_MAX_EXTRA");

/* One sample of every series the schema has, with seq, interval, age, status, time and
 * config_version at 2^32 - 1 and alert set, fits the encode buffer: a fresh batch is never
 * too large at DR4-DR6, whatever the values. */
_Static_assert(sensorbro_v1_Uplink_size <= UPLINK_MAX_PAYLOAD_BYTES,
               "the worst one-set Uplink must fit the encode buffer");

/* A batch can always take its first set into the pool: one set needs at most 5 bytes per
 * every-sample series. */
_Static_assert(STORE_MAX_SERIES * 5 <= STORE_BYTES, "one sample set fits the sample pool");

/* ISO C wants a translation unit to declare something. */
typedef int uplink_bounds_checked;
