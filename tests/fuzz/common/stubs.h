/* What the fuzz stubs (stubs.c) let a harness check. */
#ifndef FUZZ_STUBS_H
#define FUZZ_STUBS_H

#include <stddef.h>
#include <stdint.h>

/*! Bytes of log messages formatted so far */
extern size_t fuzz_log_bytes;
/*! ao2 objects allocated and not yet destroyed */
extern int fuzz_ao2_live;

/*!
 * \brief Take a first line "#pattern <name>\n" off a fuzz input
 *
 * When the input starts with such a line and <name> fits, <name> is copied into \a pattern
 * (NUL-terminated) and \a data and \a size are moved past the line; else nothing changes.
 */
void fuzz_take_pattern(const uint8_t **data, size_t *size, char *pattern, size_t pattern_size);

#endif
