"""Run configuration: TOML → attrs through cattrs, with errors that carry a path.

A run configuration has component sections chosen by ``kind`` — ``[data]``, ``[model]``,
``[schedule]``, ``[loss]``, ``[sampler]`` — whose other keys are the registered component's own attrs
config class, and plain sections ``[train]``, ``[sample]`` and ``[eval]``. The kind is looked up in
the registry while structuring (classes defined by plugins after import are found, unlike cattrs'
``include_subclasses``); ``kind = "none"`` leaves an optional section out. Unknown keys and wrong
types are errors with a path::

    extra fields found (hiden); did you mean 'hidden'? @ $.model
    sigma_min: must be a finite number > 0, got -1.0 @ $.schedule.sigma_min
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Generic, TypeVar, get_origin

import attrs
import cattrs
import tomli_w
from cattrs.v import format_exception

from scorekit._io import atomic_write_text
from scorekit._registry import ComponentEntry
from scorekit.config_text import apply_overrides, merge_tables, parse_toml, read_toml_file
from scorekit.errors import ConfigError, did_you_mean
from scorekit.kinds import KINDS, interface_of
from scorekit.validators import (
    MAX_BATCH,
    MAX_LR,
    MAX_POINTS,
    MAX_TRAIN_STEPS,
    MAX_WEIGHT_DECAY,
    FieldError,
    at_least,
    at_most,
    bounded,
    finite,
    in_range,
    one_of,
    positive,
    seed,
)

if TYPE_CHECKING:
    from scorekit._registry import Registry
    from scorekit.data.sources import DataSource
    from scorekit.interfaces import Likelihood, Loss, NoiseSchedule, Sampler, ScoreModel

#: The interface a Component builds.
T = TypeVar("T")

__all__ = [
    "Component",
    "EvalConfig",
    "RunConfig",
    "SampleConfig",
    "TrainConfig",
    "apply_overrides",
    "config_changes",
    "dump_component",
    "dump_config",
    "interface_of",
    "load_config",
    "merge_tables",
    "nested_component",
    "parse_toml",
    "read_toml_file",
    "structure_as",
    "structure_component",
]

#: section: (registry kind, required), from the one table of kinds (:data:`scorekit.kinds.KINDS`).
COMPONENT_SECTIONS: dict[str, tuple[str, bool]] = {
    kind.section: (kind.name, kind.required) for kind in KINDS if kind.section is not None
}
#: ``kind = "none"`` leaves an optional component section out, e.g. a base's [schedule].
NO_COMPONENT = "none"


@attrs.frozen
class TrainConfig:
    """How the engine trains: optimizer, schedule of the learning rate, EMA, checkpoints, device."""

    steps: int = attrs.field(default=5000, validator=bounded(1, MAX_TRAIN_STEPS, "training steps"))
    batch_size: int = attrs.field(default=256, validator=bounded(1, MAX_BATCH, "batch sizes"))
    lr: float = attrs.field(default=1e-3, validator=[positive(), at_most(MAX_LR, "learning rates")])
    #: "constant" or "cosine" (decay to ``lr_min_factor``·lr over the run).
    lr_schedule: str = attrs.field(default="constant", validator=one_of("constant", "cosine"))
    lr_min_factor: float = attrs.field(default=0.0, validator=in_range(0.0, 1.0))
    weight_decay: float = attrs.field(default=0.0, validator=[finite(), bounded(0.0, MAX_WEIGHT_DECAY, "weight decay")])
    #: Exponential moving average of the weights used for sampling and evaluation; 0 disables it.
    ema_decay: float = attrs.field(default=0.999, validator=in_range(0.0, 0.999999))
    #: Clip the global gradient norm to this value; 0 disables clipping.
    grad_clip: float = attrs.field(default=0.0, validator=at_least(0.0))
    #: Class-conditional models: the share of training rows whose label is dropped (NO_LABEL), so the
    #: model also learns the unconditional score that classifier-free guidance needs (Ho & Salimans 2022).
    label_dropout: float = attrs.field(default=0.0, validator=in_range(0.0, 0.99))
    seed: int = attrs.field(default=0, validator=seed())
    #: "auto" (cuda, then mps, then cpu), or a torch device string such as "cpu" or "cuda:1".
    device: str = "auto"
    #: CPU threads torch uses for training, sampling and evaluation: 0 picks one thread (small
    #: networks gain little from more and collapse when other jobs share the cores), or keeps the
    #: count OMP_NUM_THREADS chose; N uses N (scorekit.engine.threads).
    threads: int = attrs.field(default=0, validator=in_range(0, 1024))
    log_every: int = attrs.field(default=100, validator=at_least(1))
    #: Also write each logged record to TensorBoard (RUN_DIR/tensorboard; pip install "scorekit[tensorboard]").
    tensorboard: bool = False
    checkpoint_every: int = attrs.field(default=1000, validator=at_least(1))
    keep_checkpoints: int = attrs.field(default=3, validator=at_least(1))
    progress: bool = True
    #: "fp32", "bf16" (autocast; CPU or a GPU with bf16) or "fp16" (autocast + gradient scaler; CUDA).
    precision: str = attrs.field(default="fp32", validator=one_of("fp32", "bf16", "fp16"))
    #: Compile the model's forward pass with torch.compile (slower start, faster steps on GPUs).
    compile: bool = False
    #: On a NaN/Inf loss or gradient: "stop" (the default; the last good checkpoint is kept) or
    #: "skip" the step and count it, stopping after ``max_skipped_steps`` skips.
    nonfinite: str = attrs.field(default="stop", validator=one_of("stop", "skip"))
    max_skipped_steps: int = attrs.field(default=100, validator=at_least(0))


@attrs.frozen
class SampleConfig:
    """How the engine samples: the picture written after training, and chunking for large N."""

    num: int = attrs.field(default=2000, validator=bounded(1, MAX_POINTS, "samples"))
    chunk_size: int = attrs.field(default=10000, validator=bounded(1, MAX_BATCH, "batch sizes"))
    seed: int = attrs.field(default=0, validator=seed())
    use_ema: bool = True


@attrs.frozen
class EvalConfig:
    """What ``scorekit eval`` measures."""

    num_samples: int = attrs.field(default=10000, validator=bounded(2, MAX_POINTS, "samples"))
    num_points: int = attrs.field(default=10000, validator=bounded(2, MAX_POINTS, "points evaluated"))
    seed: int = attrs.field(default=1, validator=seed())


@attrs.frozen
class Component(Generic[T]):
    """A component section: the registered component's ``name`` (what the TOML writes as ``kind = "..."``)
    and an instance of its config class.

    Once structured against a registry, ``build()`` constructs the component; plugins use this for
    components nested in their own config (see :func:`nested_component`). The registry kind it belongs
    to ("sampler", "loss", ...) is ``entry.kind``. Typed by its interface: ``Component[Sampler]``'s
    ``build()`` is a ``Sampler`` to a type checker (and checked to be one when built); a bare
    ``Component`` builds ``Any``.
    """

    name: str
    config: Any
    entry: ComponentEntry | None = attrs.field(default=None, eq=False, repr=False)

    @property
    def kind(self) -> str:
        """The component's name, as the TOML key ``kind`` spells it (scorekit 0.1's attribute; prefer ``name``)."""
        return self.name

    def build(self) -> T:
        if self.entry is None:
            raise RuntimeError(f"component {self.name!r} was not structured against a registry")
        built = self.entry.build(self.config)
        interface = interface_of(self.entry.kind)
        if interface is not None and not isinstance(built, interface):
            raise ConfigError(
                f"{self.entry.kind} {self.name!r} built a {type(built).__name__}, not a {interface.__name__}"
            )
        return built


def nested_component(kind: str, default: str, **options: Any) -> Any:
    """An attrs field holding another registered component of registry ``kind``, chosen by name.

    In TOML it is a sub-table, ``[loss.estimator]`` with ``kind = "hutchinson"`` and the chosen
    component's options; it is validated against the registry like a section, with paths such as
    ``@ $.loss.estimator.probes``. The component is looked up by interface, so a plugin never
    imports another plugin. Build it with ``config.estimator.build()``.

    Example::

        @attrs.frozen(kw_only=True)
        class SSMConfig:
            estimator: Component = nested_component("trace_estimator", "hutchinson", probes=1)
    """
    table = {"kind": default, **options}
    return attrs.field(factory=lambda: Component(default, dict(table)), metadata={_NESTED: kind, _DEFAULT: table})


_NESTED = "scorekit_component_kind"
_DEFAULT = "scorekit_component_default"


@attrs.frozen
class RunConfig:
    data: Component[DataSource]
    model: Component[ScoreModel]
    loss: Component[Loss]
    schedule: Component[NoiseSchedule] | None = None
    sampler: Component[Sampler] | None = None
    likelihood: Component[Likelihood] | None = None
    train: TrainConfig = TrainConfig()
    sample: SampleConfig = SampleConfig()
    eval: EvalConfig = EvalConfig()


PLAIN_SECTIONS: dict[str, type] = {"train": TrainConfig, "sample": SampleConfig, "eval": EvalConfig}

_converter = cattrs.Converter(forbid_extra_keys=True)


def _strict(kind: type, accepted: tuple[type, ...]) -> Any:
    """cattrs would turn 1.5 into 1 and true into 1; a config value of the wrong type is an error."""

    def structure(value: Any, _: Any) -> Any:
        if (isinstance(value, bool) and kind is not bool) or not isinstance(value, accepted):
            raise TypeError(f"expected {kind.__name__}, got {type(value).__name__} {value!r}")
        return kind(value)

    return structure


_converter.register_structure_hook(int, _strict(int, (int,)))
_converter.register_structure_hook(float, _strict(float, (int, float)))
_converter.register_structure_hook(bool, _strict(bool, (bool,)))
_converter.register_structure_hook(str, _strict(str, (str,)))


# A nested component arrives as a raw table; _resolve_nested validates it against the registry.
def _is_component(kind: Any) -> bool:
    """``Component`` and its typed forms (``Component[Sampler]``)."""
    return kind is Component or get_origin(kind) is Component


_converter.register_structure_hook_func(
    _is_component,
    lambda data, _: Component(str(data.get("kind", "")), data) if isinstance(data, dict) else Component("", data),
)
_converter.register_unstructure_hook_func(
    _is_component,
    lambda c: (
        {"kind": c.name, **_drop_none(c.config if isinstance(c.config, dict) else _converter.unstructure(c.config))}
        if c.config is not None
        else {"kind": c.name}
    ),
)


def dump_component(component: Component) -> dict[str, Any]:
    """A component as its TOML table: ``{"kind": name, **options}`` (None values left out)."""
    return _converter.unstructure(component, Component)


def _structure(data: Any, cls: type, path: str, registry: Registry | None = None) -> Any:
    if not isinstance(data, dict):
        raise ConfigError(f"expected a table, got {type(data).__name__} @ {path}")
    try:
        instance: Any = _converter.structure(data, cls)
    except FieldError as exc:
        raise ConfigError(f"{exc.message} @ {path}.{exc.field}") from None
    except cattrs.BaseValidationError as exc:
        messages = cattrs.transform_error(exc, path=path, format_exception=_format_error)
        field_errors = [e for e in _leaves(exc) if isinstance(e, FieldError)]
        if field_errors:
            messages = [f"{e.message} @ {path}.{e.field}" for e in field_errors]
        raise ConfigError("; ".join(messages)) from None
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{exc} @ {path}") from None
    return _resolve_nested(instance, path, registry) if registry is not None else instance


def _format_error(exc: BaseException, kind: type | None) -> str:
    """cattrs' message for one error, with a suggestion for misspelled keys."""
    if isinstance(exc, cattrs.ForbiddenExtraKeysError):
        names = sorted(exc.extra_fields)
        hint = did_you_mean(names, (field.name for field in attrs.fields(exc.cl)))
        return f"extra fields found ({_keys(names)}){hint}"
    return format_exception(exc, kind)


