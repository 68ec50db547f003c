"""Speed of mAR-SCF and Glow at the thesis's CIFAR-10 configuration (3×32×32,
3 levels, 32 affine steps per level, 256 hidden channels; Tab. 6.2), side by
side: MARPS sampling in ms per image at batch 1 and batch 32, and training
images per second (forward, backward and Adamax step).

    python benchmarks/mar_scf.py --device cpu
    python benchmarks/mar_scf.py --device cuda --repeats 100

The thesis reports 6 ms per image for mAR-SCF (affine, 256 channels) and
13 ms for Glow (512 channels) at batch 32, averaged over 1000 runs on one
V100 (Tab. 6.2). Both models here use 256 channels, so the difference is the
prior. Weights are random (the speed does not depend on them) and ActNorm is
initialised on one random batch first. Data loading is left out.
"""

from __future__ import annotations

import argparse
import json
import time

import torch


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def build(name: str, hidden: int, device: torch.device):
    from zoo import api

    method = api.make(name, data="cifar10", preset="thesis", hidden_channels=hidden)
    model = method.build().to(device)
    levels = torch.randint(0, 256, (16, *method.config.image_shape), device=device).float()
    model.train()
    with torch.no_grad():
        method.log_density(model, levels)  # ActNorm's data-dependent init
    return method, model


def sample_ms(model, batch: int, repeats: int, device: torch.device) -> float:
    model.eval()
    with torch.no_grad():
        model.sample(batch)  # warm-up
        _sync(device)
        start = time.perf_counter()
        for _ in range(repeats):
            model.sample(batch)
        _sync(device)
    return (time.perf_counter() - start) * 1000 / (repeats * batch)


def train_images_per_s(method, model, batch: int, steps: int, device: torch.device) -> float:
    from zoo.metrics.density import bits_per_dim

    opt = torch.optim.Adamax(model.parameters(), lr=method.config.lr)
    model.train()
    levels = torch.randint(0, 256, (batch, *method.config.image_shape), device=device).float()

    def step():
        bpd = bits_per_dim(method.log_density(model, levels), method.dims, method.config.n_bins).mean()
        opt.zero_grad(set_to_none=True)
        bpd.backward()
        opt.step()

    step()  # warm-up
    _sync(device)
    start = time.perf_counter()
    for _ in range(steps):
        step()
    _sync(device)
    return steps * batch / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--hidden", type=int, default=256, help="coupling channels (Tab. 6.2 row: 256)")
    parser.add_argument("--repeats", type=int, default=None, help="sampling runs averaged (default: 2 on CPU, 100 on GPU)")
    parser.add_argument("--train-batch", type=int, default=None, help="training batch (default: 16 on CPU, 128 on GPU)")
    parser.add_argument("--train-steps", type=int, default=None, help="timed training steps (default: 2 on CPU, 20 on GPU)")
    parser.add_argument("--methods", nargs="+", default=["mar-scf", "glow"])
    parser.add_argument("--threads", type=int, default=None, help="CPU threads (torch.set_num_threads)")
    parser.add_argument("--json", default=None, help="also write the rows to this JSON file")
    args = parser.parse_args()
    device = torch.device(args.device)
    gpu = device.type == "cuda"
    repeats = args.repeats or (100 if gpu else 2)
    train_batch = args.train_batch or (128 if gpu else 16)
    train_steps = args.train_steps or (20 if gpu else 2)
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(0)

    rows = []
    for name in args.methods:
        method, model = build(name, args.hidden, device)
        rows.append({
            "method": name,
            "params_M": sum(p.numel() for p in model.parameters()) / 1e6,
            "sample_ms_b1": sample_ms(model, 1, repeats, device),
            "sample_ms_b32": sample_ms(model, 32, repeats, device),
            "train_img_s": train_images_per_s(method, model, train_batch, train_steps, device),
        })
        del model
    where = torch.cuda.get_device_name(device) if gpu else f"CPU, {torch.get_num_threads()} thread(s)"
    print(f"CIFAR-10 config: 3x32x32, 3 levels, 32 affine steps/level, {args.hidden} channels; {where}; "
          f"sampling mean of {repeats} runs, training batch {train_batch} x {train_steps} steps")
    print(f"{'method':<10}{'params (M)':>12}{'sample ms/img b=1':>20}{'sample ms/img b=32':>20}{'train img/s':>14}")
    for r in rows:
        print(f"{r['method']:<10}{r['params_M']:>12.2f}{r['sample_ms_b1']:>20.1f}{r['sample_ms_b32']:>20.1f}"
              f"{r['train_img_s']:>14.2f}")
    print("thesis, Tab. 6.2 (batch 32, one V100): mAR-SCF affine 256 ch 6 ms/img; Glow 512 ch 13 ms/img")
    if args.json:
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump({"device": where, "repeats": repeats, "train_batch": train_batch, "rows": rows}, f, indent=2)


if __name__ == "__main__":
    main()
