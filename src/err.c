/*
 * err.c — names of kg_err values, for logs.
 */
#include "err.h"

const char *kg_err_name(kg_err rc)
{
    static const char *names[] = {
        [KG_OK] = "OK",
        [KG_ENOMEM] = "ENOMEM",
        [KG_INVALID] = "INVALID",
        [KG_NOTFOUND] = "NOTFOUND",
        [KG_CONFLICT] = "CONFLICT",
        [KG_PRECONDITION] = "PRECONDITION",
        [KG_UNAUTHENTICATED] = "UNAUTHENTICATED",
        [KG_FORBIDDEN] = "FORBIDDEN",
        [KG_TOOBIG] = "TOOBIG",
        [KG_UNAVAILABLE] = "UNAVAILABLE",
        [KG_IO] = "IO",
        [KG_BADMETHOD] = "BADMETHOD",
        [KG_INTERNAL] = "INTERNAL",
    };
    if ((unsigned)rc < sizeof names / sizeof names[0] && names[rc]) return names[rc];
    return "UNKNOWN";
}
