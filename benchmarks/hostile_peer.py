#!/usr/bin/env python3
"""Hostile peers and ordinary calls, patched and stock Asterisk side by side: prints one table.

Cases (each run on the patched prefix and on a stock prefix of the same version):

  bye-6000     a caller hangs up with a BYE carrying 6,000 headers (X0: v ... X5999: v, ~55 KB);
               its hangup handler reads PJSIP_HANGUP_HEADERS(X) and PJSIP_HANGUP_HEADER(read,X3)
               (stock has neither function: its handler does the same Set() with nothing to read)
  486-6000     Asterisk dials a callee that answers 486 with 6,000 headers; the caller reads
               PJSIP_RESPONSE_HEADERS(X,<leg>) (stock: the same call reads its own, absent, 200)
  plain        ordinary calls (a BYE with 12 X- headers), nothing read; patched: module loaded
  plain-read   the same, the hangup handler reading two BYE headers (patched only)
  503          ordinary failed calls: a SIPp callee answers 503 with 6 headers, the caller reads
               PJSIP_RESPONSE_HEADER(read,X-Reason,,<leg>) (stock: reads its own, absent, 200)

For each: Asterisk's CPU time per call (utime+stime of the process, /proc), calls per second over
the run, and its resident memory before and after the calls, then the patched/stock ratios.
The 6,000-header messages come from the raw user agents of tests/integration (SIPp cannot load
them); ordinary calls from SIPp. Figures vary from run to run by about 10%: run it twice.

    python benchmarks/hostile_peer.py [--calls 1000] [--plain-calls 1000] [--prefix DIR]
                                      [--stock-prefix DIR]

Without --stock-prefix it builds stock Asterisk from the tree the patched prefix was built from,
copied and reversed with `buildtools apply --reverse`, into <workdir>/stock-prefix (once).
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from buildtools.testing import scenarios
from buildtools.testing.asterisk import AsteriskSandbox, make_root, remove_root
from buildtools.testing.peers import UdpResponder, cpu_seconds, reply_to, rss_kib
from buildtools.testing.process import wait_until
from buildtools.testing.rawsip import RawUac
from buildtools.testing.sipp import Sipp

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
exten => bye,1,Set(CHANNEL(hangup_handler_push)=read-bye,s,1)
 same => n,Answer()
 same => n,Echo()
exten => plain,1,Answer()
 same => n,Echo()
exten => plain-read,1,Set(CHANNEL(hangup_handler_push)=read-plain,s,1)
 same => n,Answer()
 same => n,Echo()
exten => dial,1,Answer()
 same => n,Dial(${PJSIP_HEADER(read,X-Target)},5)
 same => n,Set(x=${PJSIP_RESPONSE_HEADERS(X,${HANGUPCAUSE_KEYS()})})
 same => n,Hangup()
exten => 503,1,Answer()
 same => n,Dial(${PJSIP_HEADER(read,X-Target)},5)
 same => n,Set(x=${PJSIP_RESPONSE_HEADER(read,X-Reason,,${HANGUPCAUSE_KEYS()})})
 same => n,Hangup()
[read-plain]
exten => s,1,Set(x=${PJSIP_HANGUP_HEADER(read,X-Bench-1)}${PJSIP_HANGUP_HEADERS(X-)})
 same => n,Return()
"""
READ_BYE = {
    "patched": "[read-bye]\nexten => s,1,Set(x=${PJSIP_HANGUP_HEADERS(X)}${PJSIP_HANGUP_HEADER(read,X3)})\n"
               " same => n,Return()\n",
    "stock": "[read-bye]\nexten => s,1,Set(x=)\n same => n,Return()\n",
}

MANY = [f"X{i}: v" for i in range(6000)]
PLAIN_BYE = [f"X-Bench-{i}: value number {i} of the benchmark, long enough to matter" for i in range(12)]
FAIL_HEADERS = ["Retry-After: 60", "X-Reason: route-closed", "X-Billing-Id: 1", "X-Billing-Id: 2",
                "Warning: 399 proxy \"busy\"", "X-Long: " + "x" * 300]


def rss_mib(pid: int) -> float:
    return rss_kib(pid) / 1024


def busy_uas(headers: list[str]) -> UdpResponder:
    """Answers every INVITE with a 486 carrying ``headers`` (stateless; ACKs are ignored)."""
    return UdpResponder("INVITE", lambda request: reply_to(request, "486 Busy Here", headers, "busy"))


@dataclass
class Result:
    calls: int
    ok: bool
    cpu_us: float
    rate: float
    rss_before: float
    rss_after: float


