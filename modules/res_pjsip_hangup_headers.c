/*
 * Asterisk -- An open source telephony toolkit.
 *
 * Copyright (C) 2026, the asterisk-behind-proxy project
 *
 * See http://www.asterisk.org for more information about
 * the Asterisk project. Please do not directly contact
 * any of the maintainers of this project for assistance;
 * the project provides a web site, mailing lists and IRC
 * channels for your use.
 *
 * This program is free software, distributed under the terms of
 * the GNU General Public License Version 2. See the LICENSE file
 * at the top of the source tree.
 */

/*!
 * \file
 *
 * \brief Read the headers of a received BYE and set headers on the BYE we send.
 *
 * The headers of a BYE received on a PJSIP channel are copied, once, into a
 * channel datastore of that channel and, by reference, into a datastore of
 * the channel it was bridged to at that moment (the "peer"), keyed by the
 * name of the channel that received the BYE.  Headers to be put on the BYE
 * that Asterisk sends live in a session datastore and are only touched on
 * the session's serializer.
 */

/*** MODULEINFO
	<depend>pjproject</depend>
	<depend>res_pjsip</depend>
	<depend>res_pjsip_session</depend>
	<support_level>extended</support_level>
 ***/

#include "asterisk.h"

#include <pjsip.h>
#include <pjsip_ua.h>

#include "asterisk/res_pjsip.h"
#include "asterisk/res_pjsip_session.h"
#include "asterisk/module.h"
#include "asterisk/channel.h"
#include "asterisk/pbx.h"
#include "asterisk/app.h"
#include "asterisk/strings.h"
#include "asterisk/vector.h"

/* Built out of tree too: the serializer API is a taskpool from 22 and 21.8, a threadpool before */
#if defined(__has_include) && __has_include("asterisk/taskpool.h")
#include "asterisk/taskpool.h"
#define hangup_headers_serializer_current() ast_taskpool_serializer_get_current()
#else
#include "asterisk/threadpool.h"
#define hangup_headers_serializer_current() ast_threadpool_serializer_get_current()
#endif

/*** DOCUMENTATION
	<function name="PJSIP_HANGUP_HEADER" language="en_US">
		<since>
			<version>20.22.0</version>
			<version>22.12.0</version>
			<version>23.6.0</version>
		</since>
		<synopsis>
			Gets headers of a received BYE, or sets headers on the BYE Asterisk sends.
		</synopsis>
		<syntax>
			<parameter name="action" required="true">
				<enumlist>
					<enum name="read"><para>Returns the value of header <replaceable>name</replaceable>
					of the BYE that ended the call: by default the BYE that this channel received;
					with <replaceable>channel</replaceable>, the BYE that the named channel received
					while it was bridged to this channel.</para></enum>
					<enum name="add"><para>Adds header <replaceable>name</replaceable> with the value
					written to the BYE that Asterisk sends on this channel.</para></enum>
					<enum name="update"><para>Replaces the value of the
					<replaceable>number</replaceable>th header <replaceable>name</replaceable>
					previously added with <literal>add</literal>.</para></enum>
					<enum name="remove"><para>Removes every header <replaceable>name</replaceable>
					(a trailing <literal>*</literal> matches a prefix) from the BYE that Asterisk
					sends on this channel: those added with <literal>add</literal> and those that
					Asterisk itself would put there (for example <literal>Reason</literal>). Core
					headers (Via, From, To, Call-ID, CSeq, Max-Forwards, Route, Contact,
					Content-Length, Content-Type, Authorization, Proxy-Authorization) cannot be
					removed. The value written is ignored.</para></enum>
				</enumlist>
			</parameter>
			<parameter name="name" required="true">
				<para>The header name, matched case-insensitively; compact forms
				(<literal>s</literal> for <literal>Subject</literal>, ...) match their long name.
				For <literal>read</literal> and <literal>remove</literal>, a trailing
				<literal>*</literal> matches every header whose name starts with the text before it.</para>
			</parameter>
			<parameter name="number">
				<para>Which instance of the header, counted from 1 in message order. Default 1.
				Used by <literal>read</literal> and <literal>update</literal>.</para>
			</parameter>
			<parameter name="channel">
				<para>Only for <literal>read</literal>: the name of a channel that was bridged
				to this one and received a BYE, e.g. <variable>DIALEDPEERNAME</variable> after
				<literal>Dial</literal>. Omitted or equal to this channel's name: this channel's
				own BYE.</para>
			</parameter>
		</syntax>
		<description>
			<para><literal>read</literal> works in the hangup handlers and <literal>h</literal>
			extension of the channel that received the BYE, and on the channel that was bridged
			to it (for example the caller after <literal>Dial</literal> returns with the
			<literal>g</literal> option, or in the caller's hangup handler), for as long as that
			channel exists. It returns an empty string, without a warning, when no BYE was
			received (the call ended with a CANCEL, a timeout or a local hangup) or when the header
			is absent. Header values are returned as received, with line folding replaced by a
			single space. At most the first 256 headers and 16 KiB of a BYE are kept; each channel
			keeps the BYEs of at most 8 bridged channels (the oldest is dropped).</para>
			<para><literal>add</literal>, <literal>update</literal> and <literal>remove</literal>
			need a PJSIP channel and take effect on the next BYE that Asterisk sends on it; set them
			in the dialplan before the hangup or in a hangup handler of that channel (which runs
			before the BYE is sent). They have no effect when the call ends otherwise. A name that
			is not a token, a value holding a control character and the core headers of the dialog
			are refused with an error.</para>
			<example title="Log a header of the BYE that the callee sent">
			exten => s,1,Dial(PJSIP/bob,,g)
			 same => n,Verbose(1,Bob said ${PJSIP_HANGUP_HEADER(read,X-Release-Cause,,${DIALEDPEERNAME})})
			</example>
			<example title="Read the second X-Info header of a BYE received by this channel">
			exten => h,1,Verbose(1,${PJSIP_HANGUP_HEADER(read,X-Info,2)})
			</example>
			<example title="Add a header to, and strip the Reason header from, our BYE">
			 same => n,Set(PJSIP_HANGUP_HEADER(add,X-Billing-Id)=1234)
			 same => n,Set(PJSIP_HANGUP_HEADER(remove,Reason)=)
			</example>
		</description>
		<see-also>
			<ref type="function">PJSIP_HANGUP_HEADERS</ref>
			<ref type="function">PJSIP_HEADER</ref>
			<ref type="function">HANGUPCAUSE</ref>
		</see-also>
	</function>
	<function name="PJSIP_HANGUP_HEADERS" language="en_US">
		<since>
			<version>20.22.0</version>
			<version>22.12.0</version>
			<version>23.6.0</version>
		</since>
		<synopsis>
			Gets the list of header names of a received BYE.
		</synopsis>
		<syntax>
			<parameter name="prefix">
				<para>Only names starting with this text (case-insensitive). Empty: all.</para>
			</parameter>
			<parameter name="channel">
				<para>As for <literal>PJSIP_HANGUP_HEADER(read,...)</literal>: the name of a
				bridged channel whose received BYE is wanted.</para>
			</parameter>
		</syntax>
		<description>
			<para>Returns a comma-separated list of the distinct header names of the BYE, in the
			order of their first appearance, compact forms given by their long name. The list is
			empty when no BYE was received or no name matches.</para>
			<example title="Loop over the X- headers of the BYE">
			 same => n,Set(names=${PJSIP_HANGUP_HEADERS(X-)})
			 same => n,While($["${SET(name=${POP(names)})}" != ""])
			 same => n,Verbose(1,${name}: ${PJSIP_HANGUP_HEADER(read,${name})})
			 same => n,EndWhile()
			</example>
		</description>
		<see-also>
			<ref type="function">PJSIP_HANGUP_HEADER</ref>
		</see-also>
	</function>
 ***/