def _keys(names: list[str]) -> str:
    """Keys for a message, comma-separated; one with an invisible character (a zero-width space,
    a control character) or blanks at an end is quoted with escapes, ``'hid\\u200bden'``."""
    return ", ".join(name if name.isprintable() and name == name.strip() else repr(name) for name in names)


def _resolve_nested(instance: Any, path: str, registry: Registry) -> Any:
    """Structure every nested component field of ``instance`` against the registry."""
    if not attrs.has(type(instance)):
        return instance
    changes = {}
    for field in attrs.fields(type(instance)):
        kind = field.metadata.get(_NESTED)
        if kind is None:
            continue
        value = getattr(instance, field.name)
        raw = value.config if isinstance(value, Component) else value
        if isinstance(raw, str):  # a bare name: predictor = "heun" is [sampler.predictor] kind = "heun"
            raw = {"kind": raw}
        if attrs.has(type(raw)):
            raw = {"kind": value.name, **_converter.unstructure(raw)}
        if isinstance(raw, dict):
            # A table without 'kind' adjusts the default component; the default's options apply
            # unless another kind is chosen.
            default = field.metadata[_DEFAULT]
            chosen = raw.get("kind", default["kind"])
            raw = {**(default if chosen == default["kind"] else {}), **raw, "kind": chosen}
        changes[field.name] = structure_as(raw, kind, f"{path}.{field.name}", registry)
    return attrs.evolve(instance, **changes) if changes else instance


