/*
 * rolegraph.h — the role graph: roles, the roles granted to each and the privileges granted to
 * each, built once into an immutable table that answers the hot path's questions with binary
 * searches (each role's closure and effective privileges are precomputed).
 *
 * Active role set: an actor holds some roles directly (a token: one; a user: several).  Its
 * active role set is those, every role granted to them transitively, and `public`.  The set
 * holds a privilege by the rule in privilege.h, over the Allows and Denies of all its roles.
 * A set that contains accountadmin holds every role and every privilege, whatever denies.
 *
 * The graph tolerates what the store already refuses (a cycle of grants closes over itself;
 * a grant of an unknown role, or a privilege of one, is ignored).  It does no I/O and takes no
 * lock: the in-memory view (view.h) builds one from the store and swaps it whole.  A built
 * graph is immutable; every query may run from many threads at once.
 */
#ifndef KG_ROLEGRAPH_H
#define KG_ROLEGRAPH_H

#include <stddef.h>

#include "err.h"
#include "model.h"

struct rolegraph;

/* Builds the graph of roles[0..nroles) (each with its granted roles; ids unique) and
 * privs[0..nprivs).  Both are borrowed: what the graph needs is copied.  nroles 0 makes an
 * empty graph (no role, not even public).  Caller owns *out; KG_ENOMEM. */
kg_err rolegraph_new(const struct kg_role *roles, size_t nroles, const struct kg_privilege *privs,
                     size_t nprivs, struct rolegraph **out);
void rolegraph_free(struct rolegraph *g); /* NULL is a no-op */

/* Number of roles in g. */
size_t rolegraph_count(const struct rolegraph *g);

/* The role's name, borrowed (valid while g lives), or NULL for an unknown role. */
const char *rolegraph_role_name(const struct rolegraph *g, const char *role_id);

/* 1 when the active role set of `holders` (n of them; unknown ids are skipped) holds
 * `privilege`. */
int rolegraph_allows(const struct rolegraph *g, const kg_role_id *holders, size_t n,
                     const char *privilege);
/* 1 when that set holds `privilege` with grant option (privilege.h: privilege_grantable). */
int rolegraph_grantable(const struct rolegraph *g, const kg_role_id *holders, size_t n,
                        const char *privilege);
/* 1 when some role of that set holds some privilege with grant option that the same role's
 * closure does not deny (a cheap first test; rolegraph_grantable() is the rule), or the set
 * holds accountadmin. */
int rolegraph_grants_any(const struct rolegraph *g, const kg_role_id *holders, size_t n);
/* 1 when role_id is in the active role set of `holders`. */
int rolegraph_holds(const struct rolegraph *g, const kg_role_id *holders, size_t n,
                    const char *role_id);

/* Calls each(arg, role_id, role_name) once for every role in the active role set of
 * `holders`, in role id order; the strings are borrowed for the call.  KG_ENOMEM (before
 * any call). */
typedef void rolegraph_role_fn(void *arg, const char *role_id, const char *role_name);
kg_err rolegraph_active(const struct rolegraph *g, const kg_role_id *holders, size_t n,
                        rolegraph_role_fn *each, void *arg);

#endif
