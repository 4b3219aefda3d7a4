#!/usr/bin/env python3
"""Per-call cost of our features, measured on a real Asterisk: prints figures, asserts nothing.

For each case it starts a sandboxed Asterisk from the built prefix, places N SIPp calls that end
with a BYE carrying 12 extra headers (or, for the failure case, Dials a SIPp UAS that answers 503
with 6 headers), and prints Asterisk's CPU time per call (utime+stime from /proc) and its
resident memory after the calls. Compare "module not loaded" with "loaded, not used" (the
dialplan never reads the headers) and "loaded and read".

    python benchmarks/per_call_cost.py [--calls 300] [--prefix DIR]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from integration import scenarios

from buildtools.sandbox import AsteriskSandbox, Sipp, make_root, remove_root

PJSIP = """[transport-udp]
type = transport
protocol = udp
bind = 127.0.0.1:@SIP_PORT@
[sipp]
type = endpoint
context = bench
disallow = all
allow = ulaw
direct_media = no
[sipp]
type = identify
endpoint = sipp
match = 127.0.0.1
"""

DIALPLAN = """[bench]
exten => plain,1,Answer()
 same => n,Echo()
exten => read,1,Answer()
 same => n,Set(CHANNEL(hangup_handler_push)=read,s,1)
 same => n,Echo()
exten => fail,1,Answer()
 same => n,Dial(${PJSIP_HEADER(read,X-Target)},5)
 same => n,Set(x=${PJSIP_RESPONSE_HEADER(read,X-Reason,,${HANGUPCAUSE_KEYS()})})
 same => n,Hangup()
[read]
exten => s,1,Set(x=${PJSIP_HANGUP_HEADER(read,X-Bench-1)}${PJSIP_HANGUP_HEADERS(X-)})
 same => n,Return()
"""

BYE_HEADERS = [f"X-Bench-{i}: value number {i} of the benchmark, long enough to matter" for i in range(12)]
FAIL_HEADERS = ["Retry-After: 60", "X-Reason: route-closed", "X-Billing-Id: 1", "X-Billing-Id: 2",
                "Warning: 399 proxy \"busy\"", "X-Long: " + "x" * 300]


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def run_case(prefix: Path, name: str, modules: list[str], service: str, calls: int, work: Path) -> None:
    root = make_root("bench-")
    ast = AsteriskSandbox(prefix=prefix, root=root, modules=modules,
                          configs={"pjsip.conf": PJSIP, "extensions.conf": DIALPLAN})
    ast.start()
    try:
        pid = ast.proc.pid
        cpu0, t0 = cpu_seconds(pid), time.monotonic()
        if service == "fail":
            uas_xml = scenarios.render(scenarios.UAS_FAIL, work / "uas.xml", FAIL_HEADERS, code=503,
                                       phrase="Service Unavailable", pause=0)
            uas = Sipp(uas_xml, 0, work, calls=calls, timeout=600)
            target = f"PJSIP/sipp/sip:uas@127.0.0.1:{uas.port}"
            uac_xml = scenarios.render(scenarios.UAC_WAIT, work / "uac.xml")
            uac = Sipp(uac_xml, ast.sip_port, work, service="fail", calls=calls, timeout=600,
                       variables={"target": target}, extra=["-r", "20", "-l", "20"])
            results = [uac.wait(), uas.wait()]
        else:
            uac_xml = scenarios.render(scenarios.UAC_BYE, work / "uac.xml", BYE_HEADERS, pause=50)
            uac = Sipp(uac_xml, ast.sip_port, work, service=service, calls=calls, timeout=600,
                       variables={"target": "none"}, extra=["-r", "20", "-l", "20"])
            results = [uac.wait()]
        elapsed = time.monotonic() - t0
        cpu = cpu_seconds(pid) - cpu0
        ok = all(r.ok for r in results)
        print(f"{name:<44} {calls:>5} calls {'ok' if ok else 'FAILED':<6} "
              f"cpu/call {cpu / calls * 1e6:8.0f} us   wall {elapsed:6.1f} s   rss {rss_kib(pid) / 1024:7.1f} MiB")
    finally:
        ast.stop()
        remove_root(root)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=300)
    parser.add_argument("--prefix", type=Path, default=None)
    args = parser.parse_args()
    if args.prefix is None:
        from buildtools.build import ensure_built
        args.prefix = ensure_built()
    with tempfile.TemporaryDirectory(prefix="bench-sipp-") as tmp:
        work = Path(tmp)
        run_case(args.prefix, "BYE with 12 X- headers, module not loaded", [], "plain", args.calls, work)
        run_case(args.prefix, "BYE with 12 X- headers, loaded, not read",
                 ["res_pjsip_hangup_headers.so"], "plain", args.calls, work)
        run_case(args.prefix, "BYE with 12 X- headers, loaded and read",
                 ["res_pjsip_hangup_headers.so"], "read", args.calls, work)
        run_case(args.prefix, "503 with 6 headers, read by the caller", [], "fail", args.calls, work)
    return 0


if __name__ == "__main__":
    sys.exit(main())
