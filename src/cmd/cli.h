/*
 * cli.h — `keygate …`: reads the command line against the table of commands (cli.c), works
 * out where the data lives, and runs the command: serve (server.c) or an operator command
 * (token, role, user, audit, keys) on the database directly.
 */
#ifndef KG_CLI_H
#define KG_CLI_H

/*
 * Runs the command line; returns the process exit status: 0 done, 1 failed, 2 a usage error
 * (an unknown command or option, a missing or bad value or argument; named on stderr).
 * --help, --version and a usage error create nothing: no directory, no database.
 */
int cli_main(int argc, char **argv);

#endif
