"""Generators turn a reply plan into texts; which one runs is configuration, and every output is verified.

``phrasebook-v1`` (the default) is deterministic and offline. A local or remote language model plugs in as
``"package.module:ClassName"``: a class with a ``name`` attribute and ``generate(plan, n) -> list[str]``
(``responses.compose.Generator``). Its texts go through the same verifier as ours; a text that promises
what the playbook does not offer, echoes personal data or argues is never shown.
"""

from __future__ import annotations

import importlib
import re

from responses.compose import Generator, PhrasebookGenerator

BUILTIN = {"phrasebook-v1": PhrasebookGenerator}
_SPEC = re.compile(r"^[A-Za-z_][\w.]*:[A-Za-z_]\w*$")


class GeneratorError(Exception):
    """The configured generator cannot be loaded; the message says which and why."""


def load_generator(spec: str) -> Generator:
    """A generator by built-in name or ``module:Class`` import path."""
    if spec in BUILTIN:
        return BUILTIN[spec]()
    if not _SPEC.match(spec):
        raise GeneratorError(
            f"responses.generator: {spec!r} is neither a built-in ({', '.join(BUILTIN)}) nor 'module:Class'"
        )
    module_name, _, attr = spec.partition(":")
    try:
        cls = getattr(importlib.import_module(module_name), attr)
    except (ImportError, AttributeError) as exc:
        raise GeneratorError(f"responses.generator: cannot load {spec!r}: {exc}") from None
    try:
        generator = cls()
    except Exception as exc:  # any constructor failure is a configuration problem to report, not a crash
        raise GeneratorError(f"responses.generator: cannot create {spec!r}: {type(exc).__name__}: {exc}") from None
    if not callable(getattr(generator, "generate", None)) or not isinstance(getattr(generator, "name", None), str):
        raise GeneratorError(f"responses.generator: {spec!r} needs a `name` string and a `generate(plan, n)` method")
    return generator
