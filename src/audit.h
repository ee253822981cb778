/*
 * audit.h — the audit log: who changed what (tokens, roles, privileges, users), who signed in,
 * from where, and how it ended.  Entries go to the store (store_audit_append) after the change
 * itself was committed or refused; a failure to write one is logged at error level, never
 * fatal to the request.
 */
#ifndef KG_AUDIT_H
#define KG_AUDIT_H

#include "app.h"

/* Records one entry: actor "" = unknown, address "" = the local CLI; outcome is "OK" or the
 * API status name of rc; target and detail may be NULL.  Over-long fields are cut. */
void audit_record(struct app *a, const char *actor, const char *address, const char *action,
                  const char *target, kg_err rc, const char *detail);
/* The same for an authenticated actor (its id and address). */
void audit_actor(struct app *a, const struct actor *who, const char *action, const char *target,
                 kg_err rc, const char *detail);

#endif
