/*
 * main.c — the entry point: the process's file-creation mask and libsodium, then the command
 * line (cli.c).
 */
#include <sodium.h>
#include <stdio.h>
#include <sys/stat.h>

#include "cli.h"

int main(int argc, char **argv)
{
    umask(077); /* the database, its WAL and the key files are for keygate's user alone */
    if (sodium_init() < 0) {
        fprintf(stderr, "keygate: libsodium failed to start\n");
        return 1;
    }
    return cli_main(argc, argv);
}
