/*
 * uplink_corpus.c - uplinks made by the firmware's own encoder, for the JavaScript decoder
 * tests (tests/decoders/run.js), and the firmware's own Downlink parser for the other
 * direction.
 *
 *   sb-uplink-corpus --count N --seed S --received-ms T
 *       prints N lines "<device> <received_ms> <payload hex>": each a random board (any mix
 *       of the quantities 4-13 and 32-39, second channels, an unknown extra id now and then,
 *       battery once per uplink or every sample), a random number of samples encoded with
 *       the firmware's sample store and uplink_encode() within 51, 115 or 242 bytes, and a
 *       random header: seq, interval_s, age_s, status flags (unknown bits too), clock
 *       synced (time) or not, config_version, alert. A few in every hundred break one of
 *       the gateway's rules on purpose (time before 2020 or a day ahead, age_s over a
 *       week, interval_s 0 or over a day, nothing to say), so the decoders' refusals are
 *       compared as well. Same seed, same lines.
 *   sb-uplink-corpus --downlink HEX
 *       parses HEX with the firmware's downlink_parse() from the default configuration and
 *       prints "ok config_version=.. sample_interval_s=.. samples_per_uplink=.. clock=..
 *       thresholds=F:ABOVE:BELOW,..." ('-' for an absent bound) or "refused <reason>".
 *
 * The point of using the firmware's code here (not protoc, not the gateway) is that the
 * decoders are checked against the bytes real nodes send.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "downlink.h"
#include "sample_store.h"
#include "sensor.h"
#include "uplink.h"

/* splitmix64: small, seedable, the same sequence everywhere */
struct rng {
    uint64_t state;
};

