/*
 * signals.c - the signal models behind signals.h.
 *
 * Why pure functions of time, not a state stepped forward sample by sample: the simulator
 * does not sample at a steady pace. Uplinks go out at whatever rate a run asks for, so the
 * sample windows of two uplinks of one node may overlap or leave gaps, and a retried uplink
 * carries its old samples again. A model that is a function of the instant draws one
 * consistent curve however it is sampled. So every quantity is built from
 * - smooth deterministic shapes: a day curve in local time, and a slow wander made of two
 *   sinusoids with periods of hours and days and per-sensor phases;
 * - per-instant noise, drawn by hashing (sensor, quantity, instant) (prng.h);
 * - occupancy as a step function over 15-minute slots, each slot's head count drawn by
 *   hashing (sensor, slot);
 * - CO2 as the first-order lag of occupancy, solved in closed form slot by slot over the
 *   last CO2_HISTORY_TAUS time constants. Where that history starts is forgotten to within
 *   e^-8 (0.03 %) of the step, so no state from earlier calls is needed.
 */
#include "signals.h"

#include <math.h>
#include <stddef.h>

#include "prng.h"

#define TWO_PI           6.283185307179586
#define SECONDS_PER_DAY  86400
#define SECONDS_PER_HOUR 3600.0

/* The head count of a room changes at most this often. */
#define OCCUPANCY_SLOT_S 900
#define SLOTS_PER_DAY    (SECONDS_PER_DAY / OCCUPANCY_SLOT_S)
#define CO2_HISTORY_TAUS 8.0

/* Periods of the slow wander: not multiples of a day or of each other, so that no two days
 * look alike. */
#define TEMP_WANDER_PERIOD_1_S     (2.7 * SECONDS_PER_DAY)
#define TEMP_WANDER_PERIOD_2_S     (9.3 * SECONDS_PER_HOUR)
#define HUMIDITY_WANDER_PERIOD_1_S (3.3 * SECONDS_PER_DAY)
#define HUMIDITY_WANDER_PERIOD_2_S (11.0 * SECONDS_PER_HOUR)

/* Relative humidity falls as the same air warms: about 2.5 %RH per degC near 21 degC. */
#define HUMIDITY_PCT_PER_C 2.5

/* One stream of draws per use, so that no two draws of one sample coincide. */
enum draw_stream {
    DRAW_TRAITS = 1,
    DRAW_TEMPERATURE,
    DRAW_HUMIDITY,
    DRAW_CO2,
    DRAW_BATTERY,
    DRAW_OCCUPANCY_SCALE,
    DRAW_OCCUPANCY_ROUNDING,
};

/* Share of the room's capacity present at a local hour of a weekday: people arrive 8-9,
 * half of them go to lunch around 12, all leave 15-16. Linear between points, 0 outside. */
static const struct {
    double hour;
    double share;
} presence_profile[] = {
    {8.0, 0.0},   {9.0, 0.7},   {11.5, 0.75}, {12.0, 0.4},
    {12.75, 0.4}, {13.25, 0.7}, {15.0, 0.6},  {16.0, 0.0},
};
#define PRESENCE_POINTS (sizeof(presence_profile) / sizeof(presence_profile[0]))

static int64_t floor_div(int64_t a, int64_t b)
{
    int64_t q = a / b;
    if (a % b != 0 && (a < 0) != (b < 0))
        q--;
    return q;
}

static double uniform(uint64_t *state, double lo, double hi)
{
    return lo + (hi - lo) * prng_unit(prng_next(state));
}

/* A standard normal draw from one 64-bit draw (Box-Muller on its two 32-bit halves). */
static double gaussian(uint64_t draw)
{
    double u1 = ((double)(draw >> 32) + 0.5) * 0x1.0p-32; /* in (0, 1): log() stays finite */
    double u2 = (double)(draw & 0xffffffffu) * 0x1.0p-32;
    return sqrt(-2.0 * log(u1)) * cos(TWO_PI * u2);
}

