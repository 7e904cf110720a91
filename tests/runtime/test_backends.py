"""The generated Keras module runs unchanged on every Keras 3 backend, computing PyTorch's function.

Keras picks its backend when first imported, so each backend runs in its own interpreter
(`KERAS_BACKEND`), over every trap spec, any stdlib spec that the traps leave a construct to
(tests/runtime/constructs.py), and the flagship, `inception_v3`, as one whole network (stdlib
specs at the smallest input of at least 32 x 32 that their layers allow). A backend computes
layer by layer, so the other stdlib specs, the same layers in other numbers, would repeat
those cases. TensorFlow, the default backend, runs every stdlib spec in
tests/runtime/test_models.py and test_parity.py.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

import inceptgen
from inceptgen.errors import InceptgenError
from tests.runtime.constructs import TRAPS, covering_specs


def _small_input(name: str) -> str | None:
    """The smallest square input from 32 up that the spec checks with (None: its own)."""
    c, h, _ = inceptgen.load(f"@{name}").checked.input_shape
    for size in range(32, h):
        try:
            inceptgen.load(f"@{name}", input=f"{c}x{size}x{size}")
        except InceptgenError:
            continue
        return f"{c}x{size}x{size}"
    return None


_SCRIPT = """
import json, sys
import inceptgen
from inceptgen.runtime.parity import _initial_values_in_numpy, run_parity
import keras
with _initial_values_in_numpy():
    zeroed = keras.layers.Dense(3)
    zeroed.build((None, 4))
    norm = keras.layers.BatchNormalization()
    norm.build((None, 4))
drawn = keras.layers.Dense(3)
drawn.build((None, 4))
placeholders = [bool((keras.ops.convert_to_numpy(layer.kernel) == 0).all()) for layer in (zeroed, drawn)]
placeholders.append(bool((keras.ops.convert_to_numpy(norm.moving_variance) == 1).all()))
results = {}
for ref, size in json.loads(sys.argv[1]):
    spec = inceptgen.load(ref, **({"input": size} if size else {}))
    report = run_parity(spec, tol=1e-5, batch=1)
    results[ref] = [report.ok, max(o.max_rel for o in report.outputs), report.first_divergence]
print(json.dumps({"backend": keras.backend.backend(), "placeholders": placeholders, "results": results}))
"""


#: the one whole stdlib network built on every backend
FLAGSHIP = "inception_v3"

#: The cases run in this many interpreters per backend, so that parallel workers share them
#: (building a Keras model is several times slower on JAX than on TensorFlow).
CHUNKS = 2


@pytest.mark.slow
@pytest.mark.parametrize("chunk", range(CHUNKS))
@pytest.mark.parametrize("backend", ["jax", "torch"])
def test_every_spec_agrees_on_every_keras_backend(backend: str, chunk: int) -> None:
    stdlib = sorted({FLAGSHIP, *(ref.removeprefix("@") for ref in covering_specs() if ref.startswith("@"))})
    every = [(f"@{n}", _small_input(n)) for n in stdlib] + [(str(p), None) for p in TRAPS]
    cases = every[chunk::CHUNKS]
    env = {**os.environ, "KERAS_BACKEND": backend, "TF_CPP_MIN_LOG_LEVEL": "3"}
    if backend == "jax":  # XLA compiles every op and initialiser per shape; unoptimised it compiles 2.5x faster
        env["XLA_FLAGS"] = "--xla_backend_optimization_level=0 --xla_llvm_disable_expensive_passes=true"
    done = subprocess.run(
        [sys.executable, "-c", _SCRIPT, json.dumps(cases)], capture_output=True, text=True, env=env, timeout=1800
    )
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report["backend"] == backend
    # parity builds Keras with zeros for the weights it overwrites, and keeps the constants' values
    assert report["placeholders"] == [True, False, True]
    failed = {ref: r for ref, r in report["results"].items() if not r[0]}
    assert not failed, failed
    assert len(report["results"]) == len(cases)
