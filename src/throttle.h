/*
 * throttle.h — slows repeated failed authentications (sign-ins by account, client
 * authentications by client ID, both by source address) without locking anybody out for
 * long: after `allowed` failures (the caller's choice: THROTTLE_FREE for people) each further
 * failure doubles a wait (1 s, 2 s, 4 s … at most THROTTLE_MAX_WAIT_S); 15 quiet minutes
 * forget it.  It also remembers recent successes
 * under a key (a client at an address), so that a client that has authenticated from an
 * address before can go on while somebody else hammers its client ID.
 *
 * Keys are short strings ("e:<email>", "a:<address>", "c:<client id>", "k:<client>@<addr>").
 * Memory is bounded (THROTTLE_KEYS entries, hashed; in a full neighbourhood the stalest entry
 * is dropped) and every call is a few probes under one mutex, cheap enough for the token
 * endpoint's hot path.  Thread safe.
 */
#ifndef KG_THROTTLE_H
#define KG_THROTTLE_H

#include <stdint.h>

#include "err.h"

#define THROTTLE_FREE 5
#define THROTTLE_MAX_WAIT_S 300
#define THROTTLE_KEYS 8192
#define THROTTLE_KNOWN_S (24 * 3600) /* how long a success is remembered */

struct throttle;

kg_err throttle_new(struct throttle **out);
void throttle_free(struct throttle *t); /* NULL is a no-op */
/* Seconds to wait before `key` may try again (0 = now). */
int64_t throttle_wait(struct throttle *t, const char *key, int64_t now_ms);
void throttle_fail(struct throttle *t, const char *key, int allowed, int64_t now_ms);
/* Clears key's failures. */
void throttle_forget(struct throttle *t, const char *key);
/* Records a success under key; throttle_known() says whether one was recorded in the last
 * THROTTLE_KNOWN_S seconds. */
void throttle_succeed(struct throttle *t, const char *key, int64_t now_ms);
int throttle_known(struct throttle *t, const char *key, int64_t now_ms);

#endif
