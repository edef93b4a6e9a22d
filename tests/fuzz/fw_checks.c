/*
 * fw_checks.c - the Downlink invariants of the firmware fuzz targets (fw_checks.h).
 */
#include "fw_checks.h"

#include <string.h>

#include "fuzz_support.h"

static bool same_config(const struct node_config *a, const struct node_config *b)
{
    if (a->config_version != b->config_version || a->sample_interval_s != b->sample_interval_s ||
        a->samples_per_uplink != b->samples_per_uplink || a->threshold_count != b->threshold_count)
        return false;
    for (uint8_t i = 0; i < a->threshold_count; i++) {
        const struct threshold *x = &a->thresholds[i], *y = &b->thresholds[i];
        if (x->field != y->field || x->has_above != y->has_above || x->has_below != y->has_below ||
            x->above != y->above || x->below != y->below)
            return false;
    }
    return true;
}

static void check_bounds(const struct node_config *c, uint32_t clock_s)
{
    FUZZ_CHECK(c->sample_interval_s >= CONFIG_SAMPLE_INTERVAL_MIN_S &&
                   c->sample_interval_s <= CONFIG_SAMPLE_INTERVAL_MAX_S,
               "interval %u", c->sample_interval_s);
    FUZZ_CHECK(c->samples_per_uplink >= 1 && c->samples_per_uplink <= STORE_MAX_SAMPLES,
               "samples_per_uplink %u", c->samples_per_uplink);
    FUZZ_CHECK((uint64_t)c->sample_interval_s * c->samples_per_uplink <= CONFIG_BATCH_SPAN_MAX_S,
               "span");
    FUZZ_CHECK(c->threshold_count <= CONFIG_MAX_THRESHOLDS, "%u thresholds", c->threshold_count);
    for (uint8_t i = 0; i < c->threshold_count; i++) {
        const struct threshold *t = &c->thresholds[i];
        FUZZ_CHECK(t->field >= QUANTITY_FIRST_FIXED && t->field <= QUANTITY_LAST_FIXED,
                   "threshold field %u", t->field);
        FUZZ_CHECK(t->has_above || t->has_below, "a threshold without bounds kept");
        FUZZ_CHECK(!(t->has_above && t->has_below) || t->above >= t->below, "above < below");
        FUZZ_CHECK(t->has_above || t->above == 0, "above without has_above");
        FUZZ_CHECK(t->has_below || t->below == 0, "below without has_below");
        for (uint8_t j = 0; j < i; j++)
            FUZZ_CHECK(c->thresholds[j].field != t->field, "field %u twice", t->field);
    }
    FUZZ_CHECK(clock_s == 0 || clock_s >= CONFIG_CLOCK_MIN_UNIX_S, "clock %u", clock_s);
}

enum downlink_status fw_check_downlink(const uint8_t *buf, size_t len,
                                       const struct node_config *current, struct node_config *next)
{
    struct node_config sentinel;
    memset(&sentinel, 0xa5, sizeof(sentinel));
    *next = sentinel;
    uint32_t clock_s = 0xa5a5a5a5u;
    enum downlink_status st = downlink_parse(buf, len, current, next, &clock_s);
    FUZZ_CHECK(st >= DOWNLINK_OK && st <= DOWNLINK_BAD_THRESHOLD, "status %d", (int)st);
    FUZZ_CHECK(downlink_status_name(st)[0] != '?', "status %d has no name", (int)st);
    if (st != DOWNLINK_OK) {
        FUZZ_CHECK(memcmp(next, &sentinel, sizeof(sentinel)) == 0 && clock_s == 0xa5a5a5a5u,
                   "refused (%s), yet written", downlink_status_name(st));
        return st;
    }
    FUZZ_CHECK(len <= DOWNLINK_MAX_BYTES, "%zu bytes taken", len);
    check_bounds(next, clock_s);

    /* stored as the node stores it, read back as it reads NVM at boot */
    uint8_t record[DOWNLINK_MAX_BYTES];
    size_t n = downlink_encode_config(next, record, sizeof(record));
    FUZZ_CHECK(n > 0 && n <= DOWNLINK_MAX_BYTES, "encoded in %zu bytes", n);
    struct node_config defaults, stored;
    config_defaults(&defaults);
    uint32_t ignored;
    FUZZ_CHECK(downlink_parse(record, n, &defaults, &stored, &ignored) == DOWNLINK_OK,
               "its stored form is refused");
    FUZZ_CHECK(same_config(&stored, next), "read back otherwise than stored");

    /* the same Downlink again (a retransmission) leaves the configuration as it is */
    struct node_config twice;
    FUZZ_CHECK(downlink_parse(buf, len, next, &twice, &ignored) == DOWNLINK_OK &&
                   same_config(&twice, next),
               "applied twice, it changes again");
    return st;
}
