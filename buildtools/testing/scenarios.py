"""SIPp scenarios written by the tests, for header sets that vary from case to case.

SIPp takes a message verbatim from its scenario file (no keyword can hold a line break), so
a test that sends its own header lines renders a scenario from one of these templates with
those lines in place of ``{headers}``.
"""

from __future__ import annotations

from pathlib import Path

_SDP = """      v=0
      o=user1 53655765 2353687637 IN IP[local_ip_type] [local_ip]
      s=-
      c=IN IP[media_ip_type] [media_ip]
      t=0 0
      m=audio [media_port] RTP/AVP 0
      a=rtpmap:0 PCMU/8000"""

_INVITE = """  <send retrans="500">
    <![CDATA[
      INVITE sip:[service]@[remote_ip]:[remote_port] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=z9hG4bK-[pid]-[call_number]-invite
      From: sipp <sip:sipp@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]
      To: <sip:[service]@[remote_ip]:[remote_port]>
      Call-ID: [call_id]
      CSeq: 1 INVITE
      Contact: <sip:sipp@[local_ip]:[local_port]>
      Max-Forwards: 70
      X-Target: [target]
      Content-Type: application/sdp
      Content-Length: [len]

""" + _SDP + """
    ]]>
  </send>
  <recv response="100" optional="true"/>
"""

_ACK = """  <send>
    <![CDATA[
      ACK [next_url] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      From: sipp <sip:sipp@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]
      [last_To:]
      Call-ID: [call_id]
      CSeq: 1 ACK
      Contact: <sip:sipp@[local_ip]:[local_port]>
      Max-Forwards: 70
      Content-Length: 0

    ]]>
  </send>
"""

_OK_TO_REQUEST = """  <send>
    <![CDATA[
      SIP/2.0 200 OK
      [last_Via:]
      [last_From:]
      [last_To:]
      [last_Call-ID:]
      [last_CSeq:]
      Content-Length: 0

    ]]>
  </send>
"""

#: The end of a scenario that hangs up: the BYE's last lines, its {headers}, and the 200 to it.
_BYE_TAIL = """      Max-Forwards: 70
{headers}
      Content-Length: 0

    ]]>
  </send>
  <recv response="200" crlf="true"/>
</scenario>
"""

UAC_BYE = """<?xml version="1.0" encoding="ISO-8859-1" ?>
<scenario name="uac_bye">
""" + _INVITE + """  <recv response="180" optional="true"/>
  <recv response="200" rtd="true" rrs="true"/>
""" + _ACK + """  <pause milliseconds="{pause}"/>
  <send retrans="500">
    <![CDATA[
      BYE [next_url] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      From: sipp <sip:sipp@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]
      [last_To:]
      Call-ID: [call_id]
      CSeq: 2 BYE
      Contact: <sip:sipp@[local_ip]:[local_port]>
""" + _BYE_TAIL

UAC_CANCEL = """<?xml version="1.0" encoding="ISO-8859-1" ?>
<scenario name="uac_cancel">
""" + _INVITE + """  <recv response="180"/>
  <pause milliseconds="{pause}"/>
  <send retrans="500">
    <![CDATA[
      CANCEL sip:[service]@[remote_ip]:[remote_port] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=z9hG4bK-[pid]-[call_number]-invite
      From: sipp <sip:sipp@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]
      To: <sip:[service]@[remote_ip]:[remote_port]>
      Call-ID: [call_id]
      CSeq: 1 CANCEL
      Max-Forwards: 70
{headers}
      Content-Length: 0

    ]]>
  </send>
  <recv response="200"/>
  <recv response="487"/>
  <send>
    <![CDATA[
      ACK sip:[service]@[remote_ip]:[remote_port] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=z9hG4bK-[pid]-[call_number]-invite
      From: sipp <sip:sipp@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]
      [last_To:]
      Call-ID: [call_id]
      CSeq: 1 ACK
      Max-Forwards: 70
      Content-Length: 0

    ]]>
  </send>
</scenario>
"""

#: A UAC that places a call (X-Target: key target) and answers Asterisk's BYE.
UAC_WAIT = """<?xml version="1.0" encoding="ISO-8859-1" ?>
<scenario name="uac_wait">
""" + _INVITE + """  <recv response="180" optional="true"/>
  <recv response="183" optional="true"/>
  <recv response="200" rtd="true" rrs="true"/>
""" + _ACK + """  <recv request="BYE" timeout="30000"/>
""" + _OK_TO_REQUEST + """</scenario>
"""

