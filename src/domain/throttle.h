/*
 * throttle.h — slows repeated failed authentications (pane sign-ins by address and by account,
 * client authentications by client ID and by address) without locking anybody out for long:
 * after `allowed` failures (the caller's choice: THROTTLE_FREE for people) each further
 * failure doubles a wait (1 s, 2 s, 4 s … at most THROTTLE_MAX_WAIT_S); 15 quiet minutes
 * forget it.  It also remembers recent successes under a key (a client at an address), so
 * that a client that has authenticated from an address before can go on while somebody else
 * hammers its client ID.
 *
 * Keys are short strings chosen by the callers ("a:<address>", "c:<client id>", …); the table
 * keeps only a keyed 128-bit hash of each (a random key per process, so nobody can aim keys
 * at one place of the table).  Memory is fixed at throttle_new(): THROTTLE_KEYS failure
 * counters and, apart from them, THROTTLE_MARKS success marks, so failures never push out a
 * success mark.  A counter that has reached its limit is *held* until its 15 quiet minutes
 * are over, whether or not its current wait has run out: a held counter is never replaced by
 * one that is not, however many other keys fail.  Among counters that are not held the one
 * with the fewest failures, then the stalest, gives way.  When every slot a new key may take
 * (THROTTLE_WINDOW of them) is held, the new key fails closed: throttle_wait() reports it
 * waiting until one of those slots is free again (at most THROTTLE_MAX_WAIT_S at a time).
 *
 * Every call hashes its key once and probes at most THROTTLE_WINDOW slots under one mutex,
 * with no allocation: cheap enough for the token endpoint's hot path.  Thread safe.
 */
#ifndef KG_THROTTLE_H
#define KG_THROTTLE_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"

#define THROTTLE_FREE 5
#define THROTTLE_MAX_WAIT_S 300
#define THROTTLE_QUIET_S (15 * 60)   /* quiet time that forgets a key's failures */
#define THROTTLE_KEYS 65536          /* failure counters (a power of two) */
#define THROTTLE_MARKS 16384         /* success marks (a power of two) */
#define THROTTLE_WINDOW 16           /* slots a key may occupy */
#define THROTTLE_KNOWN_S (24 * 3600) /* how long a success is remembered */

struct throttle;

kg_err throttle_new(struct throttle **out);
void throttle_free(struct throttle *t); /* NULL is a no-op */
/* Bytes held by t, fixed from throttle_new() to throttle_free(). */
size_t throttle_size(const struct throttle *t);
/* Seconds to wait before `key` may try again (0 = now). */
int64_t throttle_wait(struct throttle *t, const char *key, int64_t now_ms);
/* Failures counted under key since it was last forgotten or quiet (0 if none). */
int throttle_failures(struct throttle *t, const char *key, int64_t now_ms);
void throttle_fail(struct throttle *t, const char *key, int allowed, int64_t now_ms);
/* Clears key's failures. */
void throttle_forget(struct throttle *t, const char *key);
/* Records a success under key; throttle_known() says whether one was recorded in the last
 * THROTTLE_KNOWN_S seconds. */
void throttle_succeed(struct throttle *t, const char *key, int64_t now_ms);
int throttle_known(struct throttle *t, const char *key, int64_t now_ms);

#endif
