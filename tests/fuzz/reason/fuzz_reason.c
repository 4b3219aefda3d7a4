/*
 * Fuzz target: the Reason header parser (patch 0001, main/hangup_reason.c of the applied tree).
 *
 * Input: the values of one or more Reason headers as received (several joined with ", ").
 * Walks every value with ast_hangup_reason_next(), reads its parameters with
 * ast_hangup_reason_param() into buffers of exactly the size its documentation promises
 * (and smaller ones), and cuts the text with ast_hangup_reasons_fit(), checking what the
 * header file promises: values point into the text, in order, protocols are non-empty
 * tokens, a cut ends at a value's end and never passes its limit.
 */

#define ASTMM_LIBC ASTMM_IGNORE
#include "asterisk.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "asterisk/utils.h"
#include "asterisk/hangup_reason.h"

#include "stubs.h"

#define CHECK(cond) do { if (!(cond)) { fprintf(stderr, "check failed: %s (line %d)\n", #cond, __LINE__); abort(); } } while (0)

static const char *const names[] = { "cause", "text", "location", "ppi", "" , "CAUSE", "Text"};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text = malloc(size + 1);
	const char *cursor;
	const char *previous_end;
	struct ast_hangup_reason_value value;
	size_t len;
	int count = 0;
	size_t max;

	memcpy(text, data, size);
	text[size] = '\0';
	len = strlen(text);

	cursor = text;
	previous_end = text;
	while (ast_hangup_reason_next(&cursor, &value)) {
		size_t i;

		CHECK(++count <= (int) len);
		CHECK(value.raw >= previous_end && value.raw + value.raw_len <= text + len);
		CHECK(value.protocol == value.raw && value.protocol_len > 0 && value.protocol_len <= value.raw_len);
		CHECK(value.params >= value.protocol + value.protocol_len);
		CHECK(value.params + value.params_len == value.raw + value.raw_len);
		CHECK(cursor >= value.raw + value.raw_len && cursor <= text + len);
		for (i = 0; i < value.protocol_len; i++) {
			CHECK(value.protocol[i] && !strchr(" \t\r\n,;=\"", value.protocol[i]));
		}
		previous_end = value.raw + value.raw_len;

		for (i = 0; i < ARRAY_LEN(names); i++) {
			/* The documented size, exactly: ASan catches one byte more */
			size_t size_needed = value.params_len + 1;
			char *buf = malloc(size_needed);
			char small[3];

			if (!ast_hangup_reason_param(&value, names[i], buf, size_needed)) {
				CHECK(strlen(buf) <= value.params_len);
			}
			if (!ast_hangup_reason_param(&value, names[i], small, sizeof(small))) {
				CHECK(strlen(small) < sizeof(small));
			}
			free(buf);
			CHECK(ast_hangup_reason_param(&value, names[i], small, 0) == -1);
		}
	}
	CHECK(cursor == text + len);

	for (max = 0; max <= len + 1; max += 1 + max / 2) {
		size_t keep = ast_hangup_reasons_fit(text, max);

		CHECK(keep <= len);
		if (len > max) {
			CHECK(keep <= max);
		} else {
			CHECK(keep == len);
		}
	}
	CHECK(ast_hangup_reasons_fit(NULL, 10) == 0);

	free(text);
	return 0;
}
