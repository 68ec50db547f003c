"""Speed of the two-sample tests at the thesis's GAN-evaluation size: 10,000
real against 10,000 generated feature vectors of 2,048 dimensions (ResNet-34
on 64x64 images, §5.3.3), the pooled 20,000 split 50/50.

    python benchmarks/c2st.py --device cpu
    python benchmarks/c2st.py --device cuda

Prints tests per second (and seconds per test) for the linear-time MMD
(kernel width searched over 26 values on one half), C2ST-KNN (k = 100
neighbours of 10,000 training points) and C2ST-NN (Linear(2048, 20), 100
Adam epochs over 10,000 points at batch 64: 15,700 steps). Feature
extraction is left out. The thesis reports no timings.

Measured (`python benchmarks/c2st.py --device cpu`, 2 CPU cores shared with
other jobs, torch 2.14, float32):

    test       n       d      s/test   tests/s
    mmd     10000   2048       2.38      0.42
    knn     10000   2048       4.15      0.241
    nn      10000   2048      19.4       0.0516

GPU numbers are pending: python benchmarks/c2st.py --device cuda
"""

from __future__ import annotations

import argparse
import json
import time

import torch


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def time_test(name: str, x: torch.Tensor, y: torch.Tensor, device: torch.device, repeats: int, epochs: int) -> float:
    from zoo.metrics.two_sample import two_sample_test

    times = []
    for r in range(repeats):
        _sync(device)
        start = time.perf_counter()
        two_sample_test(x, y, name, seed=r, epochs=epochs, device=device)
        _sync(device)
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--n", type=int, default=10_000, help="points per sample")
    parser.add_argument("--dim", type=int, default=2048, help="feature dimension")
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--epochs", type=int, default=100, help="C2ST-NN epochs (the thesis: 100)")
    parser.add_argument("--tests", default="mmd,knn,nn")
    parser.add_argument("--json", default=None, help="also write the results to this file")
    args = parser.parse_args()

    device = torch.device(args.device)
    g = torch.Generator().manual_seed(0)
    x = torch.randn(args.n, args.dim, generator=g).relu()  # ReLU features, like a ResNet's last map
    y = (torch.randn(args.n, args.dim, generator=g) * 1.05).relu()
    rows = []
    print(f"{'test':6} {'n':>7} {'d':>6} {'s/test':>10} {'tests/s':>9}   ({device})")
    for name in args.tests.split(","):
        seconds = time_test(name, x, y, device, args.repeats, args.epochs)
        rows.append({"test": name, "n": args.n, "dim": args.dim, "seconds": seconds, "tests_per_s": 1 / seconds})
        print(f"{name:6} {args.n:7d} {args.dim:6d} {seconds:10.3g} {1 / seconds:9.3g}", flush=True)
    if args.json:
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump({"device": str(device), "rows": rows}, f, indent=2)


if __name__ == "__main__":
    main()
