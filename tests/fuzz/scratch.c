/*
 * scratch.c — the fuzz drivers' throw-away directory (see scratch.h).
 */
#include "scratch.h"

#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char dir[512];

/* Removes the files in dir (it holds no subdirectories), then dir. */
static void remove_dir(void)
{
    DIR *d = opendir(dir);
    if (d) {
        struct dirent *e;
        char path[1024];
        while ((e = readdir(d)) != NULL) {
            if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) continue;
            if (snprintf(path, sizeof path, "%s/%s", dir, e->d_name) < (int)sizeof path)
                unlink(path);
        }
        closedir(d);
    }
    rmdir(dir);
}

const char *scratch_dir(void)
{
    if (dir[0]) return dir;
    const char *tmp = getenv("TMPDIR");
    if (!tmp || !*tmp) tmp = "/tmp";
    int n = snprintf(dir, sizeof dir, "%s/kg-fuzz-XXXXXX", tmp);
    if (n < 0 || n >= (int)sizeof dir || !mkdtemp(dir)) {
        dir[0] = '\0';
        return NULL;
    }
    atexit(remove_dir);
    return dir;
}

int scratch_path(const char *name, char *out, size_t size)
{
    const char *d = scratch_dir();
    if (!d) return -1;
    int n = snprintf(out, size, "%s/%s", d, name);
    return n < 0 || (size_t)n >= size ? -1 : 0;
}

int scratch_write(const char *name, const void *data, size_t len)
{
    char path[1024];
    if (scratch_path(name, path, sizeof path) != 0) return -1;
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0) return -1;
    int ok = write(fd, data, len) == (ssize_t)len;
    return close(fd) == 0 && ok ? 0 : -1;
}
