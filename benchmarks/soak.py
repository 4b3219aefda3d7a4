#!/usr/bin/env python3
"""Soak: --calls calls at a steady rate with every feature in use, patched and stock side by side.

Traffic (shares of --calls, all at once, each stream at its share of --rate):

  bye        35 %  SIPp caller → Asterisk → SIPp callee (answers); the caller hangs up with a BYE
                   carrying X-Soak-Id, X-Carrier and a Reason. Patched: the caller's hangup
                   handler reads PJSIP_HANGUP_HEADER(read,X-Soak-Id), PJSIP_HANGUP_HEADERS(X-) and
                   HANGUPCAUSE(<chan>,reason,Q.850,text); the callee leg's handler reads them from
                   the caller's name and adds X-Soak-Id to the BYE it sends (passed to the peer).
  bye-kam    15 %  the same through Kamailio (a stateful proxy in front of Asterisk)
  fail-486   15 %  SIPp caller → Asterisk → SIPp callee answering 486 with X-Reason, Retry-After,
  fail-503   15 %  Warning and Reason; the caller reads PJSIP_RESPONSE_HEADER(read,X-Reason,,<leg>),
  fail-380    5 %  PJSIP_RESPONSE_HEADERS(X-,<leg>) and HANGUPCAUSE(<leg>,reason,Q.850)
  normal     10 %  answered calls, nothing read (the far end hangs up with a plain BYE)
  hostile     5 %  raw calls whose BYE is hostile: 6,000 headers, unterminated quoted Reason
                   texts, malformed causes, folded and compact headers, lone-CR line ends; one
                   that is refused, or discarded unparsed (no reply), is followed by a plain BYE
  qualify          4 contacts of one AOR answered by a peer whose reply changes every 10 s
                   (200, 503, 405, none), qualify_frequency 2 s (patched: 2xx,405 reachable)

Measured for each build: Asterisk alive at the end (crashes: 0), failed calls per stream
(SIPp's own count, raw calls counted here), Asterisk's RSS every 2 s and its slope after the
first 20 % of the run (least squares, KiB per 1,000 calls), `core show channels` after the
calls, and (patched) the use count of res_pjsip_hangup_headers (one per channel store of BYE
headers: 0 once every channel is gone). With a MALLOC_DEBUG build (`buildtools build
--malloc-debug`), also `memory show summary` before the calls and after them, for the files our
series allocates in and for datastore.c (every channel datastore) and astobj2.c (ao2 objects
allocated through ao2_alloc are filed under their caller's file, so each file's figure includes them).

    python benchmarks/soak.py --prefix DIR --stock-prefix DIR [--calls 10000] [--rate 20]
"""

from __future__ import annotations

import argparse
import os
import random
import re
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from buildtools.testing import scenarios
from buildtools.testing.asterisk import AsteriskSandbox, make_root, remove_root
from buildtools.testing.kamailio import kamailio
from buildtools.testing.peers import UdpResponder, reply_to, rss_kib
from buildtools.testing.ports import free_port
from buildtools.testing.process import udp_bound, wait_until
from buildtools.testing.rawsip import RawUac

ROOT = Path(__file__).resolve().parents[1]

SHARES = {"bye": 0.35, "bye-kam": 0.15, "fail-486": 0.15, "fail-503": 0.15, "fail-380": 0.05, "normal": 0.10,
          "hostile": 0.05}
FAIL = {"fail-486": (486, "Busy Here"), "fail-503": (503, "Service Unavailable"),
        "fail-380": (380, "Alternative Service")}
FAIL_HEADERS = ["X-Reason: route-closed", "Retry-After: 30", 'Warning: 399 sbc "No capacity"',
                'Reason: Q.850;cause=34;text="No circuit available"', "X-Carrier: soak"]
BYE_HEADERS = ["X-Soak-Id: [call_number]", "X-Carrier: soak-carrier",
               'Reason: Q.850;cause=16;text="Normal call clearing"']

PJSIP = """[transport-udp]
type = transport
protocol = udp
bind = 127.0.0.1:@SIP_PORT@
[sipp]
type = endpoint
context = soak
disallow = all
allow = ulaw
direct_media = no
rtp_timeout = 0
[sipp]
type = identify
endpoint = sipp
match = 127.0.0.1
[flap]
type = aor
qualify_frequency = 2
qualify_timeout = 1.0
{codes}contact = sip:flap1@127.0.0.1:{flap}
contact = sip:flap2@127.0.0.1:{flap}
contact = sip:flap3@127.0.0.1:{flap}
contact = sip:flap4@127.0.0.1:{flap}
[flap]
type = endpoint
context = soak
aors = flap
disallow = all
allow = ulaw
"""