/*! \brief At most this many peers' BYEs are kept on one channel (oldest dropped) */
#define HANGUP_HEADERS_MAX_PEERS 8
/*! \brief At most this many headers of a received BYE are kept (the first ones) */
#define HANGUP_HEADERS_MAX_COUNT 256
/*! \brief At most this many bytes of them (whole headers, the first ones) */
#define HANGUP_HEADERS_MAX_BYTES 16384

/*! \brief One header of a received BYE, once parsed */
struct hangup_header {
	/*! Header name as received (long form if it was compact), not NUL-terminated */
	const char *name;
	size_t name_len;
	/*! Header value, folding replaced by a space, NUL-terminated */
	const char *value;
	/*! Set on the first header of its name (for the list of names) */
	unsigned int first:1;
};

/*!
 * \brief One received BYE (ao2 object): its header section as received, parsed once.
 *
 * Receiving a BYE costs one allocation and a copy of at most HANGUP_HEADERS_MAX_COUNT
 * headers and HANGUP_HEADERS_MAX_BYTES bytes. The first read parses it, under the
 * object's lock, into \a headers; from then on the object is immutable.
 */
struct hangup_headers {
	/*! The header lines of the BYE (without request line and body), NUL-terminated */
	char *raw;
	/*! Set once parsed */
	int parsed;
	/*! The headers in message order (NULL if none, or if parsing failed) */
	struct hangup_header *headers;
	size_t count;
	/*! Storage of the headers' values */
	char *values;
	/*! Name of the channel that received the BYE */
	char chan_name[0];
};

/*! \brief What a channel's datastore holds */
struct hangup_headers_store {
	/*! The BYE this channel received, or NULL */
	struct hangup_headers *own;
	/*! BYEs received by channels bridged to this one, oldest first */
	AST_VECTOR(, struct hangup_headers *) peers;
};

/*! \brief A header to add to the BYE we send */
struct outgoing_header {
	/*! Header name (long form) */
	char *name;
	/*! Header value */
	char *value;
};

/*! \brief Headers to add to, or remove from, the BYE we send */
struct outgoing_headers {
	/*! Headers to add, in order */
	AST_VECTOR(, struct outgoing_header) add;
	/*! Names (possibly ending in '*') to remove */
	AST_VECTOR(, char *) remove;
};

/*! \brief RFC 3261 and extension compact header forms */
static const struct {
	char compact;
	const char *name;
} compact_forms[] = {
	{ 'a', "Accept-Contact" },
	{ 'b', "Referred-By" },
	{ 'c', "Content-Type" },
	{ 'd', "Request-Disposition" },
	{ 'e', "Content-Encoding" },
	{ 'f', "From" },
	{ 'i', "Call-ID" },
	{ 'j', "Reject-Contact" },
	{ 'k', "Supported" },
	{ 'l', "Content-Length" },
	{ 'm', "Contact" },
	{ 'n', "Identity-Info" },
	{ 'o', "Event" },
	{ 'r', "Refer-To" },
	{ 's', "Subject" },
	{ 't', "To" },
	{ 'u', "Allow-Events" },
	{ 'v', "Via" },
	{ 'x', "Session-Expires" },
	{ 'y', "Identity" },
};

