#!/usr/bin/env python3
"""bench_demo: the demo model end to end on held-out demo questions.

Runs `rewoo run` (mode ask) over the first N questions of
tests/data/demo/questions.jsonl with the local search backend on the demo
corpus, then reports plan validity, answer accuracy (the answer contains the
expected span, case-insensitive), tokens and latency.

  python3 tests/bench/bench_demo.py [--model tests/data/demo/model] [-n 250]
         [--rewoo build/rewoo] [--jobs 1] [--threads 0] [--out DIR]

Issue 8's targets: plans 100% valid, accuracy >= 70% on >= 200 questions.
Exit status 0 when both are met.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--model", default=os.path.join(REPO, "tests/data/demo/model"))
    ap.add_argument("--rewoo", default=os.path.join(REPO, "build/rewoo"))
    ap.add_argument("-n", "--questions", type=int, default=250)
    ap.add_argument("--jobs", type=int, default=1)
    ap.add_argument("--out", default=None, help="keep tasks/results here (default: a temp dir)")
    ap.add_argument("--extra", default="--temperature 0 --repeat-penalty 1",
                    help="more flags for `rewoo run` (default: greedy, no repetition penalty)")
    a = ap.parse_args()

    qs = [json.loads(l) for l in open(os.path.join(REPO, "tests/data/demo/questions.jsonl"))]
    qs = qs[: a.questions]
    out = a.out or tempfile.mkdtemp(prefix="rewoo-bench-demo-")
    os.makedirs(out, exist_ok=True)
    tasks = os.path.join(out, "tasks.jsonl")
    results = os.path.join(out, "results.jsonl")
    with open(tasks, "w") as f:
        for q in qs:
            f.write(json.dumps({"id": q["id"], "task": q["question"], "mode": "ask", "seed": 0}) + "\n")
    if os.path.exists(results):
        os.remove(results)
    env = dict(os.environ, REWOO_SEARCH_BACKEND="local",
               REWOO_LOCAL_DIR=os.path.join(REPO, "tests/data/demo/corpus"),
               REWOO_LOCAL_DB=os.path.join(out, "demo-index.db"))
    cmd = [a.rewoo, "run", "--model", a.model, "--input", tasks, "--output", results,
           "--jobs", str(a.jobs)] + a.extra.split()
    print("running:", " ".join(cmd), file=sys.stderr)
    t0 = time.time()
    rc = subprocess.call(cmd, env=env)
    wall = time.time() - t0
    if not os.path.exists(results):
        print(f"bench_demo: `rewoo run` wrote no results (exit {rc})", file=sys.stderr)
        return 1
    by_id = {}
    for line in open(results):
        try:
            r = json.loads(line)
            by_id[r["id"]] = r
        except (ValueError, KeyError):
            continue
    n = len(qs)
    valid = correct = ran = 0
    lat, plan_tok, ans_tok, prompt_tok = [], [], [], []
    misses = []
    for q in qs:
        r = by_id.get(q["id"])
        if not r:
            continue
        ran += 1
        plan = r.get("plan", {})
        valid += bool(plan.get("valid"))
        ans = r.get("answer", "") or ""
        ok = q["answer"].lower() in ans.lower()
        correct += ok
        if not ok and len(misses) < 8:
            misses.append((q["question"], q["answer"], ans[:120]))
        t = r.get("timings", {})
        if "total_ms" in t:
            lat.append(t["total_ms"])
        k = r.get("tokens", {})
        plan_tok.append(k.get("plan", 0))
        ans_tok.append(k.get("answer", 0))
        prompt_tok.append(k.get("plan_prompt", 0) + k.get("solve_prompt", 0))

    def pct(v, p):
        v = sorted(v)
        return v[min(len(v) - 1, int(p * len(v)))] if v else float("nan")

    print(f"bench_demo: {n} held-out demo questions, model {a.model}")
    print(f"  answered            {ran}/{n}")
    print(f"  plans valid         {valid / n:.1%}  (target 100%)")
    print(f"  answer accuracy     {correct / n:.1%}  (target >= 70%)")
    if plan_tok:
        print(f"  tokens / question   plan {statistics.mean(plan_tok):.1f}, answer "
              f"{statistics.mean(ans_tok):.1f}, prompts {statistics.mean(prompt_tok):.0f}")
    if lat:
        print(f"  latency / question  p50 {pct(lat, 0.5) / 1000:.2f} s, p95 {pct(lat, 0.95) / 1000:.2f} s, "
              f"mean {statistics.mean(lat) / 1000:.2f} s")
    print(f"  wall time           {wall:.1f} s  (jobs {a.jobs})")
    for m in misses:
        print(f"  miss: {m[0]!r} expected {m[1]!r} got {m[2]!r}")
    print(f"  results: {results}")
    return 0 if (valid == n and correct >= 0.7 * n) else 1


if __name__ == "__main__":
    sys.exit(main())
