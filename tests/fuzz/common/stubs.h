/* What the fuzz stubs (stubs.c) let a harness check. */
#ifndef FUZZ_STUBS_H
#define FUZZ_STUBS_H

#include <stddef.h>

/*! Bytes of log messages formatted so far */
extern size_t fuzz_log_bytes;
/*! ao2 objects allocated and not yet destroyed */
extern int fuzz_ao2_live;

#endif
