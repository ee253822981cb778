/*
 * log.c — writes log lines to stderr: time, level, request id, message; as text or, with
 * --log-format json, as one JSON object a line ({"time","level","req","msg"}).  A request's
 * own line (kg_log_request) has its fields as fields of its own.
 *
 * Layout: options, JSON strings, lines, a request's line, cleaning.
 */
#include "log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

int kg_log_level = LOG_INFO;
int kg_log_json = 0;

static const char *level_names[] = {"emerg", "alert",  "crit", "error",
                                    "warn",  "notice", "info", "debug"};

int kg_log_parse_level(const char *s)
{
    static const struct {
        const char *name;
        int level;
    } map[] = {{"error", LOG_ERR},     {"warning", LOG_WARNING}, {"warn", LOG_WARNING},
               {"notice", LOG_NOTICE}, {"info", LOG_INFO},       {"debug", LOG_DEBUG}};
    for (size_t i = 0; i < sizeof map / sizeof map[0]; i++)
        if (strcmp(s, map[i].name) == 0) return map[i].level;
    return -1;
}

int kg_log_parse_format(const char *s)
{
    return strcmp(s, "text") == 0 ? 0 : strcmp(s, "json") == 0 ? 1 : -1;
}

/* Appends msg to out[*n..size) as the inside of a JSON string, cut short rather than split
 * an escape.  Bytes past ASCII become '?', so that no line can be invalid UTF-8. */
static void json_text(char *out, size_t size, size_t *n, const char *msg)
{
    static const char hex[] = "0123456789abcdef";
    for (const unsigned char *p = (const unsigned char *)msg; *p; p++) {
        char esc[6] = {'\\', (char)*p};
        size_t len = 2;
        if (*p < 0x20) {
            memcpy(esc + 1, "u00", 3);
            esc[4] = hex[*p >> 4], esc[5] = hex[*p & 15], len = 6;
        } else if (*p != '"' && *p != '\\') {
            esc[0] = *p >= 0x7f ? '?' : (char)*p, len = 1;
        }
        if (*n + len >= size) break;
        memcpy(out + *n, esc, len);
        *n += len;
    }
}

/* Writes the time now as "2026-12-07T05:36:25.406Z" into when[64]. */
static void stamp(char when[64])
{
    struct timespec ts;
    struct tm tm;
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    snprintf(when, 64, "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ", tm.tm_year + 1900, tm.tm_mon + 1,
             tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, ts.tv_nsec / 1000000);
}

/* Ends line[0..n) (of a buffer with 2 bytes to spare) with a newline and writes it: one fputs
 * per line keeps lines from different threads whole. */
static void emit(char *line, size_t n)
{
    line[n] = '\n';
    line[n + 1] = '\0';
    fputs(line, stderr);
}

/* ---- lines --------------------------------------------------------------------------- */

void kg_log_write(int level, unsigned long req_id, const char *fmt, ...)
{
    char msg[1024], line[1536], when[64];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    stamp(when);
    size_t n;
    if (kg_log_json) {
        int m = snprintf(line, sizeof line, "{\"time\":\"%s\",\"level\":\"%s\",", when,
                         level_names[level & 7]);
        n = m > 0 ? (size_t)m : 0;
        if (req_id) {
            m = snprintf(line + n, sizeof line - n, "\"req\":%lu,", req_id);
            n += m > 0 ? (size_t)m : 0;
        }
        memcpy(line + n, "\"msg\":\"", 7);
        n += 7;
        json_text(line, sizeof line - 3, &n, msg);
        memcpy(line + n, "\"}", 2);
        n += 2;
    } else {
        int m = req_id
                    ? snprintf(line, sizeof line, "%s %-6s req=%lu %s", when,
                               level_names[level & 7], req_id, msg)
                    : snprintf(line, sizeof line, "%s %-6s %s", when, level_names[level & 7], msg);
        n = m < 0 ? 0 : strnlen(line, sizeof line - 2);
    }
    emit(line, n);
}

/* ---- a request's line ------------------------------------------------------------------ */

