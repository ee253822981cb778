/*
 * audit.h — the audit log: who changed what (tokens, roles, privileges, users), who signed in,
 * from where, and how it ended.
 *
 * A change that commits carries its entry into its own store write (audit_entry(), then the
 * store call's `audit` argument: store.h, "Audited changes"), so the change and its entry
 * commit together or not at all.  What changes nothing — a refused or failed change, a
 * sign-in or sign-out — is appended on its own (audit_record(), audit_actor()); a failure to
 * write such an entry is logged at error level, never fatal to the request.
 */
#ifndef KG_AUDIT_H
#define KG_AUDIT_H

#include "app.h"

/* Fills *e with the entry of a change `who` makes, outcome OK, for the store write that makes
 * it; target and detail may be NULL.  Over-long fields are cut. */
void audit_entry(struct kg_audit *e, const struct actor *who, const char *action,
                 const char *target, const char *detail);
/* Sets e's target: the id of a record made by the write (known only just before it). */
void audit_target(struct kg_audit *e, const char *target);

/* Records one entry on its own: actor "" = unknown, address "" = the local CLI; outcome is
 * "OK" or the API status name of rc; target and detail may be NULL.  Over-long fields are
 * cut. */
void audit_record(struct app *a, const char *actor, const char *address, const char *action,
                  const char *target, kg_err rc, const char *detail);
/* The same for an authenticated actor (its id and address). */
void audit_actor(struct app *a, const struct actor *who, const char *action, const char *target,
                 kg_err rc, const char *detail);

#endif
