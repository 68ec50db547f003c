"""Speed of GMV, CGMV, GANx-k and CGAN-views: training and sampling images
per second at the thesis configuration (3×64×64, DCGAN widths 64, batch 128)
and at the quick preset (3×32×32, widths 32, batch 32).

    python benchmarks/gmv.py --device cpu
    python benchmarks/gmv.py --device cuda --steps 20

A training image is one real pair's worth of work: batch_size pairs per
step (k-tuples for GANx-k). Sampling counts generated images. Data loading is
left out (a fixed batch of the embedded multi-view objects is reused).
"""

from __future__ import annotations

import argparse
import time

import torch



def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def bench(method_name: str, preset: str, device: torch.device, steps: int, warmup: int) -> dict:
    from zoo import api
    from zoo.engine import standalone_step
    from zoo.data.multiview import MultiViewObjects

    method = api.make(method_name, preset=preset)
    c = method.config
    model = method.build().to(device).train()
    step = standalone_step(method, model, device)
    k = max(2, getattr(c, "k", 2))
    data = MultiViewObjects("train", size=c.image_size, views=k)
    items = [data[i % len(data)] for i in range(min(c.batch_size, 64))]
    batch = torch.utils.data.default_collate(items)
    repeat = -(-c.batch_size // len(items))
    batch = {key: v.repeat(repeat, *[1] * (v.dim() - 1))[: c.batch_size].to(device) for key, v in batch.items()}
    for i in range(warmup):
        step.index = i
        method.train_step(model, batch, step)
    _sync(device)
    t = time.perf_counter()
    for i in range(steps):
        step.index = i
        method.train_step(model, batch, step)
    _sync(device)
    train_s = (time.perf_counter() - t) / steps
    model.eval()
    n = 16
    with torch.no_grad():
        shape = method.sample(model, n).shape
        _sync(device)
        t = time.perf_counter()
        for _ in range(max(1, steps // 2)):
            method.sample(model, n)
        _sync(device)
    sample_s = (time.perf_counter() - t) / max(1, steps // 2)
    images = shape[0] * shape[1] if len(shape) == 5 else shape[0]
    return {
        "method": method_name,
        "preset": preset,
        "size": c.image_size,
        "batch": c.batch_size,
        "params": sum(p.numel() for p in model.parameters()),
        "train_img_s": c.batch_size / train_s,
        "step_ms": 1000 * train_s,
        "sample_img_s": images / sample_s,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--methods", default="gmv,cgmv,gan-xk,cgan-views")
    parser.add_argument("--presets", default="thesis,quick")
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--threads", type=int, default=0, help="CPU threads (0: torch's default)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    rows = [bench(m, p, device, args.steps, args.warmup)
            for p in args.presets.split(",") for m in args.methods.split(",")]
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else f"CPU, {torch.get_num_threads()} threads"
    print(f"\nDevice: {name}; torch {torch.__version__}\n")
    print("| method | preset | image | batch | params | train img/s | ms/step | sample img/s |")
    print("|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['method']} | {r['preset']} | {r['size']}×{r['size']} | {r['batch']} | {r['params'] / 1e6:.2f} M "
              f"| {r['train_img_s']:.1f} | {r['step_ms']:.0f} | {r['sample_img_s']:.1f} |")


if __name__ == "__main__":
    main()
