/*
 * fuzz_session.c — the pane's session cookie and the Authorization header as call.c reads
 * them before anything else: sessions_get / sessions_end (session.c) with any cookie value,
 * and access_bearer (access.c) with any header value.
 *
 * Input: one mode byte, then
 *   '@' (or any byte with bit 6 set and bit 0 clear): a real session id (the input's next
 *       byte picks one of three) with the rest of the input as (position, byte) edits;
 *   otherwise: the bytes up to the first NUL, as the cookie value and as the header value.
 * Checks: a lookup succeeds exactly for a live session's id, and gives that session's user;
 * ending an unknown id (inputs of odd length) leaves the session it was edited from live;
 * access_bearer gives NULL or the non-empty token after "Bearer " and its spaces.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "access.h"
#include "session.h"

#define T0 1900000000000LL /* ms; fixed, and never idle: every lookup is at T0 */
#define LIVE 3

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct sessions *table;
static char ids[LIVE][KG_SESSION_ID_LEN + 1];
static const char *const users[LIVE] = {"u-0000000001", "u-0000000002", "u-0000000003"};

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc, (void)argv;
    struct session_info si;
    if (sessions_new(3600, &table) != KG_OK) exit(1);
    for (int i = 0; i < LIVE; i++)
        if (sessions_create(table, users[i], "", T0, ids[i], &si) != KG_OK) exit(1);
    return 0;
}

/* Looks id up; with `end`, an unknown id is also ended, and session `keep` must live on.
 * (Each call scans the whole table, which bounds this driver's speed: two scans at most.) */
static void lookup(const char *id, int end, int keep)
{
    struct session_info si;
    int want = -1;
    for (int i = 0; i < LIVE; i++)
        if (strcmp(id, ids[i]) == 0) want = i;
    kg_err rc = sessions_get(table, id, T0, &si);
    if ((rc == KG_OK) != (want >= 0)) abort();
    if (rc == KG_OK && strcmp(si.user_id, users[want]) != 0) abort();
    if (rc != KG_OK && end) {
        sessions_end(table, id); /* an unknown id: nothing may end */
        if (sessions_get(table, ids[keep], T0, &si) != KG_OK) abort();
    }
}

static void bearer(const char *h)
{
    const char *t = access_bearer(h);
    if (!t) return;
    if (strncasecmp(h, "Bearer ", 7) != 0 || t < h + 7 || !*t || *t == ' ' || t > h + strlen(h))
        abort();
    for (const char *p = h + 7; p < t; p++)
        if (*p != ' ') abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char id[KG_SESSION_ID_LEN + 2];
    if (size >= 2 && (data[0] & 0x41) == 0x40) {
        memcpy(id, ids[data[1] % LIVE], sizeof ids[0]);
        id[KG_SESSION_ID_LEN + 1] = '\0';
        for (size_t i = 2; i + 1 < size; i += 2)
            id[data[i] % (KG_SESSION_ID_LEN + 1)] = (char)data[i + 1];
        lookup(id, size % 2, data[1] % LIVE);
        return 0;
    }
    char *s = malloc(size + 1);
    if (!s) return 0;
    if (size) memcpy(s, data + 1, size - 1);
    s[size ? size - 1 : 0] = '\0';
    lookup(s, size % 2, 0);
    bearer(s);
    free(s);
    return 0;
}
