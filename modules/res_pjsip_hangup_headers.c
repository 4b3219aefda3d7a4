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

/*** DOCUMENTATION
	<function name="PJSIP_HANGUP_HEADER" language="en_US">
		<since>
			<version>20.21.0</version>
			<version>22.12.0</version>
			<version>23.5.0</version>
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
			single space.</para>
			<para><literal>add</literal>, <literal>update</literal> and <literal>remove</literal>
			need a PJSIP channel and take effect on the next BYE that Asterisk sends on it; set them
			in the dialplan before the hangup or in a hangup handler of that channel (which runs
			before the BYE is sent). They have no effect when the call ends otherwise.</para>
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
			<version>20.21.0</version>
			<version>22.12.0</version>
			<version>23.5.0</version>
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

/*! \brief One header of a received BYE, as parsed when the dialplan reads it */
struct hangup_header {
	/*! Header name (long form) */
	char *name;
	/*! Header value, folding replaced by a space */
	char *value;
};

/*! \brief Headers in message order */
AST_VECTOR(hangup_header_vector, struct hangup_header);

/*!
 * \brief One received BYE (ao2 object, immutable): its header section as received.
 *
 * Receiving a BYE costs one allocation and a copy; the headers are parsed only when
 * the dialplan reads them.
 */
struct hangup_headers {
	/*! The header lines of the BYE (without request line and body), NUL-terminated */
	char *raw;
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
 * \brief Long form of a header name given in compact form, else the name itself.
 */
static const char *hangup_headers_long_name(const char *name)
{
	int i;

	if (!name[0] || name[1]) {
		return name;
	}
	for (i = 0; i < ARRAY_LEN(compact_forms); i++) {
		if (tolower(name[0]) == compact_forms[i].compact) {
			return compact_forms[i].name;
		}
	}
	return name;
}

/*!
 * \internal
 * \brief Does header \a name match \a pattern (long forms compared, trailing '*' = prefix)?
 */
static int hangup_headers_name_matches(const char *name, const char *pattern)
{
	size_t len = strlen(pattern);

	if (len && pattern[len - 1] == '*') {
		return !strncasecmp(name, pattern, len - 1);
	}
	return !strcasecmp(name, hangup_headers_long_name(pattern));
}

/*!
 * \internal
 * \brief A copy of [start, end) without leading and trailing white space.
 */
static char *hangup_headers_strip_dup(const char *start, const char *end)
{
	while (start < end && (*start == ' ' || *start == '\t')) {
		start++;
	}
	while (end > start && (end[-1] == ' ' || end[-1] == '\t')) {
		end--;
	}
	return ast_strndup(start, end - start);
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

/*! \internal \brief Free what hangup_headers_parse() made */
static void hangup_header_vector_free(struct hangup_header_vector *headers)
{
	int i;

	for (i = 0; i < AST_VECTOR_SIZE(headers); i++) {
		ast_free(AST_VECTOR_GET(headers, i).name);
		ast_free(AST_VECTOR_GET(headers, i).value);
	}
	AST_VECTOR_FREE(headers);
}

/*!
 * \internal
 * \brief Parse the header lines of a received BYE.
 *
 * The raw header section is read rather than pjproject's parsed headers so that values
 * come back exactly as sent (pjproject rewrites typed headers and loses folded lines).
 * A line starting with white space continues the previous header (RFC 3261 7.3.1): it is
 * joined with one space. Compact names are given their long form.
 *
 * \retval 0 success (\a out to be freed with hangup_header_vector_free())
 * \retval -1 allocation failure
 */
static int hangup_headers_parse(const struct hangup_headers *bye, struct hangup_header_vector *out)
{
	const char *pos = bye->raw;
	const char *end = pos + strlen(pos);
	const char *next;

	if (AST_VECTOR_INIT(out, 16)) {
		return -1;
	}

	for (; pos < end; pos = next) {
		const char *stop;
		const char *colon;
		struct hangup_header header;

		next = hangup_headers_line(pos, end, &stop);
		if (stop == pos) {
			continue;
		}

		if (*pos == ' ' || *pos == '\t') {
			struct hangup_header *last;
			char *more = hangup_headers_strip_dup(pos, stop);
			char *joined = NULL;

			if (!more || !AST_VECTOR_SIZE(out)) {
				ast_free(more);
				continue;
			}
			last = AST_VECTOR_GET_ADDR(out, AST_VECTOR_SIZE(out) - 1);
			if (ast_asprintf(&joined, "%s%s%s", last->value, *last->value && *more ? " " : "", more) < 0) {
				ast_free(more);
				hangup_header_vector_free(out);
				return -1;
			}
			ast_free(more);
			ast_free(last->value);
			last->value = joined;
			continue;
		}

		colon = memchr(pos, ':', stop - pos);
		if (!colon) {
			ast_debug(1, "Ignoring a BYE header line without a colon on %s.\n", bye->chan_name);
			continue;
		}
		header.name = hangup_headers_strip_dup(pos, colon);
		if (header.name && strlen(header.name) == 1) {
			char *long_name = ast_strdup(hangup_headers_long_name(header.name));

			ast_free(header.name);
			header.name = long_name;
		}
		header.value = hangup_headers_strip_dup(colon + 1, stop);
		if (!header.name || !header.value || AST_VECTOR_APPEND(out, header)) {
			ast_free(header.name);
			ast_free(header.value);
			hangup_header_vector_free(out);
			return -1;
		}
	}

	return 0;
}

/*!
 * \internal
 * \brief Keep the header section of a received message: one allocation, no parsing.
 * \retval NULL on allocation failure
 */
static struct hangup_headers *hangup_headers_copy(const pjsip_rx_data *rdata, const char *chan_name)
{
	const char *start = rdata->msg_info.msg_buf;
	const char *end = start ? start + rdata->msg_info.len : NULL;
	const char *pos;
	const char *stop;
	struct hangup_headers *bye;
	size_t name_len = strlen(chan_name);

	/* From after the request line to the empty line before the body */
	start = start ? hangup_headers_line(start, end, &stop) : NULL;
	for (pos = start; pos < end; ) {
		const char *line = pos;

		pos = hangup_headers_line(pos, end, &stop);
		if (stop == line) {
			pos = line;
			break;
		}
	}
	stop = pos;

	bye = ao2_alloc_options(sizeof(*bye) + name_len + 1 + (stop > start ? stop - start : 0) + 1, NULL,
		AO2_ALLOC_OPT_LOCK_NOLOCK);
	if (!bye) {
		return NULL;
	}
	memcpy(bye->chan_name, chan_name, name_len + 1);
	bye->raw = bye->chan_name + name_len + 1;
	if (stop > start) {
		memcpy(bye->raw, start, stop - start);
	}
	bye->raw[stop > start ? stop - start : 0] = '\0';
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
	struct hangup_header_vector headers;
	int number;
	int seen = 0;
	int i;
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
	if (hangup_headers_parse(bye, &headers)) {
		return -1;
	}

	for (i = 0; i < AST_VECTOR_SIZE(&headers); i++) {
		const struct hangup_header *header = AST_VECTOR_GET_ADDR(&headers, i);

		if (hangup_headers_name_matches(header->name, args.name) && ++seen == number) {
			ast_str_set(buf, maxlen, "%s", header->value);
			break;
		}
	}
	if (i == AST_VECTOR_SIZE(&headers)) {
		ast_debug(1, "%s: the BYE of %s has no header %s number %d.\n", function,
			bye->chan_name, args.name, number);
	}
	hangup_header_vector_free(&headers);
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
	struct hangup_header_vector headers;
	size_t prefix_len;
	int i;
	int j;
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
	if (hangup_headers_parse(bye, &headers)) {
		return -1;
	}

	for (i = 0; i < AST_VECTOR_SIZE(&headers); i++) {
		const char *name = AST_VECTOR_GET(&headers, i).name;

		if (prefix_len && strncasecmp(name, args.prefix, prefix_len)) {
			continue;
		}
		for (j = 0; j < i; j++) {
			if (!strcasecmp(AST_VECTOR_GET(&headers, j).name, name)) {
				break;
			}
		}
		if (j < i) {
			/* Listed already */
			continue;
		}
		ast_str_append(buf, maxlen, "%s%s", ast_str_strlen(*buf) ? "," : "", name);
	}
	hangup_header_vector_free(&headers);
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
	if (strpbrk(S_OR(value, ""), "\r\n")) {
		ast_log(LOG_ERROR, "%s: the value of header %s holds a line break.\n", function, args.name);
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

	if (pjsip_method_cmp(&tdata->msg->line.req.method, &pjsip_bye_method)) {
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
