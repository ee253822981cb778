/*
 * meter.c — GCRA and running counts (meter.h).
 */
#include "meter.h"

#include <string.h>

#define NS_PER_MS 1000000LL
#define NS_PER_S 1000000000LL

/* The bucket's shape in ns: the emission interval (one request's share) and the period. */
static void shape(int64_t requests, int64_t period_s, int64_t *interval, int64_t *period)
{
    *period = period_s * NS_PER_S;
    *interval = *period / requests;
    if (*interval < 1) *interval = 1;
}

static int64_t ceil_s(int64_t ns)
{
    return ns <= 0 ? 0 : (ns + NS_PER_S - 1) / NS_PER_S;
}

int meter_take(struct meter *m, int64_t requests, int64_t period_s, int64_t now_ms,
               struct meter_verdict *v)
{
    int64_t t, p, now = now_ms * NS_PER_MS;
    shape(requests, period_s, &t, &p);
    int64_t tat = atomic_load_explicit(&m->tat, memory_order_relaxed), next;
    for (;;) {
        int64_t base = tat > now ? tat : now;
        next = base + t;
        if (next - now > p) { /* the bucket is empty: the next request fits at next - p */
            v->allowed = 0;
            v->remaining = 0;
            v->reset_s = ceil_s(tat - now);
            v->retry_after = ceil_s(next - p - now);
            if (v->retry_after < 1) v->retry_after = 1;
            return 0;
        }
        if (atomic_compare_exchange_weak_explicit(&m->tat, &tat, next, memory_order_relaxed,
                                                  memory_order_relaxed))
            break;
    }
    atomic_fetch_add_explicit(&m->admitted, 1, memory_order_relaxed);
    v->allowed = 1;
    v->remaining = (p - (next - now)) / t;
    v->reset_s = ceil_s(next - now);
    v->retry_after = 0;
    return 1;
}

void meter_charge(struct meter *m, int64_t n, int64_t requests, int64_t period_s, int64_t now_ms)
{
    int64_t t, p, now = now_ms * NS_PER_MS;
    if (n <= 0) return;
    shape(requests, period_s, &t, &p);
    /* at most a full period's debt: what others admitted cannot empty the bucket further */
    int64_t add = n > p / t ? p : n * t;
    int64_t tat = atomic_load_explicit(&m->tat, memory_order_relaxed), next;
    do {
        int64_t base = tat > now ? tat : now;
        next = base + add;
        if (next - now > p) next = now + p; /* an empty bucket, no deeper */
    } while (!atomic_compare_exchange_weak_explicit(&m->tat, &tat, next, memory_order_relaxed,
                                                    memory_order_relaxed));
}

void meter_limit_changed(struct meter *m, int64_t period_s, int64_t now_ms)
{
    int64_t cap = now_ms * NS_PER_MS + period_s * NS_PER_S;
    int64_t tat = atomic_load_explicit(&m->tat, memory_order_relaxed);
    while (tat > cap && !atomic_compare_exchange_weak_explicit(
                            &m->tat, &tat, cap, memory_order_relaxed, memory_order_relaxed))
        ;
}

int meter_once(struct meter *m, unsigned which, int64_t now_ms, int64_t every_ms)
{
    if (which >= METER_NOTES) return 0;
    int64_t last = atomic_load_explicit(&m->noted[which], memory_order_relaxed);
    return (last == 0 || now_ms - last >= every_ms) &&
           atomic_compare_exchange_strong(&m->noted[which], &last, now_ms);
}

int meter_mark(struct meter *m)
{
    return atomic_load_explicit(&m->dirty, memory_order_relaxed) == 0 &&
           atomic_exchange(&m->dirty, 1) == 0;
}

int meter_count(struct meter *m, enum kg_use k)
{
    atomic_fetch_add_explicit(&m->n[k], 1, memory_order_relaxed);
    return meter_mark(m);
}

int meter_take_counts(struct meter *m, int64_t out[KG_USE_KINDS])
{
    int any = 0;
    atomic_store(&m->dirty, 0); /* first: a count made from here on queues m again */
    for (size_t k = 0; k < KG_USE_KINDS; k++) {
        uint64_t now = atomic_load_explicit(&m->n[k], memory_order_relaxed);
        out[k] += (int64_t)(now - m->flushed[k]);
        any |= now != m->flushed[k];
        m->flushed[k] = now;
    }
    return any;
}

int64_t meter_admitted_since(struct meter *m, int64_t period_ms, int64_t now_ms, int64_t *start)
{
    uint64_t all = atomic_load_explicit(&m->admitted, memory_order_relaxed);
    int64_t delta = (int64_t)(all - m->admitted_flushed);
    *start = now_ms - now_ms % period_ms;
    m->admitted_flushed = all;
    if (m->win_start != *start) {
        m->win_start = *start;
        m->win_count = 0;
    }
    m->win_count += delta;
    return m->win_count;
}