/*! \brief Headers that remove cannot take off our BYE */
static const char *const protected_headers[] = {
	"Via", "From", "To", "Call-ID", "CSeq", "Max-Forwards", "Route", "Contact",
	"Content-Length", "Content-Type", "Authorization", "Proxy-Authorization",
};

/*!
 * \internal
 * \brief Long form of a header name of \a len characters given in compact form, or NULL.
 */
static const char *hangup_headers_compact(const char *name, size_t len)
{
	int i;

	if (len != 1) {
		return NULL;
	}
	for (i = 0; i < ARRAY_LEN(compact_forms); i++) {
		if (tolower((unsigned char) name[0]) == compact_forms[i].compact) {
			return compact_forms[i].name;
		}
	}
	return NULL;
}

/*!
 * \internal
 * \brief Long form of a header name given in compact form, else the name itself.
 */
static const char *hangup_headers_long_name(const char *name)
{
	return S_OR(hangup_headers_compact(name, strlen(name)), name);
}

/*!
 * \internal
 * \brief Does the header name of \a len characters match \a pattern (long forms compared,
 * trailing '*' = prefix)?
 */
static int hangup_headers_name_matches_len(const char *name, size_t len, const char *pattern)
{
	size_t pattern_len = strlen(pattern);

	if (pattern_len && pattern[pattern_len - 1] == '*') {
		return len >= pattern_len - 1 && !strncasecmp(name, pattern, pattern_len - 1);
	}
	pattern = hangup_headers_long_name(pattern);
	return len == strlen(pattern) && !strncasecmp(name, pattern, len);
}

/*!
 * \internal
 * \brief Does header \a name match \a pattern (long forms compared, trailing '*' = prefix)?
 */
static int hangup_headers_name_matches(const char *name, const char *pattern)
{
	return hangup_headers_name_matches_len(name, strlen(name), pattern);
}

/*!
 * \internal
 * \brief Find the end of the line at \a pos: CRLF, LF or a lone CR end a line, as for pjproject.
 * \param pos Start of the line
 * \param end End of the text
 * \param stop Set to the end of the line's content
 * \return the start of the next line
 */
static const char *hangup_headers_line(const char *pos, const char *end, const char **stop)
{
	while (pos < end && *pos != '\r' && *pos != '\n') {
		pos++;
	}
	*stop = pos;
	if (pos < end && *pos == '\r') {
		pos++;
	}
	if (pos < end && *pos == '\n' && (pos == *stop || pos[-1] == '\r')) {
		pos++;
	}
	return pos;
}

/*! \internal \brief Order of headers by name, then position (for the list of names) */
static int hangup_headers_cmp(const void *a, const void *b)
{
	const struct hangup_header *x = *(const struct hangup_header * const *) a;
	const struct hangup_header *y = *(const struct hangup_header * const *) b;
	int res = strncasecmp(x->name, y->name, MIN(x->name_len, y->name_len));

	if (res) {
		return res;
	}
	if (x->name_len != y->name_len) {
		return x->name_len < y->name_len ? -1 : 1;
	}
	return x < y ? -1 : x > y;
}

/*! \internal \brief Destructor of a received BYE */
static void hangup_headers_destroy(void *obj)
{
	struct hangup_headers *bye = obj;

	ast_free(bye->headers);
	ast_free(bye->values);
}

/*!
 * \internal
 * \brief Parse the header lines of a received BYE.
 *
 * The raw header section is read rather than pjproject's parsed headers so that values
 * come back exactly as sent (pjproject rewrites typed headers and loses folded lines).
 * A line starting with white space continues the previous header (RFC 3261 7.3.1): it is
 * joined with one space. A line without a colon is skipped. Compact names are given their
 * long form. Linear in the size of the section, plus O(n log n) in the number of headers to
 * mark the first header of each name.
 *
 * \note Called once per BYE, with the object locked.
 */
