/*
 * fuzz_basic.c — the token endpoint's "Authorization: Basic …" header (form_basic in form.c),
 * read into buffers of the sizes oauth.c uses.
 *
 * Input: the header value (up to the first NUL, as the HTTP adapter hands it over).  Checks:
 * on success both parts are NUL-terminated inside their buffers, and the bytes just past
 * each buffer are untouched.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "form.h"
#include "model.h"

#define ID_SIZE (KG_CLIENT_ID_LEN + 2) /* as oauth.c: one more, to tell a too-long id */
#define SECRET_SIZE (256 + 1)
#define GUARD 16

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *header = malloc(size + 1);
    if (!header) return 0;
    memcpy(header, data, size);
    header[size] = '\0';

    char id[ID_SIZE + GUARD], secret[SECRET_SIZE + GUARD];
    memset(id, 0x5a, sizeof id);
    memset(secret, 0x5a, sizeof secret);
    kg_err rc = form_basic(header, id, ID_SIZE, secret, SECRET_SIZE);
    if (rc == KG_OK && (!memchr(id, '\0', ID_SIZE) || !memchr(secret, '\0', SECRET_SIZE))) abort();
    if (rc != KG_OK && rc != KG_INVALID && rc != KG_TOOBIG) abort();
    for (size_t i = 0; i < GUARD; i++)
        if (id[ID_SIZE + i] != 0x5a || secret[SECRET_SIZE + i] != 0x5a) abort();
    free(header);
    return 0;
}
