/*
 * main.c — `keygate <command>`: global options (--db, KEYGATE_DB, --log-level), the data
 * directory, and dispatch to serve (server.c) or the operator commands (cli.c).
 */
#include <errno.h>
#include <libgen.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli.h"
#include "log.h"
#include "server.h"
#include "util.h"

#define DEFAULT_DB "data/keygate.db"

/* Removes "--name VALUE" from argv (in place) and returns VALUE, or NULL. */
static const char *take_option(int *argc, char **argv, const char *name, int *bad)
{
    for (int i = 1; i < *argc; i++) {
        if (strcmp(argv[i], name) != 0) continue;
        if (i + 1 >= *argc) {
            fprintf(stderr, "keygate: %s needs a value\n", name);
            *bad = 1;
            return NULL;
        }
        const char *v = argv[i + 1];
        memmove(&argv[i], &argv[i + 2], (size_t)(*argc - i - 2 + 1) * sizeof *argv);
        *argc -= 2;
        return v;
    }
    return NULL;
}

/* mkdir -p, mode 0700 for what it creates. */
static int make_dirs(const char *dir)
{
    char path[4096];
    if (kg_strcpy(path, sizeof path, dir) != KG_OK) return -1;
    for (char *p = path + 1; *p; p++) {
        if (*p != '/') continue;
        *p = '\0';
        if (mkdir(path, 0700) != 0 && errno != EEXIST) return -1;
        *p = '/';
    }
    return mkdir(path, 0700) != 0 && errno != EEXIST ? -1 : 0;
}

int main(int argc, char **argv)
{
    int bad = 0;
    umask(077); /* the database, its WAL and the key files are for keygate's user alone */
    if (sodium_init() < 0) {
        fprintf(stderr, "keygate: libsodium failed to start\n");
        return 1;
    }
    const char *db = take_option(&argc, argv, "--db", &bad);
    const char *level = take_option(&argc, argv, "--log-level", &bad);
    const char *format = take_option(&argc, argv, "--log-format", &bad);
    const char *keys_dir = take_option(&argc, argv, "--keys-dir", &bad);
    if (!db) db = getenv("KEYGATE_DB");
    if (!db || !*db) db = DEFAULT_DB;
    if (level && (kg_log_level = kg_log_parse_level(level)) < 0) {
        fprintf(stderr, "keygate: --log-level is one of error, warning, notice, info, debug\n");
        return 2;
    }
    if (format && (kg_log_json = kg_log_parse_format(format)) < 0) {
        fprintf(stderr, "keygate: --log-format is text or json\n");
        return 2;
    }
    if (bad) return 2;
    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "help") == 0 ||
        strcmp(argv[1], "-h") == 0) {
        cli_usage();
        return argc < 2 ? 2 : 0;
    }

    /* The keys live beside the SQLite file unless --keys-dir says otherwise; with PostgreSQL
     * in data/ (every node of a deployment needs the same key files). */
    char dirbuf[4096];
    const char *path = strncmp(db, "sqlite:", 7) == 0 ? db + 7 : db;
    int remote = strncmp(db, "postgres://", 11) == 0 || strncmp(db, "postgresql://", 13) == 0;
    if (kg_strcpy(dirbuf, sizeof dirbuf, remote ? "data" : path) != KG_OK) {
        fprintf(stderr, "keygate: --db path too long\n");
        return 2;
    }
    if (!keys_dir) keys_dir = remote ? dirbuf : dirname(dirbuf);
    if (make_dirs(keys_dir) != 0) {
        fprintf(stderr, "keygate: cannot create %s: %s\n", keys_dir, strerror(errno));
        return 1;
    }

    if (strcmp(argv[1], "serve") == 0) {
        struct server_opts o = {.listen = "127.0.0.1:8080",
                                .db = db,
                                .keys_dir = keys_dir,
                                .access_token_ttl = 600,
                                .session_idle = 1800,
                                .jwks_max_age = 300,
                                .admin_password = getenv("KEYGATE_ADMIN_PASSWORD")};
        if (o.admin_password && !*o.admin_password) o.admin_password = NULL;
        /* numeric options: name, bounds, where the value goes */
        struct num {
            const char *name;
            int64_t lo, hi;
            const char *text;
            int64_t value;
        } nums[] = {
            {"--access-token-ttl", 10, 86400, NULL, 0},
            {"--session-idle", 1, 7 * 86400, NULL, 0},
            {"--threads", 1, 256, NULL, 0},
            {"--max-conns", 16, 1000000, NULL, 0},
            {"--max-conns-per-ip", 1, 1000000, NULL, 0},
            {"--header-timeout", 1, 3600, NULL, 0},
            {"--idle-timeout", 1, 3600, NULL, 0},
            {"--min-body-rate", 1, 1000000000, NULL, 0},
            {"--jwks-max-age", 0, 86400, NULL, 0},
        };
        for (int i = 2; i < argc; i++) {
            const char **slot = NULL;
            if (strcmp(argv[i], "--listen") == 0)
                slot = &o.listen;
            else if (strcmp(argv[i], "--issuer") == 0)
                slot = &o.issuer;
            else if (strcmp(argv[i], "--audience") == 0)
                slot = &o.audience;
            else if (strcmp(argv[i], "--policy") == 0)
                slot = &o.policy;
            else if (strcmp(argv[i], "--gate-headers") == 0)
                slot = &o.gate_headers;
            else if (strcmp(argv[i], "--trusted-proxy") == 0)
                slot = &o.trusted_proxy;
            else if (strcmp(argv[i], "--forwarded-header") == 0)
                slot = &o.forwarded_header;
            else if (strcmp(argv[i], "--admin-password-file") == 0)
                slot = &o.admin_password_file;
            else if (strcmp(argv[i], "--signing-alg") == 0)
                slot = &o.signing_alg;
            else if (strcmp(argv[i], "--help") == 0) {
                cli_usage();
                return 0;
            }
            for (size_t k = 0; !slot && k < KG_ARRAY_LEN(nums); k++)
                if (strcmp(argv[i], nums[k].name) == 0) slot = &nums[k].text;
            if (!slot || i + 1 >= argc) {
                fprintf(stderr, "keygate: serve: bad option %s\n", argv[i]);
                return 2;
            }
            *slot = argv[++i];
        }
        for (size_t k = 0; k < KG_ARRAY_LEN(nums); k++) {
            if (nums[k].text &&
                kg_parse_int64(nums[k].text, nums[k].lo, nums[k].hi, &nums[k].value) != KG_OK) {
                fprintf(stderr, "keygate: %s is %lld to %lld\n", nums[k].name,
                        (long long)nums[k].lo, (long long)nums[k].hi);
                return 2;
            }
        }
        if (nums[0].text) o.access_token_ttl = nums[0].value;
        if (nums[1].text) o.session_idle = nums[1].value;
        o.threads = (unsigned)nums[2].value;
        o.max_conns = (unsigned)nums[3].value;
        o.max_conns_per_ip = (unsigned)nums[4].value;
        o.header_timeout = (unsigned)nums[5].value;
        o.idle_timeout = (unsigned)nums[6].value;
        o.min_body_rate = (unsigned)nums[7].value;
        if (nums[8].text) o.jwks_max_age = nums[8].value;
        return server_run(&o);
    }
    return cli_run(argc - 1, argv + 1, db, keys_dir);
}
