"""Bounded reads: special files refused, sizes checked before allocating, nesting and config sizes bounded.

Every refusal is one line naming the file or field and the limit; nothing here allocates much memory
or writes a large file (the "large" files are sparse).
"""

from __future__ import annotations

import os
import re
import socket
import struct
import tempfile
import zipfile
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

import scorekit._io as io_module
from scorekit._io import (
    MAX_CONFIG_BYTES,
    check_regular_file,
    format_bytes,
    memory_budget,
    open_regular_file,
    read_regular_bytes,
)
from scorekit._registry import Registry
from scorekit.builtins.configs import (
    GaussianMixtureConfig,
    ImageDataConfig,
    NCSNMLPConfig,
    RadialMixtureConfig,
    ScoreMLPConfig,
    StandardNormalConfig,
    TimeMLPConfig,
    UNetConfig,
)
from scorekit.cli import main
from scorekit.config import EvalConfig, SampleConfig, TrainConfig, load_config
from scorekit.config_text import MAX_NESTING, apply_overrides, parse_toml, read_toml_file
from scorekit.data.arrays import load_array, load_labels
from scorekit.data.images import load_images
from scorekit.errors import CheckpointError, ConfigError, DataError, UserError
from scorekit.validators import FieldError
from tests.conftest import small_config, write_toml

pytestmark = pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs FIFOs and /dev/zero (POSIX)")


def refused(kind: type[Exception], pattern: str, call: Callable[[], Any]) -> str:
    """Run ``call``, which must raise ``kind`` with a one-line message matching ``pattern``; the message."""
    with pytest.raises(kind) as info:
        call()
    message = str(info.value)
    assert re.search(pattern, message), f"{message!r} does not match {pattern!r}"
    assert "\n" not in message, message
    return message


def fifo(path: Path) -> Path:
    os.mkfifo(path)
    return path


def dev_zero(path: Path) -> Path:
    path.symlink_to("/dev/zero")
    return path


def lying_npy(path: Path, shape: tuple[int, ...] = (10**12, 2), descr: str = "<f8", sparse: int = 0) -> Path:
    """A real .npy header for ``shape``, then 64 zero bytes, or a sparse file of ``sparse`` bytes in all."""
    with path.open("wb") as f:
        np.lib.format.write_array_header_1_0(f, {"descr": descr, "fortran_order": False, "shape": shape})
        f.write(bytes(64))
        if sparse:
            f.truncate(sparse)
    return path


