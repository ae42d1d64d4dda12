#!/usr/bin/env python3
"""Generate docs/CONFORMANCE.md: which transcripts test which section of
docs/PROTOCOL.md (from their @covers headers), which message types are
exercised in which direction and against which role, which codes the
transcripts expect, and what is not covered yet.

usage: gen_coverage.py [--check] OUT.md PROTOCOL.md TRANSCRIPT_DIR...
  --check   do not write OUT.md; exit 1 if it differs from what would be written
"""
import os
import re
import sys

C2S = ["LOGIN", "PROOF", "JOIN", "PART", "LIST", "WHO", "TOPIC", "SEND", "PASSWD", "PING",
       "ADD_USER", "DEL_USER", "USERS", "KICK", "SHUTDOWN", "GOODBYE"]
S2C = ["GOODBYE", "CHALLENGE", "LOGIN_FAILED", "WELCOME", "OK", "ERROR", "ROOM_LIST", "NAMES",
       "USER_LIST", "MESSAGE", "JOINED", "PARTED", "TOPIC_CHANGED"]
FRAMES = ["HS1", "HS2", "HS3", "REJECT"]
CODES = ["PROTOCOL", "VERSION", "BAD_LOGIN", "AUTH_LIMIT", "ALREADY_ONLINE", "RATE_LIMITED",
         "NOT_ALLOWED", "NO_SUCH_USER", "NO_SUCH_ROOM", "NOT_IN_ROOM", "ALREADY_IN_ROOM",
         "USER_EXISTS", "WEAK_VERIFIER", "LIMIT", "SERVER_FULL", "INTERNAL", "QUIT", "KICKED",
         "SHUTDOWN", "TOO_SLOW", "IDLE", "DELETED", "CONN_LOST", "PART", "LOGIN_TIMEOUT"]


def sections(protocol):
    """[(number, title)] of '## N. Title' and '### N.M Title' headings, and
    the set of sections whose own text states no requirement (no MUST,
    SHOULD or MAY)."""
    out, text, cur = [], {}, None
    for line in open(protocol, encoding="utf-8"):
        m = re.match(r"^##\s+(\d+)\.\s+(.*?)\s*$", line) or \
            re.match(r"^###\s+(\d+\.\d+)\s+(.*?)\s*$", line)
        if m:
            out.append((m.group(1), m.group(2)))
            cur = m.group(1)
            text[cur] = ""
        elif cur is not None:
            text[cur] += line
    descriptive = {n for n in text if not re.search(r"\b(MUST|SHOULD|MAY)\b", text[n])}
    return out, descriptive


def state_rows(protocol):
    """Rows of the state tables of §8.1 and §8.2: [(section, state, input)].
    The state is the first cell without backticks; "any but CLOSED" and
    "any" are both "any"."""
    rows, sec = [], None
    for line in open(protocol, encoding="utf-8"):
        m = re.match(r"^###\s+(8\.[12])\s", line)
        if m:
            sec = m.group(1)
            continue
        if line.startswith("## "):
            sec = None
        if sec and line.startswith("| ") and not line.startswith("| state") and "---" not in line:
            cells = [c.strip() for c in line.strip().strip("|").split("|")]
            state = "any" if cells[0].startswith("any") else cells[0].strip("`")
            rows.append((sec, state, cells[1].replace("`", "")))
    return rows


# Why a gap remains, where it is known.
KNOWN_GAPS = {
    "code SERVER_FULL": "a front-end that limits connections answers HS1 with REJECT(SERVER_FULL); "
                        "libchat's hub has no connection limit, so this needs the TCP adapter "
                        "against chatd",
}


def strip_comment(line):
    """The code part of a line: a '#' that begins a word, outside quotes,
    starts a comment (TRANSCRIPTS.md §2)."""
    inq, start, i = False, True, 0
    while i < len(line):
        c = line[i]
        if inq:
            if c == "\\":
                i += 1
            elif c == '"':
                inq = False
        elif c == '"':
            inq, start = True, False
        elif c in " \t":
            start = True
        else:
            if c == "#" and start:
                return line[:i]
            start = False
        i += 1
    return line


def logical_lines(text):
    lines, cur = [], ""
    for raw in text.split("\n"):
        code = strip_comment(raw).rstrip()
        if code.endswith("\\"):
            cur += code[:-1] + " "
            continue
        lines.append((cur + code).strip())
        cur = ""
    return [l for l in lines if l]


