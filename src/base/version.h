/*
 * version.h — keygate's version: `keygate --version`, the build_info metric and the man page
 * read it from here.  The minor number follows the issues the release closes.
 */
#ifndef KG_VERSION_H
#define KG_VERSION_H

#define KG_VERSION "0.17.0"

#endif