static void hangup_headers_parse(struct hangup_headers *bye)
{
	const char *end = bye->raw + strlen(bye->raw);
	const char *pos;
	const char *next;
	const char *stop;
	struct hangup_header *header = NULL;
	struct hangup_header **order;
	char *out;
	size_t lines = 0;
	size_t i;

	for (pos = bye->raw; pos < end; pos = next) {
		next = hangup_headers_line(pos, end, &stop);
		lines++;
	}
	if (!lines) {
		return;
	}
	/* Values never grow: a header's value and its NUL fit in its own line and colon */
	bye->headers = ast_calloc(lines, sizeof(*bye->headers));
	bye->values = ast_malloc(end - bye->raw + 1);
	if (!bye->headers || !bye->values) {
		ast_free(bye->headers);
		bye->headers = NULL;
		return;
	}

	out = bye->values;
	for (pos = bye->raw; pos < end; pos = next) {
		const char *colon;
		const char *long_name;

		next = hangup_headers_line(pos, end, &stop);
		if (*pos == ' ' || *pos == '\t') {
			/* Continuation of the header before, if any: one space, then the text */
			if (!header) {
				continue;
			}
			while (pos < stop && (*pos == ' ' || *pos == '\t')) {
				pos++;
			}
			while (stop > pos && (stop[-1] == ' ' || stop[-1] == '\t')) {
				stop--;
			}
			if (pos < stop) {
				/* out points at the value's NUL */
				if (out > header->value) {
					*out++ = ' ';
				}
				memcpy(out, pos, stop - pos);
				out += stop - pos;
				*out = '\0';
			}
			continue;
		}
		if (header) {
			/* The header before is complete */
			out++;
			header = NULL;
		}

		colon = memchr(pos, ':', stop - pos);
		if (!colon) {
			ast_debug(1, "Ignoring a BYE header line without a colon on %s.\n", bye->chan_name);
			continue;
		}
		header = &bye->headers[bye->count++];
		header->name = pos;
		header->name_len = colon - pos;
		while (header->name_len && (pos[header->name_len - 1] == ' ' || pos[header->name_len - 1] == '\t')) {
			header->name_len--;
		}
		long_name = hangup_headers_compact(header->name, header->name_len);
		if (long_name) {
			header->name = long_name;
			header->name_len = strlen(long_name);
		}
		for (pos = colon + 1; pos < stop && (*pos == ' ' || *pos == '\t'); pos++) {
		}
		while (stop > pos && (stop[-1] == ' ' || stop[-1] == '\t')) {
			stop--;
		}
		header->value = out;
		memcpy(out, pos, stop - pos);
		out += stop - pos;
		*out = '\0';
	}

	/* Mark the first header of each name: sort pointers by name, then position */
	order = bye->count ? ast_malloc(bye->count * sizeof(*order)) : NULL;
	if (order) {
		for (i = 0; i < bye->count; i++) {
			order[i] = &bye->headers[i];
		}
		qsort(order, bye->count, sizeof(*order), hangup_headers_cmp);
		for (i = 0; i < bye->count; i++) {
			order[i]->first = !i || order[i - 1]->name_len != order[i]->name_len
				|| strncasecmp(order[i - 1]->name, order[i]->name, order[i]->name_len);
		}
		ast_free(order);
	}
}

/*!
 * \internal
 * \brief The parsed headers of a received BYE, parsing it on the first call.
 * \return the number of headers (their array in bye->headers)
 */
static size_t hangup_headers_parsed(struct hangup_headers *bye)
{
	ao2_lock(bye);
	if (!bye->parsed) {
		hangup_headers_parse(bye);
		bye->parsed = 1;
	}
	ao2_unlock(bye);
	return bye->headers ? bye->count : 0;
}

/*!
 * \internal
 * \brief Keep the header section of a received message: one allocation, no parsing.
 *
 * Whole headers, at most HANGUP_HEADERS_MAX_COUNT and HANGUP_HEADERS_MAX_BYTES bytes, the
 * first ones; a header holding a NUL byte ends the section.
 *
 * \retval NULL on allocation failure
 */
static struct hangup_headers *hangup_headers_copy(const pjsip_rx_data *rdata, const char *chan_name)
{
	const char *start = rdata->msg_info.msg_buf;
	const char *end = start ? start + rdata->msg_info.len : NULL;
	const char *keep;
	const char *pos;
	const char *next;
	const char *stop;
	struct hangup_headers *bye;
	size_t name_len = strlen(chan_name);
	int count = 0;
	int whole = 1;

	if (!start) {
		start = end = "";
	}
	/* From after the request line to the empty line before the body */
	start = hangup_headers_line(start, end, &stop);
	for (keep = pos = start; pos < end; pos = next) {
		next = hangup_headers_line(pos, end, &stop);
		if (stop == pos) {
			break;
		}
		if (memchr(pos, '\0', stop - pos)) {
			whole = 0;
			break;
		}
		if (*pos != ' ' && *pos != '\t') {
			/* Everything before this line is whole headers */
			keep = pos;
			if (++count > HANGUP_HEADERS_MAX_COUNT) {
				whole = 0;
				break;
			}
		}
		if (next - start > HANGUP_HEADERS_MAX_BYTES) {
			whole = 0;
			break;
		}
	}
	if (whole) {
		keep = pos;
	} else {
		ast_debug(1, "Keeping the first %d bytes of the headers of the BYE received on %s.\n",
			(int) (keep - start), chan_name);
	}

	bye = ao2_alloc(sizeof(*bye) + name_len + 1 + (keep - start) + 1, hangup_headers_destroy);
	if (!bye) {
		return NULL;
	}
	memcpy(bye->chan_name, chan_name, name_len + 1);
	bye->raw = bye->chan_name + name_len + 1;
	memcpy(bye->raw, start, keep - start);
	bye->raw[keep - start] = '\0';
	return bye;
}

/*! \internal \brief Destroy callback of the channel datastore */
static void hangup_headers_store_destroy(void *data)
{
	struct hangup_headers_store *store = data;

	ao2_cleanup(store->own);
	AST_VECTOR_CALLBACK_VOID(&store->peers, ao2_ref, -1);
	AST_VECTOR_FREE(&store->peers);
	ast_free(store);
	/* Taken in hangup_headers_store_get(): the channel may outlive every PJSIP session */
	ast_module_unref(AST_MODULE_SELF);
}

/*! \brief Channel datastore holding received BYE headers */
static const struct ast_datastore_info hangup_headers_store_info = {
	.type = "pjsip_hangup_headers",
	.destroy = hangup_headers_store_destroy,
};

/*!
 * \internal
 * \brief Find or create the store of a channel.
 * \note The channel must be locked.
 */
static struct hangup_headers_store *hangup_headers_store_get(struct ast_channel *chan, int create)
{
	struct ast_datastore *datastore;
	struct hangup_headers_store *store;

	datastore = ast_channel_datastore_find(chan, &hangup_headers_store_info, NULL);
	if (datastore) {
		return datastore->data;
	}
	if (!create) {
		return NULL;
	}