def resolve_nested(instance: Any, path: str, registry: Registry) -> Any:
    """``instance`` with its nested components looked up in ``registry``, if any is not yet; else itself."""
    if not attrs.has(type(instance)):
        return instance
    pending = any(
        field.metadata.get(_NESTED) is not None
        and not (isinstance(value := getattr(instance, field.name), Component) and value.entry is not None)
        for field in attrs.fields(type(instance))
    )
    return _resolve_nested(instance, path, registry) if pending else instance


def _leaves(exc: BaseException) -> list[BaseException]:
    if isinstance(exc, BaseExceptionGroup):
        return [leaf for sub in exc.exceptions for leaf in _leaves(sub)]
    return [exc]


def structure_component(data: Any, section: str, registry: Registry) -> Component:
    """Structure one component section: look its kind up, then build the kind's config class."""
    return structure_as(data, COMPONENT_SECTIONS[section][0], f"$.{section}", registry)


def structure_as(data: Any, kind_name: str, path: str, registry: Registry) -> Component:
    """Structure a table ``{kind = name, **options}`` as a component of registry ``kind_name``."""
    if not isinstance(data, dict):
        raise ConfigError(f"expected a table with a 'kind' key, got {type(data).__name__} @ {path}")
    fields = dict(data)
    kind = fields.pop("kind", None)
    if kind is None:
        available = ", ".join(registry.names(kind_name)) or "none installed"
        raise ConfigError(f"missing 'kind' (available: {available}) @ {path}")
    if not isinstance(kind, str):
        raise ConfigError(f"'kind' must be a string, got {kind!r} @ {path}.kind")
    try:
        entry = registry.get(kind_name, kind)
    except ConfigError as exc:
        raise ConfigError(f"{exc} @ {path}.kind") from None
    return Component(kind, _structure(fields, entry.config, path, registry), entry)