static uint64_t rng_next(struct rng *r)
{
    uint64_t z = (r->state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

/* uniform in [lo, hi] */
static int64_t rng_range(struct rng *r, int64_t lo, int64_t hi)
{
    return lo + (int64_t)(rng_next(r) % (uint64_t)(hi - lo + 1));
}

/* true with probability percent / 100 */
static bool rng_percent(struct rng *r, unsigned percent)
{
    return rng_next(r) % 100 < percent;
}

/* A plausible start value and step, in wire units, per quantity. */
struct signal {
    int32_t lo, hi, step;
    bool cumulative; /* meter readings only go up */
};

static struct signal signal_of(uint8_t quantity)
{
    switch (quantity) {
    case QUANTITY_TEMPERATURE:
        return (struct signal){-2500, 4500, 40, false};
    case QUANTITY_RELATIVE_HUMIDITY:
        return (struct signal){0, 1000, 15, false};
    case QUANTITY_CO2:
        return (struct signal){400, 5000, 60, false};
    case QUANTITY_BATTERY:
        return (struct signal){2400, 3700, 3, false};
    case QUANTITY_SOUND_LEVEL:
        return (struct signal){250, 1000, 40, false};
    case QUANTITY_OCCUPANCY:
        return (struct signal){0, 60, 3, false};
    case QUANTITY_ILLUMINANCE:
        return (struct signal){0, 30000, 400, false};
    case QUANTITY_PRESSURE:
        return (struct signal){95000, 105000, 30, false};
    case QUANTITY_WATER_VOLUME:
    case QUANTITY_ENERGY:
        return (struct signal){0, 50000000, 500, true};
    case 32: /* voc_index */
        return (struct signal){1, 500, 20, false};
    case 33: /* pm2_5, 0.1 ug/m3 */
    case 34: /* pm10 */
        return (struct signal){0, 5000, 50, false};
    case 37: /* contact_open */
        return (struct signal){0, 1, 1, false};
    default:
        return (struct signal){0, 10000, 100, false};
    }
}

struct board {
    struct sensor_desc sensors[STORE_MAX_SERIES];
    size_t count;
};

static bool board_has(const struct board *b, uint8_t quantity, uint8_t channel)
{
    for (size_t i = 0; i < b->count; i++) {
        if (b->sensors[i].quantity == quantity && b->sensors[i].channel == channel)
            return true;
    }
    return false;
}

/* A random sensor table that store_init() accepts: up to 8 series, up to 4 of them extra. */
static void random_board(struct rng *r, struct board *b)
{
    b->count = 0;
    size_t wanted = (size_t)rng_range(r, 1, STORE_MAX_SERIES);
    size_t extras = 0;
    for (unsigned tries = 0; b->count < wanted && tries < 100; tries++) {
        struct sensor_desc s = {0, 0, SENSOR_EVERY_SAMPLE};
        unsigned kind = (unsigned)rng_range(r, 0, 9);
        if (kind < 6) {
            s.quantity = (uint8_t)rng_range(r, QUANTITY_FIRST_FIXED, QUANTITY_LAST_FIXED);
        } else if (kind < 8) {
            s.quantity = (uint8_t)rng_range(r, QUANTITY_FIRST_EXTRA, 39);
            s.channel = rng_percent(r, 20) ? (uint8_t)rng_range(r, 1, 3) : 0;
        } else if (kind == 8) {
            s.quantity = (uint8_t)rng_range(r, QUANTITY_FIRST_FIXED, QUANTITY_LAST_FIXED);
            s.channel = (uint8_t)rng_range(r, 1, 3); /* a second sensor of a fixed quantity */
        } else if (rng_percent(r, 15)) {
            s.quantity = (uint8_t)rng_range(r, 40, 60); /* unknown to the gateway */
        } else {
            continue;
        }
        bool extra = !sensor_is_fixed_field(s.quantity, s.channel);
        if ((extra && extras == STORE_MAX_EXTRA) || board_has(b, s.quantity, s.channel))
            continue;
        if (s.quantity == QUANTITY_BATTERY ? rng_percent(r, 80) : rng_percent(r, 5))
            s.cadence = SENSOR_ONCE_PER_UPLINK;
        extras += extra;
        b->sensors[b->count++] = s;
    }
}

static const uint32_t intervals_s[] = {1, 10, 60, 120, 300, 600, 900, 3600, 21600, 86400};
static const size_t payload_limits[] = {51, 115, 242};

/* Fills the store sample by sample until the limit or the wanted count; most boards give
 * every series the same count, as the firmware does; some give series different lengths,
 * which the schema allows (shorter series end at the same instant). */
static void fill_store(struct rng *r, struct sample_store *store, const struct board *b,
                       const struct uplink_header *h, size_t limit)
{
    int32_t value[STORE_MAX_SERIES];
    struct signal sig[STORE_MAX_SERIES];
    size_t want[STORE_MAX_SERIES];
    bool extreme = rng_percent(r, 8);
    bool ragged = rng_percent(r, 25);
    size_t sets = (size_t)rng_range(r, 1, STORE_MAX_SAMPLES);
    for (size_t i = 0; i < b->count; i++) {
        sig[i] = signal_of(b->sensors[i].quantity);
        value[i] = (int32_t)rng_range(r, sig[i].lo, sig[i].hi);
        if (extreme)
            value[i] = rng_percent(r, 50) ? INT32_MAX - (int32_t)rng_range(r, 0, 1000)
                                          : INT32_MIN + (int32_t)rng_range(r, 0, 1000);
        want[i] = ragged ? (size_t)rng_range(r, 1, (int64_t)sets) : sets;
    }
    for (size_t k = 0; k < sets; k++) {
        struct store_mark mark;
        store_mark(store, &mark);
        for (size_t i = 0; i < b->count; i++) {
            if (k < sets - want[i])
                continue; /* a shorter series starts later and ends with the others */
            int64_t step = sig[i].step;
            int64_t next = (int64_t)value[i] + rng_range(r, sig[i].cumulative ? 0 : -step, step);
            if (extreme && rng_percent(r, 30))
                next = (int64_t)value[i] + rng_range(r, -2000000000, 2000000000);
            if (next < INT32_MIN || next > INT32_MAX)
                next = value[i];
            if (store_append(store, i, (int32_t)next) == STORE_OK)
                value[i] = (int32_t)next;
        }
        if (uplink_encoded_size(h, store) > limit) {
            store_rollback(store, &mark);
            break;
        }
    }
}

static void random_header(struct rng *r, int64_t received_ms, struct uplink_header *h)
{
    int64_t received_s = received_ms / 1000;
    memset(h, 0, sizeof(*h));
    h->seq = rng_percent(r, 10) ? (uint32_t)rng_next(r) : (uint32_t)rng_range(r, 0, 5000);
    h->interval_s = intervals_s[rng_range(r, 0, sizeof(intervals_s) / sizeof(intervals_s[0]) - 1)];
    h->age_s = rng_percent(r, 70) ? (uint32_t)rng_range(r, 0, 3) : (uint32_t)rng_range(r, 0, 7200);
    if (rng_percent(r, 30)) {
        static const uint32_t flags[] = {0x01, 0x02, 0x04, 0x08, 0x20, 0x100, 0x80000000u};
        for (size_t i = 0; i < sizeof(flags) / sizeof(flags[0]); i++)
            h->status |= rng_percent(r, i < 4 ? 30 : 5) ? flags[i] : 0;
    }
    if (rng_percent(r, 40)) {
        /* synced clock: the node's own time of its last sample, a few seconds off */
        h->time_s = (uint32_t)(received_s - h->age_s + rng_range(r, -5, 5));
    } else {
        h->status |= UPLINK_STATUS_CLOCK_UNSYNCED;
    }
    if (rng_percent(r, 30))
        h->config_version = rng_percent(r, 10) ? UINT32_MAX : (uint32_t)rng_range(r, 1, 1000);
    h->alert = rng_percent(r, 15);
    /* the gateway's refusals, now and then */
    switch (rng_range(r, 0, 99)) {
    case 0:
        h->time_s = 1500000000u; /* before 2020 */
        h->status &= ~UPLINK_STATUS_CLOCK_UNSYNCED;
        break;
    case 1:
        h->time_s = (uint32_t)(received_s + 86400 + rng_range(r, 1, 1000)); /* a day ahead */
        h->status &= ~UPLINK_STATUS_CLOCK_UNSYNCED;
        break;
    case 2:
        h->age_s = 604801u + (uint32_t)rng_range(r, 0, 1000); /* over a week */
        break;
    case 3:
        h->interval_s = 0; /* refused when a series has 2+ samples */
        break;
    case 4:
        h->interval_s = 86401u;
        break;
    default:
        break;
    }
}

static void print_hex(const uint8_t *buf, size_t len)
{
    for (size_t i = 0; i < len; i++)
        printf("%02x", buf[i]);
}

static int corpus(unsigned long count, uint64_t seed, int64_t base_ms)
{
    struct rng r = {seed};
    for (unsigned long n = 0; n < count; n++) {
        struct board b;
        random_board(&r, &b);
        struct sample_store store;
        if (!store_init(&store, b.sensors, b.count)) {
            fprintf(stderr, "sb-uplink-corpus: store_init refused board %lu\n", n);
            return 1;
        }
        int64_t received_ms = base_ms + (int64_t)n * 60000 + rng_range(&r, 0, 999);
        struct uplink_header h;
        random_header(&r, received_ms, &h);
        size_t limit = payload_limits[rng_range(&r, 0, 2)];
        unsigned kind = (unsigned)rng_range(&r, 0, 99);
        if (kind >= 3)
            fill_store(&r, &store, &b, &h, limit);
        else if (kind == 0)
            h.status = 0; /* nothing at all: refused */
        else
            h.status |= UPLINK_STATUS_REBOOTED; /* status only: published, no values */
        uint8_t buf[UPLINK_MAX_PAYLOAD_BYTES];
        size_t len = uplink_encode(&h, &store, buf, sizeof(buf));
        if (len == 0 && uplink_encoded_size(&h, &store) != 0) {
            fprintf(stderr, "sb-uplink-corpus: uplink %lu does not fit\n", n);
            return 1;
        }
        printf("70b3d57ed0%06lx %" PRId64 " ", n & 0xffffffu, received_ms);
        print_hex(buf, len);
        putchar('\n');
    }
    return 0;
}

static int hex_value(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

static int parse_downlink(const char *hex)
{
    uint8_t buf[256];
    size_t n = strlen(hex);
    if (n % 2 != 0 || n / 2 > sizeof(buf)) {
        fprintf(stderr, "sb-uplink-corpus: --downlink wants at most 256 bytes of hex\n");
        return 2;
    }
    for (size_t i = 0; i < n / 2; i++) {
        int hi = hex_value(hex[2 * i]), lo = hex_value(hex[2 * i + 1]);
        if (hi < 0 || lo < 0) {
            fprintf(stderr, "sb-uplink-corpus: --downlink: not hex at %zu\n", 2 * i);
            return 2;
        }
        buf[i] = (uint8_t)(hi << 4 | lo);
    }
    struct node_config current, next;
    uint32_t clock_s = 0;
    config_defaults(&current);
    enum downlink_status st = downlink_parse(buf, n / 2, &current, &next, &clock_s);
    if (st != DOWNLINK_OK) {
        printf("refused %s\n", downlink_status_name(st));
        return 0;
    }
    printf("ok config_version=%" PRIu32 " sample_interval_s=%" PRIu32
           " samples_per_uplink=%u clock=%" PRIu32 " thresholds=",
           next.config_version, next.sample_interval_s, next.samples_per_uplink, clock_s);
    for (uint8_t i = 0; i < next.threshold_count; i++) {
        const struct threshold *t = &next.thresholds[i];
        printf("%s%u:", i > 0 ? "," : "", t->field);
        if (t->has_above)
            printf("%" PRId32, t->above);
        else
            putchar('-');
        putchar(':');
        if (t->has_below)
            printf("%" PRId32, t->below);
        else
            putchar('-');
    }
    putchar('\n');
    return 0;
}

static bool parse_number(const char *text, int64_t lo, int64_t hi, int64_t *out)
{
    char *end = NULL;
    errno = 0;
    long long v = strtoll(text, &end, 10);
    if (errno != 0 || end == text || *end != '\0' || v < lo || v > hi)
        return false;
    *out = v;
    return true;
}

int main(int argc, char **argv)
{
    int64_t count = -1, seed = 1, received_ms = 1795000000000ll;
    for (int i = 1; i < argc; i++) {
        const char *value = i + 1 < argc ? argv[i + 1] : NULL;
        bool ok = value != NULL;
        if (ok && strcmp(argv[i], "--downlink") == 0)
            return parse_downlink(value);
        else if (ok && strcmp(argv[i], "--count") == 0)
            ok = parse_number(value, 1, 1000000, &count);
        else if (ok && strcmp(argv[i], "--seed") == 0)
            ok = parse_number(value, 0, INT64_MAX, &seed);
        else if (ok && strcmp(argv[i], "--received-ms") == 0)
            ok = parse_number(value, 1577836800000ll, 253402300799000ll - 86400000ll * 1000,
                              &received_ms);
        else
            ok = false;
        if (!ok) {
            fprintf(stderr, "usage: sb-uplink-corpus --count N [--seed S] [--received-ms T]\n"
                            "       sb-uplink-corpus --downlink HEX\n");
            return 2;
        }
        i++;
    }
    if (count < 0) {
        fprintf(stderr, "sb-uplink-corpus: --count is required\n");
        return 2;
    }
    return corpus((unsigned long)count, (uint64_t)seed, received_ms);
}
