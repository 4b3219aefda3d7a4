/*
 * Fuzz target: the headers of a final 3xx-6xx response, from the wire to the dialplan.
 *
 *  1. chan_pjsip keeps the response's header section (patch 0002, capture.c);
 *  2. it travels in the cause code payload built by ast_control_pvt_cause_code_alloc() and is
 *     checked by ast_control_pvt_cause_code_data_valid() (0002, main/frame.c);
 *  3. PJSIP_RESPONSE_HEADER(read,<name>,<n>,<chan>) and PJSIP_RESPONSE_HEADERS(<prefix>,<chan>)
 *     read it with failure_response_read() (patch 0005, res/res_pjsip_header_funcs.c, included
 *     here so that its static functions can be called; compiled exactly as in the tree).
 *
 * Input: a whole response as received (status line, headers, body), not NUL-terminated. If it
 * starts with a line "#pattern <name>\n", <name> is looked up too.
 *
 * The dialing channel is an ao2 object standing in for the channel: the harness keeps the one
 * cause code that chan_pjsip queued, as ast_channel_dialed_causes_add() does (an ao2 copy of
 * the payload), and hands it out as ast_channel_dialed_causes_find() does.
 */

#define ASTMM_LIBC ASTMM_IGNORE
#include "res/res_pjsip_header_funcs.c"

#include <stdint.h>

#include "asterisk/hangup_reason.h"

#include "capture.h"
#include "stubs.h"

#define CHECK(cond) do { if (!(cond)) { fprintf(stderr, "check failed: %s (line %d)\n", #cond, __LINE__); abort(); } } while (0)

#define LEG "PJSIP/carrier-00000001"

static struct ast_control_pvt_cause_code *dialed_cause;

struct ast_control_pvt_cause_code *ast_channel_dialed_causes_find(const struct ast_channel *chan, const char *chan_name)
{
	return dialed_cause && !strcmp(chan_name, dialed_cause->chan_name) ? ao2_bump(dialed_cause) : NULL;
}

const char *ast_channel_name(const struct ast_channel *chan)
{
	return "PJSIP/caller-00000000";
}

/* A prefix list, a compact form and a name; the input chooses more with "#pattern" */
static const char *const patterns[] = { "X-*", "Reason", "m", "" };

static const size_t sizes[] = { 1, 2, 17, 4096 };

/* Read and list with \a pattern into buffers of exactly the dialplan's size (ASan sees one
 * byte more); every size when \a all, else the usual 4096 only */
static void read_all(struct ast_channel *chan, const char *pattern, int all)
{
	size_t i;

	for (i = all ? 0 : ARRAY_LEN(sizes) - 1; i < ARRAY_LEN(sizes); i++) {
		char *buf = malloc(sizes[i]);
		int number;

		for (number = 0; number <= 2; number++) {
			CHECK(!failure_response_read(chan, LEG, pattern, number, buf, sizes[i]));
			CHECK(strlen(buf) < sizes[i]);
		}
		free(buf);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char pattern[128] = "";
	char *msg;
	char *headers;
	char *reasons = NULL;
	const char *items[] = { "headers", NULL, "reason", NULL, NULL };
	struct ast_control_pvt_cause_code *cause_code;
	struct ast_channel *chan;
	struct raw_header header;
	const char *pos;
	int datalen;
	int count = 0;
	int live = fuzz_ao2_live;
	size_t i;

	fuzz_take_pattern(&data, &size, pattern, sizeof(pattern));

	/* 1. chan_pjsip: exactly the bytes received, not NUL-terminated */
	msg = malloc(size ? size : 1);
	memcpy(msg, data, size);
	headers = fuzz_capture_headers(size ? msg : NULL, size, 486);
	free(msg);
	if (!size) {
		CHECK(!headers);
		return 0;
	}
	CHECK(headers);
	CHECK(strlen(headers) <= 16384 && strlen(headers) <= size);
	for (pos = headers; raw_header_next(&pos, &header); ) {
		CHECK(header.end >= header.value && header.end <= headers + strlen(headers));
		count++;
		if (!reasons && raw_header_matches(&header, "Reason")) {
			reasons = malloc(header.end - header.value + 1);
			raw_header_value(&header, reasons, header.end - header.value + 1);
		}
	}
	CHECK(count <= 256);

	/* 2. The payload of the cause code, as queued to the dialing channel */
	items[1] = headers;
	if (reasons) {
		reasons[ast_hangup_reasons_fit(reasons, AST_HANGUP_REASONS_MAX_LEN)] = '\0';
		items[3] = reasons;
	}
	cause_code = ast_control_pvt_cause_code_alloc(LEG, 17, "SIP 486 Busy Here", items, &datalen);
	CHECK(cause_code);
	CHECK(ast_control_pvt_cause_code_data_valid(cause_code, datalen));
	CHECK(!strcmp(ast_control_pvt_cause_code_data_get(cause_code, "headers"), headers));
	dialed_cause = ao2_alloc(datalen, NULL);
	memcpy(dialed_cause, cause_code, datalen);
	ast_free(cause_code);

	/* 3. The dialplan functions */
	chan = ao2_alloc(64, NULL);
	for (i = 0; i < ARRAY_LEN(patterns); i++) {
		read_all(chan, patterns[i], i == 0);
	}
	if (*pattern) {
		read_all(chan, pattern, 1);
	}
	/* Another leg's name reads nothing */
	{
		char buf[8];

		CHECK(!failure_response_read(chan, "PJSIP/other-00000002", "X-*", 1, buf, sizeof(buf)) && !*buf);
	}

	ao2_ref(chan, -1);
	ao2_ref(dialed_cause, -1);
	dialed_cause = NULL;
	CHECK(fuzz_ao2_live == live);
	ast_free(headers);
	free(reasons);
	return 0;
}