	datastore = ast_datastore_alloc(&hangup_headers_store_info, NULL);
	store = ast_calloc(1, sizeof(*store));
	if (!datastore || !store || AST_VECTOR_INIT(&store->peers, 1)) {
		ast_free(store);
		ast_datastore_free(datastore);
		return NULL;
	}
	ast_module_ref(AST_MODULE_SELF);
	datastore->data = store;
	if (ast_channel_datastore_add(chan, datastore)) {
		ast_datastore_free(datastore);
		return NULL;
	}
	return store;
}

/*!
 * \internal
 * \brief Keep a peer's BYE on \a chan, replacing one of the same channel name.
 * \note The channel must be locked.
 */
static void hangup_headers_store_peer(struct ast_channel *chan, struct hangup_headers *headers)
{
	struct hangup_headers_store *store = hangup_headers_store_get(chan, 1);
	int i;

	if (!store) {
		return;
	}

	for (i = 0; i < AST_VECTOR_SIZE(&store->peers); i++) {
		if (!strcmp(AST_VECTOR_GET(&store->peers, i)->chan_name, headers->chan_name)) {
			ao2_ref(AST_VECTOR_GET(&store->peers, i), -1);
			AST_VECTOR_REMOVE_ORDERED(&store->peers, i);
			break;
		}
	}
	if (AST_VECTOR_SIZE(&store->peers) >= HANGUP_HEADERS_MAX_PEERS) {
		ao2_ref(AST_VECTOR_GET(&store->peers, 0), -1);
		AST_VECTOR_REMOVE_ORDERED(&store->peers, 0);
	}
	ao2_ref(headers, +1);
	if (AST_VECTOR_APPEND(&store->peers, headers)) {
		ao2_ref(headers, -1);
	}
}

/*!
 * \internal
 * \brief Session supplement callback on an incoming BYE: keep its headers.
 */
static int hangup_headers_incoming_request(struct ast_sip_session *session, pjsip_rx_data *rdata)
{
	struct ast_channel *chan = session->channel;
	struct hangup_headers_store *store;
	struct hangup_headers *headers;
	struct ast_channel *peer;

	if (pjsip_method_cmp(&rdata->msg_info.msg->line.req.method, &pjsip_bye_method) || !chan) {
		return 0;
	}

	headers = hangup_headers_copy(rdata, ast_channel_name(chan));
	if (!headers) {
		ast_log(LOG_ERROR, "Unable to keep the headers of the BYE received on channel %s.\n",
			ast_channel_name(chan));
		return 0;
	}

	ast_channel_lock(chan);
	store = hangup_headers_store_get(chan, 1);
	if (store) {
		ao2_replace(store->own, headers);
	}
	ast_channel_unlock(chan);

	/* No channel lock may be held here */
	peer = ast_channel_bridge_peer(chan);
	if (peer) {
		ast_channel_lock(peer);
		hangup_headers_store_peer(peer, headers);
		ast_channel_unlock(peer);
		ast_debug(3, "Kept the BYE of %s for bridged peer %s\n", headers->chan_name,
			ast_channel_name(peer));
		ast_channel_unref(peer);
	}

	ao2_ref(headers, -1);
	return 0;
}

/*!
 * \internal
 * \brief The received BYE headers a read asks for, with a reference, or NULL.
 */
static struct hangup_headers *hangup_headers_find(struct ast_channel *chan, const char *chan_name)
{
	struct hangup_headers_store *store;
	struct hangup_headers *found = NULL;
	int i;

	ast_channel_lock(chan);
	store = hangup_headers_store_get(chan, 0);
	if (store) {
		if (ast_strlen_zero(chan_name) || !strcmp(chan_name, ast_channel_name(chan))
			|| (store->own && !strcmp(chan_name, store->own->chan_name))) {
			found = store->own;
		} else {
			for (i = AST_VECTOR_SIZE(&store->peers) - 1; i >= 0; i--) {
				if (!strcmp(AST_VECTOR_GET(&store->peers, i)->chan_name, chan_name)) {
					found = AST_VECTOR_GET(&store->peers, i);
					break;
				}
			}
		}
	}
	ao2_bump(found);
	ast_channel_unlock(chan);

	return found;
}

/*!
 * \internal
 * \brief Parse a header instance number: empty means 1.
 * \retval -1 if invalid
 */
static int hangup_headers_number(const char *function, const char *text)
{
	int number;

	if (ast_strlen_zero(text)) {
		return 1;
	}
	if (sscanf(text, "%30d", &number) != 1 || number < 1) {
		ast_log(LOG_ERROR, "%s: invalid header number '%s', must be 1 or more.\n", function, text);
		return -1;
	}
	return number;
}

/*!
 * \internal
 * \brief Read callback of PJSIP_HANGUP_HEADER(read,...)
 */
static int func_hangup_header_read(struct ast_channel *chan, const char *function, char *data,
	struct ast_str **buf, ssize_t maxlen)
{
	RAII_VAR(struct hangup_headers *, bye, NULL, ao2_cleanup);
	size_t count;
	size_t i;
	int number;
	int seen = 0;
	AST_DECLARE_APP_ARGS(args,
		AST_APP_ARG(action);
		AST_APP_ARG(name);
		AST_APP_ARG(number);
		AST_APP_ARG(channel);
	);

