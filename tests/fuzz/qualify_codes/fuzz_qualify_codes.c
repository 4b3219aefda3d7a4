/*
 * Fuzz target: the qualify_reachable_codes list parser (patch 0006,
 * ast_sip_qualify_codes_parse() and ast_sip_qualify_codes_has() in res/res_pjsip/location.c,
 * included here and compiled exactly as in the tree).
 *
 * Input: an option value as read from pjsip.conf, the realtime backends or AMI/ARI (any bytes
 * up to the first NUL). Checks what the header file promises: parsing with and without a
 * codes set agrees, an invalid value names a token of the value, a valid one lists only codes
 * from 100 to 699, and a value lists exactly the codes its tokens name.
 */

#define ASTMM_LIBC ASTMM_IGNORE
#include "res/res_pjsip/location.c"

#include <stdint.h>

#include "stubs.h"

#define CHECK(cond) do { if (!(cond)) { fprintf(stderr, "check failed: %s (line %d)\n", #cond, __LINE__); abort(); } } while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ast_sip_qualify_codes codes;
	struct ast_sip_qualify_codes again;
	char *text;
	char *bad = NULL;
	int res;
	int code;

	/* An option value: at most what a config line holds */
	if (size > 8192) {
		return 0;
	}
	text = malloc(size + 1);
	memcpy(text, data, size);
	text[size] = '\0';

	res = ast_sip_qualify_codes_parse(text, &codes, &bad);
	CHECK(ast_sip_qualify_codes_parse(text, NULL, NULL) == res);
	if (res) {
		CHECK(res == -1);
		CHECK(bad);
		/* The bad token, stripped, is a part of the value */
		CHECK(strstr(text, bad));
		CHECK(!strchr(bad, ','));
	} else {
		CHECK(!bad);
		for (code = -1000; code < 1000; code++) {
			int has = ast_sip_qualify_codes_has(&codes, code);

			CHECK(!has || (code >= 100 && code <= 699));
		}
		/* The value with every token doubled lists the same codes */
		{
			size_t len = strlen(text);
			char *twice = malloc(2 * len + 2);

			memcpy(twice, text, len);
			twice[len] = ',';
			memcpy(twice + len + 1, text, len + 1);
			CHECK(!ast_sip_qualify_codes_parse(twice, &again, NULL));
			CHECK(!memcmp(&codes, &again, sizeof(codes)));
			free(twice);
		}
	}
	ast_free(bad);
	CHECK(ast_sip_qualify_codes_parse(NULL, &again, NULL) == 0);
	free(text);
	return 0;
}
