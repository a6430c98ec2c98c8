"""The core's own plugin: built-in data sets, the noise-conditional MLP, and the default preset.

The core registers through the same hooks as every other plugin, so nothing here is special.
"""

from __future__ import annotations

from importlib import resources

from scorekit._hookspecs import hookimpl
from scorekit._registry import RegisterComponent, RegisterPreset
from scorekit.builtins import configs

_TOY = {
    "swiss_roll": "a 2-D swiss roll",
    "two_moons": "two interleaved half circles",
    "checkerboard": "uniform on the dark squares of a 4×4 board",
    "rings": "concentric rings",
    "spirals": "two interleaved spirals",
}


@hookimpl
def scorekit_register_components(register: RegisterComponent) -> None:
    sources = "scorekit.data.sources"
    register(
        "dataset",
        "eight_gaussians",
        factory=f"{sources}:radial_mixture",
        config=configs.RadialMixtureConfig,
        summary="8 modes on a circle of radius 4, std 0.3 (exact density)",
    )
    register(
        "dataset",
        "gaussian_mixture",
        factory=f"{sources}:gaussian_mixture",
        config=configs.GaussianMixtureConfig,
        summary="isotropic Gaussian mixture in d dimensions (exact density)",
    )
    register(
        "dataset",
        "standard_normal",
        factory=f"{sources}:standard_normal",
        config=configs.StandardNormalConfig,
        summary="N(0, I_d) (exact density)",
    )
    for name, summary in _TOY.items():
        register("dataset", name, factory=f"{sources}:{name}", config=configs.ToyDataConfig, summary=summary)
    register(
        "dataset",
        "file",
        factory=f"{sources}:array_file",
        config=configs.FileDataConfig,
        summary="your own (N, d) array in a .npy or .npz file",
    )
    register(
        "dataset",
        "digits",
        factory=f"{sources}:digits",
        config=configs.DigitsConfig,
        summary="scikit-learn's 8×8 handwritten digits, (N, 1, 8, 8) in [−1, 1]",
    )
    register(
        "dataset",
        "images",
        factory=f"{sources}:images",
        config=configs.ImageDataConfig,
        summary="your own images: a folder of image files or an (N, C, H, W) array, in [−1, 1]",
    )
    register(
        "model",
        "ncsn_mlp",
        factory="scorekit.nets.mlp:NCSNMLP",
        config=configs.NCSNMLPConfig,
        summary="noise-conditional MLP, continuous in σ, output scaled by 1/σ",
    )
    register(
        "model",
        "score_mlp",
        factory="scorekit.nets.score_mlp:ScoreMLP",
        config=configs.ScoreMLPConfig,
        summary="unconditional MLP for the clean data's score (ISM, SSM)",
    )
    register(
        "model",
        "time_mlp",
        factory="scorekit.nets.time_mlp:TimeMLP",
        config=configs.TimeMLPConfig,
        summary="time-conditioned MLP for vectors; predicts ε (default), the score, x₀ or v",
    )
    register(
        "model",
        "unet",
        factory="scorekit.nets.unet:UNet",
        config=configs.UNetConfig,
        summary="small time-conditioned UNet for images (C, H, W) of any size",
    )


@hookimpl
def scorekit_register_presets(register: RegisterPreset) -> None:
    text = resources.files("scorekit.presets").joinpath("ncsn.toml").read_text(encoding="utf-8")
    register("ncsn", text, summary="NCSN on eight_gaussians: multi-level DSM + annealed Langevin (the default)")
