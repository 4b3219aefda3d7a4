/*
 * Fuzz target: cause code payloads (AST_CONTROL_PVT_CAUSE_CODE frames) as a channel receives
 * them from the channels it dialed (patch 0002): ast_channel_hangupcause_hash_set() in
 * main/channel.c, which checks the payload with ast_control_pvt_cause_code_data_valid()
 * (main/frame.c) and keeps it, or its plain cause when the data items are malformed; then
 * ast_control_pvt_cause_code_data_get() on what was kept, as HANGUPCAUSE(<chan>,reason) and
 * PJSIP_RESPONSE_HEADER(S) read it.
 *
 * Input: the payload, any length (the frame's datalen is the input's size). main/channel.c is
 * included so that the harness sees its types; it is compiled exactly as in the tree.
 *
 * The channel's store of dialed causes (main/channel_internal_api.c) is replaced by one ao2
 * copy of the payload kept, exactly as ast_channel_dialed_causes_add() makes it.
 */

#define ASTMM_LIBC ASTMM_IGNORE
#include "main/channel.c"

#include <stdint.h>

#include "stubs.h"

#define CHECK(cond) do { if (!(cond)) { fprintf(stderr, "check failed: %s (line %d)\n", #cond, __LINE__); abort(); } } while (0)

static struct ast_control_pvt_cause_code *kept;
static int kept_len;

int ast_channel_dialed_causes_add(const struct ast_channel *chan, const struct ast_control_pvt_cause_code *cause_code, int datalen)
{
	ao2_cleanup(kept);
	kept = ao2_alloc(datalen, NULL);
	memcpy(kept, cause_code, datalen);
	kept_len = datalen;
	return 0;
}

const char *ast_channel_name(const struct ast_channel *chan)
{
	return "Local/caller-00000000;1";
}

int ast_func_write(struct ast_channel *chan, const char *function, const char *value)
{
	CHECK(strlen(function) < 256);
	CHECK(strlen(value) < (size_t) kept_len);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ast_control_pvt_cause_code *payload;
	struct ast_channel *chan;
	int live = fuzz_ao2_live;

	if (size > INT_MAX) {
		return 0;
	}
	/* Exactly the bytes of the frame */
	payload = malloc(size ? size : 1);
	memcpy(payload, data, size);
	chan = ao2_alloc(64, NULL);

	ast_channel_hangupcause_hash_set(chan, payload, size);
	if (kept) {
		const char *value;

		/* What is kept is always valid */
		CHECK(kept_len >= (int) sizeof(*kept));
		CHECK(ast_control_pvt_cause_code_data_valid(kept, kept_len));
		CHECK(memchr(kept->chan_name, '\0', sizeof(kept->chan_name)));
		CHECK(memchr(kept->code, '\0', kept_len - offsetof(struct ast_control_pvt_cause_code, code)));
		value = ast_control_pvt_cause_code_data_get(kept, "headers");
		CHECK(!value || (value > (char *) kept && value + strlen(value) < (char *) kept + kept_len));
		value = ast_control_pvt_cause_code_data_get(kept, "reason");
		CHECK(!value || (value > (char *) kept && value + strlen(value) < (char *) kept + kept_len));
		ast_control_pvt_cause_code_data_get(kept, "");
		ao2_ref(kept, -1);
		kept = NULL;
	}
	/* Valid as received: readable in place too */
	if (ast_control_pvt_cause_code_data_valid(payload, size)) {
		ast_control_pvt_cause_code_data_get(payload, "headers");
	}

	ao2_ref(chan, -1);
	CHECK(fuzz_ao2_live == live);
	free(payload);
	return 0;
}
