"""GPU readiness in one script (issue 16, item 4): the CUDA tests, then speed per precision.

1. ``pytest -m cuda`` (the tests marked for a CUDA device; skipped on a machine without one).
2. For the digits UNet (the ``ddpm_digits`` preset, 8×8) and a 32×32 RGB UNet (synthetic images):
   training steps per second and samples per second (DDIM, 50 steps) for fp32, bf16 and fp16
   (fp16 only on CUDA; bf16 where the device supports it), through the same ``Run`` the CLI uses.
3. Host synchronizations per sampling step on CUDA (``torch.cuda.set_sync_debug_mode("warn")``
   counts every implicit device-to-host copy): the sampling loops should need none per step.

``--smoke`` runs the same code on the CPU in seconds with tiny sizes (the test suite does, so the
script cannot rot between GPU sessions; it writes nothing). Writes benchmarks/results/gpu.json;
prints a table.
Target: under 5 minutes on one GPU.
"""

from __future__ import annotations

import argparse
import json
import platform
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _presets import preset_run

ROOT = Path(__file__).resolve().parents[1]


def cuda_tests() -> dict[str, Any]:
    """``pytest -m cuda``: the exit code and the summary line."""
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-m", "cuda", "-p", "no:cacheprovider", str(ROOT / "tests")],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    lines = [line for line in done.stdout.splitlines() if line.strip()]
    return {
        "returncode": done.returncode,
        "summary": lines[-1] if lines else "",
        "seconds": time.perf_counter() - started,
    }


def precisions(device: str) -> list[str]:
    if device == "cuda":
        return ["fp32", "bf16", "fp16"] if torch.cuda.is_bf16_supported() else ["fp32", "fp16"]
    return ["fp32", "bf16"]


def synthetic_images(path: Path, size: int, num: int) -> Path:
    """``num`` RGB images of ``size``² (smooth random blobs), uint8, as an (N, 3, H, W) array file."""
    g = np.random.default_rng(0)
    yy, xx = np.mgrid[0:size, 0:size] / size
    images = np.empty((num, 3, size, size), dtype=np.uint8)
    for i in range(num):
        cx, cy, r = g.uniform(0.2, 0.8, 3)
        blob = np.exp(-((xx - cx) ** 2 + (yy - cy) ** 2) / (0.05 + 0.1 * r))
        images[i] = (255 * blob[None] * g.uniform(0.3, 1.0, (3, 1, 1))).astype(np.uint8)
    np.save(path, images)
    return path


def measure(case: str, precision: str, device: str, sizes: dict[str, int], tmp: Path) -> dict[str, Any]:
    overrides = [
        f"train.device='{device}'",
        f"train.precision='{precision}'",
        f"train.steps={sizes['steps']}",
        f"train.log_every={sizes['steps']}",
        f"train.checkpoint_every={sizes['steps']}",
        f"train.batch_size={sizes['batch']}",
        "sampler.kind='ddim'",
        f"sampler.steps={sizes['sample_steps']}",
        f"sample.chunk_size={sizes['samples']}",
    ]
    if case == "unet_32x32":
        array = synthetic_images(tmp / "images.npy", sizes["image"], sizes["images"])
        overrides += ["data.kind='images'", f"data.path='{array}'", "data.channels=3"]
    run = preset_run("ddpm_digits", overrides, tmp / f"{case}-{precision}")
    started = time.perf_counter()
    run.train()
    train_seconds = time.perf_counter() - started
    syncs = None
    started = time.perf_counter()
    if device == "cuda":
        torch.cuda.synchronize()
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            torch.cuda.set_sync_debug_mode("warn")
            try:
                run.sample(sizes["samples"])
                torch.cuda.synchronize()
            finally:
                torch.cuda.set_sync_debug_mode("default")
        syncs = sum("synchroniz" in str(w.message) for w in caught)
    else:
        run.sample(sizes["samples"])
    sample_seconds = time.perf_counter() - started
    nfe = run.last_sampling.nfe if run.last_sampling else None
    return {
        "case": case,
        "precision": precision,
        "train_steps_per_second": sizes["steps"] / train_seconds,
        "samples_per_second": sizes["samples"] / sample_seconds,
        "nfe": nfe,
        "host_syncs_per_step": None if syncs is None or not nfe else syncs / nfe,
    }


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="tiny sizes on the CPU, for the test suite")
    parser.add_argument("--skip-tests", action="store_true")
    args = parser.parse_args(argv)
    device = "cuda" if torch.cuda.is_available() and not args.smoke else "cpu"
    sizes = (
        {"steps": 3, "batch": 8, "samples": 4, "sample_steps": 2, "image": 16, "images": 16}
        if args.smoke
        else {"steps": 200, "batch": 128, "samples": 256, "sample_steps": 50, "image": 32, "images": 2048}
    )
    result: dict[str, Any] = {
        "device": torch.cuda.get_device_name(0) if device == "cuda" else platform.processor() or platform.machine(),
        "torch": torch.__version__,
        "smoke": args.smoke,
        "sizes": sizes,
    }
    if not args.skip_tests and not args.smoke:
        result["cuda_tests"] = cuda_tests()
        print(f"cuda tests: {result['cuda_tests']['summary']}", flush=True)
    rows = []
    with tempfile.TemporaryDirectory(prefix="scorekit-gpu-") as tmp:
        for case in ("unet_digits_8x8", "unet_32x32"):
            for precision in precisions(device):
                row = measure(case, precision, device, sizes, Path(tmp))
                rows.append(row)
                print(
                    f"{case:<16} {precision:<5} train {row['train_steps_per_second']:8.2f} steps/s   "
                    f"sample {row['samples_per_second']:8.2f} samples/s ({row['nfe']} NFE)   "
                    f"host syncs/step {row['host_syncs_per_step']}",
                    flush=True,
                )
    result["rows"] = rows
    if not args.smoke:  # the smoke run is the test suite's: it writes nothing
        out = ROOT / "benchmarks" / "results"
        out.mkdir(parents=True, exist_ok=True)
        (out / "gpu.json").write_text(json.dumps(result, indent=2))
    return result


if __name__ == "__main__":
    main()
