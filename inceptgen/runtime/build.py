"""Live models from generated source: the API and the files never diverge.

Everything under `inceptgen.runtime` imports torch or keras, lazily, only here.
"""

from __future__ import annotations

import hashlib
import linecache
import sys
import types
from typing import Any

__all__ = ["load_module", "build_model"]


def load_module(source: str, target: str) -> types.ModuleType:
    """Execute generated source as a module registered in `sys.modules`.

    Registering it lets Keras find the module's serialisable layers and lets
    pickling refer to its classes. The name is derived from the source, so the
    same source always maps to the same module.
    """
    digest = hashlib.sha256(source.encode()).hexdigest()[:16]
    name = f"inceptgen_generated_{target}_{digest}"
    if name in sys.modules:
        return sys.modules[name]
    module = types.ModuleType(name)
    module.__file__ = f"<inceptgen {target} {digest}>"
    # inspect (and so torch.jit.script) reads source through linecache.
    linecache.cache[module.__file__] = (len(source), None, source.splitlines(keepends=True), module.__file__)
    sys.modules[name] = module
    try:
        exec(compile(source, module.__file__, "exec"), module.__dict__)  # noqa: S102 - our own output
    except BaseException:
        del sys.modules[name]
        raise
    return module


def build_model(source: str, target: str, model_name: str, **params: Any) -> Any:
    """Build the model a generated module describes, with `build_model(**params)`."""
    return load_module(source, target).build_model(**params)