	ast_str_reset(*buf);
	if (!chan) {
		ast_log(LOG_ERROR, "%s: this function requires a channel.\n", function);
		return -1;
	}
	AST_STANDARD_APP_ARGS(args, data);
	if (ast_strlen_zero(args.action) || strcasecmp(args.action, "read")) {
		ast_log(LOG_ERROR, "%s: unknown action '%s' when reading, must be 'read'.\n", function,
			S_OR(args.action, ""));
		return -1;
	}
	if (ast_strlen_zero(args.name)) {
		ast_log(LOG_ERROR, "%s: this function requires a header name.\n", function);
		return -1;
	}
	number = hangup_headers_number(function, args.number);
	if (number < 0) {
		return -1;
	}

	bye = hangup_headers_find(chan, args.channel);
	if (!bye) {
		ast_debug(1, "%s: no BYE was received for channel %s.\n", function,
			S_OR(args.channel, ast_channel_name(chan)));
		return 0;
	}

	count = hangup_headers_parsed(bye);
	for (i = 0; i < count; i++) {
		const struct hangup_header *header = &bye->headers[i];

		if (hangup_headers_name_matches_len(header->name, header->name_len, args.name) && ++seen == number) {
			ast_str_set(buf, maxlen, "%s", header->value);
			return 0;
		}
	}
	ast_debug(1, "%s: the BYE of %s has no header %s number %d.\n", function,
		bye->chan_name, args.name, number);
	return 0;
}

/*!
 * \internal
 * \brief Read callback of PJSIP_HANGUP_HEADERS([prefix[,channel]])
 */
static int func_hangup_headers_read(struct ast_channel *chan, const char *function, char *data,
	struct ast_str **buf, ssize_t maxlen)
{
	RAII_VAR(struct hangup_headers *, bye, NULL, ao2_cleanup);
	size_t prefix_len;
	size_t count;
	size_t i;
	AST_DECLARE_APP_ARGS(args,
		AST_APP_ARG(prefix);
		AST_APP_ARG(channel);
	);

	ast_str_reset(*buf);
	if (!chan) {
		ast_log(LOG_ERROR, "%s: this function requires a channel.\n", function);
		return -1;
	}
	AST_STANDARD_APP_ARGS(args, data);
	prefix_len = args.prefix ? strlen(args.prefix) : 0;
	if (prefix_len && args.prefix[prefix_len - 1] == '*') {
		prefix_len--;
	}

	bye = hangup_headers_find(chan, args.channel);
	if (!bye) {
		return 0;
	}

	/* Each name once, in the order of its first appearance */
	count = hangup_headers_parsed(bye);
	for (i = 0; i < count; i++) {
		const struct hangup_header *header = &bye->headers[i];

		if (!header->first || header->name_len < prefix_len || strncasecmp(header->name, args.prefix, prefix_len)) {
			continue;
		}
		ast_str_append(buf, maxlen, "%s%.*s", ast_str_strlen(*buf) ? "," : "",
			(int) header->name_len, header->name);
	}
	return 0;
}

/*! \internal \brief Destructor of the headers to send */
static void outgoing_headers_destroy(void *obj)
{
	struct outgoing_headers *out = obj;
	int i;

	for (i = 0; i < AST_VECTOR_SIZE(&out->add); i++) {
		ast_free(AST_VECTOR_GET(&out->add, i).name);
		ast_free(AST_VECTOR_GET(&out->add, i).value);
	}
	AST_VECTOR_FREE(&out->add);
	AST_VECTOR_CALLBACK_VOID(&out->remove, ast_free);
	AST_VECTOR_FREE(&out->remove);
	/* Taken in outgoing_headers_get(): the session may outlive a module unload otherwise */
	ast_module_unref(AST_MODULE_SELF);
}

/*! \brief Releases the outgoing headers when the session datastore goes */
static void outgoing_headers_datastore_destroy(void *data)
{
	ao2_cleanup(data);
}

/*! \brief Session datastore holding what to change on the BYE we send */
static const struct ast_datastore_info outgoing_headers_info = {
	.type = "pjsip_hangup_headers_outgoing",
	.destroy = outgoing_headers_datastore_destroy,
};

/*! \brief Arguments of a write, run on the session serializer */
struct hangup_header_write {
	struct ast_sip_session *session;
	const char *function;
	const char *action;
	const char *name;
	const char *value;
	int number;
};

/*!
 * \internal
 * \brief The outgoing headers of a session, created on demand.
 * \note Runs on the session serializer. Returns a reference.
 */
static struct outgoing_headers *outgoing_headers_get(struct ast_sip_session *session, int create)
{
	RAII_VAR(struct ast_datastore *, datastore,
		ast_sip_session_get_datastore(session, outgoing_headers_info.type), ao2_cleanup);
	struct outgoing_headers *out;

	if (datastore) {
		return ao2_bump(datastore->data);
	}
	if (!create) {
		return NULL;
	}

	out = ao2_alloc_options(sizeof(*out), outgoing_headers_destroy, AO2_ALLOC_OPT_LOCK_NOLOCK);
	if (!out) {
		return NULL;
	}
	ast_module_ref(AST_MODULE_SELF);
	if (AST_VECTOR_INIT(&out->add, 4) || AST_VECTOR_INIT(&out->remove, 1)) {
		ao2_ref(out, -1);
		return NULL;
	}
	datastore = ast_sip_session_alloc_datastore(&outgoing_headers_info, outgoing_headers_info.type);
	if (!datastore) {
		ao2_ref(out, -1);
		return NULL;
	}
	/* The datastore owns this reference */
	datastore->data = out;
	if (ast_sip_session_add_datastore(session, datastore)) {
		return NULL;
	}
	return ao2_bump(out);
}

