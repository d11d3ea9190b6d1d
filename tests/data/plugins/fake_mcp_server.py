#!/usr/bin/env python3
"""A small MCP server over stdio that misbehaves on request, for rewoo's tests.

Tools: echo {text}, add {a, b}, fail (isError), rpc_error (JSON-RPC error),
pid, slow {ms}, crash (exits 3), hang (never answers, ignores ping too: the
server is single-threaded), flood (one endless line, no newline), garbage
(a line that is not JSON), stderr_spam, ask_roots (sends the client a
roots/list request and reports the answer).

Options: --page-size N (tools/list pages joined by nextCursor),
--hang-on-init, --crash-on-init, --version V (protocolVersion to answer),
--banner (prints a non-JSON line on stdout before anything else).
"""
import json
import os
import sys
import time

TOOLS = [
    {"name": "echo", "description": "Echoes the text.",
     "inputSchema": {"type": "object", "properties": {"text": {"type": "string"}},
                     "required": ["text"]}},
    {"name": "add", "description": "Adds two numbers.",
     "inputSchema": {"type": "object",
                     "properties": {"a": {"type": "number"}, "b": {"type": "number"}},
                     "required": ["a", "b"]}},
    {"name": "fail", "description": "Always reports a tool error.",
     "inputSchema": {"type": "object", "properties": {}}},
    {"name": "rpc_error", "description": "Answers with a JSON-RPC error.",
     "inputSchema": {"type": "object", "properties": {}}},
    {"name": "pid", "description": "The server's process id.",
     "inputSchema": {"type": "object", "properties": {}}},
    {"name": "slow", "description": "Answers after ms milliseconds.",
     "inputSchema": {"type": "object", "properties": {"ms": {"type": "integer"}}}},
    {"name": "crash", "description": "Exits with status 3.",
     "inputSchema": {"type": "object", "properties": {}}},
    {"name": "hang", "description": "Never answers.",
     "inputSchema": {"type": "object", "properties": {}}},
    {"name": "flood", "description": "Writes an endless line.",
     "inputSchema": {"type": "object", "properties": {}}},
    {"name": "garbage", "description": "Writes a line that is not JSON.",
     "inputSchema": {"type": "object", "properties": {}}},
    {"name": "stderr_spam", "description": "Writes 5000 lines to stderr, then answers.",
     "inputSchema": {"type": "object", "properties": {}}},
    {"name": "ask_roots", "description": "Asks the client for roots/list.",
     "inputSchema": {"type": "object", "properties": {}}},
]


def send(msg):
    sys.stdout.write(json.dumps(msg) + "\n")
    sys.stdout.flush()


def result(id_, res):
    send({"jsonrpc": "2.0", "id": id_, "result": res})


def text(id_, t, is_error=False):
    res = {"content": [{"type": "text", "text": t}]}
    if is_error:
        res["isError"] = True
    result(id_, res)


def arg(name, default=None):
    if name in sys.argv:
        i = sys.argv.index(name)
        return sys.argv[i + 1] if i + 1 < len(sys.argv) else True
    return default


def main():
    page_size = int(arg("--page-size", "0"))
    version = arg("--version", "2025-06-18")
    if "--banner" in sys.argv:
        sys.stdout.write("fake server starting\n")
        sys.stdout.flush()
    sys.stderr.write("fake MCP server ready\n")
    sys.stderr.flush()
    for line in sys.stdin:
        line = line.strip()
        if not line:
            continue
        msg = json.loads(line)
        method = msg.get("method")
        id_ = msg.get("id")
        params = msg.get("params") or {}
        if method is None:
            continue  # a response to our request; handled in ask_roots
        if method == "initialize":
            if "--hang-on-init" in sys.argv:
                time.sleep(3600)
            if "--crash-on-init" in sys.argv:
                sys.stderr.write("cannot initialize: out of cheese\n")
                sys.stderr.flush()
                sys.exit(2)
            result(id_, {"protocolVersion": version, "capabilities": {"tools": {}},
                         "serverInfo": {"name": "fake", "version": "1.0"}})
        elif method == "ping":
            result(id_, {})
        elif method == "tools/list":
            start = int(params.get("cursor", "0"))
            end = len(TOOLS) if page_size <= 0 else min(len(TOOLS), start + page_size)
            res = {"tools": TOOLS[start:end]}
            if end < len(TOOLS):
                res["nextCursor"] = str(end)
            result(id_, res)
        elif method == "tools/call":
            name = params.get("name")
            a = params.get("arguments") or {}
            if name == "echo":
                text(id_, "echo: " + str(a.get("text")))
            elif name == "add":
                text(id_, str(a["a"] + a["b"]))
            elif name == "fail":
                text(id_, "this tool always fails", is_error=True)
            elif name == "rpc_error":
                send({"jsonrpc": "2.0", "id": id_,
                      "error": {"code": -32000, "message": "custom failure", "data": "details"}})
            elif name == "pid":
                text(id_, str(os.getpid()))
            elif name == "slow":
                time.sleep(int(a.get("ms", 100)) / 1000.0)
                text(id_, "done")
            elif name == "crash":
                sys.stderr.write("crashing on purpose\n")
                sys.stderr.flush()
                sys.exit(3)
            elif name == "hang":
                time.sleep(3600)
            elif name == "flood":
                chunk = "x" * 65536
                while True:
                    sys.stdout.write(chunk)
            elif name == "garbage":
                sys.stdout.write("this is not JSON {\n")
                sys.stdout.flush()
            elif name == "stderr_spam":
                for i in range(5000):
                    sys.stderr.write("spam line %d\n" % i)
                sys.stderr.flush()
                text(id_, "spammed")
            elif name == "ask_roots":
                send({"jsonrpc": "2.0", "id": "srv-1", "method": "roots/list"})
                reply = json.loads(sys.stdin.readline())
                text(id_, "roots reply: " + json.dumps(reply.get("error") or reply.get("result")))
            else:
                send({"jsonrpc": "2.0", "id": id_,
                      "error": {"code": -32602, "message": "Unknown tool: " + str(name)}})
        elif id_ is not None:
            send({"jsonrpc": "2.0", "id": id_,
                  "error": {"code": -32601, "message": "Method not found: " + str(method)}})


if __name__ == "__main__":
    try:
        main()
    except (BrokenPipeError, KeyboardInterrupt):
        pass
