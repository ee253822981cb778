/*
 * ids.c — identifier generation and shape checks (see ids.h for the formats).
 */
#include "ids.h"

#include <sodium.h>
#include <stdio.h>
#include <string.h>

static const char b62[] = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

static int is_b62(char c)
{
    return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z');
}

/* n characters drawn uniformly from alphabet[0..size), size <= 62: one random buffer per
 * call (randombytes_uniform() per character costs a getrandom() system call each), bytes at
 * or above the largest multiple of size rejected so that no character is favoured. */
static void draw(char *out, size_t n, const char *alphabet, unsigned size)
{
    unsigned char buf[64];
    unsigned limit = 256 - 256 % size;
    size_t i = 0, used = sizeof buf;
    while (i < n) {
        if (used == sizeof buf) {
            randombytes_buf(buf, sizeof buf);
            used = 0;
        }
        unsigned b = buf[used++];
        if (b < limit) out[i++] = alphabet[b % size];
    }
    sodium_memzero(buf, sizeof buf);
    out[n] = '\0';
}

void ids_base62(char *out, size_t n)
{
    draw(out, n, b62, 62);
}

static void digits(char *out, size_t n)
{
    draw(out, n, b62, 10);
}

uint32_t ids_crc32(const void *data, size_t len)
{
    const unsigned char *p = data;
    uint32_t crc = 0xffffffffu;
    for (size_t i = 0; i < len; i++) {
        crc ^= p[i];
        for (int k = 0; k < 8; k++)
            crc = (crc >> 1) ^ (0xedb88320u & (0u - (crc & 1u)));
    }
    return crc ^ 0xffffffffu;
}

static void checksum62(const char *s, size_t len, char out[6])
{
    uint32_t crc = ids_crc32(s, len);
    for (int i = 5; i >= 0; i--) {
        out[i] = b62[crc % 62];
        crc /= 62;
    }
}

void ids_client_id(char out[KG_CLIENT_ID_LEN + 1])
{
    memcpy(out, "kgc_", 4);
    ids_base62(out + 4, 16);
}

void ids_secret(char out[KG_SECRET_LEN + 1])
{
    memcpy(out, "kgs_", 4);
    ids_base62(out + 4, 32);
    checksum62(out, 36, out + 36);
    out[KG_SECRET_LEN] = '\0';
}

void ids_role_id(char out[KG_ROLE_ID_LEN + 1])
{
    memcpy(out, "r-", 2);
    digits(out + 2, 10);
}

void ids_user_id(char out[KG_USER_ID_LEN + 1])
{
    memcpy(out, "u-", 2);
    digits(out + 2, 10);
}

void ids_account_id(char out[KG_ACCOUNT_ID_LEN + 1])
{
    memcpy(out, "a-", 2);
    digits(out + 2, 10);
}

/* A jti is an identifier, not a secret: its characters come from a per-thread pool of random
 * bytes, so that an exchange costs no getrandom() system call of its own (secrets and ids
 * keep draw()'s buffer, wiped after each).  The pool is refilled 4 KiB at a time from a fresh
 * 32-byte seed (ChaCha20, randombytes_buf_deterministic): one system call per 170 jtis or so.
 * (Drawn directly, a kilobyte took four: libsodium asks for 256 bytes at a time.) */
void ids_jti(char out[KG_JTI_LEN + 1])
{
    static _Thread_local unsigned char pool[4096];
    static _Thread_local size_t used = sizeof pool;
    size_t i = 0;
    while (i < KG_JTI_LEN) {
        if (used == sizeof pool) {
            unsigned char seed[randombytes_SEEDBYTES];
            randombytes_buf(seed, sizeof seed);
            randombytes_buf_deterministic(pool, sizeof pool, seed);
            sodium_memzero(seed, sizeof seed);
            used = 0;
        }
        unsigned b = pool[used++];
        if (b < 248) out[i++] = b62[b % 62]; /* 248 = 4 * 62: no character favoured */
    }
    out[KG_JTI_LEN] = '\0';
}

static int shape(const char *s, const char *prefix, size_t len, int (*ok)(char))
{
    size_t plen = strlen(prefix);
    if (strncmp(s, prefix, plen) != 0 || strnlen(s, len + 1) != len) return 0;
    for (size_t i = plen; i < len; i++)
        if (!ok(s[i])) return 0;
    return 1;
}

static int is_digit(char c)
{
    return c >= '0' && c <= '9';
}

int ids_client_id_valid(const char *s)
{
    return shape(s, "kgc_", KG_CLIENT_ID_LEN, is_b62);
}

int ids_secret_valid(const char *s)
{
    if (!shape(s, "kgs_", KG_SECRET_LEN, is_b62)) return 0;
    char sum[6];
    checksum62(s, 36, sum);
    return memcmp(sum, s + 36, 6) == 0;
}

int ids_role_id_valid(const char *s)
{
    return shape(s, "r-", KG_ROLE_ID_LEN, is_digit);
}

int ids_user_id_valid(const char *s)
{
    return shape(s, "u-", KG_USER_ID_LEN, is_digit);
}

int ids_account_id_valid(const char *s)
{
    return shape(s, "a-", KG_ACCOUNT_ID_LEN, is_digit);
}

void ids_secret_id(int64_t seq, char out[KG_SECRET_ID_LEN + 1])
{
    snprintf(out, KG_SECRET_ID_LEN + 1, "s-%010lld", (long long)seq);
}

int64_t ids_secret_seq(const char *s)
{
    int64_t seq = 0;
    if (!s || !shape(s, "s-", KG_SECRET_ID_LEN, is_digit)) return 0;
    for (const char *p = s + 2; *p; p++)
        seq = seq * 10 + (*p - '0');
    return seq;
}
