#!/usr/bin/env python3
"""Compare crash transcripts (sys, log, ps, bt -a) against the reference.

  compare.py row NAME KASLR OPTIONS REF CAND MARKER EXIT  -> one JSON line
  compare.py table ROWS.jsonl                             -> markdown table

REF and CAND are crash transcripts of the same command file on QEMU's own
dump and on one xst output. A row says whether crash opened CAND (and the
first error line when not), whether `log` shows MARKER, whether `ps` lists
the xst-sleeper-N tasks, which `sys` fields differ from REF, and whether
`bt -a` gives each cpu the same task and first frames as in REF.
"""
import json
import re
import sys

SYS_KEYS = ["CPUS", "DATE", "UPTIME", "LOAD AVERAGE", "TASKS", "NODENAME", "RELEASE", "VERSION", "MACHINE", "MEMORY", "PANIC"]
SLEEPERS = ["xst-sleeper-1", "xst-sleeper-2", "xst-sleeper-3"]
PS_ROW = re.compile(r"^>?\s*(\d+)\s+(\d+)\s+(\d+)\s+([0-9a-f]+)\s+(\S+)\s+\S+\s+\d+\s+\d+\s+(.*\S)\s*$")
BT_HEAD = re.compile(r"^PID:\s*(\d+)\s+TASK:\s*([0-9a-f]+)\s+CPU:\s*(\d+)\s+COMMAND:\s*\"(.*)\"")
FRAME = re.compile(r"^\s*#(\d+)\s+\[[0-9a-f]+\]\s+(\S+)")
FRAMES = 4  # frames compared per cpu
KEEP = 16  # frames kept per cpu, to find a common tail


def parse(path):
    text = open(path, errors="replace").read()
    lines = text.splitlines()
    sysf = {}
    for ln in lines:
        m = re.match(r"^\s{0,12}([A-Z][A-Z ]+):\s(.*)$", ln)
        if m and m.group(1).strip() in SYS_KEYS and m.group(1).strip() not in sysf:
            sysf[m.group(1).strip()] = m.group(2).strip()
    ps = {}
    for ln in lines:
        m = PS_ROW.match(ln)
        if m:
            ps[(m.group(1), m.group(6))] = (m.group(3), m.group(5))
    bt = {}
    cur = None
    for ln in lines:
        m = BT_HEAD.match(ln)
        if m:
            cur = m.group(3)
            bt.setdefault(cur, {"pid": m.group(1), "comm": m.group(4), "frames": [], "all": []})
            continue
        f = FRAME.match(ln)
        if f and cur is not None and len(bt[cur]["all"]) < KEEP:
            bt[cur]["all"].append(f.group(2))
            bt[cur]["frames"] = bt[cur]["all"][:FRAMES]
    errors = [ln.strip() for ln in lines if re.match(r"^(crash|gdb)?:?\s*.*(error|invalid|cannot|fail|not a supported)", ln, re.I) and not PS_ROW.match(ln)]
    log = [ln for ln in lines if re.match(r"^\[\s*\d+\.\d+\]", ln)]
    return {"text": text, "sys": sysf, "ps": ps, "bt": bt, "errors": errors, "log": log}


