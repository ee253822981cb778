/*
 * err.h — keygate's one result type.
 *
 * Every fallible function returns a kg_err; outputs go through pointers.  What a kg_err is
 * called (in logs, as an HTTP status, a REST API status name, an OAuth error) is one table,
 * in err.c; reply.c turns it into answers.
 */
#ifndef KG_ERR_H
#define KG_ERR_H

typedef enum kg_err {
    KG_OK = 0,
    KG_ENOMEM,          /* allocation failed */
    KG_INVALID,         /* the caller's input is malformed or out of bounds */
    KG_NOTFOUND,        /* no such record */
    KG_CONFLICT,        /* a unique value is taken (name, email, id) */
    KG_PRECONDITION,    /* the record's state forbids it (built-in role, role in use, cycle) */
    KG_UNAUTHENTICATED, /* missing or bad credentials */
    KG_FORBIDDEN,       /* authenticated, but the privilege or role is not held */
    KG_TOOBIG,          /* a body or value exceeds its limit */
    KG_UNAVAILABLE,     /* storage busy or unreachable; retry later */
    KG_IO,              /* storage or file error */
    KG_BADMETHOD,       /* the resource exists but not with this method */
    KG_UNIMPLEMENTED,   /* a protocol feature keygate does not support (a transfer coding) */
    KG_THROTTLED,       /* too many failures from this source or for this name; retry later */
    KG_ABORTED,         /* the record changed since it was read (a stale syncToken): read again */
    KG_INTERNAL,        /* a bug or an impossible state (the last value: err.c's table ends here) */
} kg_err;

/* A short constant name for logs ("NOTFOUND"); never NULL. */
const char *kg_err_name(kg_err rc);
/* The HTTP status rc answers (200 for KG_OK); a value outside the enum is KG_INTERNAL's. */
int kg_err_http(kg_err rc);
/* The REST API's status name of rc ("NOT_FOUND"; "OK" for KG_OK): error bodies and the
 * audit log's outcome. */
const char *kg_err_status(kg_err rc);
/* The RFC 6749 §5.2 error code of rc ("invalid_request"); NULL for KG_OK. */
const char *kg_err_oauth(kg_err rc);

#endif
