/*
 * fuzz_form.c — the token endpoint's application/x-www-form-urlencoded body (form.c).
 *
 * Input: the body bytes.  Checks beyond "no crash, no leak": a parsed form has at most
 * KG_FORM_PAIRS_MAX pairs and unique names, form_get finds each name's own value, and
 * form_decode into a too-small buffer fails with an empty string, never a cut value.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "form.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *body = (const char *)data;
    struct form f;
    kg_err rc = form_parse(body, size, &f);
    if (rc == KG_OK) {
        if (f.n > KG_FORM_PAIRS_MAX) abort();
        for (size_t i = 0; i < f.n; i++) {
            for (size_t k = 0; k < i; k++)
                if (strcmp(f.names[i], f.names[k]) == 0) abort();
            if (form_get(&f, f.names[i]) != f.values[i]) abort();
        }
        /* what the token endpoint asks for */
        (void)form_get(&f, "grant_type");
        (void)form_get(&f, "client_id");
        (void)form_get(&f, "client_secret");
    } else if (rc != KG_INVALID && rc != KG_CONFLICT && rc != KG_ENOMEM) {
        abort();
    }
    form_cleanup(&f);

    /* One value decoded whole, then into smaller buffers: just too small, just big enough,
     * one byte, and a size the input picks. */
    size_t len = size < 64 ? size : 64;
    char out[65];
    kg_err whole = form_decode(body, len, out, sizeof out);
    size_t want = whole == KG_OK ? strlen(out) : 0;
    size_t caps[] = {1, want ? want : 1, want + 1, size ? 1 + data[size - 1] % 65u : 65};
    for (size_t i = 0; i < sizeof caps / sizeof caps[0]; i++) {
        size_t cap = caps[i];
        char small[65];
        memset(small, 'x', sizeof small);
        kg_err r = form_decode(body, len, small, cap);
        if (r == KG_OK) {
            if (whole != KG_OK || strlen(small) != want || want >= cap) abort();
        } else {
            if (small[0] != '\0') abort(); /* never a half-decoded value */
            if (whole == KG_OK && want < cap) abort();
        }
    }
    return 0;
}