DIALPLAN = """[soak]
exten => bye,1,Set(__CALLER=${{CHANNEL}})
 same => n,Set(CHANNEL(hangup_handler_push)=caller-read,s,1)
 same => n,Dial(PJSIP/sipp/sip:uas@127.0.0.1:{uas},10,gb(callee-pre^s^1))
 same => n,Hangup()
exten => normal,1,Dial(PJSIP/sipp/sip:uas@127.0.0.1:{normal},10)
 same => n,Hangup()
exten => hostile,1,Set(CHANNEL(hangup_handler_push)=caller-read,s,1)
 same => n,Answer()
 same => n,Echo()
exten => _fail-.,1,Answer()
 same => n,Dial(PJSIP/sipp/sip:uas@127.0.0.1:${{PJSIP_HEADER(read,X-Target)}},10)
 same => n,Set(leg=${{HANGUPCAUSE_KEYS()}})
{fail_read}
 same => n,Hangup()
[callee-pre]
exten => s,1,Set(CHANNEL(hangup_handler_push)=callee-read,s,1)
 same => n,Return()
{handlers}
"""
HANDLERS = {
    "patched": """[caller-read]
exten => s,1,Set(x=${PJSIP_HANGUP_HEADER(read,X-Soak-Id)}|${PJSIP_HANGUP_HEADERS(X-)}|${HANGUPCAUSE(${CHANNEL},reason,Q.850,text)})
 same => n,Return()
[callee-read]
exten => s,1,Set(id=${PJSIP_HANGUP_HEADER(read,X-Soak-Id,,${CALLER})})
 same => n,Set(q=${HANGUPCAUSE(${CALLER},reason,Q.850)})
 same => n,ExecIf($["${id}" != ""]?Set(PJSIP_HANGUP_HEADER(add,X-Soak-Id)=${id}))
 same => n,Return()
""",
    "stock": """[caller-read]
exten => s,1,Set(x=)
 same => n,Return()
[callee-read]
exten => s,1,Set(id=)
 same => n,Return()
""",
}
FAIL_READ = {
    "patched": " same => n,Set(x=${PJSIP_RESPONSE_HEADER(read,X-Reason,,${leg})}|"
               "${PJSIP_RESPONSE_HEADERS(X-,${leg})}|${HANGUPCAUSE(${leg},reason,Q.850)})",
    "stock": " same => n,Set(x=${HANGUPCAUSE(${leg},tech)})",
}

KAMAILIO = (ROOT / "tests/integration/qualify/kamailio.cfg").read_text()

HOSTILE = [
    "\n".join(f"X{i}: v" for i in range(6000)),
    'Reason: Q.850;cause=16;text="never terminated',
    "Reason: ;;;,,, , ;cause=;text=",
    "Reason: Q.850;cause=99999999999999999999999;text=\"x\", SIP;cause=-1",
    "X-Folded: a\n  b\n\tc\ns: compact subject\ni-bogus: 1",
    "Reason: " + ", ".join(f"P{i};cause={i};text=\"{'x' * 40}\"" for i in range(200)),
    "X-Empty:\n:\nNoColonLine\nX-After: 1",
    "Reason: Q.850;cause=16;text=\"a\\\"b\\\\\";location=LN;x=\"\";y",
]


def flap_peer(period: float = 10) -> UdpResponder:
    """Answers OPTIONS with a code that changes every ``period`` s: 200, 503, 405, none."""
    codes = ["200 OK", "503 Service Unavailable", "405 Method Not Allowed", None]
    t0 = time.monotonic()

    def answer(request: bytes) -> bytes | None:
        status = codes[int((time.monotonic() - t0) / period) % len(codes)]
        return reply_to(request, status, [], "flap") if status else None
    return UdpResponder("OPTIONS", answer)


