"""Speed of MV-BiGAN: training and sampling images per second at the thesis
configurations (MNIST: 1,500-unit MLPs on 28×28 digits, four quadrant
views, batch 128; CelebA: the Tab. 3.1 conv stacks on 64×64 faces,
attributes + incomplete face, batch 16) and at the quick preset.

    python benchmarks/mv_bigan.py --device cpu
    python benchmarks/mv_bigan.py --device cuda --steps 20

A training image is one target with all its nested view sets (V subsets
through H and D2). Sampling counts completions drawn from one view set.
Data loading is left out (random targets of the right shape).
"""

from __future__ import annotations

import argparse
import time

import torch

CONFIGS = {
    "thesis-mnist": {},
    "thesis-celeba": {"variant": "conv", "views": "attributes-face", "image_size": 64, "channels": 3, "batch_size": 16},
}



def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def bench(name: str, device: torch.device, steps: int, warmup: int) -> dict:
    from zoo import api
    from zoo.engine import standalone_step
    from zoo.plugins.mv_bigan.method import Views

    preset = "quick" if name == "quick" else "thesis"
    method = api.make("mv-bigan", preset=preset, **CONFIGS.get(name, {}))
    c = method.config
    model = method.build().to(device).train()
    step = standalone_step(method, model, device)
    B, S = c.batch_size, c.image_size
    batch = {"image": torch.rand(B, c.channels, S, S, device=device),
             "attributes": torch.randint(0, 2, (B, 1, c.attributes), device=device).float()}
    for i in range(warmup):
        method.train_step(model, batch, step)
    _sync(device)
    t = time.perf_counter()
    for i in range(steps):
        method.train_step(model, batch, step)
    _sync(device)
    train_s = (time.perf_counter() - t) / steps
    model.eval()
    n = 64
    views = [v[:1] for v in Views(c).from_batch(batch)[1]]  # one target's views
    mask = torch.ones(1, 1, model.n_views, device=device)
    with torch.no_grad():
        _sync(device)
        t = time.perf_counter()
        reps = max(1, steps // 2)
        for _ in range(reps):
            mean, var = model.encode_views(views, mask)
            model.G(mean[0] + var[0].sqrt() * torch.randn(n, c.z_dim, device=device))
        _sync(device)
    sample_s = (time.perf_counter() - t) / reps
    return {"config": name, "variant": c.variant, "size": S, "batch": B,
            "params": sum(p.numel() for p in model.parameters()),
            "train_img_s": B / train_s, "step_ms": 1000 * train_s, "sample_img_s": n / sample_s}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--configs", default="thesis-mnist,thesis-celeba,quick")
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--threads", type=int, default=0, help="CPU threads (0: torch's default)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    rows = [bench(name, device, args.steps, args.warmup) for name in args.configs.split(",")]
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else f"CPU, {torch.get_num_threads()} threads"
    print(f"\nDevice: {name}; torch {torch.__version__}\n")
    print("| config | variant | image | batch | params | train img/s | ms/step | sample img/s |")
    print("|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['config']} | {r['variant']} | {r['size']}×{r['size']} | {r['batch']} | {r['params'] / 1e6:.2f} M "
              f"| {r['train_img_s']:.1f} | {r['step_ms']:.0f} | {r['sample_img_s']:.1f} |")


if __name__ == "__main__":
    main()
