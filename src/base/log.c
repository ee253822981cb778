/*
 * log.c — writes log lines to stderr: time, level, request id, message; as text or, with
 * --log-format json, as one JSON object a line ({"time","level","req","msg"}).
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

void kg_log_write(int level, unsigned long req_id, const char *fmt, ...)
{
    char msg[1024], line[1536], when[64];
    struct timespec ts;
    struct tm tm;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    snprintf(when, sizeof when, "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ", tm.tm_year + 1900,
             tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, ts.tv_nsec / 1000000);
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
    /* one fputs per line keeps lines from different threads whole */
    line[n] = '\n';
    line[n + 1] = '\0';
    fputs(line, stderr);
}

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
