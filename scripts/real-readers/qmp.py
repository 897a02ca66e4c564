#!/usr/bin/env python3
"""Minimal QMP client: qmp.py SOCKET COMMAND [JSON-ARGS] ...

Runs each COMMAND (with its JSON arguments, '-' for none) in order on QEMU's
QMP socket, printing each reply; exits 1 on the first error reply.
dump-guest-memory is synchronous (detach defaults to false), so its reply
comes when the dump file is complete.
"""
import json
import socket
import sys


def main() -> int:
    path, rest = sys.argv[1], sys.argv[2:]
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(path)
    f = s.makefile("rwb", buffering=0)

    def reply() -> dict:
        while True:
            line = f.readline()
            if not line:
                raise SystemExit("qmp: connection closed")
            msg = json.loads(line)
            if "event" in msg:
                print("qmp event:", msg["event"], file=sys.stderr)
                continue
            return msg

    greeting = json.loads(f.readline())
    assert "QMP" in greeting, greeting
    cmds = [("qmp_capabilities", "-")] + list(zip(rest[0::2], rest[1::2]))
    for name, args in cmds:
        req = {"execute": name}
        if args != "-":
            req["arguments"] = json.loads(args)
        f.write(json.dumps(req).encode() + b"\n")
        r = reply()
        if "error" in r:
            print(f"qmp: {name}: {r['error']}", file=sys.stderr)
            return 1
        if name != "qmp_capabilities":
            print(f"qmp: {name}: {json.dumps(r.get('return'))}", file=sys.stderr)
        if name == "quit":
            break
    return 0


if __name__ == "__main__":
    sys.exit(main())