static double noise(const struct signals_sensor *s, enum draw_stream stream, int64_t t_s)
{
    return gaussian(prng_hash(s->noise_key, (uint64_t)stream, (uint64_t)t_s));
}

/* value * per_unit rounded to the nearest wire unit, clamped to [min_wire, max_wire]. */
static int32_t to_wire(double value, double per_unit, int32_t min_wire, int32_t max_wire)
{
    double wire = value * per_unit;
    if (wire < min_wire)
        wire = min_wire;
    if (wire > max_wire)
        wire = max_wire;
    return (int32_t)lround(wire);
}

static double presence_share(double hour)
{
    if (hour <= presence_profile[0].hour || hour >= presence_profile[PRESENCE_POINTS - 1].hour)
        return 0.0;
    size_t i = 1;
    while (hour > presence_profile[i].hour)
        i++;
    double h0 = presence_profile[i - 1].hour, s0 = presence_profile[i - 1].share;
    double h1 = presence_profile[i].hour, s1 = presence_profile[i].share;
    return s0 + (s1 - s0) * (hour - h0) / (h1 - h0);
}

/* People in the room during occupancy slot `slot` (local time / OCCUPANCY_SLOT_S). */
static int occupancy_in_slot(const struct signals_sensor *s, int64_t slot)
{
    int64_t day = floor_div(slot, SLOTS_PER_DAY);
    int weekday = (int)((day % 7 + 7 + 4) % 7); /* 0 = Sunday; 1970-01-01 was a Thursday */
    if (weekday == 0 || weekday == 6)
        return 0;
    double mid_hour =
        ((double)(slot - day * SLOTS_PER_DAY) + 0.5) * OCCUPANCY_SLOT_S / SECONDS_PER_HOUR;
    double expected = s->capacity_people * presence_share(mid_hour);
    /* Busier and quieter slots (x0.7 to x1.3), then rounding at random: the mean stays at
     * `expected`, and a slot outside office hours (expected 0) stays empty. */
    double scale =
        0.7 + 0.6 * prng_unit(prng_hash(s->noise_key, DRAW_OCCUPANCY_SCALE, (uint64_t)slot));
    double rounding = prng_unit(prng_hash(s->noise_key, DRAW_OCCUPANCY_ROUNDING, (uint64_t)slot));
    int people = (int)floor(expected * scale + rounding);
    return people > s->capacity_people ? s->capacity_people : people;
}

static double co2_target_ppm(const struct signals_sensor *s, int people)
{
    return s->co2_outdoor_ppm + s->co2_per_person_ppm * people;
}

/* CO2 at local time local_s: dC/dt = (target - C) / tau with a target that steps with the
 * occupancy slots. Within a slot the solution is C = target + (C0 - target) e^(-t/tau). */
static double co2_ppm_at(const struct signals_sensor *s, int64_t local_s, int people_now)
{
    int64_t slot_now = floor_div(local_s, OCCUPANCY_SLOT_S);
    int64_t history_slots = (int64_t)ceil(CO2_HISTORY_TAUS * s->co2_tau_s / OCCUPANCY_SLOT_S);
    int64_t slot = slot_now - history_slots;
    /* Guess the level at the start of the history: its own slot's steady state. */
    double ppm = co2_target_ppm(s, occupancy_in_slot(s, slot));
    for (; slot < slot_now; slot++) {
        double target = co2_target_ppm(s, occupancy_in_slot(s, slot));
        ppm = target + (ppm - target) * s->co2_decay_per_slot;
    }
    double target = co2_target_ppm(s, people_now);
    double into_slot_s = (double)(local_s - slot_now * OCCUPANCY_SLOT_S);
    return target + (ppm - target) * exp(-into_slot_s / s->co2_tau_s);
}

