/*
 * audit.c — filling audit-log entries, and storing the ones that go on their own.
 */
#include "audit.h"

#include <stdio.h>
#include <string.h>

#include "log.h"
#include "util.h"

/* Copies src into dst, cut at a UTF-8 character boundary if it does not fit. */
static void put(char *dst, size_t size, const char *src)
{
    size_t n = src ? strnlen(src, size - 1) : 0;
    if (src && src[n])
        while (n > 0 && ((unsigned char)src[n] & 0xC0) == 0x80)
            n--;
    if (n) memcpy(dst, src, n);
    dst[n] = '\0';
}

/* Fills every field of *e but seq. */
static void fill(struct kg_audit *e, const char *actor, const char *address, const char *action,
                 const char *target, kg_err rc, const char *detail)
{
    memset(e, 0, sizeof *e);
    e->at = kg_now_ms();
    put(e->actor, sizeof e->actor, actor);
    put(e->address, sizeof e->address, address && address[0] ? address : "local");
    put(e->action, sizeof e->action, action);
    put(e->target, sizeof e->target, target);
    put(e->outcome, sizeof e->outcome, rc == KG_OK ? "OK" : kg_err_status(rc));
    put(e->detail, sizeof e->detail, detail);
}

void audit_entry(struct kg_audit *e, const struct actor *who, const char *action,
                 const char *target, const char *detail)
{
    fill(e, who->id, who->addr, action, target, KG_OK, detail);
}

void audit_target(struct kg_audit *e, const char *target)
{
    put(e->target, sizeof e->target, target);
}

void audit_record(struct app *a, const char *actor, const char *address, const char *action,
                  const char *target, kg_err rc, const char *detail)
{
    struct kg_audit e;
    fill(&e, actor, address, action, target, rc, detail);
    kg_err w = store_audit_append(a->st, &e);
    if (w != KG_OK)
        KG_LOG(LOG_ERR, "audit entry %s by %s not written: %s", e.action,
               e.actor[0] ? e.actor : "-", kg_err_name(w));
}

void audit_actor(struct app *a, const struct actor *who, const char *action, const char *target,
                 kg_err rc, const char *detail)
{
    audit_record(a, who->id, who->addr, action, target, rc, detail);
}