def load(path):
    t = {"file": path, "id": None, "kind": "scenario", "roles": {"server"}, "covers": [],
         "desc": "", "actors": {}, "steps": []}
    for l in logical_lines(open(path, encoding="utf-8").read()):
        w = l.split()
        if w[0].startswith("@"):
            h = w[0][1:]
            if h == "id":
                t["id"] = w[1]
            elif h == "kind":
                t["kind"] = w[1]
            elif h == "role":
                t["roles"] = {"server", "client"} if w[1] == "both" else {w[1]}
            elif h == "covers":
                t["covers"] += w[1:]
            elif h == "desc":
                t["desc"] = l[len("@desc"):].strip()
            elif h == "server" and len(w) > 1:
                k, _, v = w[1].partition("=")
                t.setdefault("server_cfg", {})[k] = v
            elif h == "actor":
                t["actors"][w[1]] = w[2]
                t.setdefault("autologin", {})[w[1]] = \
                    any(x.startswith("password=") for x in w[3:]) and "auto=no" not in w[3:]
        else:
            t["steps"].append(w)
    return t


# What the TCP adapter against chatd (--chatd) cannot run, and why
# (docs/TRANSCRIPTS.md §10); the conformance_tcp ctest runs the rest.
CHATD_LACKS = {"versions", "fake-opslimit", "fake-memlimit-kib"}


def tcp_status(t):
    """'yes', or why the transcript is skipped over TCP against chatd."""
    if t["kind"] == "kat":
        return "no: known-answer"
    if "server" not in t["roles"]:
        return "no: client role"
    verbs = {w[0] for w in t["steps"]}
    # `time` steps run there on a scaled real clock (TRANSCRIPTS.md §10).
    if "fault" in verbs:
        return "no: faults"
    cfg = t.get("server_cfg", {})
    for k in sorted(cfg):
        if k in CHATD_LACKS:
            return f"no: @server {k}"
    om = cfg.get("out-max", "")
    if om.isdigit() and int(om) < 16384:
        return "no: out-max < 16K"
    return "yes"


def collect(dirs):
    out = []
    for d in dirs:
        for root, _, files in os.walk(d):
            for f in sorted(files):
                if f.endswith(".chat"):
                    out.append(load(os.path.join(root, f)))
    return sorted(out, key=lambda t: t["id"] or t["file"])


def exercise(ts):
    """type -> direction key -> set of ids, and code -> set of ids."""
    use = {}
    codes = {}

    def mark(typ, key, tid):
        use.setdefault(typ, {}).setdefault(key, set()).add(tid)

    for t in ts:
        tid = t["id"]
        for w in t["steps"]:
            actor = w[0] if w[0] in t["actors"] else None
            verb = w[1] if actor else w[0]
            kind = t["actors"].get(actor)
            typ = w[2] if actor and len(w) > 2 and verb in ("send", "queue", "expect", "await") else None
            for arg in w:
                m = re.match(r"(code|reason)[!~<>]?=([A-Z_]+)$", arg)
                if m and m.group(2) in CODES:
                    codes.setdefault(m.group(2), set()).add(tid)
            # GOODBYE travels in closes and quits.
            if verb == "expect-close" and any(x.startswith("code=") for x in w):
                if kind == "client" and "server" in t["roles"]:
                    mark("GOODBYE", "from_server", tid)
                if kind == "client" and "client" in t["roles"] and t["kind"] == "kat":
                    mark("GOODBYE", "to_client", tid)
                if kind == "server":
                    mark("GOODBYE", "from_client", tid)
            if verb == "quit":
                if "server" in t["roles"]:
                    mark("GOODBYE", "to_server", tid)
                if "client" in t["roles"] and t["kind"] == "kat":
                    mark("GOODBYE", "from_client", tid)
            if kind == "server" and verb == "expect" and typ == "LOGIN":
                mark("HS3", "from_client", tid)
            if verb == "connect" and kind == "client":
                # A login sends HS1, HS3 (with LOGIN) and PROOF by itself.
                if "server" in t["roles"] and "hs1=no" not in w:
                    for f in ("HS1",):
                        mark(f, "to_server", tid)
                if "client" in t["roles"]:
                    mark("HS1", "from_client", tid)
            if not typ:
                continue
            if kind == "client":
                if verb in ("send", "queue"):
                    if "server" in t["roles"]:
                        mark(typ, "to_server", tid)
                    if "client" in t["roles"]:
                        mark(typ, "from_client", tid)
                else:
                    if "server" in t["roles"]:
                        mark(typ, "from_server", tid)
                    if "client" in t["roles"]:
                        mark(typ, "to_client", tid)
            elif kind == "server":
                if verb in ("send", "queue"):
                    mark(typ, "to_client", tid)
                else:
                    mark(typ, "from_client", tid)
        # Automatic logins: LOGIN in HS3, PROOF, answered CHALLENGE.
        text = " ".join(" ".join(w) for w in t["steps"])
        for a, kind in t["actors"].items():
            if kind != "client" or f"{a} connect" not in text or not t["autologin"].get(a):
                continue
            if "server" in t["roles"]:
                for typ in ("HS3", "LOGIN", "PROOF"):
                    mark(typ, "to_server", tid)
                for typ in ("HS2", "CHALLENGE"):
                    mark(typ, "from_server", tid)
            if "client" in t["roles"] and t["kind"] == "kat":
                for typ in ("HS3", "LOGIN", "PROOF"):
                    mark(typ, "from_client", tid)
                for typ in ("HS2", "CHALLENGE"):
                    mark(typ, "to_client", tid)
    return use, codes