/*!
 * \internal
 * \brief Does \a name stand for a header that must stay on a BYE?
 */
static int hangup_headers_is_protected(const char *name)
{
	int i;

	for (i = 0; i < ARRAY_LEN(protected_headers); i++) {
		if (hangup_headers_name_matches(protected_headers[i], name)) {
			return 1;
		}
	}
	return 0;
}

/*!
 * \internal
 * \brief Is \a name an RFC 3261 token (with \a prefix_ok, a token or one ending in '*')?
 */
static int hangup_headers_is_token(const char *name, int prefix_ok)
{
	size_t len = strlen(name);
	size_t i;

	if (prefix_ok && len > 1 && name[len - 1] == '*') {
		len--;
	}
	for (i = 0; i < len; i++) {
		if (!isalnum((unsigned char) name[i]) && !strchr("-.!%*_+`'~", name[i])) {
			return 0;
		}
	}
	return len > 0;
}

/*!
 * \internal
 * \brief Does the message already carry this header with this value (a BYE resent with
 * credentials goes through the supplements again)?
 */
static int hangup_headers_has(pjsip_tx_data *tdata, const char *name, const char *value)
{
	pj_str_t pj_name;
	pjsip_generic_string_hdr *hdr = NULL;

	pj_cstr(&pj_name, name);
	while ((hdr = pjsip_msg_find_hdr_by_name(tdata->msg, &pj_name, hdr ? hdr->next : NULL))) {
		if (!pj_strcmp2(&hdr->hvalue, value)) {
			return 1;
		}
	}
	return 0;
}

/*!
 * \internal
 * \brief Carry out add, update or remove on the session serializer.
 */
static int hangup_header_write_task(void *obj)
{
	struct hangup_header_write *args = obj;
	RAII_VAR(struct outgoing_headers *, out, outgoing_headers_get(args->session, 1), ao2_cleanup);
	struct outgoing_header header;
	int seen = 0;
	int i;

	if (!out) {
		ast_log(LOG_ERROR, "%s: unable to store headers for the BYE.\n", args->function);
		return -1;
	}

	if (!strcasecmp(args->action, "add")) {
		header.name = ast_strdup(hangup_headers_long_name(args->name));
		header.value = ast_strdup(args->value);
		if (!header.name || !header.value || AST_VECTOR_APPEND(&out->add, header)) {
			ast_free(header.name);
			ast_free(header.value);
			return -1;
		}
		return 0;
	}

	if (!strcasecmp(args->action, "update")) {
		for (i = 0; i < AST_VECTOR_SIZE(&out->add); i++) {
			struct outgoing_header *added = AST_VECTOR_GET_ADDR(&out->add, i);

			if (hangup_headers_name_matches(added->name, args->name) && ++seen == args->number) {
				char *value = ast_strdup(args->value);

				if (!value) {
					return -1;
				}
				ast_free(added->value);
				added->value = value;
				return 0;
			}
		}
		ast_log(LOG_ERROR, "%s: there is no header %s number %d to update; add it first.\n",
			args->function, args->name, args->number);
		return -1;
	}

	/* remove */
	for (i = 0; i < AST_VECTOR_SIZE(&out->add); ) {
		struct outgoing_header *added = AST_VECTOR_GET_ADDR(&out->add, i);

		if (hangup_headers_name_matches(added->name, args->name)) {
			ast_free(added->name);
			ast_free(added->value);
			AST_VECTOR_REMOVE_ORDERED(&out->add, i);
			continue;
		}
		i++;
	}
	header.name = ast_strdup(args->name);
	if (!header.name || AST_VECTOR_APPEND(&out->remove, header.name)) {
		ast_free(header.name);
		return -1;
	}
	return 0;
}

/*!
 * \internal
 * \brief Does \a value hold a control character (CR, LF, NUL's kin, DEL, TAB included)?
 */
static int hangup_headers_has_control(const char *value)
{
	for (; *value; value++) {
		if (iscntrl((unsigned char) *value)) {
			return 1;
		}
	}
	return 0;
}

/*!
 * \internal
 * \brief Write callback of PJSIP_HANGUP_HEADER(add|update|remove,...)
 */
