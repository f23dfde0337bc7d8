/* dln/rng.h: the portable host random generator every backend's initial weights and
 * every synthetic problem come from. xoshiro256** seeded through splitmix64 from (seed,
 * stream); normals by Box-Muller. Integer arithmetic up to the final double conversion
 * and libm's log/sin/cos, so every backend starts from bit-identical host values. */
#ifndef DLN_RNG_H
#define DLN_RNG_H

#include <stdint.h>

typedef struct {
    uint64_t s[4];
    int has_spare;
    double spare;
} dln_rng;

void dln_rng_seed(dln_rng *r, uint64_t seed, uint64_t stream);
uint64_t dln_rng_next(dln_rng *r);
double dln_rng_uniform(dln_rng *r); /* in (0, 1) */
double dln_rng_normal(dln_rng *r);  /* N(0, 1) */

/* Streams that keep data and weights independent for a given seed. */
#define DLN_STREAM_DATA 1
#define DLN_STREAM_INIT 2

#endif
