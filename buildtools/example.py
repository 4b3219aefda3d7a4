"""The configuration `buildtools run` starts Asterisk with: README's examples on loopback.

`@SIP_PORT@` is the port Asterisk's SIP transport binds; `@PEER_PORT@` a port where the
example's carrier and PBX would listen (nothing does, until you start something there: e.g.
`sipp -sn uas -p <port>`). Endpoints name their transport, so their RTP binds 127.0.0.1.
"""

from __future__ import annotations

PJSIP_CONF = """\
[transport-udp]
type = transport
protocol = udp
bind = 127.0.0.1:@SIP_PORT@

[endpoint-common](!)
type = endpoint
transport = transport-udp
disallow = all
allow = ulaw,alaw
direct_media = no

; README section 4: a trunk behind Kamailio; which OPTIONS replies mean "reachable".
; `pjsip show contacts` shows each contact's last reply, `pjsip show qualify aor carrier` the codes.
[carrier]
type = aor
qualify_frequency = 15
qualify_timeout = 3.0
qualify_reachable_codes = 2xx,405,501     ; 405/501: live peers that do not implement OPTIONS
contact = sip:carrier@127.0.0.1:@PEER_PORT@

[carrier](endpoint-common)
context = from-carrier
aors = carrier

; README section 3: two carriers for the LCR failover on a 503.
[carrier-a]
type = aor
contact = sip:carrier-a@127.0.0.1:@PEER_PORT@
[carrier-a](endpoint-common)
context = from-carrier
aors = carrier-a

[carrier-b]
type = aor
contact = sip:carrier-b@127.0.0.1:@PEER_PORT@
[carrier-b](endpoint-common)
context = from-carrier
aors = carrier-b

; README section 1: the PBX behind us, whose BYEs we read and write.
[pbx]
type = aor
contact = sip:pbx@127.0.0.1:@PEER_PORT@
[pbx](endpoint-common)
context = from-pbx
aors = pbx

; A phone or SIPp on this machine: From user "phone" (e.g. `sipp -sn uac -s 100 -au phone ...`).
[phone](endpoint-common)
context = from-phone
"""

EXTENSIONS_CONF = """\
[general]
static = yes

; README section 1: the caller reads the callee's BYE after Dial (g); the callee's hangup
; handler copies X-Billing-Id of the caller's BYE onto the BYE sent to the callee.
[from-carrier]
exten => _X.,1,Set(__CALLER=${CHANNEL})
 same => n,Dial(PJSIP/${EXTEN}@pbx,,gb(predial^s^1))
 same => n,Verbose(1,Callee hung up: ${PJSIP_HANGUP_HEADER(read,X-Release-Cause,,${DIALEDPEERNAME})})

[predial]
exten => s,1,Set(CHANNEL(hangup_handler_push)=pass,s,1)
 same => n,Return()

[pass]
exten => s,1,Set(PJSIP_HANGUP_HEADER(add,X-Billing-Id)=${PJSIP_HANGUP_HEADER(read,X-Billing-Id,,${CALLER})})
 same => n,Return()

; README section 3: LCR failover on a 503 that says the route is closed or to retry later.
[lcr]
exten => _X.,1,Dial(PJSIP/${EXTEN}@carrier-a,30)
 same => n,Set(leg=${HANGUPCAUSE_KEYS()})
 same => n,GotoIf($["${PJSIP_RESPONSE_HEADER(read,X-Reason,,${leg})}" = "route-closed"]?next)
 same => n,GotoIf($["${PJSIP_RESPONSE_HEADER(read,Retry-After,,${leg})}" != ""]?next)
 same => n,Hangup()
 same => n(next),HangupCauseClear()
 same => n,Dial(PJSIP/${EXTEN}@carrier-b,30)

; README section 2: what the Reason header said, per leg.
[from-phone]
exten => _X.,1,Gosub(lcr,${EXTEN},1)
exten => h,1,Set(leg=${HANGUPCAUSE_KEYS()})
 same => n,Verbose(1,${HANGUPCAUSE(${leg},tech)} / Q.850 ${HANGUPCAUSE(${leg},reason,Q.850)})

[from-pbx]
exten => _X.,1,Dial(PJSIP/${EXTEN}@carrier)
"""

CONFIGS = {"pjsip.conf": PJSIP_CONF, "extensions.conf": EXTENSIONS_CONF}
