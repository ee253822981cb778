/*
 * assets.h — the web pane's files, embedded at build time (tools/embed.c writes the table
 * from web/ into the build directory).
 */
#ifndef KG_ASSETS_H
#define KG_ASSETS_H

#include <stddef.h>

struct asset {
    const char *name; /* the path below web/, e.g. "app.js" or "lib/api.js" */
    const char *content_type;
    const unsigned char *data;
    size_t len;
};

/* The generated table, ended by an entry with name NULL. */
extern const struct asset assets_table[];

/* The asset called `name`, or NULL. */
const struct asset *assets_find(const char *name);

#endif