/* Appends to out[*n..size - 3) what printf would write, cut short when it does not fit. */
static void add(char *out, size_t size, size_t *n, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void add(char *out, size_t size, size_t *n, const char *fmt, ...)
{
    if (*n + 3 >= size) return;
    va_list ap;
    va_start(ap, fmt);
    int m = vsnprintf(out + *n, size - 2 - *n, fmt, ap);
    va_end(ap);
    if (m > 0) *n = strnlen(out, size - 3);
}

/* Appends `"name":"value"` (value cleaned and escaped) to a JSON line; NULL value: null. */
static void json_field(char *out, size_t size, size_t *n, const char *name, const char *value,
                       size_t clean_size)
{
    char clean[512];
    if (!value) {
        add(out, size, n, ",\"%s\":null", name);
        return;
    }
    kg_log_clean(value, clean, clean_size < sizeof clean ? clean_size : sizeof clean);
    add(out, size, n, ",\"%s\":\"", name);
    json_text(out, size - 5, n, clean);
    add(out, size, n, "\"");
}

/* Appends ` name="value"` (value cleaned; '"' becomes '\'') to a text line. */
static void text_field(char *out, size_t size, size_t *n, const char *name, const char *value)
{
    char clean[512];
    kg_log_clean(value, clean, sizeof clean);
    for (char *p = clean; *p; p++)
        if (*p == '"') *p = '\'';
    add(out, size, n, " %s=\"%s\"", name, clean);
}

void kg_log_request(int level, const struct kg_log_req *r)
{
    char line[2048], when[64], path[256], uri[256] = "";
    size_t n = 0;
    /* the original URI's path only: its query may carry anything (an API key, a password) */
    if (r->orig_uri) {
        size_t cut = strcspn(r->orig_uri, "?#");
        snprintf(uri, sizeof uri, "%.*s", (int)(cut < sizeof uri ? cut : sizeof uri - 1),
                 r->orig_uri);
    }
    const char *actor = r->actor && r->actor[0] ? r->actor : NULL;
    unsigned long long us = (unsigned long long)(r->ns / 1000);
    stamp(when);
    if (kg_log_json) {
        add(line, sizeof line, &n, "{\"time\":\"%s\",\"level\":\"%s\",\"req\":%lu", when,
            level_names[level & 7], r->req);
        json_field(line, sizeof line, &n, "method", r->method, 32);
        json_field(line, sizeof line, &n, "path", r->path, sizeof path);
        add(line, sizeof line, &n, ",\"status\":%d,\"ms\":%llu.%03llu,\"bytes\":%zu", r->status,
            us / 1000, us % 1000, r->bytes);
        json_field(line, sizeof line, &n, "client", r->client, 64);
        json_field(line, sizeof line, &n, "actor", actor, 64);
        if (r->orig_method || r->orig_uri) {
            json_field(line, sizeof line, &n, "orig_method", r->orig_method, 32);
            json_field(line, sizeof line, &n, "orig_uri", r->orig_uri ? uri : NULL, sizeof uri);
        }
        if (r->error) json_field(line, sizeof line, &n, "error", r->error, 512);
        add(line, sizeof line, &n, "}");
        if (line[n - 1] != '}') { /* cut short: close what is open so that it stays JSON */
            n = 0;
            add(line, sizeof line, &n,
                "{\"time\":\"%s\",\"level\":\"%s\",\"req\":%lu,\"status\":%d}", when,
                level_names[level & 7], r->req, r->status);
        }
    } else {
        char method[32];
        kg_log_clean(r->method ? r->method : "-", method, sizeof method);
        kg_log_clean(r->path ? r->path : "-", path, sizeof path);
        add(line, sizeof line, &n, "%s %-6s req=%lu %s %s %d %llu.%03llums %zuB client=%s actor=%s",
            when, level_names[level & 7], r->req, method, path, r->status, us / 1000, us % 1000,
            r->bytes, r->client ? r->client : "-", actor ? actor : "-");
        if (r->orig_method || r->orig_uri) {
            char orig[512];
            snprintf(orig, sizeof orig, "%.32s %s", r->orig_method ? r->orig_method : "-",
                     r->orig_uri ? uri : "-");
            text_field(line, sizeof line, &n, "orig", orig);
        }
        if (r->error) text_field(line, sizeof line, &n, "error", r->error);
    }
    emit(line, n);
}

/* ---- cleaning -------------------------------------------------------------------------- */

static int word_char(char c)
{
    return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '_' ||
           c == '-' || c == '.';
}

void kg_log_clean(const char *in, char *out, size_t size)
{
    static const char redacted[] = "[redacted]";
    size_t w = 0;
    if (!size) return;
    for (const char *p = in; *p && w + 1 < size;) {
        if (strncmp(p, "kgs_", 4) == 0 || strncmp(p, "eyJ", 3) == 0) {
            while (word_char(*p))
                p++;
            for (size_t i = 0; redacted[i] && w + 1 < size; i++)
                out[w++] = redacted[i];
            continue;
        }
        unsigned char c = (unsigned char)*p++;
        out[w++] = (c < 0x20 || c >= 0x7f) ? '?' : (char)c;
    }
    out[w] = '\0';
}
