#!/usr/bin/env python3
"""Qualify at scale, patched and stock Asterisk side by side: prints one table.

1,000 contacts (100 AORs of 10), qualify_frequency 5 s, qualify_timeout 3 s, answered by SIPp
peers: 60 % of the contacts at a peer answering 200, 20 % at one answering 405, 10 % at one
answering 503, 10 % at a socket that never answers. The patched build has
`qualify_reachable_codes = 2xx,405` on every AOR (the feature in use); stock has no such option
(the same AORs without it). For each build:

  cpu/round   Asterisk's CPU time (utime+stime, /proc) over --rounds qualify rounds after a
              warm-up round, divided by the rounds
  reachable   contacts Reachable at the end (patched: 800 = 200+405; stock: 900, every reply)
  to-unavail  the peer answering 200 is killed: seconds until its first and its last contact
              show Unavailable in `pjsip show contacts` (bounded by frequency + timeout)

    python benchmarks/qualify_scale.py --prefix DIR --stock-prefix DIR [--rounds 12]
"""

from __future__ import annotations

import argparse
import re
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from buildtools.testing.asterisk import AsteriskSandbox, make_root, remove_root
from buildtools.testing.peers import cpu_seconds
from buildtools.testing.ports import free_port

ROOT = Path(__file__).resolve().parents[1]

FREQUENCY = 5
TIMEOUT = 3.0
AORS = 100
PER_AOR = 10
RESPONDER = (ROOT / "tests/integration/qualify/sipp/responder.xml").read_text()
PHRASES = {200: "OK", 405: "Method Not Allowed", 503: "Service Unavailable"}


def peer_for(i: int) -> str:
    """Which peer answers contact i: 6 in 10 → 200, 2 → 405, 1 → 503, 1 → none."""
    return {0: "200", 1: "200", 2: "200", 3: "200", 4: "200", 5: "200", 6: "405", 7: "405", 8: "503"}.get(i % 10,
                                                                                                      "none")


def pjsip_conf(ports: dict[str, int], sip_port: int, patched: bool) -> str:
    conf = [f"[transport-udp]\ntype = transport\nprotocol = udp\nbind = 127.0.0.1:{sip_port}\n"]
    for a in range(AORS):
        conf.append(f"[ep{a}]\ntype = endpoint\ncontext = default\ndisallow = all\nallow = ulaw\naors = aor{a}\n")
        conf.append(f"[aor{a}]\ntype = aor\nqualify_frequency = {FREQUENCY}\nqualify_timeout = {TIMEOUT}\n"
                    + ("qualify_reachable_codes = 2xx,405\n" if patched else ""))
        for c in range(PER_AOR):
            i = a * PER_AOR + c
            conf.append(f"contact = sip:c{i}@127.0.0.1:{ports[peer_for(i)]}\n")
    return "".join(conf)


def start_responder(code: int, port: int, work: Path) -> subprocess.Popen:
    scenario = work / f"responder-{code}.xml"
    scenario.write_text(RESPONDER.replace("{code}", str(code)).replace("{phrase}", PHRASES[code]),
                        encoding="latin-1")
    # No message tracing: 200 OPTIONS a second for minutes
    return subprocess.Popen(["sipp", "-sf", str(scenario), "-i", "127.0.0.1", "-p", str(port), "-m", "100000000",
                             "-nostdin", "-key", "peer", "peer",
                             "-max_recv_loops", "1000"],
                            cwd=work, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)


def contact_states(ast: AsteriskSandbox) -> dict[str, str]:
    out = ast.cli("pjsip show contacts", timeout=60).stdout
    states = {}
    for m in re.finditer(r"Contact:\s+aor\d+/sip:(c\d+)@\S+\s+\S+\s+(\w+)", out):
        states[m.group(1)] = m.group(2)
    return states


def run(prefix: Path, patched: bool, rounds: int) -> dict[str, float]:
    work = Path(tempfile.mkdtemp(prefix="qscale-"))
    ports = {name: free_port() for name in ("200", "405", "503", "none")}
    silent = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)  # receives, never answers
    silent.bind(("127.0.0.1", ports["none"]))
    peers = {code: start_responder(code, ports[str(code)], work) for code in (200, 405, 503)}
    root = make_root("qscale-")
    sip_port = free_port()
    ast = AsteriskSandbox(prefix=prefix, root=root, sip_port=sip_port,
                          configs={"pjsip.conf": pjsip_conf(ports, sip_port, patched), "extensions.conf": "[default]\n"})
    ast.start(timeout=120)
    try:
        pid = ast.proc.pid
        time.sleep(FREQUENCY * 2 + TIMEOUT)  # the first rounds: contacts created and qualified once
        cpu0, t0 = cpu_seconds(pid), time.monotonic()
        time.sleep(FREQUENCY * rounds)
        cpu = cpu_seconds(pid) - cpu0
        elapsed = time.monotonic() - t0
        states = contact_states(ast)
        reachable = sum(1 for s in states.values() if s == "Avail")
        # The peer answering 200 dies
        dead = [f"c{i}" for i in range(AORS * PER_AOR) if peer_for(i) == "200"]
        peers[200].terminate()
        peers[200].wait(timeout=10)
        t_kill = time.monotonic()
        first = last = None
        while time.monotonic() - t_kill < FREQUENCY + TIMEOUT + 10:
            states = contact_states(ast)
            down = sum(1 for c in dead if states.get(c) == "Unavail")
            now = time.monotonic() - t_kill
            if down and first is None:
                first = now
            if down == len(dead):
                last = now
                break
            time.sleep(0.25)
        return {"cpu_round_ms": cpu / (elapsed / FREQUENCY) * 1000, "reachable": reachable,
                "contacts": len(states), "first": first or float("nan"), "last": last or float("nan")}
    finally:
        ast.stop()
        remove_root(root)
        for p in peers.values():
            if p.poll() is None:
                p.terminate()
                p.wait(timeout=10)
        silent.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--prefix", type=Path, required=True, help="patched prefix")
    parser.add_argument("--stock-prefix", type=Path, required=True, help="stock prefix of the same version")
    parser.add_argument("--rounds", type=int, default=12, help="qualify rounds measured (default 12 = 60 s)")
    parser.add_argument("--aors", type=int, default=100, help=f"AORs of {PER_AOR} contacts (default 100)")
    args = parser.parse_args()
    globals()["AORS"] = args.aors
    for p in (args.prefix, args.stock_prefix):
        if not (p / "sbin" / "asterisk").exists():
            print(f"qualify_scale: error: {p} holds no installed Asterisk", file=sys.stderr)
            return 2
    print(f"{args.aors * PER_AOR} contacts, qualify_frequency {FREQUENCY} s, {args.rounds} rounds measured")
    print(f"{'build':<8} {'contacts':>8} {'reachable':>9} {'cpu/round':>10} {'first unavail':>14} {'all unavail':>12}")
    results = {}
    for name, prefix, patched in (("stock", args.stock_prefix, False), ("patched", args.prefix, True)):
        r = results[name] = run(prefix, patched, args.rounds)
        print(f"{name:<8} {r['contacts']:>8} {r['reachable']:>9} {r['cpu_round_ms']:>8.1f}ms {r['first']:>12.1f} s"
              f" {r['last']:>10.1f} s", flush=True)
    print(f"\npatched/stock cpu per round: x{results['patched']['cpu_round_ms'] / results['stock']['cpu_round_ms']:.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
