/*
 * chan_pjsip's capture of a failure response's header section (patch 0002,
 * chan_pjsip_response_headers() in channels/chan_pjsip.c of the applied tree), exported for
 * the response_headers harness. The source file is included so that the static function can
 * be called; it is compiled exactly as in the tree.
 */

#define ASTMM_LIBC ASTMM_IGNORE
#include "channels/chan_pjsip.c"

#include "capture.h"

/* Used in chan_pjsip's debug message only (res_pjsip_session's, outside the harness) */
const char *ast_sip_session_get_name(const struct ast_sip_session *session)
{
	return "carrier-00000001";
}

char *fuzz_capture_headers(const char *msg, size_t len, int status)
{
	pjsip_rx_data rdata;
	pjsip_msg pmsg;

	memset(&rdata, 0, sizeof(rdata));
	memset(&pmsg, 0, sizeof(pmsg));
	pmsg.type = PJSIP_RESPONSE_MSG;
	pmsg.line.status.code = status;
	rdata.msg_info.msg = &pmsg;
	rdata.msg_info.msg_buf = (char *) msg;
	rdata.msg_info.len = len;
	return chan_pjsip_response_headers(NULL, &rdata);
}
