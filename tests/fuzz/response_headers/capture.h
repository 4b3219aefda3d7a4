#ifndef FUZZ_CAPTURE_H
#define FUZZ_CAPTURE_H

#include <stddef.h>

/*!
 * \brief chan_pjsip_response_headers() on a received response of \a len bytes (not
 * NUL-terminated), as pjproject passes it: the header section kept, to be freed with ast_free().
 */
char *fuzz_capture_headers(const char *msg, size_t len, int status);

#endif