def short(ids, limit=6):
    ids = sorted(ids)
    if not ids:
        return "—"
    s = ", ".join(f"`{i}`" for i in ids[:limit])
    if len(ids) > limit:
        s += f" and {len(ids) - limit} more"
    return s


def generate(protocol, dirs):
    secs, descriptive = sections(protocol)
    ts = collect(dirs)
    by_sec = {}
    by_state = {}
    for t in ts:
        for c in t["covers"]:
            sec, _, state = c.partition(":")
            by_sec.setdefault(sec, set()).add(t["id"])
            if state:
                by_state.setdefault((sec, state), set()).add(t["id"])
    # A section with subsections is covered by what covers them too.
    parents = {n for n, _ in secs if any(m.startswith(n + ".") for m, _ in secs)}
    for n in parents:
        for m, _ in secs:
            if m.startswith(n + "."):
                by_sec.setdefault(n, set()).update(by_sec.get(m, set()))
    known = {n for n, _ in secs}
    srows = state_rows(protocol)
    states = {(sec, st) for sec, st, _ in srows}
    unknown = sorted({c for t in ts for c in t["covers"]
                      if c.partition(":")[0] not in known or
                      (":" in c and tuple(c.split(":", 1)) not in states)})

    kat = sum(1 for t in ts if t["kind"] == "kat")
    srv = sum(1 for t in ts if "server" in t["roles"])
    cli = sum(1 for t in ts if "client" in t["roles"])
    areas = {}
    for t in ts:
        areas.setdefault(t["id"].split("/")[0], []).append(t)

    out = []
    p = out.append
    p("# Conformance coverage")
    p("")
    p("<!-- Generated by conformance/gen_coverage.py from the transcripts' headers; do not edit.")
    p("     Regenerate: python3 conformance/gen_coverage.py docs/CONFORMANCE.md docs/PROTOCOL.md \\")
    p("                 conformance/transcripts -->")
    p("")
    p("The conformance suite (`conformance/`, format in [TRANSCRIPTS.md](TRANSCRIPTS.md)) holds "
      f"**{len(ts)} transcripts**: {kat} known-answer and {len(ts) - kat} scenario; "
      f"{srv} test a server and {cli} a client (known-answer transcripts marked "
      "`@role both` test both).")
    p("")
    p("| area | transcripts | known-answer |")
    p("|---|---:|---:|")
    for a in sorted(areas):
        p(f"| {a} | {len(areas[a])} | {sum(1 for t in areas[a] if t['kind'] == 'kat')} |")
    p("")
    p("## PROTOCOL.md sections")
    p("")
    p("Each section with the transcripts whose `@covers` names it (a section with subsections "
      "also counts theirs).")
    p("")
    p("| § | title | # | transcripts |")
    p("|---|---|---:|---|")
    for n, title in secs:
        ids = by_sec.get(n, set())
        p(f"| {n} | {title} | {len(ids)} | {short(ids)} |")
    p("")
    if unknown:
        p("Transcripts name sections PROTOCOL.md does not have: " + ", ".join(unknown) + ".")
        p("")

    p("## Connection state machine")
    p("")
    p("Each row of the state tables of PROTOCOL.md §8, with the transcripts whose `@covers` "
      "names its state (`8.1:AWAIT_PROOF`); they exercise its valid input and what anything "
      "else does.")
    p("")
    p("| § | state | valid input | # | transcripts |")
    p("|---|---|---|---:|---|")
    for sec, st, inp in srows:
        ids = by_state.get((sec, st), set())
        p(f"| {sec} | {st} | {inp} | {len(ids)} | {short(ids, 4)} |")
    p("")

    use, codes = exercise(ts)
    p("## Messages and frames, by direction")
    p("")
    p("*to server*: sent by the runner to a server under test; *from server*: expected from it; "
      "*from client*: expected from a client under test; *to client*: sent by the runner to it. "
      "Logins done automatically count for HS2, HS3, LOGIN, CHALLENGE and PROOF.")
    p("")
    p("| type | to server | from server | from client | to client |")
    p("|---|---:|---:|---:|---:|")
    rows = [(t, True) for t in C2S if t != "GOODBYE"] + [("GOODBYE", None)] + \
           [(t, False) for t in S2C if t != "GOODBYE"] + [(f, None) for f in FRAMES]
    gaps = []
    for typ, c2s in rows:
        u = use.get(typ, {})
        cells = []
        for key, applies in (("to_server", c2s in (True, None)), ("from_server", c2s in (False, None)),
                             ("from_client", c2s in (True, None)), ("to_client", c2s in (False, None))):
            if typ in ("HS1", "HS3"):
                applies = key in ("to_server", "from_client")
            elif typ in ("HS2", "REJECT"):
                applies = key in ("from_server", "to_client")
            if not applies:
                cells.append("")
                continue
            n = len(u.get(key, ()))
            cells.append(str(n) if n else "**0**")
            if n == 0:
                gaps.append(f"{typ} {key.replace('_', ' ')}")
        p(f"| {typ} | " + " | ".join(cells) + " |")
    p("")
    p("## Codes")
    p("")
    p("Codes of §7 that transcripts send or expect (in ERROR, LOGIN_FAILED, GOODBYE, PARTED, "
      "REJECT or a close).")
    p("")
    p("| code | # | transcripts |")
    p("|---|---:|---|")
    for c in CODES:
        ids = codes.get(c, set())
        p(f"| {c} | {len(ids)} | {short(ids, 4)} |")
        if not ids:
            gaps.append(f"code {c}")
    p("")
    p("## Not yet covered")
    p("")
    for n, title in secs:
        if n not in by_sec:
            why = "descriptive: it states no MUST, SHOULD or MAY" if n in descriptive \
                else "no transcript names this section"
            p(f"- §{n} {title}: {why}")
    for sec, st in sorted({(sec, st) for sec, st, _ in srows}):
        if (sec, st) not in by_state:
            p(f"- §{sec} state {st}: no transcript names it")
    for g in gaps:
        p(f"- {g}: {KNOWN_GAPS.get(g, 'no transcript')}")
    over_tcp = [t for t in ts if tcp_status(t) == "yes"]
    why = {}
    for t in ts:
        st = tcp_status(t)
        if st != "yes":
            why[st[4:]] = why.get(st[4:], 0) + 1
    p(f"- Adapters: every transcript runs in process (libchat's hub and client) and "
      f"through the project's shim (docs/SHIM.md: chat-shim, a separate process, in every "
      f"role the transcript declares; `conformance_shim_server`, `conformance_shim_client`); "
      f"{len(over_tcp)} of {len(ts)} also run over TCP against a fresh chatd per transcript "
      f"(`conformance_tcp`, time steps on a scaled real clock); the others are skipped there ("
      + ", ".join(f"{k}: {v}" for k, v in sorted(why.items())) +
      "; see the tcp column).")
    p("")
    p("## All transcripts")
    p("")
    p("| id | kind | role | tcp | covers | description |")
    p("|---|---|---|---|---|---|")
    for t in ts:
        roles = "both" if t["roles"] == {"server", "client"} else next(iter(t["roles"]))
        desc = t["desc"].replace("|", "\\|")
        p(f"| `{t['id']}` | {t['kind']} | {roles} | {tcp_status(t)} | {' '.join(t['covers'])} "
          f"| {desc} |")
    p("")
    return "\n".join(out)


def main():
    args = sys.argv[1:]
    check = False
    if args and args[0] == "--check":
        check = True
        args = args[1:]
    if len(args) < 3:
        sys.exit(__doc__)
    out, protocol, dirs = args[0], args[1], args[2:]
    text = generate(protocol, dirs)
    if check:
        try:
            cur = open(out, encoding="utf-8").read()
        except OSError:
            cur = None
        if cur != text:
            print(f"gen_coverage: {out} is out of date; regenerate it with\n"
                  f"  python3 conformance/gen_coverage.py {out} {protocol} {' '.join(dirs)}")
            sys.exit(1)
        print(f"gen_coverage: {out} is current")
        return
    with open(out, "w", encoding="utf-8") as f:
        f.write(text)


if __name__ == "__main__":
    main()
