#!/usr/bin/env python3
"""Summarise the ASan/UBSan/LSan reports an Asterisk built with `buildtools build --sanitize
address,undefined` wrote during a test run (ASAN_OPTIONS/UBSAN_OPTIONS log_path=DIR/...).

Each report is attributed to our code when a frame of its stack is a function that our patches
(patches/<branch>/*.patch) or modules (modules/*.c) define; otherwise to whoever owns the first
symbolised frame (Asterisk, pjproject, libc...). Prints one line per distinct report (kind,
count, owner, top frames) and exits 1 when an ASan or UBSan report, or a leak, is ours.

    python3 benchmarks/sanitizer_summary.py DIR [--series patches/22]
"""

from __future__ import annotations

import argparse
import collections
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FRAME = re.compile(r"^\s*#\d+ 0x[0-9a-f]+ in (\S+)(?: (\S+))?", re.M)
DEFINITION = re.compile(r"^\+?(?:static |const |struct |unsigned |int |char |void |size_t |enum )[^;=(]*?\b(\w+)\(", re.M)


def our_functions(series: Path) -> set[str]:
    """Names of the functions our patches add or change and our modules define."""
    names: set[str] = set()
    for patch in sorted(series.glob("*.patch")):
        text = patch.read_text(errors="replace")
        names |= {m.group(1) for m in DEFINITION.finditer("\n".join(
            ln for ln in text.splitlines() if ln.startswith("+") and not ln.startswith("+++")))}
        # functions whose body a hunk changes: "@@ ... @@ <function header>"
        names |= {m.group(1) for m in re.finditer(r"^@@ [^@]+ @@ .*?\b(\w+)\(", text, re.M)}
    for module in (ROOT / "modules").glob("*.c"):
        names |= {m.group(1) for m in DEFINITION.finditer(module.read_text(errors="replace"))}
    # Every module has these: ours only when the frame is in one of our files (OUR_FILES)
    return names - {"if", "while", "for", "switch", "return", "sizeof", "load_module", "unload_module", "AST_VECTOR"}


# Files that are entirely ours
OUR_FILES = ("res_pjsip_hangup_headers.c", "main/hangup_reason.c")


def reports(directory: Path):
    """(kind, text) of every report in every log file of `directory`."""
    for path in sorted(directory.iterdir()):
        text = path.read_text(errors="replace")
        for chunk in re.split(r"(?=^==\d+==ERROR: )|(?=^\S+:\d+:\d+: runtime error: )", text, flags=re.M):
            if "ERROR: LeakSanitizer" in chunk:
                # one report per leaked object
                for leak in re.split(r"(?=^(?:Direct|Indirect) leak of )", chunk, flags=re.M)[1:]:
                    yield ("leak " + leak.split(" ", 1)[0].lower(), leak, path)
            elif "ERROR: AddressSanitizer" in chunk:
                m = re.search(r"AddressSanitizer: ([\w-]+)", chunk)
                yield ("asan " + (m.group(1) if m else "?"), chunk, path)
            elif "runtime error:" in chunk:
                yield ("ubsan", chunk, path)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dir", type=Path)
    parser.add_argument("--series", type=Path, default=ROOT / "patches" / "22")
    args = parser.parse_args()
    if not args.dir.is_dir():
        print(f"sanitizer_summary: error: {args.dir} is not a directory", file=sys.stderr)
        return 2
    ours = our_functions(args.series)
    groups: dict[tuple[str, str, str], list[Path]] = collections.defaultdict(list)
    for kind, text, path in reports(args.dir):
        frames = [(fn, loc or "") for fn, loc in FRAME.findall(text)]
        if kind == "ubsan":
            frames = [(text.split(":", 1)[0], "")] + frames
        mine = [f for f in frames if f[0] in ours or any(name in f[1] for name in OUR_FILES)]
        owner = "OURS" if mine else _owner(frames)
        top = " < ".join(fn for fn, _ in (mine or frames)[:4])
        headline = text.strip().splitlines()[0][:160] if kind == "ubsan" else ""
        groups[(kind, owner, top or headline)].append(path)
    bad = 0
    for (kind, owner, top), paths in sorted(groups.items(), key=lambda kv: (kv[0][1] != "OURS", kv[0])):
        print(f"{kind:<28} x{len(paths):<5} {owner:<12} {top}")
        bad += owner == "OURS"
    print(f"{sum(len(p) for p in groups.values())} reports, {len(groups)} distinct, {bad} distinct in our code")
    return 1 if bad else 0


def _owner(frames: list[tuple[str, str]]) -> str:
    for fn, loc in frames:
        if "pjproject" in loc or fn.startswith(("pj_", "pjsip_", "pjmedia_", "pjnath_", "pjlib_")):
            return "pjproject"
        if "/asterisk" in loc or fn.startswith(("ast_", "__ast_", "ao2_", "__ao2_")):
            return "asterisk"
        if "libc.so" in loc or "libasan" in loc or "libubsan" in loc:
            continue
    return "other"


if __name__ == "__main__":
    sys.exit(main())
