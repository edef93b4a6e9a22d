/*
 * prng.h - splitmix64, the one pseudo-random generator of the fleet simulator.
 *
 * It is used in two ways. As a sequence (prng_next) it draws each sensor's fixed traits
 * (offsets, phases, room size) from the fleet seed. As a hash (prng_hash) it turns a few
 * integers, such as (sensor, quantity, instant), into one draw, so that a sample's noise is
 * a function of what is sampled and when, not of how many draws came before. That is what
 * lets the signal models be pure functions of time (see signals.c).
 *
 * splitmix64 has 64 bits of state, passes BigCrush, and is the generator the xoshiro
 * authors recommend for seeding; a simulator needs nothing stronger. Header-only: three
 * one-line functions that the compiler should inline into the sampling loops.
 */
#ifndef FLEET_SIM_PRNG_H
#define FLEET_SIM_PRNG_H

#include <stdint.h>

#define PRNG_GOLDEN_GAMMA 0x9e3779b97f4a7c15u

/* The splitmix64 output function: a bijective 64-bit mixer. */
static inline uint64_t prng_mix(uint64_t z)
{
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
    return z ^ (z >> 31);
}

/* Next draw of the sequence whose state is *state. */
static inline uint64_t prng_next(uint64_t *state)
{
    *state += PRNG_GOLDEN_GAMMA;
    return prng_mix(*state);
}

/* One draw determined by key and two integers; different (a, b) give independent draws. */
static inline uint64_t prng_hash(uint64_t key, uint64_t a, uint64_t b)
{
    return prng_mix(key ^ prng_mix(a + PRNG_GOLDEN_GAMMA) ^ prng_mix(b + 2 * PRNG_GOLDEN_GAMMA));
}

/* The top 53 bits of a draw as a double in [0, 1). */
static inline double prng_unit(uint64_t draw)
{
    return (double)(draw >> 11) * 0x1.0p-53;
}

#endif