def load_config(raw: dict[str, Any], registry: Registry) -> RunConfig:
    """Build a RunConfig from a parsed TOML document, validating every section."""
    unknown = sorted(set(raw) - set(COMPONENT_SECTIONS) - set(PLAIN_SECTIONS))
    if unknown:
        # 'base' is resolved when a file is read (scorekit._bases); a misspelling of it lands here.
        hint = did_you_mean(unknown, [*COMPONENT_SECTIONS, *PLAIN_SECTIONS, "base"])
        raise ConfigError(f"extra fields found ({_keys(unknown)}){hint} @ $")
    values: dict[str, Any] = {}
    for section, (_, required) in COMPONENT_SECTIONS.items():
        table = raw.get(section)
        if not required and isinstance(table, dict) and table.get("kind") == NO_COMPONENT:
            if len(table) > 1:
                raise ConfigError(f"extra fields found ({_keys(sorted(set(table) - {'kind'}))}) @ $.{section}")
        elif section in raw:
            values[section] = structure_component(raw[section], section, registry)
        elif required:
            raise ConfigError(f"missing section [{section}] @ $.{section}")
    for section, cls in PLAIN_SECTIONS.items():
        values[section] = _structure(raw.get(section, {}), cls, f"$.{section}", registry)
    return RunConfig(**values)


def dump_config(config: RunConfig) -> dict[str, Any]:
    """The inverse of :func:`load_config`: a TOML-ready dict (None values left out)."""
    out: dict[str, Any] = {}
    for section in (*COMPONENT_SECTIONS, *PLAIN_SECTIONS):
        value = getattr(config, section)
        if value is None:
            continue
        if isinstance(value, Component):
            out[section] = _converter.unstructure(value, Component)
        else:
            out[section] = _drop_none(_converter.unstructure(value))
    return out


def _drop_none(table: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in table.items() if v is not None}


def config_changes(before: RunConfig, after: RunConfig, *, ignore: tuple[str, ...] = ()) -> list[str]:
    """The ``section.key`` paths whose values differ between two configs (sorted), but those in ``ignore``."""
    a, b = dump_config(before), dump_config(after)
    return sorted(
        path
        for section in set(a) | set(b)
        for key in set(a.get(section, {})) | set(b.get(section, {}))
        if (path := f"{section}.{key}") not in ignore and a.get(section, {}).get(key) != b.get(section, {}).get(key)
    )


def write_toml_file(config: RunConfig, path: Path) -> None:
    atomic_write_text(path, tomli_w.dumps(dump_config(config)))
