/*
 * Stubs for the fuzz harnesses: logging and allocation only (this project's code, not
 * Asterisk's). Every other symbol the parsers' source files reference but the harness never
 * reaches is bound by the build to a generated function that aborts (see
 * buildtools/fuzz.py), so reaching one is a crash, never a silent success.
 *
 * Logging formats every message into a buffer (so bad format arguments are found), with
 * debug level 10 so that every ast_debug() path runs. Allocation is libc's, so ASan sees
 * every buffer exactly; ao2 objects get a small header with a reference count and their
 * destructor, and an unbalanced reference is a crash.
 */

#define ASTMM_LIBC ASTMM_IGNORE
#include "asterisk.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "asterisk/logger.h"
#include "asterisk/options.h"
#include "asterisk/astobj2.h"
#include "asterisk/module.h"
#include "asterisk/optional_api.h"

#include "stubs.h"

/* Logging */

int option_debug = 10;
int option_trace;
int ast_verb_sys_level;
struct ast_flags64 ast_options;

static void format_message(const char *fmt, va_list ap)
{
	char buf[512];

	vsnprintf(buf, sizeof(buf), fmt, ap);
	fuzz_log_bytes += strlen(buf);
}

size_t fuzz_log_bytes;

void ast_log(int level, const char *file, int line, const char *function, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	format_message(fmt, ap);
	va_end(ap);
}

void ast_log_safe(int level, const char *file, int line, const char *function, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	format_message(fmt, ap);
	va_end(ap);
}

unsigned int ast_debug_get_by_module(const char *module)
{
	return 0;
}

unsigned int ast_trace_get_by_module(const char *module)
{
	return 0;
}

/* Allocation */

void *__ast_malloc(size_t size, const char *file, int lineno, const char *func)
{
	return malloc(size);
}

void *__ast_calloc(size_t nmemb, size_t size, const char *file, int lineno, const char *func)
{
	return calloc(nmemb, size);
}

void *__ast_calloc_cache(size_t nmemb, size_t size, const char *file, int lineno, const char *func)
{
	return calloc(nmemb, size);
}

void *__ast_realloc(void *ptr, size_t size, const char *file, int lineno, const char *func)
{
	return realloc(ptr, size);
}

void __ast_free(void *ptr, const char *file, int lineno, const char *func)
{
	free(ptr);
}

void ast_free_ptr(void *ptr)
{
	free(ptr);
}

char *__ast_strdup(const char *s, const char *file, int lineno, const char *func)
{
	return s ? strdup(s) : NULL;
}

char *__ast_strndup(const char *s, size_t n, const char *file, int lineno, const char *func)
{
	return s ? strndup(s, n) : NULL;
}

int __ast_vasprintf(char **strp, const char *format, va_list ap, const char *file, int lineno, const char *func)
{
	int res = vasprintf(strp, format, ap);

	if (res < 0) {
		*strp = NULL;
	}
	return res;
}

int __ast_asprintf(const char *file, int lineno, const char *func, char **strp, const char *format, ...)
{
	va_list ap;
	int res;

	va_start(ap, format);
	res = __ast_vasprintf(strp, format, ap, file, lineno, func);
	va_end(ap);
	return res;
}

/* ao2 objects: a header before the user data */

struct fuzz_ao2 {
	int refs;
	ao2_destructor_fn destructor;
	size_t magic;
};

#define FUZZ_AO2_MAGIC ((size_t) 0xa02a02a02a02a02aULL)

static struct fuzz_ao2 *fuzz_ao2_header(void *obj)
{
	struct fuzz_ao2 *header = (struct fuzz_ao2 *) obj - 1;

	if (header->magic != FUZZ_AO2_MAGIC || header->refs <= 0) {
		fprintf(stderr, "fuzz stubs: not a live ao2 object: %p\n", obj);
		abort();
	}
	return header;
}

void *__ao2_alloc(size_t data_size, ao2_destructor_fn destructor_fn, unsigned int options,
	const char *tag, const char *file, int line, const char *func)
{
	struct fuzz_ao2 *header = calloc(1, sizeof(*header) + data_size);

	if (!header) {
		return NULL;
	}
	header->refs = 1;
	header->destructor = destructor_fn;
	header->magic = FUZZ_AO2_MAGIC;
	fuzz_ao2_live++;
	return header + 1;
}

int fuzz_ao2_live;

int __ao2_ref(void *o, int delta, const char *tag, const char *file, int line, const char *func)
{
	struct fuzz_ao2 *header;
	int old;

	if (!o) {
		return -1;
	}
	header = fuzz_ao2_header(o);
	old = header->refs;
	header->refs += delta;
	if (header->refs < 0) {
		abort();
	}
	if (!header->refs) {
		if (header->destructor) {
			header->destructor(o);
		}
		header->magic = 0;
		free(header);
		fuzz_ao2_live--;
	}
	return old;
}

void __ao2_cleanup_debug(void *obj, const char *tag, const char *file, int line, const char *function)
{
	if (obj) {
		__ao2_ref(obj, -1, tag, file, line, function);
	}
}

void __ao2_cleanup(void *obj)
{
	__ao2_cleanup_debug(obj, NULL, NULL, 0, NULL);
}

int __ao2_lock(void *a, enum ao2_lock_req lock_how, const char *file, const char *func, int line, const char *var)
{
	fuzz_ao2_header(a);
	return 0;
}

int __ao2_unlock(void *a, const char *file, const char *func, int line, const char *var)
{
	fuzz_ao2_header(a);
	return 0;
}

/* Module registration (run by the constructors of a module's source file): nothing to do */

void __ast_module_user_hangup_all(struct ast_module *mod)
{
}

void ast_module_register(const struct ast_module_info *info)
{
}

void ast_module_unregister(const struct ast_module_info *info)
{
}

/* Optional API registration (run by constructors too): nothing is provided or used here */

void ast_optional_api_provide(const char *symname, ast_optional_fn impl)
{
}

void ast_optional_api_unprovide(const char *symname, ast_optional_fn impl)
{
}

void ast_optional_api_use(const char *symname, ast_optional_fn *optional_ref, ast_optional_fn stub,
	const char *module)
{
}

void ast_optional_api_unuse(const char *symname, ast_optional_fn *optional_ref, const char *module)
{
}

/* clang blocks (Asterisk's RAII_VAR under clang): the class of a block on the stack */
void *_NSConcreteStackBlock[32];
void *_NSConcreteGlobalBlock[32];

void fuzz_take_pattern(const uint8_t **data, size_t *size, char *pattern, size_t pattern_size)
{
	const uint8_t *nl;
	size_t len;

	if (*size < 9 || memcmp(*data, "#pattern ", 9)) {
		return;
	}
	nl = memchr(*data, '\n', *size);
	if (!nl) {
		return;
	}
	len = (size_t) (nl - *data) - 9;
	if (len >= pattern_size) {
		return;
	}
	memcpy(pattern, *data + 9, len);
	pattern[len] = '\0';
	*size -= nl + 1 - *data;
	*data = nl + 1;
}
