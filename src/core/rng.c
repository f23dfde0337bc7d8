/* rng.c: the portable host generator every backend's initial weights come from.
 * xoshiro256** (Blackman & Vigna) seeded by splitmix64 from (seed, stream); uniforms
 * take the top 53 bits; normals use Box-Muller with the spare value kept. */
#include <math.h>

#include "dln/rng.h"

static uint64_t splitmix64(uint64_t *x)
{
    uint64_t z = (*x += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

static uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

void dln_rng_seed(dln_rng *r, uint64_t seed, uint64_t stream)
{
    uint64_t x = seed ^ (stream * 0xD1342543DE82EF95ULL);
    for (int i = 0; i < 4; i++) r->s[i] = splitmix64(&x);
    r->has_spare = 0;
    r->spare = 0.0;
}

uint64_t dln_rng_next(dln_rng *r)
{
    uint64_t *s = r->s;
    uint64_t result = rotl(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return result;
}

double dln_rng_uniform(dln_rng *r)
{
    /* (k + 0.5) / 2^53 for k in [0, 2^53): never 0, never 1 */
    return ((double)(dln_rng_next(r) >> 11) + 0.5) * 0x1.0p-53;
}

double dln_rng_normal(dln_rng *r)
{
    if (r->has_spare) {
        r->has_spare = 0;
        return r->spare;
    }
    double u1 = dln_rng_uniform(r), u2 = dln_rng_uniform(r);
    double rad = sqrt(-2.0 * log(u1)), th = 6.283185307179586476925 * u2;
    r->spare = rad * sin(th);
    r->has_spare = 1;
    return rad * cos(th);
}
