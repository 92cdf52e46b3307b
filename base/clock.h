/*
 * clock.h - the monotonic clock, in milliseconds.
 *
 * Durations, timeouts and heartbeats are measured on CLOCK_MONOTONIC so that a wall-clock step
 * (NTP, a suspended laptop) never fires a timeout or makes a duration negative. Timestamps that
 * a person reads (run start, task end in the store) use the wall clock, clock_wall_ms.
 */
#ifndef SIEVE_BASE_CLOCK_H
#define SIEVE_BASE_CLOCK_H

#include <stdint.h>

/* Milliseconds on the monotonic clock since an arbitrary start. Thread: safe. */
int64_t clock_mono_ms(void);
/* The same clock with sub-millisecond resolution, for measured durations. Thread: safe. */
double clock_mono_ms_f(void);
/* Unix time in milliseconds (the wall clock), for times a person reads. Thread: safe. */
int64_t clock_wall_ms(void);

#endif
