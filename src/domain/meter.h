/*
 * meter.h — one token's request meter: its rate limit's state and its usage counts.
 *
 * Rate limits are GCRA, the generic cell rate algorithm: a token bucket that holds `requests`
 * and refills evenly over `period` (one request each period/requests), kept as one number, the
 * theoretical arrival time (TAT) of the next request.  A burst of `requests` passes at once,
 * then one every period/requests; so at most `requests` pass in any period that starts with a
 * full bucket, and at most twice that in a sliding period (a full burst at its start, the
 * refill by its end).  Time is kept in nanoseconds: the emission interval rounds down by less
 * than a nanosecond per request.
 *
 * Several processes sharing a store share each limit: each adds up what it admitted
 * (meter_admitted_since) and the others' admissions are charged to the bucket as they are
 * learnt (meter_charge), so a limit is exceeded only by what the other processes admitted
 * since they were last heard from.
 *
 * Usage counts are running totals since the process started, one per enum kg_use; the flusher
 * takes the difference since its last flush (meter_take_counts).
 *
 * Thread safety: every call but meter_take_counts and meter_admitted_since (the flusher's, one
 * thread) may be made from any thread at once; all are lock-free.
 */
#ifndef KG_METER_H
#define KG_METER_H

#include <stdatomic.h>
#include <stdint.h>

#include "model.h"

#define METER_NOTES 3 /* things meter_once answers for on its own (view.h: each surface) */

struct meter {
    _Atomic int64_t tat;                /* ns; 0 = a full bucket */
    _Atomic uint64_t n[KG_USE_KINDS];   /* counted since the start */
    _Atomic uint64_t admitted;          /* requests admitted under a limit since the start */
    atomic_int dirty;                   /* counted since the flusher last looked */
    _Atomic int64_t noted[METER_NOTES]; /* ms: meter_once's last yes, for each `which` */
    /* the flusher's own */
    uint64_t flushed[KG_USE_KINDS];
    uint64_t admitted_flushed;
    int64_t win_start, win_count;   /* this process's admissions in the current window */
    int64_t seen_start, seen_count; /* the others' last learnt: their window and its sum */
};

/* A rate limit's answer, for the RateLimit headers (draft-ietf-httpapi-ratelimit-headers). */
struct meter_verdict {
    int allowed;
    int64_t remaining;   /* requests that would pass now, after this one */
    int64_t reset_s;     /* seconds until the bucket is full again */
    int64_t retry_after; /* refused: seconds until one request would pass (>= 1) */
};

/* Takes one request from m's bucket of `requests` a `period_s` at now_ms: fills *v; 1 when it
 * passes (and is charged), 0 when it is refused (nothing charged). */
int meter_take(struct meter *m, int64_t requests, int64_t period_s, int64_t now_ms,
               struct meter_verdict *v);
/* Charges n requests admitted elsewhere to m's bucket (never refused). */
void meter_charge(struct meter *m, int64_t n, int64_t requests, int64_t period_s, int64_t now_ms);

/* The token's limit changed (to period_s a period; 0: none) at now_ms: the bucket owes at most
 * one period of the new limit, so that one emptied under a slower limit (a day's) is not kept
 * empty that long. */
void meter_limit_changed(struct meter *m, int64_t period_s, int64_t now_ms);
/* 1 for one caller at most every `every_ms` for each `which` (< METER_NOTES): a refusal worth
 * an audit entry, not thousands a second of them. */
int meter_once(struct meter *m, unsigned which, int64_t now_ms, int64_t every_ms);

/* Counts one use of kind k.  1 when m was clean and is now dirty: the caller queues it for
 * the flusher. */
int meter_count(struct meter *m, enum kg_use k);
/* Marks m for the flusher without counting (its admissions are to be shared).  1 when m was
 * clean and is now dirty: the caller queues it. */
int meter_mark(struct meter *m);
/* The flusher's: marks m clean and adds to out[] what was counted since the last call.  1
 * when anything was. */
int meter_take_counts(struct meter *m, int64_t out[KG_USE_KINDS]);
/* The flusher's: requests admitted under m's limit in the window of `period_ms` holding
 * now_ms, as this process counts them (0 when none since the window began); *start = the
 * window's start. */
int64_t meter_admitted_since(struct meter *m, int64_t period_ms, int64_t now_ms, int64_t *start);

#endif