_UAS_INVITE = """  <recv request="INVITE" rrs="true">
    <action>
      <ereg regexp=".*" search_in="hdr" header="From:" assign_to="remote_from"/>
      <ereg regexp=".*" search_in="hdr" header="To:" assign_to="local_to"/>
    </action>
  </recv>
  <send>
    <![CDATA[
      SIP/2.0 180 Ringing
      [last_Via:]
      [last_From:]
      [last_To:];tag=[pid]SIPpTag01[call_number]
      [last_Call-ID:]
      [last_CSeq:]
      Contact: <sip:uas@[local_ip]:[local_port]>
      Content-Length: 0

    ]]>
  </send>
"""

UAS_FAIL = """<?xml version="1.0" encoding="ISO-8859-1" ?>
<scenario name="uas_fail">
""" + _UAS_INVITE + """  <pause milliseconds="{pause}"/>
  <send retrans="500">
    <![CDATA[
      SIP/2.0 {code} {phrase}
      [last_Via:]
      [last_From:]
      [last_To:];tag=[pid]SIPpTag01[call_number]
      [last_Call-ID:]
      [last_CSeq:]
{headers}
      Content-Length: 0

    ]]>
  </send>
  <recv request="ACK"/>
  <Reference variables="remote_from,local_to"/>
</scenario>
"""

UAS_BYE = """<?xml version="1.0" encoding="ISO-8859-1" ?>
<scenario name="uas_bye">
""" + _UAS_INVITE + """  <send retrans="500">
    <![CDATA[
      SIP/2.0 200 OK
      [last_Via:]
      [last_From:]
      [last_To:];tag=[pid]SIPpTag01[call_number]
      [last_Call-ID:]
      [last_CSeq:]
      Contact: <sip:uas@[local_ip]:[local_port]>
      Content-Type: application/sdp
      Content-Length: [len]

""" + _SDP + """
    ]]>
  </send>
  <recv request="ACK"/>
  <pause milliseconds="{pause}"/>
  <send retrans="500">
    <![CDATA[
      BYE [next_url] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      From:[$local_to];tag=[pid]SIPpTag01[call_number]
      To:[$remote_from]
      Call-ID: [call_id]
      CSeq: 1 BYE
      Contact: <sip:uas@[local_ip]:[local_port]>
""" + _BYE_TAIL


#: A UAS that answers with {headers} in its 200 OK and waits for Asterisk's BYE.
UAS_OK = """<?xml version="1.0" encoding="ISO-8859-1" ?>
<scenario name="uas_ok">
  <recv request="INVITE" rrs="true"/>
  <send retrans="500">
    <![CDATA[
      SIP/2.0 200 OK
      [last_Via:]
      [last_From:]
      [last_To:];tag=[pid]SIPpTag01[call_number]
      [last_Call-ID:]
      [last_CSeq:]
      Contact: <sip:uas@[local_ip]:[local_port]>
{headers}
      Content-Type: application/sdp
      Content-Length: [len]

""" + _SDP + """
    ]]>
  </send>
  <recv request="ACK"/>
  <recv request="BYE" timeout="30000"/>
""" + _OK_TO_REQUEST + """</scenario>
"""


#: A UAS that answers with {headers} in its 200 OK, then hangs up with a plain BYE.
UAS_OK_BYE = UAS_BYE.replace('<scenario name="uas_bye">', '<scenario name="uas_ok_bye">').replace(
    """      Contact: <sip:uas@[local_ip]:[local_port]>
      Content-Type: application/sdp""", """      Contact: <sip:uas@[local_ip]:[local_port]>
{headers}
      Content-Type: application/sdp""").replace("""      Max-Forwards: 70
{headers}
      Content-Length: 0""", """      Max-Forwards: 70
      Content-Length: 0""")


def render(template: str, path: Path, headers: list[str] | tuple[str, ...] = (), **fields: object) -> Path:
    """Write ``template`` to ``path`` with ``headers`` (one line each) and ``fields`` filled in."""
    text = template.replace("{headers}\n", "".join(f"      {line}\n" for line in headers))
    for key, value in {"pause": 500, **fields}.items():
        text = text.replace("{" + key + "}", str(value))
    path.write_text(text)
    return path
