/*
 * fuzz_json.c — JSON request bodies as the REST API and the pane read them: call.c's
 * json_body_or_reply (jansson with JSON_REJECT_DUPLICATES, members outside the endpoint's
 * list refused), json_string_or_reply and json_role_refs_or_reply, then the validators the
 * handlers and service.c apply to the strings (UTF-8 text, names, e-mail, roleId, times).
 *
 * Input: one byte choosing the endpoint (its digit '0'..'5', or any byte modulo 6), then the
 * body.  Checks: an `_or_reply` helper that fails has answered exactly once with a 4xx; one
 * that succeeds has not answered; role references come back valid and counted.  The same body
 * also goes through json_fields_or_reply with a spec of every kind: what it accepts has every
 * required member, and each member is in the spec and of its kind.
 */
#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ids.h"
#include "call.h"
#include "privilege.h"
#include "service.h"
#include "stub_http.h"
#include "util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The member lists of the handlers that read a JSON body (api.c, pane.c). */
static const char *const token_create[] = {"description", "roleId", "expiresOn", NULL};
static const char *const role_create[] = {"roleName",
                                          "roleDescription",
                                          "grantToCreatingRole",
                                          "directlyGrantedRoles",
                                          "grantToCreatorRole",
                                          NULL};
static const char *const role_update[] = {
    "roleName", "roleDescription", "directlyGrantedRoles", "syncToken", "roleId", "owningRoleId",
    "allRoles", "createdOn",       "modifiedOn",           NULL};
static const char *const privilege[] = {"grantKind", "privilege", NULL};
static const char *const user[] = {"email", "password", "directlyGrantedRoles", NULL};
static const char *const login[] = {"email", "password", NULL};
static const char *const *const endpoints[] = {token_create, role_create, role_update,
                                               privilege,    user,        login};

static struct stub_req stub;
static struct http_req req;

/* Galaxy's GrantPrivilege, and a member of each other kind. */
static const struct json_field spec[] = {
    {"grantKind", JSON_KIND_STRING, 1}, {"entityKind", JSON_KIND_STRING, 1},
    {"entityId", JSON_KIND_STRING, 1},  {"grantOption", JSON_KIND_BOOL, 1},
    {"privilege", JSON_KIND_STRING, 1}, {"count", JSON_KIND_INT, 0},
    {"roles", JSON_KIND_ARRAY, 0},      {"meta", JSON_KIND_OBJECT, 0},
    {"syncToken", JSON_KIND_ANY, 0},    {NULL, JSON_KIND_ANY, 0},
};

/* Aborts unless the helper's result and the replies since the last stub_req_init agree. */
static void agree(int failed)
{
    if (failed ? stub.replies != 1 || stub.status < 400 || stub.status >= 500 : stub.replies != 0)
        abort();
}

static void text(const char *s)
{
    size_t chars = 0;
    if (s && kg_utf8_text(s, strlen(s), &chars) && chars > strlen(s)) abort();
}

/* Reads string `key` as the handlers do; NULL when absent or the helper refused it. */
static const char *string(struct call *c, json_t *body, const char *key, int required)
{
    const char *v = "unset";
    int present = json_object_get(body, key) != NULL;
    stub_req_init(&stub, &req); /* a fresh request for each helper */
    int failed = json_string_or_reply(c, body, key, required, &v);
    agree(failed);
    if (failed ? v != NULL : (v == NULL) == present) abort();
    return v;
}

static void role_refs(struct call *c, json_t *body)
{
    kg_role_id ids[KG_GRANTS_MAX];
    size_t n = 99;
    int present = -1;
    stub_req_init(&stub, &req);
    int failed = json_role_refs_or_reply(c, body, "directlyGrantedRoles", ids, &n, &present);
    agree(failed);
    if (present != (json_object_get(body, "directlyGrantedRoles") != NULL)) abort();
    if (!failed) {
        if (n > KG_GRANTS_MAX || (!present && n != 0)) abort();
        for (size_t i = 0; i < n; i++)
            if (!ids_role_id_valid(ids[i])) abort();
    }
}

static int of_kind(const json_t *v, enum json_kind kind)
{
    switch (kind) {
    case JSON_KIND_STRING:
        return json_is_string(v);
    case JSON_KIND_BOOL:
        return json_is_boolean(v);
    case JSON_KIND_INT:
        return json_is_integer(v);
    case JSON_KIND_ARRAY:
        return json_is_array(v);
    case JSON_KIND_OBJECT:
        return json_is_object(v);
    case JSON_KIND_ANY:
        return 1;
    }
    return 0;
}

/* json_fields_or_reply on body (a fresh request: the helpers above reset it). */
static void fields(struct call *c, char *body, size_t len)
{
    char ct[] = "application/json";
    stub_req_init(&stub, &req);
    stub_add_header(&stub, "Content-Type", ct);
    req.method = "POST";
    req.body = body;
    req.body_len = len;
    c->req = &req;
    json_t *o = NULL, *v;
    const char *key;
    int failed = json_fields_or_reply(c, spec, &o);
    agree(failed);
    if (failed) return;
    json_object_foreach (o, key, v) {
        const struct json_field *f = spec;
        while (f->name && strcmp(f->name, key) != 0)
            f++;
        if (!f->name || !of_kind(v, f->kind)) abort();
    }
    for (const struct json_field *f = spec; f->name; f++)
        if (f->required && !json_object_get(o, f->name)) abort();
    json_decref(o);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) return 0;
    unsigned which = (unsigned)(data[0] >= '0' && data[0] <= '5' ? data[0] - '0' : data[0]) %
                     (unsigned)KG_ARRAY_LEN(endpoints);
    /* The adapter's body: a NUL-terminated copy. */
    char *body = malloc(size);
    if (!body) return 0;
    memcpy(body, data + 1, size - 1);
    body[size - 1] = '\0';

    struct call c;
    memset(&c, 0, sizeof c);
    stub_req_init(&stub, &req);
    char ct[] = "application/json; charset=utf-8";
    stub_add_header(&stub, "Content-Type", ct);
    req.method = "POST";
    req.body = body;
    req.body_len = size - 1;
    c.req = &req;

    json_t *o = NULL;
    int failed = json_body_or_reply(&c, endpoints[which], &o);
    agree(failed);
    if (failed) goto out;
    if (!json_is_object(o)) abort();
    const char *s;
    int64_t ms;
    switch (which) {
    case 0:
        text(string(&c, o, "description", 0));
        (void)ids_role_id_valid((s = string(&c, o, "roleId", 1)) ? s : "");
        if ((s = string(&c, o, "expiresOn", 0)) && kg_time_parse(s, &ms) == KG_OK && ms < 0)
            abort();
        break;
    case 1:
    case 2:
        (void)json_is_boolean(json_object_get(o, "grantToCreatingRole"));
        (void)json_is_boolean(json_object_get(o, "grantToCreatorRole"));
        if ((s = string(&c, o, "roleName", which == 1))) (void)service_role_name_valid(s);
        text(string(&c, o, "roleDescription", 0));
        role_refs(&c, o);
        break;
    case 3:
        (void)string(&c, o, "grantKind", 1);
        if ((s = string(&c, o, "privilege", 1))) (void)privilege_valid(s);
        break;
    case 4:
    case 5:
        if ((s = string(&c, o, "email", 1))) (void)service_email_valid(s);
        (void)string(&c, o, "password", which == 5);
        if (which == 4) role_refs(&c, o);
        break;
    }
out:
    json_decref(o);
    fields(&c, body, size - 1);
    free(body);
    return 0;
}
