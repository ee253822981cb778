/*
 * pane.h — the web pane's server side: sign-in and sign-out, the session description the
 * page script reads, and the embedded pages and assets.  The pane's data calls go to the
 * REST API (api.c) with the session cookie and the CSRF token.
 */
#ifndef KG_PANE_H
#define KG_PANE_H

#include "call.h"

void pane_root(struct call *c);       /* GET /: to the token pane */
void pane_login_page(struct call *c); /* GET /login */
void pane_login(struct call *c);      /* POST /login {"email","password"} */
void pane_logout(struct call *c);     /* POST /logout (session + CSRF) */
void pane_session(struct call *c);    /* GET /pane/session */
void pane_app_page(struct call *c);   /* GET /api-auth-token, /roles, /users */
void pane_asset(struct call *c);      /* GET /assets/{name}, /assets/{folder}/{name} */

#endif
