/*
 * tcache.h — the REST API's token answers (one token; a page of the token list) kept as text,
 * so that a read asked again before anything changed is answered from memory: no store read,
 * no rendering.
 *
 * An entry is an answer's text with holes where each of its tokens' lastAccessOn goes (that
 * changes with every use, which is not a change of the data); a hit fills them in from the
 * view.  An entry is taken only while
 *   - the view's data version is still the one the entry was read at (view_data_version()),
 *   - this process made no write since (tcache_forget(): the service calls it after every
 *     write, so an answer never misses a change made here, even one the view failed to sync),
 *   - and its `until` (the first moment its text would change by itself: a secret expiring
 *     changes secretCount) has not passed.
 * So a hit answers what the store holds as far as the view knows it: another node's change
 * shows within the view's sync (200 ms), as it does at the gate and in the exchange.
 * Fixed memory: TCACHE_SLOTS entries (direct-mapped by the key's hash; a newer entry takes an
 * older one's slot) and at most `budget` bytes of text in all.  Thread safe.
 */
#ifndef KG_TCACHE_H
#define KG_TCACHE_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"
#include "jsonw.h"
#include "model.h"
#include "view.h"

#define TCACHE_SLOTS 4096
#define TCACHE_KEY_MAX 63
#define TCACHE_BUDGET (32u << 20) /* bytes of text a server keeps */

struct tcache;

/* Where one token's lastAccessOn goes in an entry's text: at byte `at`, the later of the
 * view's last access and `stored` (what the store held when the text was made). */
struct tcache_hole {
    size_t at;
    int64_t stored;
    char client_id[KG_CLIENT_ID_LEN + 1];
    uint32_t place; /* the token's place in the view (view_token_places); 0: found by its id */
};

/* What an entry is valid for; read it (tcache_stamp()) before reading the store. */
struct tcache_stamp {
    uint64_t epoch;
    int64_t data_ver;
};

/* budget: bytes of text all entries may hold together.  Caller owns *out. */
kg_err tcache_new(size_t budget, struct tcache **out);
void tcache_free(struct tcache *c); /* NULL is a no-op */
/* The stamp of what is read from now on. */
void tcache_stamp(struct tcache *c, struct view *v, struct tcache_stamp *out);
/* Every entry made so far is stale (a write happened).  NULL is a no-op. */
void tcache_forget(struct tcache *c);
/* 1 and the entry under key appended to w (its holes filled from v) when it was made at
 * stamp s and is valid at now (ms); 0 otherwise (w untouched). */
int tcache_get(struct tcache *c, const char *key, const struct tcache_stamp *s, int64_t now,
               struct view *v, struct jsonw *w);
/* Appends text (len bytes) to w with its n holes (ascending) filled from v. */
void tcache_fill(const char *text, size_t len, const struct tcache_hole *holes, size_t n,
                 struct view *v, struct jsonw *w);
/* Keeps text (len bytes; its holes, ascending, n of them) under key until `until` (ms), for
 * stamp s, each hole with its token's place in v.  Copies everything; does nothing when it
 * would not fit (the budget, or ENOMEM). */
void tcache_put(struct tcache *c, const char *key, const struct tcache_stamp *s, int64_t until,
                const char *text, size_t len, const struct tcache_hole *holes, size_t n,
                struct view *v);

#endif
