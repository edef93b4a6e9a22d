/*
 * airtime.c - time on air, data rates and duty cycle (airtime.h).
 */
#include "airtime.h"

#include <math.h>
#include <stdio.h>

#define PREAMBLE_SYMBOLS 8.0
#define CODING_RATE      1 /* 4/5 */
#define DUTY_CYCLE       0.01

static const struct eu868_dr eu868[EU868_DR_COUNT] = {
    {12, 125, 51}, {11, 125, 51}, {10, 125, 51}, {9, 125, 115},
    {8, 125, 242}, {7, 125, 242}, {7, 250, 242},
};

const struct eu868_dr *eu868_dr(unsigned dr)
{
    return dr < EU868_DR_COUNT ? &eu868[dr] : NULL;
}

double airtime_ms(size_t phy_len, unsigned sf, unsigned bandwidth_khz)
{
    double symbol_ms = (double)(1u << sf) / bandwidth_khz;
    int low_dr_optimize = bandwidth_khz == 125 && sf >= 11;
    int crc = 1, implicit_header = 0;
    double numerator = 8.0 * (double)phy_len - 4.0 * sf + 28 + 16 * crc - 20 * implicit_header;
    double denominator = 4.0 * (sf - 2 * low_dr_optimize);
    double payload_symbols = 8 + fmax(ceil(numerator / denominator) * (CODING_RATE + 4), 0);
    return (PREAMBLE_SYMBOLS + 4.25) * symbol_ms + payload_symbols * symbol_ms;
}

void airtime_datr(unsigned sf, unsigned bandwidth_khz, char *out, size_t out_size)
{
    snprintf(out, out_size, "SF%uBW%u", sf, bandwidth_khz);
}

double duty_cycle_wait_ms(const struct duty_cycle *d, double now_ms)
{
    return d->band_free_ms > now_ms ? d->band_free_ms - now_ms : 0.0;
}

void duty_cycle_record(struct duty_cycle *d, double end_ms, double toa_ms)
{
    d->band_free_ms = end_ms + toa_ms * (1.0 / DUTY_CYCLE - 1.0);
}
