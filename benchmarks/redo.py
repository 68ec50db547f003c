"""ReDO training speed and peak memory.

    python benchmarks/redo.py --device cpu
    python benchmarks/redo.py --device cuda --steps 20

Times full training iterations (the F/G_k/δ step and the D step of
`train_step`, optimizers included) on synthetic-flowers batches already in
memory, at the thesis setting (128x128, 2 x 20 images, ch 32, nf 64) and at
the quick preset, and prints a table: iterations per second, seconds per
iteration and peak memory (CUDA: `max_memory_allocated`; CPU: the process's
peak resident set size, which includes Python and torch themselves).
"""

from __future__ import annotations

import argparse
import resource
import sys
import time

import torch


def peak_memory_mb(device: torch.device) -> float:
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return rss / 2**20 if sys.platform == "darwin" else rss / 2**10  # bytes on macOS, KiB elsewhere


def bench(preset: str, device: torch.device, steps: int, warmup: int) -> dict:
    from zoo.data.segmentation import SyntheticFlowers
    from zoo.engine import standalone_step
    from zoo.method import make_config
    from zoo.plugin_manager import get_plugin_manager

    cls = get_plugin_manager().method("redo")
    method = cls(make_config(cls, preset=preset, dataset="synthetic-flowers"))
    c = method.config
    torch.manual_seed(0)
    model = method.build().to(device).train()
    step = standalone_step(method, model, device)
    data = SyntheticFlowers("train", c.size)
    batch = {"image": torch.stack([data[i]["image"] for i in range(c.batch_size)]).to(device)}
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)

    def sync():
        if device.type == "cuda":
            torch.cuda.synchronize(device)

    for i in range(warmup):
        step.index = i
        method.train_step(model, batch, step)
    sync()
    start = time.perf_counter()
    for i in range(steps):
        step.index = warmup + i
        method.train_step(model, batch, step)
    sync()
    seconds = (time.perf_counter() - start) / steps
    return {
        "preset": preset,
        "size": c.size,
        "batch": f"{c.batch_size // 2}+{c.batch_size // 2}",
        "params_M": sum(p.numel() for p in model.parameters()) / 1e6,
        "it_per_s": 1 / seconds,
        "s_per_it": seconds,
        "peak_MB": peak_memory_mb(device),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu", help="cpu, cuda, cuda:1, mps")
    parser.add_argument("--steps", type=int, default=3, help="timed iterations per setting")
    parser.add_argument("--warmup", type=int, default=1, help="untimed iterations first")
    parser.add_argument("--threads", type=int, default=None, help="CPU threads (torch.set_num_threads)")
    parser.add_argument("--presets", default="quick,thesis", help="comma-separated, run in this order")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    rows = [bench(p, device, args.steps, args.warmup) for p in args.presets.split(",")]
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else f"cpu, {torch.get_num_threads()} thread(s)"
    print(f"ReDO training iterations on {name}, torch {torch.__version__}")
    print(f"{'preset':8} {'size':>5} {'batch':>7} {'params(M)':>10} {'it/s':>8} {'s/it':>8} {'peak MB':>9}")
    for r in rows:
        print(f"{r['preset']:8} {r['size']:>5} {r['batch']:>7} {r['params_M']:>10.2f} {r['it_per_s']:>8.3f} "
              f"{r['s_per_it']:>8.3f} {r['peak_MB']:>9.0f}")


if __name__ == "__main__":
    main()
