/*
 * wire.c - the tests' own protobuf reader (wire.h).
 */
#include "wire.h"

#include <string.h>

struct reader {
    const uint8_t *p, *end;
};

static bool read_varint(struct reader *r, uint64_t *out)
{
    uint64_t v = 0;
    for (int shift = 0; shift < 64; shift += 7) {
        if (r->p == r->end)
            return false;
        uint8_t b = *r->p++;
        v |= (uint64_t)(b & 0x7F) << shift;
        if ((b & 0x80) == 0) {
            *out = v;
            return true;
        }
    }
    return false;
}

static int64_t unzigzag(uint64_t v)
{
    return (int64_t)(v >> 1) ^ -(int64_t)(v & 1);
}

static bool read_packed(struct reader *r, struct wire_series *s)
{
    uint64_t len;
    if (!read_varint(r, &len) || len > (uint64_t)(r->end - r->p))
        return false;
    struct reader sub = {r->p, r->p + len};
    int64_t value = 0;
    while (sub.p < sub.end) {
        uint64_t v;
        if (!read_varint(&sub, &v) || v > UINT32_MAX || s->count == WIRE_MAX_SAMPLES)
            return false;
        value += unzigzag(v);
        s->values[s->count++] = value;
    }
    r->p += len;
    return true;
}

static bool read_series_message(struct reader *r, struct wire_series *s)
{
    uint64_t len;
    if (!read_varint(r, &len) || len > (uint64_t)(r->end - r->p))
        return false;
    struct reader sub = {r->p, r->p + len};
    while (sub.p < sub.end) {
        uint64_t key, v;
        if (!read_varint(&sub, &key))
            return false;
        if (key == (1 << 3 | 0) && read_varint(&sub, &v))
            s->quantity = (uint32_t)v;
        else if (key == (2 << 3 | 0) && read_varint(&sub, &v))
            s->channel = (uint32_t)v;
        else if (key == (3 << 3 | 2) && read_packed(&sub, s))
            continue;
        else
            return false;
    }
    r->p += len;
    return true;
}

bool wire_parse_uplink(const uint8_t *buf, size_t len, struct wire_uplink *out)
{
    memset(out, 0, sizeof(*out));
    struct reader r = {buf, buf + len};
    while (r.p < r.end) {
        uint64_t key, v;
        if (!read_varint(&r, &key))
            return false;
        uint32_t field = (uint32_t)(key >> 3), type = (uint32_t)(key & 7);
        if (type == 0) {
            if (!read_varint(&r, &v) || v > UINT32_MAX)
                return false;
            switch (field) {
            case 1:
                out->seq = (uint32_t)v;
                break;
            case 2:
                out->interval_s = (uint32_t)v;
                break;
            case 3:
                out->age_s = (uint32_t)v;
                break;
            case 14:
                out->status = (uint32_t)v;
                break;
            case 15:
                out->time_s = (uint32_t)v;
                break;
            case 16:
                out->config_version = (uint32_t)v;
                break;
            case 17:
                out->alert = v != 0;
                break;
            default:
                return false;
            }
        } else if (type == 2 && out->series_count < WIRE_MAX_SERIES &&
                   ((field >= 4 && field <= 13) || field == 18)) {
            struct wire_series *s = &out->series[out->series_count++];
            s->quantity = field;
            if (field == 18 ? !read_series_message(&r, s) : !read_packed(&r, s))
                return false;
        } else {
            return false;
        }
    }
    return true;
}

const struct wire_series *wire_find(const struct wire_uplink *u, uint32_t quantity,
                                    uint32_t channel)
{
    for (size_t i = 0; i < u->series_count; i++) {
        if (u->series[i].quantity == quantity && u->series[i].channel == channel)
            return &u->series[i];
    }
    return NULL;
}

size_t wire_varint_size(uint64_t v)
{
    size_t n = 1;
    while (v >= 0x80) {
        v >>= 7;
        n++;
    }
    return n;
}

size_t wire_sint32_size(int64_t v)
{
    uint64_t z = v >= 0 ? (uint64_t)v << 1 : ((uint64_t)(-(v + 1)) << 1) | 1;
    return wire_varint_size(z);
}
