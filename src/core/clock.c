/* clock.c: the monotonic clock (dln/clock.h). */
#include <time.h>

#include "dln/clock.h"

double dln_clock_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}
