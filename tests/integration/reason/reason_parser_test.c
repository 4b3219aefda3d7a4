/*
 * Standalone unit test of the Reason header parser (main/hangup_reason.c of a patched tree).
 *
 * Built by test_reason_parser.py:
 *   cc -I<tree>/include -DAST_MODULE='"core"' -DAST_IN_CORE <tree>/main/hangup_reason.c this.c
 * Prints one line per failed check and "N passed, M failed" last; exits 1 on any failure.
 */

#include "asterisk.h"

#include <stdarg.h>
#include <stdio.h>

#include "asterisk/hangup_reason.h"
#include "asterisk/options.h"
#include "asterisk/utils.h"

/* What ast_debug() needs from the core, stubbed. */
int option_debug;
struct ast_flags64 ast_options;
unsigned int ast_debug_get_by_module(const char *module)
{
	return 0;
}
void ast_log(int level, const char *file, int line, const char *function, const char *fmt, ...)
{
}

static int passed;
static int failed;

static void check_str(const char *what, const char *got, const char *expected)
{
	if (!strcmp(got, expected)) {
		passed++;
	} else {
		failed++;
		printf("FAIL %s: got [%s] expected [%s]\n", what, got, expected);
	}
}

/*! \brief All values of \a text as "protocol|cause|text|location|raw" lines joined by '\n' */
static void describe(const char *text, char *out, size_t len)
{
	struct ast_hangup_reason_value value;
	const char *cursor = text;
	char cause[256];
	char reason_text[256];
	char location[256];
	size_t used = 0;

	out[0] = '\0';
	while (ast_hangup_reason_next(&cursor, &value)) {
		if (ast_hangup_reason_param(&value, "cause", cause, sizeof(cause))) {
			strcpy(cause, "-");
		}
		if (ast_hangup_reason_param(&value, "text", reason_text, sizeof(reason_text))) {
			strcpy(reason_text, "-");
		}
		if (ast_hangup_reason_param(&value, "location", location, sizeof(location))) {
			strcpy(location, "-");
		}
		used += snprintf(out + used, len - used, "%s%.*s|%s|%s|%s|%.*s", used ? "\n" : "",
			(int) value.protocol_len, value.protocol, cause, reason_text, location,
			(int) value.raw_len, value.raw);
	}
}

static void check(const char *text, const char *expected)
{
	char got[4096];

	describe(text, got, sizeof(got));
	check_str(text, got, expected);
}

int main(void)
{
	char small[4];
	struct ast_hangup_reason_value value;
	const char *cursor;

	/* RFC 3326 examples and the usual forms */
	check("Q.850;cause=16;text=\"Terminated\"", "Q.850|16|Terminated|-|Q.850;cause=16;text=\"Terminated\"");
	check("SIP;cause=200;text=\"Call completed elsewhere\"",
		"SIP|200|Call completed elsewhere|-|SIP;cause=200;text=\"Call completed elsewhere\"");
	check("SIP ;cause=600 ;text=\"Busy Everywhere\"",
		"SIP|600|Busy Everywhere|-|SIP ;cause=600 ;text=\"Busy Everywhere\"");
	/* Comma-separated values, white space and empty elements around them */
	check(" Q.850;cause=17 ,  SIP;cause=486 ,, ", "Q.850|17|-|-|Q.850;cause=17\nSIP|486|-|-|SIP;cause=486");
	/* Quoted text with commas, semicolons, escaped quotes and backslashes */
	check("Q.850;cause=21;text=\"a, b; \\\"c\\\" d\\\\e\", SIP;cause=1",
		"Q.850|21|a, b; \"c\" d\\e|-|Q.850;cause=21;text=\"a, b; \\\"c\\\" d\\\\e\"\nSIP|1|-|-|SIP;cause=1");
	/* Case-insensitive parameter names, RFC 8606 location, unknown parameters kept in raw */
	check("Q.850;CAUSE=18;Location=LN;x-foo=bar;flag", "Q.850|18|-|LN|Q.850;CAUSE=18;Location=LN;x-foo=bar;flag");
	/* Other protocols (RFC 4411 preemption, RFC 9410 STIR) and repeats (RFC 9366) */
	check("preemption;cause=1;text=\"UA Preemption\", STIR;cause=403, STIR;cause=436",
		"preemption|1|UA Preemption|-|preemption;cause=1;text=\"UA Preemption\"\n"
		"STIR|403|-|-|STIR;cause=403\nSTIR|436|-|-|STIR;cause=436");
	/* A value without parameters, and unquoted texts (not RFC 3326, but sent by carriers) */
	check("X-Vendor, SIP;cause=480;text=Busy", "X-Vendor|-|-|-|X-Vendor\nSIP|480|Busy|-|SIP;cause=480;text=Busy");
	check("Q.850;cause=16;text=Normal Clearing ;location=LN",
		"Q.850|16|Normal Clearing|LN|Q.850;cause=16;text=Normal Clearing ;location=LN");
	check("Q.850;cause=16;text=Caf\xc3\xa9 \xe9", "Q.850|16|Caf\xc3\xa9 \xe9|-|Q.850;cause=16;text=Caf\xc3\xa9 \xe9");
	/* A malformed parameter is skipped, the value kept */
	check("SIP;=5;cause=486, Q.850;cause=17;text=\"ok\" junk;location=U",
		"SIP|486|-|-|SIP;=5;cause=486\nQ.850|17|-|U|Q.850;cause=17;text=\"ok\" junk;location=U");
	/* Malformed values are skipped, the others kept */
	check("Q.850;cause=abc, SIP;cause=486", "SIP|486|-|-|SIP;cause=486");
	check(";cause=1, Q.850;cause=", "");
	check("Q.850;cause=3;text=\"unterminated, SIP;cause=486", "");
	check("SIP;cause=486 junk, Q.850;cause=17", "Q.850|17|-|-|Q.850;cause=17");
	check("SIP;cause=99999999999999999999, Q.850;cause=17", "SIP|99999999999999999999|-|-|SIP;cause=99999999999999999999\n"
		"Q.850|17|-|-|Q.850;cause=17");
	check("", "");
	check(",,,", "");

	/* A buffer too small cuts the value but still reports it present */
	cursor = "SIP;cause=48600";
	if (ast_hangup_reason_next(&cursor, &value) && !ast_hangup_reason_param(&value, "cause", small, sizeof(small))) {
		check_str("cut to fit", small, "486");
	} else {
		failed++;
		printf("FAIL cut to fit: value not found\n");
	}
	/* NULL text */
	cursor = NULL;
	if (ast_hangup_reason_next(&cursor, &value)) {
		failed++;
		printf("FAIL NULL cursor gave a value\n");
	} else {
		passed++;
	}

	printf("%d passed, %d failed\n", passed, failed);
	return failed ? 1 : 0;
}