def sipp(scenario: Path, target: int, work: Path, *, calls: int = 0, rate: float = 0, service: str = "s",
         variables: dict[str, str] | None = None, port: int | None = None) -> tuple[subprocess.Popen, Path, int]:
    """A SIPp process without message tracing; its statistics go to <scenario>-<port>.csv."""
    port = port or free_port()
    stats = work / f"{scenario.stem}-{port}.csv"
    cmd = ["sipp", "-sf", str(scenario), "-i", "127.0.0.1", "-p", str(port), "-s", service, "-nostdin",
           "-trace_stat", "-stf", str(stats), "-fd", "5", "-max_recv_loops", "1000", "-timeout", "3600s"]
    if calls:
        cmd += ["-m", str(calls), "-r", f"{rate:.3f}", "-rp", "1000", "-l", "200"]
    else:
        cmd += ["-m", "100000000"]
    for key, value in (variables or {}).items():
        cmd += ["-key", key, value]
    if target:
        cmd.append(f"127.0.0.1:{target}")
    proc = subprocess.Popen(cmd, cwd=work, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    return proc, stats, port


def sipp_counts(stats: Path) -> tuple[int, int]:
    """(successful, failed) calls from the last line of a SIPp statistics file."""
    if not stats.exists():
        return 0, 0
    lines = [ln for ln in stats.read_text(errors="replace").splitlines() if ln.strip()]
    if len(lines) < 2:
        return 0, 0
    head = lines[0].split(";")
    last = lines[-1].split(";")
    col = {name: i for i, name in enumerate(head)}
    return int(last[col["SuccessfulCall(C)"]]), int(last[col["FailedCall(C)"]])


def hostile_calls(port: int, calls: int, rate: float, result: dict[str, int]) -> None:
    """Calls ended by a hostile BYE. ``result``: "ok" (the BYE got its 200), "refused" (answered
    with an error, or discarded: pjproject drops a request it cannot parse, e.g. a line without a
    colon, as RFC 3261 allows; the peer then ends its call with a plain BYE, as a real one would),
    "failed" (the call could not be set up or ended)."""
    rng = random.Random(11)
    for i in range(calls):
        t = time.monotonic()
        uac = RawUac(port, "hostile")
        outcome = "failed"
        try:
            uac.call()
            uac.sock.settimeout(2)
            try:
                reply = uac.bye(rng.choice(HOSTILE) if i % 50 else HOSTILE[0])
            except TimeoutError:
                reply = ""
            uac.sock.settimeout(5)
            if reply.startswith("SIP/2.0 200"):
                outcome = "ok"
            elif uac.bye("", cseq=3).startswith("SIP/2.0 200"):
                outcome = "refused"
        except (AssertionError, OSError):
            pass
        finally:
            uac.close()
        result[outcome] += 1
        time.sleep(max(0.0, 1 / rate - (time.monotonic() - t)))


# Files whose allocations MALLOC_DEBUG's `memory show summary` lists, that our series allocates in
MEMORY_FILES = ("hangup_reason.c", "res_pjsip_hangup_headers.c", "res_pjsip_header_funcs.c", "res_pjsip_rfc3326.c",
                "func_hangupcause.c", "chan_pjsip.c", "pjsip_options.c", "datastore.c", "astobj2.c")
MEMORY_LINE = re.compile(r"^\s*(\d+) bytes (?:\(\s*\d+ cache\) )?in\s+(\d+) allocations in file (\S+)", re.M)


def memory_summary(ast: AsteriskSandbox) -> dict[str, tuple[int, int]] | None:
    """{file: (bytes, allocations)} from `memory show summary` (None: not a MALLOC_DEBUG build)."""
    out = ast.cli("memory show summary", check=False).stdout
    if "bytes in all allocations" not in out:
        return None
    summary: dict[str, tuple[int, int]] = {}
    for size, count, name in MEMORY_LINE.findall(out):
        old = summary.get(Path(name).name, (0, 0))
        summary[Path(name).name] = (old[0] + int(size), old[1] + int(count))
    m = re.search(r"(\d+) bytes in all allocations\n", out)
    summary["(all)"] = (int(m.group(1)) if m else 0, sum(c for _, c in summary.values()))
    return summary


def slope(samples: list[tuple[float, int]]) -> float:
    """Least-squares slope of (x, y)."""
    n = len(samples)
    if n < 2:
        return float("nan")
    mx = sum(x for x, _ in samples) / n
    my = sum(y for _, y in samples) / n
    den = sum((x - mx) ** 2 for x, _ in samples)
    return sum((x - mx) * (y - my) for x, y in samples) / den if den else float("nan")


def run(prefix: Path, build: str, calls: int, rate: float, work: Path) -> dict:
    patched = build == "patched"
    work.mkdir(parents=True)
    flap = flap_peer()
    ports = {name: free_port() for name in ("uas", "normal", "kamailio", "fail-486", "fail-503", "fail-380")}
    root = make_root(f"soak-{build}-")
    conf = PJSIP.format(flap=flap.port, codes="qualify_reachable_codes = 2xx,405\n" if patched else "")
    dialplan = DIALPLAN.format(uas=ports["uas"], normal=ports["normal"], fail_read=FAIL_READ[build],
                               handlers=HANDLERS[build])
    ast = AsteriskSandbox(prefix=prefix, root=root, configs={"pjsip.conf": conf, "extensions.conf": dialplan},
                          modules=["res_pjsip_hangup_headers.so"] if patched else [])
    ast.start(timeout=60)
    kam = kamailio(work / "kamailio", KAMAILIO.replace("@LISTEN@", str(ports["kamailio"]))
                   .replace("@BACKEND@", str(ast.sip_port)), ports["kamailio"])
    procs: list[subprocess.Popen] = []
    try:
        kam.start()
        pid = ast.proc.pid
        share = {k: round(calls * v) for k, v in SHARES.items()}
        # Callees (run until stopped)
        uas_bye = scenarios.render(scenarios.UAS_OK, work / "uas_ok.xml")
        uas_normal = scenarios.render(scenarios.UAS_OK_BYE, work / "uas_ok_bye.xml", pause=1000)
        for name, scen in (("uas", uas_bye), ("normal", uas_normal)):
            procs.append(sipp(scen, 0, work, port=ports[name])[0])
        for name, (code, phrase) in FAIL.items():
            scen = scenarios.render(scenarios.UAS_FAIL, work / f"uas_{code}.xml", FAIL_HEADERS, code=code,
                                    phrase=phrase, pause=100)
            procs.append(sipp(scen, 0, work, port=ports[name])[0])
        wait_until(lambda: all(udp_bound(ports[name]) for name in ("uas", "normal", *FAIL)), 10, "SIPp callees")
        memory_before = memory_summary(ast)
        # Callers, each at its share of the rate
        uac_bye = scenarios.render(scenarios.UAC_BYE, work / "uac_bye.xml", BYE_HEADERS, pause=1000)
        uac_wait = scenarios.render(scenarios.UAC_WAIT, work / "uac_wait.xml")
        streams = {
            "bye": (uac_bye, ast.sip_port, "bye", "none"),
            "bye-kam": (uac_bye, ports["kamailio"], "bye", "none"),
            "normal": (uac_wait, ast.sip_port, "normal", "none"),
            **{name: (uac_wait, ast.sip_port, name, str(ports[name])) for name in FAIL},
        }
        callers = {name: sipp(scen, target, work, calls=share[name], rate=rate * SHARES[name], service=service,
                              variables={"target": tgt})
                   for name, (scen, target, service, tgt) in streams.items() if share[name]}
        procs.extend(p for p, _, _ in callers.values())
        hostile = {"ok": 0, "refused": 0, "failed": 0}
        hthread = threading.Thread(target=hostile_calls, args=(ast.sip_port, share["hostile"],
                                                               rate * SHARES["hostile"], hostile), daemon=True)
        if share["hostile"]:
            hthread.start()
        t0 = time.monotonic()
        rss: list[tuple[float, int]] = []
        while any(p.poll() is None for p, _, _ in callers.values()) or hthread.is_alive():
            if ast.proc.poll() is not None:
                break
            rss.append((time.monotonic() - t0, rss_kib(pid)))
            time.sleep(2)
        elapsed = time.monotonic() - t0
        alive = ast.proc.poll() is None
        for p, _, _ in callers.values():
            if p.poll() is None:
                p.kill()
        # Calls in progress end; pjproject keeps a session (and the module references of its
        # supplements) until its BYE transaction ends: Timer J, 32 s over UDP
        time.sleep(40)
        if os.environ.get("SOAK_DEBUG"):
            for _ in range(6):
                print(ast.cli("module show like res_pjsip_hangup_headers", check=False).stdout.strip().splitlines()[-2])
                print(ast.cli("core show channels count", check=False).stdout.strip().splitlines()[0])
                time.sleep(5)
        result = {"elapsed": elapsed, "alive": alive, "streams": {}}
        for name, (_, stats, _) in callers.items():
            result["streams"][name] = sipp_counts(stats)
        result["streams"]["hostile"] = (hostile["ok"] + hostile["refused"], hostile["failed"])
        result["hostile_refused"] = hostile["refused"]
        done = sum(ok + bad for ok, bad in result["streams"].values())
        # RSS slope after warm-up, per 1,000 calls (calls ≈ linear in time at a steady rate)
        warm = [(t / elapsed * done, kib) for t, kib in rss if t > 0.2 * elapsed]
        result["rss_start"] = rss[0][1] if rss else 0
        result["rss_end"] = rss[-1][1] if rss else 0
        result["rss_slope"] = slope(warm) * 1000
        if alive:
            out = ast.cli("core show channels count", check=False).stdout
            m = re.search(r"(\d+) active channel", out)
            result["channels"] = int(m.group(1)) if m else -1
            out = ast.cli("module show like res_pjsip_hangup_headers", check=False).stdout
            m = re.search(r"res_pjsip_hangup_headers\.so\s+.*?\s(\d+)\s+Running", out)
            result["module_uses"] = int(m.group(1)) if m else None
            result["contacts"] = ast.cli("pjsip show contacts", check=False).stdout.count("Contact:  flap/")
        result["qualify_answers"] = flap.answered
        if alive and memory_before is not None:
            result["memory"] = (memory_before, memory_summary(ast) or {})
        return result
    finally:
        for p in procs:  # callees and callers (an interrupted run leaves none behind)
            if p.poll() is None:
                p.terminate()
                p.wait(timeout=10)
        kam.stop()
        flap.close()
        ast.stop()
        remove_root(root)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--prefix", type=Path, required=True, help="patched prefix")
    parser.add_argument("--stock-prefix", type=Path, help="stock prefix of the same version (else patched only)")
    parser.add_argument("--calls", type=int, default=10000)
    parser.add_argument("--rate", type=float, default=20.0, help="calls per second, all streams (default 20)")
    args = parser.parse_args()
    builds = [("patched", args.prefix)] + ([("stock", args.stock_prefix)] if args.stock_prefix else [])
    for _, p in builds:
        if not (p / "sbin" / "asterisk").exists():
            print(f"soak: error: {p} holds no installed Asterisk", file=sys.stderr)
            return 2
    results = {}
    with tempfile.TemporaryDirectory(prefix="soak-") as tmp:
        for build, prefix in builds:
            print(f"{build}: {args.calls} calls at {args.rate}/s ...", flush=True)
            r = results[build] = run(prefix, build, args.calls, args.rate, Path(tmp) / build)
            print(f"{build}: {r['elapsed']:.0f} s, Asterisk {'alive' if r['alive'] else 'CRASHED'}, channels after: "
                  f"{r.get('channels')}, module use count: {r.get('module_uses')}, RSS {r['rss_start'] / 1024:.1f} → "
                  f"{r['rss_end'] / 1024:.1f} MiB, slope after warm-up {r['rss_slope']:+.0f} KiB/1000 calls, "
                  f"qualify replies sent {r['qualify_answers']}", flush=True)
            for name, (ok, bad) in r["streams"].items():
                print(f"  {name:<9} ok {ok:>6}  failed {bad:>4}"
                      + (f"  (of the ok: {r['hostile_refused']} BYEs refused or discarded, then a plain BYE)"
                         if name == "hostile" else ""))
    for build, r in results.items():
        if "memory" in r:
            before, after = r["memory"]
            print(f"\n{build}: MALLOC_DEBUG `memory show summary`, before the calls → 40 s after them "
                  "(bytes / allocations):")
            for name in (*MEMORY_FILES, "(all)"):
                (b0, n0), (b1, n1) = before.get(name, (0, 0)), after.get(name, (0, 0))
                print(f"  {name:<28} {b0:>10} / {n0:<7} → {b1:>10} / {n1:<7}  ({b1 - b0:+d} bytes, {n1 - n0:+d})")
    if len(results) == 2:
        print("\nfailed calls, patched vs stock:")
        for name in results["patched"]["streams"]:
            print(f"  {name:<9} {results['patched']['streams'][name][1]:>4} vs {results['stock']['streams'][name][1]:>4}")
    ok = all(r["alive"] and r.get("channels") == 0 for r in results.values())
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