def png_header(path: Path, height: int, width: int) -> Path:
    """A PNG whose header declares height × width gray pixels but holds almost no data (never decoded)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    idat = zlib.compress(bytes(width + 1))  # one row
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b""))
    return path


def run_cli(args: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    """Run the CLI, which must exit 2 with one line 'error: ...' and no traceback; that line."""
    with pytest.raises(SystemExit) as info:
        main([str(a) for a in args])
    _, err = capsys.readouterr()
    assert info.value.code == 2, err
    assert err.startswith("error: ") and len(err.strip().splitlines()) == 1, err
    assert "Traceback" not in err
    return err.strip()


# ---------------------------------------------------------------- scorekit._io


def test_special_files_are_refused_by_name(tmp_path: Path) -> None:
    refused(
        DataError,
        r"^.*/pipe: is a FIFO \(named pipe\), not a regular file$",
        lambda: check_regular_file(fifo(tmp_path / "pipe")),
    )
    refused(
        DataError,
        r"zero: links to /dev/zero, a character device, not a regular file$",
        lambda: check_regular_file(dev_zero(tmp_path / "zero")),
    )
    refused(DataError, r"is a character device, not a regular file$", lambda: check_regular_file("/dev/zero"))
    refused(DataError, r"is a directory, not a regular file$", lambda: check_regular_file(tmp_path))
    # The error type is the caller's: a checkpoint's reader passes CheckpointError.
    refused(CheckpointError, r"is a FIFO", lambda: open_regular_file(tmp_path / "pipe", error=CheckpointError))
    with pytest.raises(FileNotFoundError):
        check_regular_file(tmp_path / "missing")


def test_sockets_are_refused(tmp_path: Path) -> None:
    # A short directory: a socket's path is limited to about 100 bytes.
    with tempfile.TemporaryDirectory(dir="/tmp") as directory:
        path = Path(directory) / "s"
        server = socket.socket(socket.AF_UNIX)
        try:
            server.bind(str(path))
            refused(DataError, r"s: is a socket, not a regular file$", lambda: open_regular_file(path))
        finally:
            server.close()


def test_regular_files_open_and_read_within_their_limit(tmp_path: Path) -> None:
    path = tmp_path / "a.txt"
    path.write_bytes(b"0123456789")
    assert check_regular_file(path, max_bytes=10) == 10
    with open_regular_file(path) as f:
        assert f.read() == b"0123456789"
    assert read_regular_bytes(path, max_bytes=10) == b"0123456789"
    refused(
        DataError,
        r"a\.txt: is 10 bytes, more than the 9 bytes a config may be$",
        lambda: read_regular_bytes(path, what="config", max_bytes=9),
    )
    # A symlink to a regular file is fine.
    (tmp_path / "link").symlink_to(path)
    assert read_regular_bytes(tmp_path / "link", max_bytes=100) == b"0123456789"


def test_size_is_checked_before_reading_and_reads_are_bounded(tmp_path: Path) -> None:
    sparse = tmp_path / "sparse.toml"
    with sparse.open("wb") as f:
        f.truncate(10 * 2**30)  # sparse: no disk used, and never read
    refused(
        ConfigError,
        r"sparse\.toml: is 10 GiB, more than the 1 MiB a config may be$",
        lambda: read_regular_bytes(sparse, what="config", error=ConfigError, max_bytes=MAX_CONFIG_BYTES),
    )
    # /proc files are regular but report a size of 0: the read itself stops past the limit.
    proc = Path("/proc/self/status")
    if proc.exists():
        refused(
            DataError, r"status: is more than the 8 bytes a file may be$", lambda: read_regular_bytes(proc, max_bytes=8)
        )


def test_format_bytes_and_memory_budget(monkeypatch: pytest.MonkeyPatch) -> None:
    assert format_bytes(1) == "1 byte" and format_bytes(192) == "192 bytes"
    assert format_bytes(2**20) == "1 MiB" and format_bytes(16 * 10**12) == "14.6 TiB"
    monkeypatch.setattr(io_module, "MAX_ARRAY_BYTES", 1000)
    assert memory_budget() == (1000, "the 1000 bytes memory budget for one array")
    monkeypatch.setattr(io_module, "MAX_ARRAY_BYTES", 2**80)
    budget, named = memory_budget()
    assert budget < 2**80 and named.startswith("half of this machine's")


# ---------------------------------------------------------------- config files and --set


def test_config_files_must_be_regular_and_small(tmp_path: Path) -> None:
    refused(
        ConfigError,
        r"c\.toml: is a FIFO \(named pipe\), not a regular file$",
        lambda: read_toml_file(fifo(tmp_path / "c.toml")),
    )
    refused(
        ConfigError,
        r"z\.toml: links to /dev/zero, a character device",
        lambda: read_toml_file(dev_zero(tmp_path / "z.toml")),
    )
    (tmp_path / "d.toml").mkdir()
    refused(ConfigError, r"d\.toml: is a directory, not a regular file$", lambda: read_toml_file(tmp_path / "d.toml"))
    big = tmp_path / "big.toml"
    big.write_text("# " + "x" * MAX_CONFIG_BYTES + "\n")
    refused(
        ConfigError,
        r"big\.toml: is 1,048,579 bytes, more than the 1,048,576 bytes \(1 MiB\) a config may be$",
        lambda: read_toml_file(big),
    )
    refused(ConfigError, r"none\.toml: no such file$", lambda: read_toml_file(tmp_path / "none.toml"))
    crlf = tmp_path / "crlf.toml"
    crlf.write_bytes(b"[train]\r\nsteps = 3\r\n")
    assert read_toml_file(crlf) == {"train": {"steps": 3}}


def nested_arrays(levels: int) -> str:
    return "[" * levels + "]" * levels


DEEP_DOCUMENTS = {
    "arrays": f"a = {nested_arrays(500)}",
    "inline tables": "a = " + "{b = " * 500 + "1" + "}" * 500,
    "dotted keys": "a" + ".b" * 500 + " = 1",
    "table header": "[" + ".".join(["t"] * 500) + "]\nx = 1",
    "arrays, just too deep": f"a = {nested_arrays(MAX_NESTING + 1)}",
    "tables, just too deep": "[" + ".".join(["t"] * (MAX_NESTING + 1)) + "]",
}


@pytest.mark.parametrize("text", DEEP_DOCUMENTS.values(), ids=DEEP_DOCUMENTS.keys())
def test_deep_documents_are_refused_in_one_line(text: str) -> None:
    refused(
        ConfigError,
        rf"^deep\.toml: tables and arrays nested more than {MAX_NESTING} levels deep",
        lambda: parse_toml(text, "deep.toml"),
    )


def test_nesting_up_to_the_limit_is_accepted() -> None:
    # The document itself is not counted: a = [[...]] nests as many levels as it has brackets.
    document = parse_toml(f"a = {nested_arrays(MAX_NESTING)}", "ok.toml")
    assert isinstance(document["a"], list)
    assert parse_toml("[" + ".".join(["t"] * MAX_NESTING) + "]", "ok.toml")


def test_integers_beyond_python_s_digit_limit_are_invalid_toml() -> None:
    message = refused(
        ConfigError, r"^big\.toml: invalid TOML: .*4300 digits", lambda: parse_toml("a = " + "9" * 5000, "big.toml")
    )
    assert "set_int_max_str_digits" not in message


@pytest.mark.parametrize(
    "override",
    [
        f"a={nested_arrays(500)}",
        f"a={nested_arrays(40)}",
        "a=" + "{b=" * 400 + "1" + "}" * 400,
        "a" + ".b" * 500 + "=1",
        "a" + ".b" * MAX_NESTING + "=[1]",
    ],
    ids=["deep array", "array just too deep", "deep inline tables", "500 keys", "keys and value too deep"],
)
def test_deep_overrides_are_refused_in_one_line(override: str) -> None:
    message = refused(
        ConfigError,
        rf"^--set '.*: tables and arrays nested more than {MAX_NESTING} levels",
        lambda: apply_overrides({}, [override]),
    )
    assert len(message) < 300  # the override is shown shortened


def test_overrides_up_to_the_limit_are_accepted() -> None:
    # a.b.….b = [1]: 31 tables and an array; c = [[…]]: 32 arrays.
    raw = apply_overrides({}, ["a" + ".b" * (MAX_NESTING - 1) + "=[1]", f"c={nested_arrays(MAX_NESTING)}"])
    assert isinstance(raw["c"], list)


def test_cli_refuses_special_and_deep_configs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    write_toml(tmp_path / "base.toml", small_config())
    fifo(tmp_path / "pipe.toml")
    dev_zero(tmp_path / "zero.toml")
    (tmp_path / "deep.toml").write_text(DEEP_DOCUMENTS["arrays"])
    (tmp_path / "extends.toml").write_text("base = 'pipe.toml'\n")
    assert re.search(r"^error: pipe\.toml: is a FIFO", run_cli(["train", "pipe.toml"], capsys))
    assert re.search(r"^error: zero\.toml: links to /dev/zero", run_cli(["train", "zero.toml"], capsys))
    assert re.search(r"^error: deep\.toml: tables and arrays nested", run_cli(["train", "deep.toml"], capsys))
    # A base that is a FIFO is refused too, never waited on.
    assert "pipe.toml" in run_cli(["train", "extends.toml"], capsys)
    err = run_cli(["train", "base.toml", "--set", "a" + ".b" * 500 + "=1"], capsys)
    assert re.search(r"^error: --set 'a\.b\.b.*nested more than 32 levels", err)
    err = run_cli(["train", "base.toml", "--set", f"model.hidden={nested_arrays(500)}"], capsys)
    assert re.search(r"^error: --set 'model\.hidden=\[\[.*nested more than 32 levels", err)


# ---------------------------------------------------------------- keys shown visibly


@pytest.mark.parametrize(
    ("key", "shown"),
    [("hid\u200bden", r"'hid\\u200bden'"), ("hid\x07den", r"'hid\\x07den'"), ("hidden ", r"'hidden '")],
    ids=["zero-width space", "control character", "trailing blank"],
)
def test_invisible_characters_in_unknown_keys_are_shown_escaped(registry: Registry, key: str, shown: str) -> None:
    raw = small_config()
    raw["model"][key] = 64
    message = refused(
        ConfigError,
        rf"^extra fields found \({shown}\); did you mean 'hidden'\? @ \$\.model$",
        lambda: load_config(raw, registry),
    )
    assert key.isprintable() or key not in message
    raw = small_config()
    raw["tra\u200bin"] = {}
    refused(
        ConfigError,
        r"^extra fields found \('tra\\u200bin'\); did you mean 'train'\? @ \$$",
        lambda: load_config(raw, registry),
    )


def test_printable_keys_are_shown_as_they_are(registry: Registry) -> None:
    raw = small_config()
    raw["model"]["höhe"] = 64
    refused(ConfigError, r"^extra fields found \(höhe\) @ \$\.model$", lambda: load_config(raw, registry))


# ---------------------------------------------------------------- config sizes


@pytest.mark.parametrize(
    ("section", "field", "value", "message"),
    [
        ("train", "steps", 10**10, r"must be ≤ 1,000,000,000 \(the limit on training steps\), got 10000000000"),
        ("train", "batch_size", 10**20, r"must be ≤ 1,048,576 \(the limit on batch sizes\), got 1e\+20"),
        ("train", "lr", 1e38, r"must be ≤ 10 \(the limit on learning rates\), got 1e\+38"),
        ("train", "lr", float("inf"), r"must be a finite number > 0, got inf"),
        ("train", "weight_decay", float("inf"), r"must be finite, got inf"),
        ("train", "weight_decay", float("nan"), r"must be finite, got nan"),
        ("train", "weight_decay", 1e3, r"must be ≤ 10 \(the limit on weight decay\), got 1000\.0"),
        ("train", "seed", 2**63, r"must be an integer in \[0, 2\*\*63\)"),
        ("sample", "num", 10**9, r"must be ≤ 100,000,000 \(the limit on samples\)"),
        ("sample", "chunk_size", 10**9, r"must be ≤ 1,048,576 \(the limit on batch sizes\)"),
        ("eval", "num_samples", 10**9, r"must be ≤ 100,000,000 \(the limit on samples\)"),
        ("eval", "num_points", 10**9, r"must be ≤ 100,000,000 \(the limit on points evaluated\)"),
        ("model", "hidden", 10**15, r"must be ≤ 65,536 \(the limit on network widths\), got 1e\+15"),
        ("model", "layers", 10**5, r"must be ≤ 1,000 \(the limit on network depths\)"),
        ("model", "embedding_dim", 2**20, r"must be ≤ 65,536 \(the limit on network widths\)"),
        (
            "model",
            "hidden",
            60_000,
            r"hidden = 60000 with layers = 2 makes at least 7\.2\de\+09 weights, more than the limit of 1,000,000,000",
        ),
        ("data", "num_train", 10**9, r"must be ≤ 100,000,000 \(the limit on data points\)"),
        ("data", "num_heldout", 10**9, r"must be ≤ 100,000,000 \(the limit on data points\)"),
        ("data", "num_modes", 10**7, r"must be ≤ 100,000 \(the limit on mixture components\)"),
        ("schedule", "num_levels", 10**8, r"must be ≤ 1,000,000 \(the limit on noise levels\)"),
        ("sampler", "steps_per_level", 10**7, r"must be ≤ 1,000,000 \(the limit on sampler steps\)"),
    ],
)
def test_sizes_above_their_limit_are_refused_with_the_limit(
    registry: Registry, section: str, field: str, value: object, message: str
) -> None:
    raw = small_config(**{section: {field: value}})
    refused(ConfigError, rf"{message}.* @ \$\.{section}\.{field}$", lambda: load_config(raw, registry))


def test_sizes_at_their_limit_are_accepted() -> None:
    assert TrainConfig(steps=10**9, batch_size=2**20, lr=10.0, weight_decay=10.0).steps == 10**9
    assert SampleConfig(num=10**8, chunk_size=2**20).num == 10**8
    assert EvalConfig(num_samples=10**8, num_points=10**8).num_points == 10**8
    NCSNMLPConfig(hidden=20_000, layers=2, embedding_dim=2)
    ScoreMLPConfig(hidden=65_536, layers=1, activation="softplus")
    RadialMixtureConfig(num_modes=100_000, num_train=10**8, num_heldout=2)
    ImageDataConfig(path="x", max_images=10**8, size=[4096, 4096])


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: StandardNormalConfig(dim=2**21), r"dim: must be ≤ 1,048,576 \(the limit on data dimensions\)"),
        (
            lambda: StandardNormalConfig(dim=100_000),
            r"num_train: num_train \+ num_heldout = 60,000 points of dimension 100,000 take 22\.4 GiB as float32, "
            r"more than the 4 GiB memory budget for one array",
        ),
        (
            lambda: GaussianMixtureConfig(means=[[0.0] * 10_000], num_train=10**6),
            r"num_train: .*points of dimension 10,000",
        ),
        (
            lambda: TimeMLPConfig(hidden=30_000),
            r"hidden: hidden = 30000 with layers = 3 makes at least 6\.3e\+09 weights",
        ),
        (
            lambda: NCSNMLPConfig(hidden=10_000, layers=2, classes=100_000),
            r"hidden: hidden = 10000 with layers = 2 and classes = 100000 makes at least 3\.2e\+09 weights",
        ),
        (
            lambda: UNetConfig(channels=1504, classes=100_000),
            r"channels: channels = 1504 with channel_mult = \[1, 2, 2\], classes = 100000 and num_res_blocks = 1 makes",
        ),
        (lambda: ScoreMLPConfig(hidden=50_000, layers=3), r"hidden: .*at least 5e\+09 weights"),
        (
            lambda: UNetConfig(channels=4096),
            r"channels: channels = 4096 with channel_mult = \[1, 2, 2\] and num_res_blocks = 1 makes at least",
        ),
        (lambda: UNetConfig(num_res_blocks=10**4), r"num_res_blocks: must be ≤ 1,000 \(the limit on network depths\)"),
        (
            lambda: ImageDataConfig(path="x", max_images=10**9),
            r"max_images: must be ≤ 100,000,000 \(the limit on data points\)",
        ),
    ],
)
def test_core_configs_bound_their_sizes(make: Callable[[], object], message: str) -> None:
    refused(FieldError, message, make)


def test_plugin_configs_bound_their_sizes() -> None:
    from scorekit_adjoint_ode.config import AdaptiveConfig, FixedStepConfig
    from scorekit_annealed_langevin.config import AnnealedLangevinConfig
    from scorekit_cnf.config import CNFMLPConfig
    from scorekit_ddpm.config import AncestralConfig, CosineScheduleConfig, DDIMConfig, LinearScheduleConfig
    from scorekit_dsm.config import GeometricScheduleConfig
    from scorekit_hutchinson.config import ExactTraceConfig, HutchinsonConfig
    from scorekit_langevin.config import LangevinConfig
    from scorekit_sde.config import OUConfig, ReverseSDEConfig, VEConfig, VPConfig
    from scorekit_ssm.config import SSMConfig

    steps = r"must be ≤ 1,000,000 \(the limit on (solver|sampler|schedule) steps\)"
    levels = r"must be ≤ 1,000,000 \(the limit on noise levels\)"
    probes = r"must be ≤ 65,536 \(the limit on (probes per sample|vectors per pass)\)"
    cases: list[tuple[Callable[[], object], str]] = [
        (lambda: FixedStepConfig(steps=10**7), steps),
        (lambda: AdaptiveConfig(max_steps=10**7), steps),
        (lambda: AnnealedLangevinConfig(steps_per_level=10**7), steps),
        (lambda: AnnealedLangevinConfig(levels=10**7), levels),
        (lambda: CNFMLPConfig(hidden=10**6), r"must be ≤ 65,536 \(the limit on network widths\)"),
        (lambda: CNFMLPConfig(hidden=40_000, layers=3), r"makes at least 3\.2e\+09 weights"),
        (lambda: LinearScheduleConfig(num_steps=10**7), steps),
        (lambda: CosineScheduleConfig(num_steps=10**7), steps),
        (lambda: AncestralConfig(steps=10**7), steps),
        (lambda: DDIMConfig(steps=10**7), steps),
        (lambda: GeometricScheduleConfig(num_levels=10**7), levels),
        (lambda: ExactTraceConfig(vjps_per_pass=10**6), probes),
        (lambda: HutchinsonConfig(probes=10**6), probes),
        (lambda: LangevinConfig(num_steps=10**7), steps),
        (lambda: VEConfig(num_levels=10**7), levels),
        (lambda: VPConfig(num_levels=10**7), levels),
        (lambda: OUConfig(num_levels=10**7), levels),
        (lambda: ReverseSDEConfig(steps=10**7), steps),
        (lambda: ReverseSDEConfig(corrector_steps=10**7), steps),
        (lambda: SSMConfig(projections=10**6), probes),
    ]
    for make, message in cases:
        refused(FieldError, message, make)


def test_cli_refuses_huge_sizes_with_their_limit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    write_toml(tmp_path / "base.toml", small_config())
    err = run_cli(["train", "base.toml", "--set", "model.hidden=1000000000000000"], capsys)
    assert err.endswith("must be ≤ 65,536 (the limit on network widths), got 1e+15 @ $.model.hidden")
    err = run_cli(["train", "base.toml", "--set", "train.lr=1e38"], capsys)
    assert err.endswith("must be ≤ 10 (the limit on learning rates), got 1e+38 @ $.train.lr")
    err = run_cli(["train", "base.toml", "--set", "model.hid\u200bden=64"], capsys)
    assert err == r"error: extra fields found ('hid\u200bden'); did you mean 'hidden'? @ $.model"


# ---------------------------------------------------------------- arrays


def test_lying_npy_header_is_refused_before_allocating(tmp_path: Path) -> None:
    path = lying_npy(tmp_path / "lie.npy")
    refused(
        DataError,
        r"^.*lie\.npy: cannot read file: the header of the array declares shape \(1000000000000, 2\) float64 = "
        r"14\.6 TiB, but the file holds 192 bytes in all$",
        lambda: load_array(path),
    )


def test_arrays_beyond_the_memory_budget_are_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # A sparse 10 GiB file whose header is true: the budget refuses it, nothing is read.
    rows = 10 * 2**30 // 16
    path = lying_npy(tmp_path / "sparse.npy", shape=(rows, 2), sparse=10 * 2**30 + 128)
    refused(
        DataError,
        rf"sparse\.npy: the array, of shape \({rows}, 2\) float64, would take 10 GiB of memory, more than "
        r"(the 4 GiB memory budget for one array|half of this machine's .* of memory)$",
        lambda: load_array(path),
    )
    monkeypatch.setattr(io_module, "MAX_ARRAY_BYTES", 1000)
    np.save(tmp_path / "small.npy", np.zeros((200, 2), dtype=np.float32))
    refused(
        DataError,
        r"small\.npy: .*1\.56 KiB of memory, more than the 1000 bytes memory budget",
        lambda: load_array(tmp_path / "small.npy"),
    )
    # Narrower data is counted as the float32 it becomes.
    np.save(tmp_path / "bytes.npy", np.zeros((200, 2), dtype=np.uint8))
    refused(
        DataError,
        r"bytes\.npy: the array, of shape \(200, 2\) uint8, would take 1\.56 KiB of memory \(as float32\), more than",
        lambda: load_array(tmp_path / "bytes.npy"),
    )
    np.save(tmp_path / "fits.npy", np.zeros((100, 2), dtype=np.float32))
    assert load_array(tmp_path / "fits.npy").shape == (100, 2)


def test_npz_member_headers_are_checked_before_decompressing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    header = tmp_path / "header.npy"
    lying_npy(header)
    for compression in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
        path = tmp_path / f"lie{compression}.npz"
        with zipfile.ZipFile(path, "w", compression) as archive:
            archive.write(header, "x.npy")
        with pytest.raises(DataError) as info:
            load_array(path)
        assert re.search(
            r"cannot read file: the header of member 'x' declares shape \(1000000000000, 2\) float64 = 14\.6 TiB, "
            r"but member 'x' holds 192 bytes in all$",
            str(info.value),
        )
    np.savez_compressed(tmp_path / "good.npz", a=np.ones((4, 3)), b=np.zeros((5, 1)))
    np.testing.assert_array_equal(load_array(tmp_path / "good.npz", key="a"), np.ones((4, 3)))
    # A zip bomb: a member that decompresses to more than the budget is refused from its header.
    np.savez_compressed(tmp_path / "bomb.npz", a=np.zeros((200, 2)))
    monkeypatch.setattr(io_module, "MAX_ARRAY_BYTES", 1000)
    refused(
        DataError,
        r"bomb\.npz: member 'a', of shape \(200, 2\) float64, would take 3\.12 KiB of memory, more than the 1000 bytes",
        lambda: load_array(tmp_path / "bomb.npz"),
    )


def test_special_data_files_are_refused(tmp_path: Path) -> None:
    refused(
        DataError,
        r"points\.npy: is a FIFO \(named pipe\), not a regular file$",
        lambda: load_array(fifo(tmp_path / "points.npy")),
    )
    refused(
        DataError,
        r"zero\.npy: links to /dev/zero, a character device",
        lambda: load_array(dev_zero(tmp_path / "zero.npy")),
    )
    # The points of `scorekit score -i` and `logprob -i` are read the same way.
    refused(DataError, r"is a FIFO", lambda: load_array(tmp_path / "points.npy", ndims=(1, 2), min_points=1))
    refused(DataError, r"labels\.npy: is a FIFO", lambda: load_labels(fifo(tmp_path / "labels.npy"), None, 4))
    refused(DataError, r"pics\.npy: is a FIFO", lambda: load_images(fifo(tmp_path / "pics.npy")))


def test_cli_refuses_special_and_lying_data_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    write_toml(tmp_path / "base.toml", small_config())
    lying_npy(tmp_path / "lie.npy")
    fifo(tmp_path / "pipe.npy")
    file_data = ["train", "base.toml", "--set", "data.kind=file", "--run-dir", "run", "--set"]
    err = run_cli([*file_data, "data.path=lie.npy"], capsys)
    assert re.search(
        r"^error: lie\.npy: cannot read file: the header of the array declares shape \(1000000000000, 2\)", err
    )
    err = run_cli([*file_data, "data.path=pipe.npy"], capsys)
    assert err == "error: pipe.npy: is a FIFO (named pipe), not a regular file"
    assert not (tmp_path / "run" / "checkpoints").exists()


# ---------------------------------------------------------------- images


def test_huge_images_are_refused_from_their_header(tmp_path: Path) -> None:
    png_header(tmp_path / "a.png", 9000, 9000)
    png_header(tmp_path / "b.png", 9000, 9000)
    refused(
        DataError,
        r"a\.png: is 9000×9000 pixels \(H×W\); images larger than 4096×4096 are read only when size = \[H, W\] "
        r"resizes them$",
        lambda: load_images(tmp_path),
    )


def test_folder_and_resized_arrays_must_fit_the_memory_budget(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = tmp_path / "pics"
    folder.mkdir()
    for name in ("a.png", "b.png", "c.png"):
        Image.fromarray(np.zeros((10, 10), dtype=np.uint8)).save(folder / name)
    monkeypatch.setattr(io_module, "MAX_ARRAY_BYTES", 1000)
    refused(
        DataError,
        r"pics: 3 images of 1×10×10 \(C×H×W\) would take 1\.17 KiB as float32, more than the 1000 bytes memory "
        r"budget for one array; use fewer images, or smaller ones \(size = \[H, W\]\)$",
        lambda: load_images(folder),
    )
    assert load_images(folder, size=[8, 8]).shape == (3, 1, 8, 8)
    np.save(tmp_path / "pics.npy", np.zeros((3, 8, 8), dtype=np.uint8))
    refused(
        DataError,
        r"pics\.npy: 3 images of 1×64×64 \(C×H×W\) would take 48 KiB",
        lambda: load_images(tmp_path / "pics.npy", size=[64, 64]),
    )


def test_special_files_in_an_image_folder_are_refused(tmp_path: Path) -> None:
    Image.fromarray(np.zeros((4, 4), dtype=np.uint8)).save(tmp_path / "a.png")
    fifo(tmp_path / "b.png")
    refused(DataError, r"b\.png: is a FIFO \(named pipe\), not a regular file$", lambda: load_images(tmp_path))
    (tmp_path / "b.png").unlink()
    dev_zero(tmp_path / "b.png")
    refused(DataError, r"b\.png: links to /dev/zero, a character device", lambda: load_images(tmp_path))


def test_every_refusal_is_a_user_error() -> None:
    # The CLI prints a UserError as one line and exits 2.
    assert issubclass(ConfigError, UserError) and issubclass(DataError, UserError)
