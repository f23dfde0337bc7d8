/* dln/clock.h: the one monotonic clock of the library, its programs and benchmarks. */
#ifndef DLN_CLOCK_H
#define DLN_CLOCK_H

/* Seconds on a monotonic clock (CLOCK_MONOTONIC); only differences are meaningful. */
double dln_clock_seconds(void);

#endif
