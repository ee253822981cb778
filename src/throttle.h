/*
 * throttle.h — slows repeated failed sign-ins, per account and per address, without locking
 * anybody out for long: after THROTTLE_FREE failures each further failure doubles a wait
 * (1 s, 2 s, 4 s … at most THROTTLE_MAX_WAIT_S); a success or 15 quiet minutes forget it.
 * Bounded memory (THROTTLE_KEYS entries; the stalest is dropped).  Thread safe.
 */
#ifndef KG_THROTTLE_H
#define KG_THROTTLE_H

#include <stdint.h>

#include "err.h"

#define THROTTLE_FREE 5
#define THROTTLE_MAX_WAIT_S 300
#define THROTTLE_KEYS 4096

struct throttle;

kg_err throttle_new(struct throttle **out);
void throttle_free(struct throttle *t); /* NULL is a no-op */
/* Seconds to wait before `key` may try again (0 = now). */
int64_t throttle_wait(struct throttle *t, const char *key, int64_t now_ms);
void throttle_fail(struct throttle *t, const char *key, int64_t now_ms);
void throttle_forget(struct throttle *t, const char *key);

#endif
