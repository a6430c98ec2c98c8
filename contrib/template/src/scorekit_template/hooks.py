"""Entry point of the template plugin. Light on purpose: imported by ``scorekit --help``, so no torch."""

from __future__ import annotations

from scorekit import RegisterComponent, hookimpl
from scorekit_template.config import TemplateDSMConfig


@hookimpl
def scorekit_register_components(register: RegisterComponent) -> None:
    register(
        "loss",
        "template_dsm",
        # A "module:attribute" string: the module, and torch with it, is imported only to build the loss.
        factory="scorekit_template.loss:TemplateDSMLoss",
        config=TemplateDSMConfig,
        summary="denoising score matching at one σ (Vincent 2011), from the plugin template",
    )
