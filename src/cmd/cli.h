/*
 * cli.h — the operator's commands (token, role, user), working on the database directly.
 */
#ifndef KG_CLI_H
#define KG_CLI_H

/* Runs `keygate <group> ...` (argv[0] is the group: "token", "role" or "user") against the
 * store at db with keys in keys_dir.  Returns the process exit status: 0 ok, 1 failure,
 * 2 usage. */
int cli_run(int argc, char **argv, const char *db, const char *keys_dir);

/* Prints the usage of every command to stdout. */
void cli_usage(void);

#endif