static int func_hangup_header_write(struct ast_channel *chan, const char *function, char *data,
	const char *value)
{
	RAII_VAR(struct ast_sip_channel_pvt *, channel, NULL, ao2_cleanup);
	struct hangup_header_write write_args = { .function = function, .value = S_OR(value, "") };
	AST_DECLARE_APP_ARGS(args,
		AST_APP_ARG(action);
		AST_APP_ARG(name);
		AST_APP_ARG(number);
	);

	if (!chan) {
		ast_log(LOG_ERROR, "%s: this function requires a channel.\n", function);
		return -1;
	}
	AST_STANDARD_APP_ARGS(args, data);

	if (ast_strlen_zero(args.action) || (strcasecmp(args.action, "add")
		&& strcasecmp(args.action, "update") && strcasecmp(args.action, "remove"))) {
		ast_log(LOG_ERROR, "%s: unknown action '%s' when writing, must be 'add', 'update' or 'remove'.\n",
			function, S_OR(args.action, ""));
		return -1;
	}
	if (ast_strlen_zero(args.name)) {
		ast_log(LOG_ERROR, "%s: this function requires a header name.\n", function);
		return -1;
	}
	if (!hangup_headers_is_token(args.name, !strcasecmp(args.action, "remove"))) {
		ast_log(LOG_ERROR, "%s: '%s' is not a header name%s.\n", function, args.name,
			strcasecmp(args.action, "remove") ? "" : " (or a prefix ending in '*')");
		return -1;
	}
	if (hangup_headers_is_protected(args.name)) {
		ast_log(LOG_ERROR, "%s: header %s of a BYE cannot be changed.\n", function, args.name);
		return -1;
	}
	if (hangup_headers_has_control(S_OR(value, ""))) {
		ast_log(LOG_ERROR, "%s: the value of header %s holds a control character.\n", function, args.name);
		return -1;
	}
	write_args.number = hangup_headers_number(function, args.number);
	if (write_args.number < 0) {
		return -1;
	}

	ast_channel_lock(chan);
	if (!strcmp(ast_channel_tech(chan)->type, "PJSIP")) {
		channel = ao2_bump(ast_channel_tech_pvt(chan));
	}
	ast_channel_unlock(chan);
	if (!channel || !channel->session) {
		ast_log(LOG_ERROR, "%s: this function requires a PJSIP channel.\n", function);
		return -1;
	}

	write_args.session = channel->session;
	write_args.action = args.action;
	write_args.name = args.name;
	return ast_sip_push_task_wait_serializer(channel->session->serializer,
		hangup_header_write_task, &write_args);
}

/*!
 * \internal
 * \brief Session supplement callback on an outgoing BYE: remove, then add headers.
 */
static void hangup_headers_outgoing_request(struct ast_sip_session *session, pjsip_tx_data *tdata)
{
	RAII_VAR(struct outgoing_headers *, out, NULL, ao2_cleanup);
	pjsip_hdr *hdr;
	pjsip_hdr *next;
	int i;

	if (pjsip_method_cmp(&tdata->msg->line.req.method, &pjsip_bye_method)
		/*
		 * The headers to send are changed on the session's serializer only; a BYE sent
		 * elsewhere (e.g. resent with credentials) is a copy that already carries them.
		 */
		|| session->serializer != hangup_headers_serializer_current()) {
		return;
	}
	out = outgoing_headers_get(session, 0);
	if (!out) {
		return;
	}

	for (i = 0; i < AST_VECTOR_SIZE(&out->remove); i++) {
		const char *pattern = AST_VECTOR_GET(&out->remove, i);

		for (hdr = tdata->msg->hdr.next; hdr != &tdata->msg->hdr; hdr = next) {
			char name[hdr->name.slen + 1];

			next = hdr->next;
			ast_copy_pj_str(name, &hdr->name, sizeof(name));
			if (hangup_headers_name_matches(hangup_headers_long_name(name), pattern)
				&& !hangup_headers_is_protected(name)) {
				pj_list_erase(hdr);
			}
		}
	}

	for (i = 0; i < AST_VECTOR_SIZE(&out->add); i++) {
		const struct outgoing_header *header = AST_VECTOR_GET_ADDR(&out->add, i);

		if (!hangup_headers_has(tdata, header->name, header->value)) {
			ast_sip_add_header(tdata, header->name, header->value);
		}
	}
}

static struct ast_custom_function hangup_header_function = {
	.name = "PJSIP_HANGUP_HEADER",
	.read2 = func_hangup_header_read,
	.write = func_hangup_header_write,
};

static struct ast_custom_function hangup_headers_function = {
	.name = "PJSIP_HANGUP_HEADERS",
	.read2 = func_hangup_headers_read,
};

/*!
 * \brief Runs after the other supplements (res_pjsip_rfc3326 adds Reason) so that
 * remove also sees what they put on the BYE.
 */
static struct ast_sip_session_supplement hangup_headers_supplement = {
	.method = "BYE",
	.priority = AST_SIP_SUPPLEMENT_PRIORITY_LAST,
	.incoming_request = hangup_headers_incoming_request,
	.outgoing_request = hangup_headers_outgoing_request,
};

static int unload_module(void)
{
	ast_sip_session_unregister_supplement(&hangup_headers_supplement);
	ast_custom_function_unregister(&hangup_headers_function);
	ast_custom_function_unregister(&hangup_header_function);
	return 0;
}

static int load_module(void)
{
	/* Upstream PR #1409 registers these names in res_pjsip_header_funcs */
	if (ast_custom_function_find(hangup_header_function.name)
		|| ast_custom_function_find(hangup_headers_function.name)) {
		ast_log(LOG_ERROR, "%s and %s are provided by another module already (res_pjsip_header_funcs?): "
			"not loading res_pjsip_hangup_headers.\n", hangup_header_function.name,
			hangup_headers_function.name);
		return AST_MODULE_LOAD_DECLINE;
	}
	if (ast_custom_function_register(&hangup_header_function)
		|| ast_custom_function_register(&hangup_headers_function)) {
		unload_module();
		return AST_MODULE_LOAD_DECLINE;
	}
	ast_sip_session_register_supplement(&hangup_headers_supplement);
	return AST_MODULE_LOAD_SUCCESS;
}

AST_MODULE_INFO(ASTERISK_GPL_KEY, AST_MODFLAG_LOAD_ORDER, "PJSIP headers of received and sent BYE",
	.support_level = AST_MODULE_SUPPORT_EXTENDED,
	.load = load_module,
	.unload = unload_module,
	.load_pri = AST_MODPRI_APP_DEPEND,
	.requires = "res_pjsip,res_pjsip_session",
);
