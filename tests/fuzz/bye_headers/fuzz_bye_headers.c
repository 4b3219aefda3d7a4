/*
 * Fuzz target: res_pjsip_hangup_headers (modules/res_pjsip_hangup_headers.c, as copied into
 * res/ of the applied tree): keeping the header section of a received BYE, parsing it into
 * its index, and the lookups of PJSIP_HANGUP_HEADER(read,...) and PJSIP_HANGUP_HEADERS().
 *
 * Input: a whole BYE as received (request line, headers, body), as pjproject hands it to the
 * module in rdata->msg_info.msg_buf/len (not NUL-terminated: ASan sees a read past its end).
 * If the input starts with a line "#pattern <name>\n", <name> is looked up too.
 *
 * The source file is included so that its static functions can be called; it is compiled
 * exactly as in the tree. The lookups below are the loops of func_hangup_header_read() and
 * func_hangup_headers_read() over the index (those functions also need a channel and its
 * datastore, outside what the peer controls).
 */

#define ASTMM_LIBC ASTMM_IGNORE
#include "res/res_pjsip_hangup_headers.c"

#include <stdint.h>

#include "stubs.h"

#define CHECK(cond) do { if (!(cond)) { fprintf(stderr, "check failed: %s (line %d)\n", #cond, __LINE__); abort(); } } while (0)

static const char *const patterns[] = {
	"X-*", "Reason", "s", "Subject", "v", "Via", "*", "x-release-cause", "X-", "i", "Call-ID",
	"P-Charge-Info", "Content-Length",
};

/* PJSIP_HANGUP_HEADER(read,<pattern>,<number>): the value found or NULL (as the function does) */
static const char *lookup(struct hangup_headers *bye, const char *pattern, int number)
{
	size_t count = hangup_headers_parsed(bye);
	size_t i;
	int seen = 0;

	for (i = 0; i < count; i++) {
		const struct hangup_header *header = &bye->headers[i];

		if (hangup_headers_name_matches_len(header->name, header->name_len, pattern) && ++seen == number) {
			return header->value;
		}
	}
	return NULL;
}

/* PJSIP_HANGUP_HEADERS(<prefix>): the number of names listed */
static size_t list(struct hangup_headers *bye, const char *prefix)
{
	size_t prefix_len = strlen(prefix);
	size_t count = hangup_headers_parsed(bye);
	size_t listed = 0;
	size_t bytes = 0;
	size_t i;

	if (prefix_len && prefix[prefix_len - 1] == '*') {
		prefix_len--;
	}
	for (i = 0; i < count; i++) {
		const struct hangup_header *header = &bye->headers[i];

		if (!header->first || header->name_len < prefix_len || strncasecmp(header->name, prefix, prefix_len)) {
			continue;
		}
		bytes += header->name_len + 1;
		listed++;
	}
	CHECK(bytes <= HANGUP_HEADERS_MAX_BYTES + 256 * 20);
	return listed;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char pattern[128] = "";
	char *msg;
	pjsip_rx_data rdata;
	struct hangup_headers *bye;
	size_t raw_len;
	size_t count;
	size_t i;
	int live = fuzz_ao2_live;

	fuzz_take_pattern(&data, &size, pattern, sizeof(pattern));

	/* Exactly the bytes received: not NUL-terminated */
	msg = malloc(size ? size : 1);
	memcpy(msg, data, size);
	memset(&rdata, 0, sizeof(rdata));
	rdata.msg_info.msg_buf = size ? msg : NULL;
	rdata.msg_info.len = size;

	bye = hangup_headers_copy(&rdata, "PJSIP/carrier-00000001");
	CHECK(bye);
	raw_len = strlen(bye->raw);
	/* Whole headers, within the bounds, and a copy of a part of the message */
	CHECK(raw_len <= HANGUP_HEADERS_MAX_BYTES);
	CHECK(raw_len <= size);
	CHECK(!strcmp(bye->chan_name, "PJSIP/carrier-00000001"));

	count = hangup_headers_parsed(bye);
	CHECK(count <= HANGUP_HEADERS_MAX_COUNT);
	/* Parsing twice changes nothing */
	CHECK(hangup_headers_parsed(bye) == count);
	for (i = 0; i < count; i++) {
		const struct hangup_header *header = &bye->headers[i];

		CHECK(strlen(header->value) <= raw_len);
		CHECK(header->name_len <= raw_len || header->name_len <= strlen("Request-Disposition"));
		/* A first header of a name is the first of that name */
		if (header->first) {
			size_t j;

			for (j = 0; j < i; j++) {
				CHECK(bye->headers[j].name_len != header->name_len
					|| strncasecmp(bye->headers[j].name, header->name, header->name_len));
			}
		}
	}

	for (i = 0; i < ARRAY_LEN(patterns); i++) {
		lookup(bye, patterns[i], 1);
		lookup(bye, patterns[i], 2);
		list(bye, patterns[i]);
	}
	if (*pattern) {
		const char *value = lookup(bye, pattern, 1);

		if (value) {
			CHECK(strlen(value) <= raw_len);
		}
		lookup(bye, pattern, 3);
		list(bye, pattern);
		list(bye, "");
	}

	ao2_ref(bye, -1);
	CHECK(fuzz_ao2_live == live);
	free(msg);
	return 0;
}
