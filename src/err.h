/*
 * err.h — keygate's one result type.
 *
 * Every fallible function returns a kg_err; outputs go through pointers. The mapping of a
 * kg_err to an HTTP status, a JSON error body or an OAuth error lives only in reply.c.
 */
#ifndef KG_ERR_H
#define KG_ERR_H

typedef enum kg_err {
    KG_OK = 0,
    KG_ENOMEM,       /* allocation failed */
    KG_INVALID,      /* the caller's input is malformed or out of bounds */
    KG_NOTFOUND,     /* no such record */
    KG_CONFLICT,     /* a unique value is taken (name, email, id) */
    KG_PRECONDITION, /* the record's state forbids it (built-in role, role in use, cycle) */
    KG_UNAUTHENTICATED, /* missing or bad credentials */
    KG_FORBIDDEN,    /* authenticated, but the privilege or role is not held */
    KG_TOOBIG,       /* a body or value exceeds its limit */
    KG_UNAVAILABLE,  /* storage busy or unreachable; retry later */
    KG_IO,           /* storage or file error */
    KG_BADMETHOD,    /* the resource exists but not with this method */
    KG_INTERNAL,     /* a bug or an impossible state */
} kg_err;

/* A short constant name for logs ("NOTFOUND"); never NULL. */
const char *kg_err_name(kg_err rc);

#endif
