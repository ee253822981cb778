/*
 * log.c — writes log lines to stderr: time, level, request id, message.
 */
#include "log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

int kg_log_level = LOG_INFO;

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

void kg_log_write(int level, unsigned long req_id, const char *fmt, ...)
{
    char line[1024];
    struct timespec ts;
    struct tm tm;
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    int n = snprintf(line, sizeof line, "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ %-6s ",
                     tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                     ts.tv_nsec / 1000000, level_names[level & 7]);
    if (req_id && n > 0 && (size_t)n < sizeof line)
        n += snprintf(line + n, sizeof line - (size_t)n, "req=%lu ", req_id);
    if (n > 0 && (size_t)n < sizeof line) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(line + n, sizeof line - (size_t)n, fmt, ap);
        va_end(ap);
    }
    /* one fputs per line keeps lines from different threads whole */
    size_t len = strnlen(line, sizeof line - 2);
    line[len] = '\n';
    line[len + 1] = '\0';
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