def row(name, kaslr, options, ref_path, cand_path, marker, exit_code):
    ref, cand = parse(ref_path), parse(cand_path)
    opened = "RELEASE" in cand["sys"]
    r = {"dump": name, "kaslr": kaslr, "options": options, "opened": opened, "exit": int(exit_code)}
    if not opened:
        crash_lines = [ln.strip() for ln in cand["text"].splitlines() if ln.strip()]
        first = next((ln for ln in crash_lines if ln.startswith("crash:")), crash_lines[-1] if crash_lines else "(no output)")
        r["error"] = first
    r["marker"] = any(f"xst: {marker}" in ln for ln in cand["log"])
    r["log_lines"] = [len(cand["log"]), len(ref["log"])]
    names = {comm for (_, comm) in cand["ps"]}
    r["sleepers"] = sum(1 for s in SLEEPERS if s in names)
    same_ps = cand["ps"] == ref["ps"]
    r["ps_same"] = same_ps
    if not same_ps and cand["ps"]:
        r["ps_diff"] = len(set(cand["ps"].items()) ^ set(ref["ps"].items()))
    r["sys_diff"] = {k: [cand["sys"].get(k), ref["sys"].get(k)] for k in SYS_KEYS if cand["sys"].get(k) != ref["sys"].get(k)} if opened else {}
    bt_diff = []
    for cpu in sorted(set(ref["bt"]) | set(cand["bt"]), key=int):
        a, b = cand["bt"].get(cpu), ref["bt"].get(cpu)
        key = lambda x: x and {k: x[k] for k in ("pid", "comm", "frames")}
        if key(a) != key(b):
            d = {"cpu": cpu, "got": key(a), "want": key(b)}
            # Where the reference's frames reappear in the candidate's: the
            # frame of the reference the two stacks agree from.
            if a and b:
                for i in range(len(b["all"])):
                    tail = b["all"][i:]
                    n = len(tail)
                    if any(a["all"][j : j + n] == tail for j in range(len(a["all"]))):
                        d["common_from"] = tail[0]
                        break
            bt_diff.append(d)
    r["bt_cpus"] = len(cand["bt"])
    r["bt_same"] = not bt_diff and bool(cand["bt"])
    if bt_diff:
        r["bt_diff"] = bt_diff
    ref_lines = set(ref["text"].splitlines())
    r["crash_errors"] = [ln.strip() for ln in cand["text"].splitlines() if ln.startswith("crash:") and ln not in ref_lines][:5]
    r["warnings"] = sorted(set(e for e in cand["errors"] if e not in ref["errors"] and e not in r["crash_errors"]))[:5]
    print(json.dumps(r))


def yn(v):
    return "yes" if v else "**no**"


def table(path):
    rows = [json.loads(ln) for ln in open(path) if ln.strip()]
    out = ["| dump | KASLR | crash options | opened | log marker | ps (sleepers / same as ref) | sys vs ref | bt -a vs ref | notes |", "|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        if r["dump"] == "qemu-elf (reference)":
            notes = f"{r['log_lines'][0]} log lines, {r['bt_cpus']} cpus in bt -a"
            out.append(f"| {r['dump']} | {r['kaslr']} | {r['options'] or '-'} | {yn(r['opened'])} | {yn(r['marker'])} | {r['sleepers']}/3 | - | - | {notes} |")
            continue
        notes = []
        if not r["opened"]:
            notes.append(f"`{r['error']}`")
        if r.get("sys_diff"):
            notes.append("sys differs: " + "; ".join(f"{k}: `{v[0]}` vs `{v[1]}`" for k, v in r["sys_diff"].items()))
        if r["opened"] and r.get("crash_errors"):
            notes.append(f"`{r['crash_errors'][0]}`")
        if r["opened"] and r.get("bt_diff"):
            for d in r["bt_diff"][:2]:
                g = d["got"] or {}
                w = d["want"] or {}
                same_from = f", same from `{d['common_from']}` on" if d.get("common_from") else ""
                notes.append(f"bt cpu {d['cpu']} `{g.get('comm')}`: #0 `{(g.get('frames') or ['none'])[0]}`, reference #0 `{(w.get('frames') or ['none'])[0]}`{same_from}")
        if r.get("ps_diff"):
            notes.append(f"{r['ps_diff']} ps rows differ")
        for w in r.get("warnings", [])[:2] if r["opened"] else []:
            notes.append(f"`{w[:160]}`")
        sysv = "-" if not r["opened"] else ("same" if not r["sys_diff"] else "differs: " + ", ".join(r["sys_diff"]))
        btv = "-" if not r["opened"] else ("same" if r["bt_same"] else f"**differs** ({r['bt_cpus']} cpus)")
        psv = f"{r['sleepers']}/3 / {'same' if r['ps_same'] else '**differs**'}" if r["opened"] else "-"
        cell = "<br>".join(notes).replace("|", "\\|")
        opened = ("partly (crash errors)" if r.get("crash_errors") else "yes") if r["opened"] else "**no**"
        out.append(f"| {r['dump']} | {r['kaslr']} | {r['options'] or '-'} | {opened} | {yn(r['marker']) if r['opened'] else '-'} | {psv} | {sysv} | {btv} | {cell} |")
    print("\n".join(out))


if __name__ == "__main__":
    if sys.argv[1] == "row":
        row(*sys.argv[2:9])
    elif sys.argv[1] == "table":
        table(sys.argv[2])
    else:
        raise SystemExit(__doc__)
