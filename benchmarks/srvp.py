"""SRVP speed: training sequences per second and prediction frames per second.

    python benchmarks/srvp.py --device cpu
    python benchmarks/srvp.py --device cuda

At the thesis configurations of Stochastic Moving MNIST (DCGAN, 64x64, 15
training frames, 5 -> 20 at test) and KTH (VGG with skip connections, 64x64,
20 training frames, 10 -> 30 at test), on random clips already in memory:

* training: full `train_step`s (forward, ELBO, backward, Adam), sequences/s;
* prediction: `predict` (encode the conditioning frames, infer, roll the
  latent dynamic forward, decode), predicted frames/s;
* decoding, to show why prediction is fast: SRVP's frames depend only on the
  latent states, so all T frames of a rollout go through the decoder in one
  batched call. An image-autoregressive model must instead decode frame t,
  then encode it back before it can compute frame t + 1: the same networks run
  T times on batches T times smaller, one after the other. The table gives
  frames/s for the batched decode, for frame-by-frame decoding, and for the
  frame-by-frame decode + re-encode loop, and the speed-up of the first.

The thesis batch sizes (128, 100) are used on CUDA; on CPU the default is a
batch of 8 clips (`--batch` to change it) so the run stays short.
"""

from __future__ import annotations

import argparse
import time

import torch

CONFIGS = {"SM-MNIST": "smmnist", "KTH": "kth"}


def timed(fn, device: torch.device, repeats: int) -> float:
    """Seconds per call of `fn`, after one warm-up call."""
    fn()
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    start = time.perf_counter()
    for _ in range(repeats):
        fn()
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return (time.perf_counter() - start) / repeats


def bench(label: str, dataset: str, device: torch.device, batch: int | None, repeats: int) -> dict:
    from zoo.engine import standalone_step
    from zoo.method import make_config
    from zoo.plugin_manager import get_plugin_manager

    cls = get_plugin_manager().method("srvp")
    method = cls(make_config(cls, preset="thesis", dataset=dataset))
    c = method.config
    B = batch or (c.batch_size if device.type == "cuda" else 8)
    torch.manual_seed(0)
    model = method.build().to(device)
    step = standalone_step(method, model, device)
    clips = {"video": torch.rand(B, c.train_len, c.channels, c.frame_size, c.frame_size, device=device)}
    model.train()
    t_train = timed(lambda: method.train_step(model, clips, step), device, repeats)

    model.eval()
    cond = torch.rand(B, c.n_cond, c.channels, c.frame_size, c.frame_size, device=device)
    T = c.n_pred
    with torch.no_grad():
        t_pred = timed(lambda: model.predict(cond, T), device, repeats)
        e, skips = model.encode(cond)
        w = model.content(e[:, -model.k :])
        last = [s[:, -1] for s in skips]
        h = model.rollout(torch.randn(B, c.h_size, device=device), e, c.n_cond + T).h[:, c.n_cond :]  # (B, T, H)

        def batched():
            return model.decode(h, w, last)  # one call on B*T states

        def frame_by_frame():
            return [model.decode(h[:, t : t + 1], w, last) for t in range(T)]  # T calls on B states

        def autoregressive():
            for t in range(T):  # decode frame t, encode it back for the next step
                frame = model.decode(h[:, t : t + 1], w, last)  # (B, 1, C, S, S)
                model.encode(frame)

        t_batched = timed(batched, device, repeats)
        t_loop = timed(frame_by_frame, device, repeats)
        t_auto = timed(autoregressive, device, repeats)
    return {
        "config": label, "batch": B, "train seq/s": B / t_train, "predict frames/s": B * T / t_pred,
        "decode batched": B * T / t_batched, "decode frame-by-frame": B * T / t_loop,
        "decode+encode loop": B * T / t_auto, "speed-up": t_auto / t_batched,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--batch", type=int, default=None, help="clips per batch (default: thesis on CUDA, 8 on CPU)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else f"CPU, {torch.get_num_threads()} thread(s)"
    print(f"SRVP, thesis configurations, {name}, torch {torch.__version__}")
    keys = None
    for label, dataset in CONFIGS.items():  # a row as soon as it is measured
        row = bench(label, dataset, device, args.batch, args.repeats)
        if keys is None:
            keys = list(row)
            print(" | ".join(keys))
            print(" | ".join("---" for _ in keys))
        print(" | ".join(f"{row[k]:.1f}" if isinstance(row[k], float) else str(row[k]) for k in keys), flush=True)


if __name__ == "__main__":
    main()
