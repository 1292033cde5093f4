"""Where a `tessera publish` spends its time, stage by stage, measured from outside.

    python stage_split.py PRODUCT -- TESSERA_COMMAND...

Tessera reports its stages only on its progress line (indicatif, drawn on a terminal):
`<product>: reading inputs`, `checking sources`, `running SQL`, `checking`, `committing`.
This runs the command on a pseudo-terminal, notes when each stage first appears, and prints
one JSON object: each stage's seconds (until the next stage; the last one until the
outcome line), the seconds before the first stage (start-up: loading the mesh, opening the
catalog, the content hash) and after the outcome line (exit), and the total. The progress
line redraws at least every 120 ms, so each figure is good to about 0.1 s.
"""

import fcntl
import json
import os
import pty
import re
import select
import struct
import sys
import termios
import time

ANSI = re.compile(rb"\x1b\[[0-9;?]*[A-Za-z]|\r")
STAGES = ["reading inputs", "checking sources", "running SQL", "checking", "committing"]


def main() -> int:
    args = sys.argv[1:]
    if len(args) < 3 or args[1] != "--":
        print(__doc__, file=sys.stderr)
        return 2
    product, command = args[0], args[2:]
    pid, fd = pty.fork()
    if pid == 0:
        os.execvp(command[0], command)
    # A wide terminal, so the progress line is never cut.
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", 50, 400, 0, 0))
    start = time.perf_counter()
    seen: dict[str, float] = {}
    done_at = None
    buf = b""
    log = b""
    while True:
        r, _, _ = select.select([fd], [], [], 0.05)
        if not r:
            continue
        try:
            chunk = os.read(fd, 65536)
        except OSError:
            break
        if not chunk:
            break
        now = time.perf_counter() - start
        log += chunk
        buf = (buf + ANSI.sub(b"\n", chunk))[-4096:]
        text = buf.decode("utf-8", "replace")
        for stage in STAGES:
            if stage not in seen and re.search(re.escape(f"{product}: {stage}") + r"(?! sources)", text):
                seen[stage] = now
        if done_at is None and re.search(r"[✓✗] " + re.escape(product) + r"\s", text):
            done_at = now
    _, status = os.waitpid(pid, 0)
    end = time.perf_counter() - start
    order = [s for s in STAGES if s in seen]
    order.sort(key=lambda s: seen[s])
    stages = {}
    for i, s in enumerate(order):
        until = seen[order[i + 1]] if i + 1 < len(order) else (done_at or end)
        stages[s] = round(until - seen[s], 2)
    out = {
        "exit_code": os.waitstatus_to_exitcode(status),
        "startup_s": round(seen[order[0]], 2) if order else None,
        "stages_s": stages,
        "exit_s": round(end - done_at, 2) if done_at is not None else None,
        "total_s": round(end, 2),
    }
    if not order:
        out["output"] = ANSI.sub(b"\n", log).decode("utf-8", "replace")[-2000:]
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
