#!/usr/bin/env python3
"""Reads the kernel timeline of one decode step (bench_cuda_engine --trace
FILE, a build configured with -DREWOO_CUDA_TRACE=ON; layout in
kernels/trace.h) and prints, per kernel of a layer, medians over the layers
of where its time goes, in microseconds:

  gap        its first release after the previous kernel's last block ended
  span       first release to last block end
  staged     x (GEMV) or the queries (attention) in shared memory, after release
  products   the GEMV's main loop (median block / slowest block)
  tail       last block end after the median block end
  SMs done   when each SM's last block of the kernel ended, after release:
             tenth percentile, median and last SM

  trace_timeline.py FILE [--layer N]   (--layer: that layer's kernels, each
                                        block event's spread)

Needs numpy.
"""
import argparse
import sys

import numpy as np

MAX_SMS, PER_SM, WORDS = 256, 8192, 8  # kernels/trace.h
GEMV, ATTN, ATTN_MERGED, ATTN_EMPTY, SWIGLU = 0, 1, 2, 3, 4  # TraceKind


def load(path):
    a = np.fromfile(path, dtype=np.uint64)
    if a.size != MAX_SMS + MAX_SMS * PER_SM * WORDS:
        sys.exit(f"{path}: {a.size} words, expected {MAX_SMS + MAX_SMS * PER_SM * WORDS} "
                 "(bench_cuda_engine --trace output)")
    counts = np.minimum(a[:MAX_SMS], PER_SM).astype(int)
    recs = a[MAX_SMS:].reshape(MAX_SMS, PER_SM, WORDS)
    rows = [recs[sm, :counts[sm]] for sm in range(MAX_SMS) if counts[sm]]
    if not rows:
        sys.exit(f"{path}: no records (was the step traced?)")
    r = np.concatenate(rows)
    packed = r[:, 3]
    kind = (packed & 7).astype(int)
    sm = np.concatenate([np.full(counts[i], i) for i in range(MAX_SMS) if counts[i]])
    grid = ((packed >> 3) & 0xFFFF).astype(int) * 4096 + ((packed >> 19) & 0xFFF).astype(int)
    t = r[:, [0, 1, 2, 4, 5, 6, 7]].astype(np.int64)
    base = t[:, 0].min()
    us = np.where(t > 0, (t - base) / 1000.0, np.nan)  # 0: not reached
    order = np.argsort(us[:, 0], kind="stable")
    return kind[order], grid[order], us[order], sm[order]


def kernels(kind, grid, us):
    """Splits the blocks into kernel launches: every block of a launch starts
    before any block of the next (the next is launched once all have)."""
    family = np.where(kind == GEMV, 0, np.where(kind == SWIGLU, 2, 1))
    sig = family * 10**9 + grid
    cuts = np.flatnonzero(np.diff(sig)) + 1
    return [(int(family[r[0]]), r) for r in np.split(np.arange(len(sig)), cuts)]


def names(launches):
    """GEMVs named by their neighbours: before attention q/k/v, after it o,
    before SwiGLU gate/up, after it down."""
    out = []
    for i, (fam, _) in enumerate(launches):
        if fam == 1:
            out.append("attention")
        elif fam == 2:
            out.append("swiglu")
        else:
            nxt = launches[i + 1][0] if i + 1 < len(launches) else None
            prv = launches[i - 1][0] if i > 0 else None
            out.append("gemv q/k/v" if nxt == 1 else "gemv gate/up" if nxt == 2
                       else "gemv o" if prv == 1 else "gemv down" if prv == 2 else "gemv")
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("file")
    ap.add_argument("--layer", type=int, default=-1)
    args = ap.parse_args()
    kind, grid, us, sm = load(args.file)
    start, rel, end, m0, m1, m2, m3 = (us[:, i] for i in range(7))
    launches = kernels(kind, grid, us)
    label = names(launches)
    print(f"{len(kind)} blocks in {len(launches)} kernels; step from first start to last end "
          f"{np.nanmax(end) - np.nanmin(start):.1f} us")
    stats, prev_end, layer = {}, None, -1
    for (fam, r), name in zip(launches, label):
        if name == "gemv q/k/v":
            layer += 1
        rel0, end1 = np.nanmin(rel[r]), np.nanmax(end[r])
        s = stats.setdefault(name, {})
        add = lambda k, v: s.setdefault(k, []).append(v)
        if prev_end is not None:
            add("gap", rel0 - prev_end)
        add("span", end1 - rel0)
        add("tail", end1 - np.nanmedian(end[r]))
        if fam == 0:
            done = np.array([np.nanmax(end[r][sm[r] == i]) for i in np.unique(sm[r])]) - rel0
            add("SMs done, tenth percentile", np.percentile(done, 10))
            add("SMs done, median", np.median(done))
            add("SMs done, last", done.max())
            add("staged, median block", np.nanmedian(m0[r] - rel[r]))
            add("staged, slowest block", np.nanmax(m0[r] - rel[r]))
            add("products, median block", np.nanmedian(m1[r] - m0[r]))
            add("products, slowest block", np.nanmax(m1[r] - m0[r]))
            add("atomics after products, median", np.nanmedian(end[r] - m1[r]))
        elif fam == 1:
            work = r[(kind[r] == ATTN) | (kind[r] == ATTN_MERGED)]
            merged = r[kind[r] == ATTN_MERGED]
            add("ranges with keys", len(work))
            add("queries staged, median range", np.nanmedian(m0[work] - rel[work]))
            add("range scored, median (tensor cores)", np.nanmedian(m1[work] - m0[work]))
            add("counted, last range", np.nanmax(m2[work]) - rel0)
            if len(merged):
                add("merge weights after count", np.nanmedian(m3[merged] - m2[merged]))
                add("merge written after weights", np.nanmedian(end[merged] - m3[merged]))
        if layer == args.layer:
            print(f"\nlayer {layer} {name}: {len(r)} blocks, starts {np.nanmin(start[r]):.2f}.."
                  f"{np.nanmax(start[r]):.2f}, released {rel0:.2f}..{np.nanmax(rel[r]):.2f}, "
                  f"ends {np.nanmin(end[r]):.2f}..{end1:.2f}")
            # each event of the blocks (attention: those with keys) after the
            # kernel's first release
            sel = r[(kind[r] == ATTN) | (kind[r] == ATTN_MERGED)] if fam == 1 else r
            for ev, col in (("start", start), ("released", rel), ("mark 0", m0), ("mark 1", m1),
                            ("mark 2", m2), ("mark 3", m3), ("end", end)):
                v = col[sel] - rel0
                v = v[~np.isnan(v)]
                if v.size:
                    p = np.percentile(v, [0, 10, 50, 90, 100])
                    print(f"  {ev:<9} min {p[0]:7.2f}  p10 {p[1]:7.2f}  median {p[2]:7.2f}  "
                          f"p90 {p[3]:7.2f}  max {p[4]:7.2f}   ({v.size} blocks)")
        prev_end = end1
    print(f"\nmedians over {layer + 1} layers (us; min..max over layers)")
    for name, s in stats.items():
        print(f"{name}")
        for k, v in s.items():
            v = np.array(v, dtype=float)
            if np.all(np.isnan(v)):
                continue
            print(f"  {k:<38} {np.nanmedian(v):8.2f}   ({np.nanmin(v):.2f}..{np.nanmax(v):.2f})")


if __name__ == "__main__":
    main()
