"""Importing the frameworks quietly, and their versions.

TensorFlow writes start-up lines to the process's standard error before its logging is
set up (oneDNN notices, CPU feature notes, "All log messages before absl::InitializeLog()"),
whatever TF_CPP_MIN_LOG_LEVEL says, so a command's one-line error would not be one line.
:func:`import_keras` imports TensorFlow with file descriptor 2 pointed at a temporary file,
and passes on what was written there only if the import fails.
"""

from __future__ import annotations

import contextlib
import os
import sys
import tempfile
from collections.abc import Iterator
from typing import Any

__all__ = ["import_keras", "import_tensorflow", "quiet_stderr"]


@contextlib.contextmanager
def quiet_stderr() -> Iterator[None]:
    """Send what native code writes to fd 2 to a temporary file; replay it if the body raises."""
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as sink:
        os.dup2(sink.fileno(), 2)
        try:
            yield
        except BaseException:
            os.dup2(saved, 2)
            sink.seek(0)
            sys.stderr.write(sink.read().decode("utf-8", errors="replace"))
            raise
        finally:
            os.dup2(saved, 2)
            os.close(saved)


def import_tensorflow() -> Any:
    """`tensorflow`, imported without its start-up chatter and with its Python logger at errors only."""
    if "tensorflow" in sys.modules:
        return sys.modules["tensorflow"]
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # the C++ log, once it is initialised
    with quiet_stderr():
        import tensorflow as tf
    tf.get_logger().setLevel("ERROR")
    return tf


def import_keras() -> Any:
    """`keras` on the TensorFlow backend, imported quietly (see :func:`import_tensorflow`)."""
    import_tensorflow()
    import keras

    return keras
