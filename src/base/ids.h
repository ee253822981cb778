/*
 * ids.h — generated identifiers: client IDs, client secrets, role/user IDs, JWT ids.
 *
 * Secret IDs: "s-" + 10 digits, the store's number of the secret.
 * Role, user and account IDs: "r-", "u-", "a-" + 10 digits, as Galaxy writes them.
 * Client ID: "kgc_" + 16 base62.  Secret: "kgs_" + 32 base62 (≈190 random bits) + a 6-char
 * base62 CRC-32 of everything before it, so a scanner can tell a real secret offline:
 *     ^kgs_[0-9A-Za-z]{38}$   and ids_secret_valid() for the checksum.
 * Randomness: libsodium (randombytes_uniform, no modulo bias).
 */
#ifndef KG_IDS_H
#define KG_IDS_H

#include <stddef.h>
#include <stdint.h>

#include "model.h"

#define KG_JTI_LEN 22 /* base62, ≈131 bits */

void ids_client_id(char out[KG_CLIENT_ID_LEN + 1]);
void ids_secret(char out[KG_SECRET_LEN + 1]);
void ids_role_id(char out[KG_ROLE_ID_LEN + 1]);
void ids_user_id(char out[KG_USER_ID_LEN + 1]);
/* The deployment's account ID, "a-" + 10 digits: made once, when the store is created or
 * migrated to hold one (store_account_id), and kept. */
void ids_account_id(char out[KG_ACCOUNT_ID_LEN + 1]);
void ids_jti(char out[KG_JTI_LEN + 1]);
/* A secret's ID: "s-" and its seq (1 .. 9999999999, the store's) in 10 digits. */
void ids_secret_id(int64_t seq, char out[KG_SECRET_ID_LEN + 1]);
/* The seq of secret ID s; 0 when s is not one. */
int64_t ids_secret_seq(const char *s);
/* n random base62 characters and a NUL into out[n + 1]. */
void ids_base62(char *out, size_t n);

/* 1 when s has the shape of a client ID / of a secret with a correct checksum. */
int ids_client_id_valid(const char *s);
int ids_secret_valid(const char *s);
/* 1 when s is "r-"/"u-" + 10 digits. */
int ids_role_id_valid(const char *s);
int ids_user_id_valid(const char *s);
int ids_account_id_valid(const char *s); /* "a-" + 10 digits */

/* CRC-32 (IEEE 802.3), as zlib computes it. */
uint32_t ids_crc32(const void *data, size_t len);

#endif
