/*
 * fuzz_values.c — the single values keygate takes from requests and checks on their own:
 * numbers (kg_parse_int64: pageSize), times (kg_time_parse: expiresOn), text
 * (kg_utf8_text: descriptions), identifiers (ids.c: client ids, secrets, role and user ids),
 * names and e-mail addresses (service.c), and kg_log_clean (log.c), which copies a request
 * path into a log line.
 *
 * Input: the value (cut at the first NUL, as the adapter would hand it over, except for
 * kg_utf8_text, which gets every byte).  Checks, from the headers' contracts:
 *   - a parsed number is in range and prints back to the same number;
 *   - a parsed time is after 1970 and survives kg_time_format and a second parse;
 *   - kg_utf8_text agrees with jansson's UTF-8 check (differential), counts code points;
 *   - an accepted id has its documented shape; a secret with a changed character is refused;
 *   - kg_log_clean's output fits, is printable ASCII, and shows no "kgs_" or "eyJ".
 */
#include <ctype.h>
#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ids.h"
#include "log.h"
#include "privilege.h"
#include "service.h"
#include "util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void number(const char *s, int64_t min, int64_t max)
{
    int64_t v = 0, again = 0;
    char buf[32];
    if (kg_parse_int64(s, min, max, &v) != KG_OK) return;
    if (v < min || v > max) abort();
    snprintf(buf, sizeof buf, "%lld", (long long)v);
    if (kg_parse_int64(buf, min, max, &again) != KG_OK || again != v) abort();
    for (const char *p = s; *p; p++)
        if (!isdigit((unsigned char)*p) && !(p == s && *p == '-')) abort();
}

static void time_value(const char *s)
{
    int64_t ms = 0, again = 0;
    char buf[40];
    if (kg_time_parse(s, &ms) != KG_OK) return;
    if (ms < 0) abort();
    kg_time_format(ms, buf, sizeof buf);
    if (strlen(buf) != 24 || kg_time_parse(buf, &again) != KG_OK || again != ms) abort();
}

/* 1 when s[0..n) is valid UTF-8 by jansson, holds no C0 control but \t and no DEL. */
static int text_reference(const char *s, size_t n, size_t *chars)
{
    json_t *j = json_stringn(s, n);
    if (!j) return 0;
    json_decref(j);
    *chars = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if ((c < 0x20 && c != '\t') || c == 0x7f) return 0;
        *chars += (c & 0xc0) != 0x80;
    }
    return 1;
}

static void text(const char *s, size_t n)
{
    size_t chars = 12345, want = 0;
    int ok = kg_utf8_text(s, n, &chars);
    if (ok != text_reference(s, n, &want) || (ok && chars != want)) abort();
}

static int shaped(const char *s, const char *prefix, size_t len, int digits_only)
{
    size_t pl = strlen(prefix);
    if (strlen(s) != len || strncmp(s, prefix, pl) != 0) return 0;
    for (size_t i = pl; i < len; i++)
        if (digits_only ? !isdigit((unsigned char)s[i]) : !isalnum((unsigned char)s[i])) return 0;
    return 1;
}

static void identifiers(const char *s)
{
    if (ids_client_id_valid(s) != shaped(s, "kgc_", KG_CLIENT_ID_LEN, 0)) abort();
    if (ids_role_id_valid(s) != shaped(s, "r-", KG_ROLE_ID_LEN, 1)) abort();
    if (ids_user_id_valid(s) != shaped(s, "u-", KG_USER_ID_LEN, 1)) abort();
    if (ids_secret_valid(s)) {
        if (!shaped(s, "kgs_", KG_SECRET_LEN, 0)) abort();
        char other[KG_SECRET_LEN + 1];
        memcpy(other, s, sizeof other);
        size_t at = 4 + ids_crc32(s, KG_SECRET_LEN) % (KG_SECRET_LEN - 4);
        other[at] = other[at] == '0' ? '1' : '0';
        if (ids_secret_valid(other)) abort(); /* CRC-32 catches any one changed character */
    }
    if (service_role_name_valid(s) && strlen(s) > KG_ROLE_NAME_MAX) abort();
    if (privilege_valid(s) && strlen(s) > KG_PRIV_MAX) abort();
    if (service_email_valid(s)) {
        const char *at = strchr(s, '@');
        if (!at || strchr(at + 1, '@') || strlen(s) > KG_EMAIL_MAX) abort();
    }
}

static void log_clean(const char *s, size_t size)
{
    char out[200];
    memset(out, 'x', sizeof out);
    kg_log_clean(s, out, size);
    if (!memchr(out, '\0', size)) abort();
    for (const char *p = out; *p; p++)
        if ((unsigned char)*p < 0x20 || (unsigned char)*p >= 0x7f) abort();
    if (strstr(out, "kgs_") || strstr(out, "eyJ")) abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *s = malloc(size + 1);
    if (!s) return 0;
    memcpy(s, data, size);
    s[size] = '\0';
    text(s, size);
    number(s, 1, 1000);
    number(s, INT64_MIN, INT64_MAX);
    time_value(s);
    identifiers(s);
    log_clean(s, 1 + size % 200);
    free(s);
    return 0;
}