def run(prefix: Path, build: str, case: str, calls: int, work: Path) -> Result:
    modules = ["res_pjsip_hangup_headers.so"] if build == "patched" else []
    root = make_root("bench-")
    ast = AsteriskSandbox(prefix=prefix, root=root, modules=modules,
                          configs={"pjsip.conf": PJSIP, "extensions.conf": DIALPLAN + READ_BYE[build]})
    ast.start()
    try:
        pid = ast.proc.pid
        time.sleep(1)  # let the boot's lazy work finish before the baseline
        rss0, cpu0, t0 = rss_mib(pid), cpu_seconds(pid), time.monotonic()
        ok = True
        if case == "bye-6000":
            for _ in range(calls):
                uac = RawUac(ast.sip_port, "bye")
                try:
                    uac.call()
                    ok &= uac.bye("\n".join(MANY)).startswith("SIP/2.0 200")
                finally:
                    uac.close()
        elif case == "486-6000":
            uas = busy_uas(MANY)
            try:
                uac_xml = scenarios.render(scenarios.UAC_WAIT, work / "uac.xml")
                uac = Sipp(uac_xml, ast.sip_port, work, service="dial", calls=calls, timeout=900,
                           variables={"target": f"PJSIP/sipp/sip:uas@127.0.0.1:{uas.port}"},
                           extra=["-r", "50", "-l", "20"])
                ok = uac.wait().ok
            finally:
                uas.close()
        elif case == "503":
            uas_xml = scenarios.render(scenarios.UAS_FAIL, work / "uas.xml", FAIL_HEADERS, code=503,
                                       phrase="Service Unavailable", pause=0)
            uas = Sipp(uas_xml, 0, work, calls=calls, timeout=900)
            uac_xml = scenarios.render(scenarios.UAC_WAIT, work / "uac.xml")
            uac = Sipp(uac_xml, ast.sip_port, work, service="503", calls=calls, timeout=900,
                       variables={"target": f"PJSIP/sipp/sip:uas@127.0.0.1:{uas.port}"},
                       extra=["-r", "50", "-l", "20"])
            ok = uac.wait().ok and uas.wait().ok
        else:
            uac_xml = scenarios.render(scenarios.UAC_BYE, work / "uac.xml", PLAIN_BYE, pause=0)
            uac = Sipp(uac_xml, ast.sip_port, work, service=case, calls=calls, timeout=900,
                       variables={"target": "none"}, extra=["-r", "400", "-l", "100"])
            ok = uac.wait().ok
        elapsed = time.monotonic() - t0
        cpu = cpu_seconds(pid) - cpu0
        wait_until(lambda: ast.cli("core show channels count").stdout.startswith("0 active channels"),
                   30, "channels gone")
        return Result(calls, ok, cpu / calls * 1e6, calls / elapsed, rss0, rss_mib(pid))
    finally:
        ast.stop()
        remove_root(root)


def stock_prefix(patched: Path) -> Path:
    """Build stock Asterisk from the patched prefix's tree (copied, patches reversed), once."""
    from buildtools.build import read_build_stamp

    tree = Path((read_build_stamp(patched) or {}).get("tree", ""))
    if not (tree / "main").is_dir():
        sys.exit(f"hostile_peer: {patched} names no source tree; pass --stock-prefix")
    dest = patched.parent / "stock-prefix"
    if (dest / "sbin" / "asterisk").exists():
        return dest
    copy = patched.parent / "stock-src" / tree.name
    if not copy.exists():
        shutil.copytree(tree, copy, symlinks=True)
        subprocess.run(["buildtools", "apply", "--reverse", "--tree", str(copy)], check=True)
    subprocess.run(["buildtools", "build", "--tree", str(copy), "--prefix", str(dest)], check=True)
    return dest


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=1000, help="calls of each hostile case")
    parser.add_argument("--plain-calls", type=int, default=1000, help="calls of each ordinary case")
    parser.add_argument("--prefix", type=Path, default=None, help="patched prefix (default: build it)")
    parser.add_argument("--stock-prefix", type=Path, default=None, help="stock prefix of the same version")
    parser.add_argument("--cases", default="bye-6000,486-6000,plain,plain-read,503")
    args = parser.parse_args()
    if args.prefix is None:
        from buildtools.build import ensure_built
        args.prefix = ensure_built()
    stock = args.stock_prefix or stock_prefix(args.prefix)

    print(f"patched: {args.prefix}\nstock:   {stock}\n")
    head = f"{'case':<11} {'build':<8} {'calls':>5} {'ok':<3} {'cpu/call':>10} {'calls/s':>8} {'rss before':>11} {'rss after':>10}"
    print(head)
    print("-" * len(head))
    table: dict[tuple[str, str], Result] = {}
    with tempfile.TemporaryDirectory(prefix="bench-sipp-") as tmp:
        for case in args.cases.split(","):
            calls = args.calls if case.endswith("6000") else args.plain_calls
            for build, prefix in (("stock", stock), ("patched", args.prefix)):
                if case == "plain-read" and build == "stock":
                    continue
                work = Path(tmp) / f"{case}-{build}"
                work.mkdir()
                r = table[case, build] = run(prefix, build, case, calls, work)
                print(f"{case:<11} {build:<8} {r.calls:>5} {'yes' if r.ok else 'NO':<3} {r.cpu_us:>8.0f}us"
                      f" {r.rate:>8.1f} {r.rss_before:>9.1f}MB {r.rss_after:>8.1f}MB", flush=True)
    print("\npatched vs stock (same traffic):")
    for case in args.cases.split(","):
        stock_r = table.get((case, "stock")) or table.get(("plain", "stock"))
        mine = table.get((case, "patched"))
        if not stock_r or not mine:
            continue
        print(f"  {case:<11} cpu/call x{mine.cpu_us / stock_r.cpu_us:.2f}   calls/s x{mine.rate / stock_r.rate:.2f}"
              f"   rss growth {mine.rss_after - mine.rss_before:+.1f} MB (stock {stock_r.rss_after - stock_r.rss_before:+.1f} MB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
