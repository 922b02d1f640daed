"""Untimed model of the block's frontend-to-backend links: which substream buffer depths deadlock.

Each frontend lane pushes its golden T1 stream, one token a step, into one FIFO per filter row
``r`` (a column marker goes to every ``r`` the lane feeds, one a step); each backend lane merges
its ``R`` substreams on ``(q, k)`` and pops one key a step once every source offers a head. The
run deadlocks when a step moves nothing before every row is complete. Prints, per FIFO depth,
how many random layers completed (the merge itself is checked against ``kmerger_out`` in
tests/test_isos.py).

    python scripts/explore_backend.py --layers 40 --seed 1 [--json reports/explore_backend.json]
"""

import argparse
import json
from collections import deque

import numpy as np

from isosceles.golden.isos import isos_streams


def random_layer(rng):
    R, S = int(rng.integers(1, 6)), int(rng.integers(1, 4))
    stride, ph = int(rng.integers(1, 3)), int(rng.integers(0, R))
    H, W = int(rng.integers(max(R, 2), 9)), int(rng.integers(S, 12))
    C, K = int(rng.integers(1, 6)), int(rng.integers(1, 9))
    i = rng.integers(-8, 8, (H, W, C)) * (rng.random((H, W, C)) < rng.random())
    f = rng.integers(-8, 8, (C, R, K, S)) * (rng.random((C, R, K, S)) < rng.random())
    return isos_streams(i, f, stride=stride, padding=(ph, 0))


def run(s, depth):
    """Simulate the links of one layer with FIFOs of ``depth`` tokens; True if it completes."""
    g = s.geometry
    fifos = {key: deque() for key in s.substreams}
    lanes = {h: deque(s.t1[h]) for h in range(g.H)}
    fanout = {h: [r for r in range(g.R) if (h, r) in fifos] for h in range(g.H)}
    marker_left = {h: [] for h in range(g.H)}
    sources = {p: [(p * g.stride + r - g.ph, r) for r in range(g.R)
                   if (p * g.stride + r - g.ph, r) in fifos] for p in range(g.P)}
    done = {p: not sources[p] for p in range(g.P)}
    while not all(done.values()):
        moved = False
        for h, stream in lanes.items():
            if marker_left[h]:
                key = (h, marker_left[h][0])
                if len(fifos[key]) < depth:
                    fifos[key].append(stream[0])
                    marker_left[h].pop(0)
                    moved = True
                    if not marker_left[h]:
                        stream.popleft()
            elif stream:
                token = stream[0]
                if token["marker"]:
                    marker_left[h] = list(fanout[h])
                    moved = True
                elif len(fifos[(h, token["r"])]) < depth:
                    fifos[(h, token["r"])].append(stream.popleft())
                    moved = True
        for p, keys in sources.items():
            if done[p] or not all(fifos[key] for key in keys):
                continue
            heads = {key: fifos[key][0] for key in keys}
            least = min((t["q"], t["marker"], t["k"]) for t in heads.values())
            taken = [fifos[key].popleft() for key, t in heads.items()
                     if (t["q"], t["marker"], t["k"]) == least]
            done[p] = bool(taken[0]["marker"] and taken[0]["last"])
            moved = True
        if not moved:
            return False
    return True


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--layers", type=int, default=40)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--json")
    args = parser.parse_args()
    rng = np.random.default_rng(args.seed)
    layers = [random_layer(rng) for _ in range(args.layers)]
    most = max(max(len([t for t in stream if not t["marker"]]) for stream in s.substreams.values())
               for s in layers)
    results = {}
    for depth in (1, 2, 4, 8, "column"):
        completed = sum(run(s, s.geometry.K + 1 if depth == "column" else depth) for s in layers)
        results[str(depth)] = completed
        print(f"substream FIFO depth {depth!s:>6}: {completed} of {len(layers)} layers completed")
    print(f"(largest substream in these layers: {most} data tokens)")
    if args.json:
        with open(args.json, "w") as file:
            json.dump({"seed": args.seed, "layers": args.layers, "completed": results}, file)


if __name__ == "__main__":
    main()
