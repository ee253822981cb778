/*
 * scratch.h — a throw-away directory for the fuzz drivers that need files (keys, a SQLite
 * database, a policy file): made under $TMPDIR (or /tmp) once per process and removed, with
 * the files in it, when the process exits.
 */
#ifndef KG_SCRATCH_H
#define KG_SCRATCH_H

#include <stddef.h>

/* The directory's path (made on the first call); NULL when it cannot be made.  Borrowed. */
const char *scratch_dir(void);

/* Writes data[0..len) to scratch_dir()/name with mode 0600; 0, or -1 on failure. */
int scratch_write(const char *name, const void *data, size_t len);

/* scratch_dir()/name into out[size]; 0, or -1 when it does not fit or there is no dir. */
int scratch_path(const char *name, char *out, size_t size);

#endif