void signals_init(struct signals_sensor *s, uint64_t fleet_seed, uint32_t sensor_index,
                  int64_t epoch_s, int32_t utc_offset_s)
{
    uint64_t state = prng_hash(fleet_seed, DRAW_TRAITS, sensor_index);
    s->noise_key = prng_next(&state);
    s->epoch_s = epoch_s;
    s->utc_offset_s = utc_offset_s;

    /* 20.0-20.6 degC before dawn, 1.4-2.0 degC warmer in the late afternoon. */
    s->temp_base_c = uniform(&state, 20.0, 20.6);
    s->temp_day_amplitude_c = uniform(&state, 1.4, 2.0);
    s->temp_coldest_hour = uniform(&state, 3.5, 5.5);
    s->temp_wander_phase[0] = uniform(&state, 0.0, TWO_PI);
    s->temp_wander_phase[1] = uniform(&state, 0.0, TWO_PI);

    s->humidity_base_pct = uniform(&state, 43.0, 47.0);
    s->humidity_wander_phase[0] = uniform(&state, 0.0, TWO_PI);
    s->humidity_wander_phase[1] = uniform(&state, 0.0, TWO_PI);

    s->capacity_people = 2 + (int)uniform(&state, 0.0, 11.0); /* 2-12 */
    s->co2_outdoor_ppm = uniform(&state, 410.0, 430.0);
    s->co2_per_person_ppm = uniform(&state, 25.0, 40.0);
    s->co2_tau_s = uniform(&state, 15.0, 35.0) * 60.0;
    s->co2_decay_per_slot = exp(-OCCUPANCY_SLOT_S / s->co2_tau_s);

    s->battery_start_mv = uniform(&state, 3570.0, 3620.0);
    s->battery_drain_mv_per_day = uniform(&state, 2.0, 5.0);
}

void signals_sample(const struct signals_sensor *s, int64_t t_s, struct signals_sample *out)
{
    int64_t local_s = t_s + s->utc_offset_s;
    double hour = (double)(local_s - floor_div(local_s, SECONDS_PER_DAY) * SECONDS_PER_DAY) /
                  SECONDS_PER_HOUR;
    double t = (double)t_s;

    /* 0 at the coldest hour, 1 twelve hours later. */
    double day_shape = 0.5 * (1.0 - cos(TWO_PI * (hour - s->temp_coldest_hour) / 24.0));
    double temp_wander_c =
        0.25 * sin(TWO_PI * t / TEMP_WANDER_PERIOD_1_S + s->temp_wander_phase[0]) +
        0.15 * sin(TWO_PI * t / TEMP_WANDER_PERIOD_2_S + s->temp_wander_phase[1]);
    double temp_c = s->temp_base_c + s->temp_day_amplitude_c * day_shape + temp_wander_c;
    double temp_mean_c = s->temp_base_c + 0.5 * s->temp_day_amplitude_c;

    double humidity_pct =
        s->humidity_base_pct +
        3.5 * sin(TWO_PI * t / HUMIDITY_WANDER_PERIOD_1_S + s->humidity_wander_phase[0]) +
        1.5 * sin(TWO_PI * t / HUMIDITY_WANDER_PERIOD_2_S + s->humidity_wander_phase[1]) -
        HUMIDITY_PCT_PER_C * (temp_c - temp_mean_c);

    int people = occupancy_in_slot(s, floor_div(local_s, OCCUPANCY_SLOT_S));
    double co2_ppm = co2_ppm_at(s, local_s, people);

    double days = (double)(t_s - s->epoch_s) / SECONDS_PER_DAY;
    double battery_mv = s->battery_start_mv - s->battery_drain_mv_per_day * days;

    /* Sensor noise: a good thermometer, a humidity sensor, an NDIR CO2 cell and an ADC. */
    out->temperature_centi_c =
        to_wire(temp_c + 0.03 * noise(s, DRAW_TEMPERATURE, t_s), 100.0, 1500, 3000);
    out->humidity_deci_pct =
        to_wire(humidity_pct + 0.3 * noise(s, DRAW_HUMIDITY, t_s), 10.0, 350, 550);
    out->co2_ppm = to_wire(co2_ppm + 4.0 * noise(s, DRAW_CO2, t_s), 1.0, 350, 5000);
    out->battery_mv = to_wire(battery_mv + 0.8 * noise(s, DRAW_BATTERY, t_s), 1.0, 2000, 3700);
    out->occupancy_people = people;
}
