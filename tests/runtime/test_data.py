"""Tests for inceptgen.runtime.data: loading, safety, download and array helpers."""

from __future__ import annotations

import dataclasses
import hashlib
import http.server
import io
import os
import pickle
import socket
import struct
import tarfile
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest

from inceptgen.runtime import data
from inceptgen.runtime.data import DataError

REPO_ROOT = Path(__file__).resolve().parents[2]
CIFAR_CLASSES = (
    "airplane",
    "automobile",
    "bird",
    "cat",
    "deer",
    "dog",
    "frog",
    "horse",
    "ship",
    "truck",
)
BATCH_DIR = "cifar-10-batches-py"


# --------------------------------------------------------------------------
# synthetic CIFAR batches


def make_batch(n: int, seed: int, n_classes: int = 10) -> dict[bytes, object]:
    rng = np.random.default_rng(seed)
    return {
        b"batch_label": b"synthetic batch",
        b"labels": [int(v) for v in rng.permutation(np.arange(n) % n_classes)],
        b"data": rng.integers(0, 256, (n, 3072), dtype=np.uint8),
        b"filenames": [f"img_{i}.png".encode() for i in range(n)],
    }


def make_meta() -> dict[bytes, object]:
    return {
        b"label_names": [c.encode() for c in CIFAR_CLASSES],
        b"num_cases_per_batch": 20,
        b"num_vis": 3072,
    }


def cifar_dicts(train_ids: tuple[int, ...] = (1, 2)) -> dict[str, dict[bytes, object]]:
    dicts = {f"data_batch_{i}": make_batch(20, seed=i) for i in train_ids}
    dicts["test_batch"] = make_batch(10, seed=99)
    dicts["batches.meta"] = make_meta()
    return dicts


def pickled(dicts: dict[str, object], protocol: int = 4) -> dict[str, bytes]:
    return {name: pickle.dumps(obj, protocol=protocol) for name, obj in dicts.items()}


def write_dir(root: Path, files: dict[str, bytes]) -> Path:
    batch_dir = root / BATCH_DIR
    batch_dir.mkdir(parents=True)
    for name, raw in files.items():
        (batch_dir / name).write_bytes(raw)
    return batch_dir


def tar_bytes(files: dict[str, bytes], prefix: str = f"{BATCH_DIR}/") -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        directory = tarfile.TarInfo(prefix.rstrip("/"))
        directory.type = tarfile.DIRTYPE
        if prefix:
            tar.addfile(directory)
        for name, raw in files.items():
            info = tarfile.TarInfo(prefix + name)
            info.size = len(raw)
            tar.addfile(info, io.BytesIO(raw))
    return buffer.getvalue()


def expected_split(dicts: dict[str, dict[bytes, object]], names: list[str]):
    x = np.concatenate([np.asarray(dicts[n][b"data"]) for n in names])
    y = np.concatenate([np.asarray(dicts[n][b"labels"]) for n in names])
    return x.reshape(-1, 3, 32, 32), y.astype(np.int64)


def assert_one_line_error(error: DataError, *fragments: str) -> None:
    message = error.message
    assert "\n" not in message
    for fragment in fragments:
        assert fragment in message, f"{fragment!r} not in {message!r}"


# --------------------------------------------------------------------------
# the shared real subset


def shared_cifar_path() -> Path:
    env = os.environ.get("INCEPTGEN_CIFAR")
    return Path(env) if env else REPO_ROOT.parent / "shared/datasets/cifar10-mini"


def test_real_cifar10_mini_loads_balanced_uint8() -> None:
    ds = data.load_cifar10(shared_cifar_path())  # DataError (a failure) if missing
    assert ds.x_train.shape == (5000, 3, 32, 32)
    assert ds.x_test.shape == (1000, 3, 32, 32)
    assert type(ds.x_train) is np.ndarray and ds.x_train.dtype == np.uint8
    assert ds.x_test.dtype == np.uint8
    assert ds.y_train.dtype == np.int64 and ds.y_test.dtype == np.int64
    assert ds.classes == CIFAR_CLASSES
    assert np.bincount(ds.y_train, minlength=10).tolist() == [500] * 10
    assert np.bincount(ds.y_test, minlength=10).tolist() == [100] * 10
    mean, std = data.channel_stats(ds.x_train)
    assert np.all((mean > 0.3) & (mean < 0.7)) and np.all((std > 0.1) & (std < 0.4))


def test_real_cifar10_mini_via_resolve_data() -> None:
    ds = data.resolve_data(str(shared_cifar_path()))
    assert ds.x_train.shape == (5000, 3, 32, 32) and ds.num_classes == 10
    assert ds.image_shape == (3, 32, 32)


# --------------------------------------------------------------------------
# synthetic CIFAR: directory and archive


@pytest.mark.parametrize(
    ("train_ids", "order"),
    [
        ((1,), ["data_batch_1"]),
        ((1, 2), ["data_batch_1", "data_batch_2"]),
        ((2, 10, 1), ["data_batch_1", "data_batch_2", "data_batch_10"]),
    ],
)
@pytest.mark.parametrize("layout", ["batch_dir", "parent_dir", "tarball"])
def test_load_cifar10_layouts(tmp_path: Path, train_ids: tuple[int, ...], order: list[str], layout: str) -> None:
    dicts = cifar_dicts(train_ids)
    files = pickled(dicts)
    if layout == "tarball":
        path = tmp_path / "cifar-10-python.tar.gz"
        path.write_bytes(tar_bytes(files))
    else:
        batch_dir = write_dir(tmp_path, files)
        path = batch_dir if layout == "batch_dir" else tmp_path
    ds = data.load_cifar10(path)
    x_train, y_train = expected_split(dicts, order)
    x_test, y_test = expected_split(dicts, ["test_batch"])
    np.testing.assert_array_equal(ds.x_train, x_train)
    np.testing.assert_array_equal(ds.y_train, y_train)
    np.testing.assert_array_equal(ds.x_test, x_test)
    np.testing.assert_array_equal(ds.y_test, y_test)
    assert ds.x_train.dtype == np.uint8 and ds.y_train.dtype == np.int64
    assert ds.classes == CIFAR_CLASSES


def test_tarball_is_read_in_memory_and_extra_members_ignored(tmp_path: Path) -> None:
    files = pickled(cifar_dicts())
    files["readme.html"] = b"<html></html>"
    archive = tmp_path / "cifar-10-python.tar.gz"
    archive.write_bytes(tar_bytes(files))
    ds = data.load_cifar10(archive)
    assert ds.x_train.shape == (40, 3, 32, 32)
    assert os.listdir(tmp_path) == ["cifar-10-python.tar.gz"]


class Py2Pickler(pickle._Pickler):
    """Writes str and bytes as Python 2 ``str`` (BINSTRING), as cPickle did for the official files."""

    dispatch = dict(pickle._Pickler.dispatch)

    def save_py2_str(self, obj: str | bytes) -> None:
        raw = obj.encode("latin1") if isinstance(obj, str) else obj
        if len(raw) < 256:
            self.write(pickle.SHORT_BINSTRING + bytes([len(raw)]) + raw)
        else:
            self.write(pickle.BINSTRING + struct.pack("<i", len(raw)) + raw)
        self.memoize(obj)

    dispatch[bytes] = save_py2_str
    dispatch[str] = save_py2_str


def dumps_py2(obj: object) -> bytes:
    buffer = io.BytesIO()
    Py2Pickler(buffer, protocol=2).dump(obj)
    return buffer.getvalue()


def dumps_protocol3(obj: object) -> bytes:
    return pickle.dumps(obj, protocol=3)


@pytest.mark.parametrize("dumps", [dumps_py2, dumps_protocol3], ids=["python2 layout", "protocol 3"])
def test_legacy_numpy_core_module_names_are_accepted(tmp_path: Path, dumps: Callable[[object], bytes]) -> None:
    # Pickles written by older numpy (like the official archive, from Python 2)
    # name numpy.core.multiarray._reconstruct; protocols 2-3 spell globals as text.
    dicts = cifar_dicts((1,))
    old = b"cnumpy._core.multiarray\n_reconstruct\n"
    new = b"cnumpy.core.multiarray\n_reconstruct\n"
    files = {name: dumps(obj).replace(old, new) for name, obj in dicts.items()}
    assert new in files["test_batch"]
    assert (b"U\x04data" in files["test_batch"]) == (dumps is dumps_py2)  # SHORT_BINSTRING keys
    ds = data.load_cifar10(write_dir(tmp_path, files))
    np.testing.assert_array_equal(ds.x_test, expected_split(dicts, ["test_batch"])[0])
    np.testing.assert_array_equal(ds.y_train, expected_split(dicts, ["data_batch_1"])[1])
    assert ds.classes == CIFAR_CLASSES


def _without(key: bytes, name: str) -> Callable[[dict], None]:
    def mutate(dicts: dict) -> None:
        del dicts[name][key]

    return mutate


def _setting(name: str, key: bytes, value: object) -> Callable[[dict], None]:
    def mutate(dicts: dict) -> None:
        dicts[name][key] = value

    return mutate


def _replacing(name: str, value: object) -> Callable[[dict], None]:
    def mutate(dicts: dict) -> None:
        dicts[name] = value

    return mutate


def _deleting(*names: str) -> Callable[[dict], None]:
    def mutate(dicts: dict) -> None:
        for name in names:
            del dicts[name]

    return mutate


# (id, change to the dicts, change to the pickled bytes, file named, message fragment)
CONTENT_ERRORS = [
    ("missing test_batch", _deleting("test_batch"), None, "test_batch", "missing file"),
    ("missing meta", _deleting("batches.meta"), None, "batches.meta", "missing file"),
    (
        "no train batches",
        _deleting("data_batch_1", "data_batch_2"),
        None,
        "data_batch",
        "missing file",
    ),
    ("garbage", None, ("test_batch", b"no pickle here"), "test_batch", "corrupt"),
    ("empty file", None, ("data_batch_1", b""), "data_batch_1", "corrupt"),
    ("truncated", None, ("data_batch_2", slice(0, 3000)), "data_batch_2", "truncated"),
    ("not a dict", _replacing("test_batch", [1, 2]), None, "test_batch", "dict"),
    ("no labels", _without(b"labels", "data_batch_1"), None, "data_batch_1", "'labels'"),
    ("no data", _without(b"data", "test_batch"), None, "test_batch", "'data'"),
    (
        "no label_names",
        _without(b"label_names", "batches.meta"),
        None,
        "batches.meta",
        "'label_names'",
    ),
    (
        "data too narrow",
        _setting("data_batch_1", b"data", np.zeros((20, 3000), np.uint8)),
        None,
        "data_batch_1",
        "(N, 3072)",
    ),
    (
        "data float32",
        _setting("data_batch_2", b"data", np.zeros((20, 3072), np.float32)),
        None,
        "data_batch_2",
        "dtype 'f4' is not allowed",
    ),
    (
        "data 3-D",
        _setting("test_batch", b"data", np.zeros((10, 3, 1024), np.uint8)),
        None,
        "test_batch",
        "(N, 3072)",
    ),
    (
        "data a list",
        _setting("test_batch", b"data", [[0] * 3072] * 10),
        None,
        "test_batch",
        "got list",
    ),
    (
        "fewer labels",
        _setting("data_batch_1", b"labels", [0] * 19),
        None,
        "data_batch_1",
        "20 images but 19 labels",
    ),
    (
        "label 10",
        _setting("test_batch", b"labels", [0] * 9 + [10]),
        None,
        "test_batch",
        "label 10 out of range 0..9",
    ),
    (
        "label -1",
        _setting("data_batch_2", b"labels", [-1] + [0] * 19),
        None,
        "data_batch_2",
        "label -1 out of range",
    ),
    (
        "string labels",
        _setting("test_batch", b"labels", ["cat"] * 10),
        None,
        "test_batch",
        "list of ints",
    ),
]


@pytest.mark.parametrize("layout", ["dir", "tarball"])
@pytest.mark.parametrize(
    ("mutate", "raw_change", "file", "fragment"),
    [pytest.param(*case[1:], id=case[0]) for case in CONTENT_ERRORS],
)
def test_load_cifar10_content_errors(
    tmp_path: Path,
    layout: str,
    mutate: Callable[[dict], None] | None,
    raw_change: tuple[str, object] | None,
    file: str,
    fragment: str,
) -> None:
    dicts: dict = cifar_dicts()
    if mutate is not None:
        mutate(dicts)
    files = pickled(dicts)
    if raw_change is not None:
        name, change = raw_change
        files[name] = files[name][change] if isinstance(change, slice) else change
    if layout == "dir":
        path = write_dir(tmp_path, files)
    else:
        path = tmp_path / "cifar.tar.gz"
        path.write_bytes(tar_bytes(files))
    with pytest.raises(DataError) as caught:
        data.load_cifar10(path)
    assert_one_line_error(caught.value, file, fragment)


@pytest.mark.parametrize(
    ("make", "fragment"),
    [
        pytest.param(lambda p: p / "absent", "does not exist", id="missing path"),
        pytest.param(lambda p: _written(p / "x.tar.gz", b"not a tar"), "not a readable", id="not a tar"),
        pytest.param(
            lambda p: _written(p / "x.tar.gz", tar_bytes(pickled(cifar_dicts()))[:5000]),
            "x.tar.gz",
            id="truncated tar",
        ),
        pytest.param(lambda p: _made_dir(p / "empty"), "missing file", id="empty dir"),
    ],
)
def test_load_cifar10_path_errors(tmp_path: Path, make: Callable[[Path], Path], fragment: str) -> None:
    path = make(tmp_path)
    with pytest.raises(DataError) as caught:
        data.load_cifar10(path)
    assert_one_line_error(caught.value, str(path), fragment)


def _written(path: Path, raw: bytes) -> Path:
    path.write_bytes(raw)
    return path


def _made_dir(path: Path) -> Path:
    path.mkdir()
    return path


# --------------------------------------------------------------------------
# malicious pickles


def call_pickle(module: str, name: str, *args: str) -> bytes:
    """Protocol-0 pickle that calls ``module.name(*args)`` when loaded."""
    arguments = b"".join(b"V" + a.encode("raw_unicode_escape") + b"\n" for a in args)
    return b"c" + f"{module}\n{name}\n".encode() + b"(" + arguments + b"tR."


class _Reduces:
    def __init__(self, target: Path) -> None:
        self.target = target

    def __reduce__(self):
        return os.system, (f"touch {self.target}",)


def _payload_reduce(target: Path) -> bytes:
    batch = make_batch(10, seed=3)
    batch[b"data"] = _Reduces(target)
    return pickle.dumps(batch, protocol=4)


PAYLOADS: list[tuple[str, Callable[[Path], bytes], str]] = [
    ("os.system", lambda t: call_pickle("os", "system", f"touch {t}"), "os.system"),
    ("posix.system", lambda t: call_pickle("posix", "system", f"touch {t}"), "posix.system"),
    (
        "builtins.exec",
        lambda t: call_pickle("builtins", "exec", f"open({str(t)!r}, 'w').close()"),
        "builtins.exec",
    ),
    (
        "builtins.eval",
        lambda t: call_pickle("builtins", "eval", f"open({str(t)!r}, 'w').close()"),
        "builtins.eval",
    ),
    ("builtins.open", lambda t: call_pickle("builtins", "open", str(t), "w"), "builtins.open"),
    (
        "py2 __builtin__.open",
        lambda t: call_pickle("__builtin__", "open", str(t), "w"),
        "__builtin__.open",
    ),
    (
        "subprocess",
        lambda t: call_pickle("subprocess", "getoutput", f"touch {t}"),
        "subprocess.getoutput",
    ),
    ("__reduce__ in a batch", _payload_reduce, "system"),
]


@pytest.mark.parametrize("victim", ["test_batch", "batches.meta", "data_batch_1"])
@pytest.mark.parametrize(("payload", "named"), [pytest.param(p, n, id=i) for i, p, n in PAYLOADS])
def test_malicious_pickle_is_refused(tmp_path: Path, victim: str, payload: Callable[[Path], bytes], named: str) -> None:
    # The payload really works with a plain unpickler ...
    control = tmp_path / "control_created"
    created = pickle.loads(payload(control))  # noqa: S301 - deliberately unsafe control
    if hasattr(created, "close"):  # the builtins.open payloads return a file
        created.close()
    assert control.exists()
    # ... but not through the loader.
    target = tmp_path / "pwned"
    files = pickled(cifar_dicts())
    files[victim] = payload(target)
    batch_dir = write_dir(tmp_path / "data", files)
    with pytest.raises(DataError) as caught:
        data.load_cifar10(batch_dir)
    assert_one_line_error(caught.value, "refusing to unpickle", named, victim)
    assert "not part of a CIFAR batch" in caught.value.message
    assert not target.exists()


# --------------------------------------------------------------------------
# safe extraction


def _member(name: str, kind: bytes = tarfile.REGTYPE, link: str = "") -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.linkname = link
    return info


def build_tar(members: list[tuple[tarfile.TarInfo, bytes]]) -> tarfile.TarFile:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for info, raw in members:
            if info.isfile():
                info.size = len(raw)
                tar.addfile(info, io.BytesIO(raw))
            else:
                tar.addfile(info)
    buffer.seek(0)
    return tarfile.open(fileobj=buffer, mode="r")


def _bad_members(tmp_path: Path) -> dict[str, list[tarfile.TarInfo]]:
    return {
        "dotdot": [_member("../evil")],
        "dotdot deep": [_member("../../evil")],
        "dotdot inside": [_member("ok/../../evil")],
        "absolute": [_member(str(tmp_path / "abs_evil"))],
        "symlink out": [_member("link", tarfile.SYMTYPE, str(tmp_path))],
        "symlink then write": [
            _member("link", tarfile.SYMTYPE, ".."),
            _member("link/evil"),
        ],
        "hardlink": [_member("hard", tarfile.LNKTYPE, "../evil")],
        "char device": [_member("dev", tarfile.CHRTYPE)],
        "block device": [_member("blk", tarfile.BLKTYPE)],
        "fifo": [_member("fifo", tarfile.FIFOTYPE)],
    }


BAD_MEMBER_IDS = list(_bad_members(Path("/x")))


@pytest.mark.parametrize("case", BAD_MEMBER_IDS)
def test_safe_extract_rejects_unsafe_members(tmp_path: Path, case: str) -> None:
    cache = tmp_path / "cache"
    cache.mkdir()
    dest = cache / "dest"
    members = [(_member("good.txt"), b"fine")]
    members += [(info, b"evil") for info in _bad_members(tmp_path)[case]]
    with build_tar(members) as tar, pytest.raises(DataError) as caught:
        data.safe_extract(tar, dest)
    assert_one_line_error(caught.value, "refusing to extract")
    assert os.listdir(cache) == []  # no dest, no temp folder
    assert sorted(os.listdir(tmp_path)) == ["cache"]


def test_safe_extract_writes_complete_tree(tmp_path: Path) -> None:
    members = [
        (_member("top", tarfile.DIRTYPE), b""),
        (_member("top/a.bin"), b"alpha"),
        (_member("top/sub/b.bin"), b"beta"),
    ]
    dest = tmp_path / "dest"
    with build_tar(members) as tar:
        assert data.safe_extract(tar, dest) == dest
    assert (dest / "top/a.bin").read_bytes() == b"alpha"
    assert (dest / "top/sub/b.bin").read_bytes() == b"beta"
    assert os.listdir(tmp_path) == ["dest"]
    with build_tar(members) as tar, pytest.raises(DataError, match="already exists"):
        data.safe_extract(tar, dest)


# --------------------------------------------------------------------------
# download from a local HTTP server


@dataclass
class LocalServer:
    base: str
    routes: dict[str, object] = field(default_factory=dict)
    hits: list[str] = field(default_factory=list)

    def url(self, path: str) -> str:
        return self.base + path


def _handler(state: LocalServer) -> type[http.server.BaseHTTPRequestHandler]:
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - http.server API
            state.hits.append(self.path)
            body = state.routes.get(self.path)
            if body is None:
                self.send_error(404, "not here")
                return
            if isinstance(body, tuple):  # ("truncate", raw): lie about the length
                raw = body[1]
                self.send_response(200)
                self.send_header("Content-Length", str(len(raw) + 1000))
                self.end_headers()
                self.wfile.write(raw[: len(raw) // 2])
                self.close_connection = True
                return
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            pass

    return Handler


@pytest.fixture
def server() -> Iterator[LocalServer]:
    state = LocalServer(base="")
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _handler(state))
    state.base = f"http://127.0.0.1:{httpd.server_address[1]}"
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield state
    httpd.shutdown()
    httpd.server_close()
    thread.join()


@pytest.fixture
def archive() -> tuple[bytes, str, dict]:
    dicts = cifar_dicts((1,))
    raw = tar_bytes(pickled(dicts))
    return raw, hashlib.md5(raw).hexdigest(), dicts


def test_download_verifies_extracts_and_caches(tmp_path: Path, server, archive) -> None:
    raw, md5, dicts = archive
    server.routes["/c.tar.gz"] = raw
    cache = tmp_path / "cache"
    path = data.download_cifar10(cache, url=server.url("/c.tar.gz"), md5=md5)
    assert path == cache / "cifar10" / BATCH_DIR
    assert sorted(os.listdir(cache)) == ["cifar-10-python.tar.gz", "cifar10"]
    assert (cache / "cifar-10-python.tar.gz").read_bytes() == raw
    ds = data.load_cifar10(path)
    np.testing.assert_array_equal(ds.x_train, expected_split(dicts, ["data_batch_1"])[0])
    assert server.hits == ["/c.tar.gz"]
    # Second call: archive present with the right MD5, nothing fetched.
    again = data.download_cifar10(cache, url=server.url("/c.tar.gz"), md5=md5.upper())
    assert again == path
    assert server.hits == ["/c.tar.gz"]


def test_download_replaces_corrupt_cached_archive(tmp_path: Path, server, archive) -> None:
    raw, md5, _ = archive
    server.routes["/c.tar.gz"] = raw
    cache = tmp_path / "cache"
    cache.mkdir()
    (cache / "cifar-10-python.tar.gz").write_bytes(raw[:100])
    data.download_cifar10(cache, url=server.url("/c.tar.gz"), md5=md5)
    assert server.hits == ["/c.tar.gz"]
    assert (cache / "cifar-10-python.tar.gz").read_bytes() == raw


def _refused_url() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/c.tar.gz"


@pytest.mark.parametrize(
    ("route", "use_md5", "fragment"),
    [
        pytest.param("ok", False, "MD5 mismatch", id="wrong md5"),
        pytest.param("missing", True, "404", id="http 404"),
        pytest.param("truncate", True, "failed", id="connection cut"),
        pytest.param("refused", True, "failed", id="connection refused"),
    ],
)
def test_download_failures_leave_nothing(
    tmp_path: Path, server, archive, route: str, use_md5: bool, fragment: str
) -> None:
    raw, md5, _ = archive
    server.routes["/c.tar.gz"] = ("truncate", raw) if route == "truncate" else raw
    url = {"missing": server.url("/nope.tar.gz"), "refused": _refused_url()}.get(route, server.url("/c.tar.gz"))
    cache = tmp_path / "cache"
    with pytest.raises(DataError) as caught:
        data.download_cifar10(cache, url=url, md5=md5 if use_md5 else "0" * 32)
    assert_one_line_error(caught.value, fragment)
    assert os.listdir(cache) == []
    if route != "refused":
        assert len(server.hits) == 1


# --------------------------------------------------------------------------
# resolve_data


def test_resolve_data_cifar10_word_needs_download(tmp_path: Path) -> None:
    with pytest.raises(DataError) as caught:
        data.resolve_data("cifar10", cache_dir=tmp_path / "cache")
    assert "--download" in (caught.value.hint or "")
    assert str(tmp_path / "cache") in caught.value.message


def test_resolve_data_cifar10_uses_env_cache(tmp_path: Path, monkeypatch) -> None:
    write_dir(tmp_path / "cifar10", pickled(cifar_dicts()))
    monkeypatch.setenv("INCEPTGEN_CACHE", str(tmp_path))
    assert data.default_cache_dir() == tmp_path
    ds = data.resolve_data("cifar10")
    assert ds.x_train.shape == (40, 3, 32, 32)


def test_resolve_data_cifar10_reads_cached_archive(tmp_path: Path) -> None:
    (tmp_path / "cifar-10-python.tar.gz").write_bytes(tar_bytes(pickled(cifar_dicts())))
    ds = data.resolve_data("cifar10", cache_dir=tmp_path)
    assert ds.x_test.shape == (10, 3, 32, 32)


def test_resolve_data_cifar10_downloads(tmp_path: Path, server, archive, monkeypatch) -> None:
    raw, md5, _ = archive
    server.routes["/cifar.tgz"] = raw
    official = data.ARCHIVES["cifar10"]
    local = dataclasses.replace(official, url=server.url("/cifar.tgz"), md5=md5)
    monkeypatch.setitem(data.ARCHIVES, "cifar10", local)
    ds = data.resolve_data("cifar10", download=True, cache_dir=tmp_path)
    assert ds.x_train.shape == (20, 3, 32, 32)
    data.resolve_data("cifar10", download=True, cache_dir=tmp_path)
    assert server.hits == ["/cifar.tgz"]


def test_default_cache_dir_without_env(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.delenv("INCEPTGEN_CACHE", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    assert data.default_cache_dir() == tmp_path / ".cache" / "inceptgen"


def _layout(tmp_path: Path, kind: str) -> Path:
    files = pickled(cifar_dicts())
    if kind == "tarball":
        return _written(tmp_path / "c.tar.gz", tar_bytes(files))
    if kind == "image folder":
        _png_tree(tmp_path / "imgs", {"train/a": 2, "train/b": 1, "test/a": 1})
        return tmp_path / "imgs"
    batch_dir = write_dir(tmp_path, files)
    return batch_dir if kind == "batch dir" else tmp_path


@pytest.mark.parametrize(
    ("kind", "n_train"),
    [("batch dir", 40), ("parent dir", 40), ("tarball", 40), ("image folder", 3)],
)
def test_resolve_data_detects_layout(tmp_path: Path, kind: str, n_train: int) -> None:
    ds = data.resolve_data(str(_layout(tmp_path, kind)))
    assert ds.train is not None and len(ds.train) == n_train
    assert ds.train.in_memory == (kind != "image folder")  # image folders are decoded per batch


@pytest.mark.parametrize(
    ("make", "fragment"),
    [
        pytest.param(lambda p: p / "absent", "not found", id="missing"),
        pytest.param(lambda p: _made_dir(p / "other"), "not a CIFAR folder", id="unknown"),
    ],
)
def test_resolve_data_errors(tmp_path: Path, make: Callable[[Path], Path], fragment: str) -> None:
    with pytest.raises(DataError) as caught:
        data.resolve_data(str(make(tmp_path)))
    assert_one_line_error(caught.value, fragment)


# --------------------------------------------------------------------------
# image folders


def _png(path: Path, height: int, width: int, seed: int, mode: str = "RGB") -> np.ndarray:
    from PIL import Image

    rng = np.random.default_rng(seed)
    path.parent.mkdir(parents=True, exist_ok=True)
    channels = {"RGB": 3, "RGBA": 4}.get(mode)
    shape = (height, width, channels) if channels else (height, width)
    array = rng.integers(0, 256, shape, dtype=np.uint8)
    Image.fromarray(array, mode=mode).save(path)
    return array


def _png_tree(root: Path, counts: dict[str, int], size: tuple[int, int] = (4, 5)) -> None:
    for folder, count in counts.items():
        for i in range(count):
            _png(root / folder / f"{i}.png", *size, seed=i)


def test_image_folder_loads_pixels_in_sorted_order(tmp_path: Path) -> None:
    root = tmp_path / "imgs"
    written = {
        ("train", "dog", "b.png"): _png(root / "train/dog/b.png", 4, 5, 1),
        ("train", "cat", "z.png"): _png(root / "train/cat/z.png", 4, 5, 2),
        ("train", "cat", "a.png"): _png(root / "train/cat/a.png", 4, 5, 3),
        ("test", "dog", "t.png"): _png(root / "test/dog/t.png", 4, 5, 4),
    }
    (root / "train/cat/notes.txt").write_text("not an image")
    (root / "train/cat/.hidden.png").write_bytes(b"ignored")
    ds = data.load_image_folder(root)
    assert ds.classes == ("cat", "dog")
    assert ds.x_train.shape == (3, 3, 4, 5) and ds.x_train.dtype == np.uint8
    assert ds.y_train.tolist() == [0, 0, 1] and ds.y_test.tolist() == [1]
    order = [("train", "cat", "a.png"), ("train", "cat", "z.png"), ("train", "dog", "b.png")]
    for i, key in enumerate(order):
        np.testing.assert_array_equal(ds.x_train[i], written[key].transpose(2, 0, 1))
    np.testing.assert_array_equal(ds.x_test[0], written["test", "dog", "t.png"].transpose(2, 0, 1))


@pytest.mark.parametrize(("image_size", "shape"), [(8, (8, 8)), ((6, 7), (6, 7)), ((3, 3), (3, 3))])
def test_image_folder_resizes_mixed_sizes(
    tmp_path: Path, image_size: int | tuple[int, int], shape: tuple[int, int]
) -> None:
    _png(tmp_path / "train/a/0.png", 4, 5, 0)
    _png(tmp_path / "train/a/1.png", 9, 2, 1, mode="RGBA")
    _png(tmp_path / "train/b/0.png", 3, 3, 2, mode="L")
    _png(tmp_path / "test/b/0.png", 7, 7, 3)
    ds = data.load_image_folder(tmp_path, image_size=image_size)
    assert ds.x_train.shape == (3, 3, *shape) and ds.x_test.shape == (1, 3, *shape)


def _corrupt_png(root: Path) -> None:
    _png_tree(root, {"train/a": 1, "test/a": 1})
    (root / "train/a/1.png").write_bytes(b"\x89PNG broken")


IMAGE_FOLDER_ERRORS = [
    ("mixed sizes", lambda r: _mixed_sizes(r), "big.png"),
    ("empty class", lambda r: _png_tree(r, {"train/a": 1, "test/a": 1}) or _mkdir(r / "train/b"), "no images"),
    ("no test dir", lambda r: _png_tree(r, {"train/a": 1}), "missing directory"),
    ("empty test", lambda r: _png_tree(r, {"train/a": 1}) or _mkdir(r / "test/a"), "no images"),
    ("unknown test class", lambda r: _png_tree(r, {"train/a": 1, "test/zz": 1}), "class not present"),
    ("no classes", lambda r: _mkdir(r / "train") or _mkdir(r / "test"), "no class"),
    ("corrupt png", _corrupt_png, "cannot read image"),
    ("train test sizes", lambda r: _png_tree(r, {"train/a": 1}) or _png(r / "test/a/0.png", 2, 2, 0), "differ"),
]


def _mkdir(path: Path) -> None:
    path.mkdir(parents=True)


def _mixed_sizes(root: Path) -> None:
    _png_tree(root, {"train/a": 2, "test/a": 1})
    _png(root / "train/a/big.png", 8, 8, 5)


@pytest.mark.parametrize(("build", "fragment"), [pytest.param(b, f, id=i) for i, b, f in IMAGE_FOLDER_ERRORS])
def test_image_folder_errors(tmp_path: Path, build: Callable[[Path], None], fragment: str) -> None:
    build(tmp_path)
    with pytest.raises(DataError) as caught:
        data.load_image_folder(tmp_path)
    assert_one_line_error(caught.value, fragment)


# --------------------------------------------------------------------------
# Dataset validation


@pytest.mark.parametrize(
    ("change", "fragment"),
    [
        ({"y_train": np.array([0, 1], np.int32)}, "int64"),
        ({"y_train": np.array([0], np.int64)}, "2 images but 1 labels"),
        ({"y_test": np.array([5], np.int64)}, "outside 0..1"),
        ({"x_test": np.zeros((1, 3, 2, 3), np.uint8)}, "differ in shape"),
        ({"x_train": np.zeros((2, 1, 2, 2), np.uint8)}, "channels"),
        ({"x_train": np.zeros((2, 3, 2, 2), np.float32)}, "uint8"),
    ],
)
def test_dataset_validates(change: dict, fragment: str) -> None:
    fields = {
        "x_train": np.zeros((2, 3, 2, 2), np.uint8),
        "y_train": np.array([0, 1], np.int64),
        "x_test": np.zeros((1, 3, 2, 2), np.uint8),
        "y_test": np.array([1], np.int64),
        "classes": ("a", "b"),
    }
    data.Dataset.from_arrays(**fields)
    fields.update(change)
    with pytest.raises(DataError) as caught:
        data.Dataset.from_arrays(**fields)
    assert fragment in caught.value.message


# --------------------------------------------------------------------------
# balanced_subset


def _imbalanced() -> tuple[np.ndarray, np.ndarray]:
    y = np.random.default_rng(5).permutation(np.repeat([0, 1, 2], [10, 8, 6]))
    return np.arange(len(y)) * 10, y


@pytest.mark.parametrize(
    ("limit", "counts"),
    [(3, [1, 1, 1]), (10, [3, 3, 3]), (18, [6, 6, 6]), (24, [8, 8, 6]), (100, [10, 8, 6])],
)
def test_balanced_subset_counts(limit: int, counts: list[int]) -> None:
    x, y = _imbalanced()
    xs, ys = data.balanced_subset(x, y, limit, seed=0)
    assert np.bincount(ys, minlength=3).tolist() == counts
    np.testing.assert_array_equal(y[xs // 10], ys)  # rows stay paired
    assert np.all(np.diff(xs) > 0)  # original order kept


def test_balanced_subset_seeded() -> None:
    x, y = _imbalanced()
    a = data.balanced_subset(x, y, 9, seed=1)[0]
    assert np.array_equal(a, data.balanced_subset(x, y, 9, seed=1)[0])
    others = [data.balanced_subset(x, y, 9, seed=s)[0] for s in range(2, 6)]
    assert any(not np.array_equal(a, b) for b in others)


@pytest.mark.parametrize("limit", [0, 2])
def test_balanced_subset_limit_below_classes(limit: int) -> None:
    x, y = _imbalanced()
    with pytest.raises(DataError, match="number of classes"):
        data.balanced_subset(x, y, limit, seed=0)


def test_balanced_subset_none_returns_input() -> None:
    x, y = _imbalanced()
    xs, ys = data.balanced_subset(x, y, None, seed=0)
    assert xs is x and ys is y


# --------------------------------------------------------------------------
# channel_stats and normalize


@pytest.mark.parametrize(
    "images",
    [
        np.random.default_rng(0).integers(0, 256, (7, 3, 5, 6), dtype=np.uint8),
        np.random.default_rng(1).integers(100, 140, (2, 3, 32, 32), dtype=np.uint8),
        np.full((3, 3, 2, 2), 255, np.uint8),
        np.stack([np.zeros((3, 4, 4), np.uint8), np.full((3, 4, 4), 255, np.uint8)]),
    ],
    ids=["random", "narrow", "constant", "extremes"],
)
def test_channel_stats_matches_numpy(images: np.ndarray) -> None:
    mean, std = data.channel_stats(images)
    scaled = images.astype(np.float64) / 255.0
    assert mean.dtype == np.float32 and std.dtype == np.float32 and mean.shape == (3,)
    np.testing.assert_allclose(mean, scaled.mean(axis=(0, 2, 3)), rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(std, scaled.std(axis=(0, 2, 3)), rtol=1e-6, atol=1e-7)


def test_normalize_matches_formula() -> None:
    x = np.random.default_rng(2).integers(0, 256, (4, 3, 5, 5), dtype=np.uint8)
    mean, std = np.array([0.1, 0.5, 0.9]), np.array([0.2, 0.3, 0.4])
    out = data.normalize(x, mean, std)
    expected = (x / 255.0 - mean[:, None, None]) / std[:, None, None]
    assert out.dtype == np.float32 and out.shape == x.shape
    np.testing.assert_allclose(out, expected, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize(
    ("x", "mean", "std"),
    [
        (np.zeros((1, 3, 2, 2), np.float32), [0, 0, 0], [1, 1, 1]),
        (np.zeros((1, 3, 2, 2), np.uint8), [0, 0], [1, 1]),
        (np.zeros((1, 3, 2, 2), np.uint8), [0, 0, 0], [1, 0, 1]),
        (np.zeros((3, 2, 2), np.uint8), [0, 0, 0], [1, 1, 1]),
    ],
    ids=["float input", "short mean", "zero std", "3-D"],
)
def test_normalize_rejects(x: np.ndarray, mean: list, std: list) -> None:
    with pytest.raises(ValueError):
        data.normalize(x, np.asarray(mean), np.asarray(std))


# --------------------------------------------------------------------------
# augment


def _batch_float(n: int = 16, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal((n, 3, 32, 32)).astype(np.float32)


def test_augment_matches_manual_pad_crop_flip() -> None:
    x = _batch_float()
    out = data.augment(x, np.random.default_rng(7))
    rng = np.random.default_rng(7)
    dy, dx = rng.integers(0, 9, len(x)), rng.integers(0, 9, len(x))
    flip = rng.random(len(x)) < 0.5
    assert flip.any() and not flip.all()  # both branches exercised
    for i, image in enumerate(x):
        padded = np.pad(image, ((0, 0), (4, 4), (4, 4)))
        crop = padded[:, dy[i] : dy[i] + 32, dx[i] : dx[i] + 32]
        expected = crop[:, :, ::-1] if flip[i] else crop
        np.testing.assert_array_equal(out[i], expected)


def test_augment_flip_is_horizontal() -> None:
    # One image with a fixed rng: find the draws, then check the mirror.
    image = np.arange(3 * 32 * 32, dtype=np.float32).reshape(1, 3, 32, 32)
    for seed in range(100):
        rng = np.random.default_rng(seed)
        dy, dx, flip = rng.integers(0, 9), rng.integers(0, 9), rng.random() < 0.5
        if dy == 4 and dx == 4 and flip:  # no shift, flipped
            break
    else:
        pytest.fail("no seed gives an unshifted flip")
    out = data.augment(image, np.random.default_rng(seed))
    np.testing.assert_array_equal(out[0], image[0][:, :, ::-1])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_augment_shape_dtype_determinism(dtype: type) -> None:
    x = _batch_float().astype(dtype)
    a = data.augment(x, np.random.default_rng(1))
    b = data.augment(x, np.random.default_rng(1))
    c = data.augment(x, np.random.default_rng(2))
    assert a.shape == x.shape and a.dtype == dtype
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    assert not np.shares_memory(a, x)


# --------------------------------------------------------------------------
# batches and to_nhwc


@pytest.mark.parametrize(
    ("n", "batch_size", "sizes"),
    [(10, 4, [4, 4, 2]), (10, 5, [5, 5]), (10, 20, [10]), (1, 1, [1])],
)
@pytest.mark.parametrize("shuffle", [False, True])
def test_batches_sizes_order_dtypes(n: int, batch_size: int, sizes: list[int], shuffle: bool) -> None:
    x = np.arange(n * 3 * 2 * 2, dtype=np.float64).reshape(n, 3, 2, 2)
    y = np.arange(n, dtype=np.int32)
    rng = np.random.default_rng(3) if shuffle else None
    got = list(data.batches(x, y, batch_size, rng=rng))
    assert [len(yb) for _, yb in got] == sizes
    assert all(xb.dtype == np.float32 and yb.dtype == np.int64 for xb, yb in got)
    ys = np.concatenate([yb for _, yb in got])
    for xb, yb in got:
        np.testing.assert_array_equal(xb, x[yb].astype(np.float32))
    assert sorted(ys.tolist()) == list(range(n))
    if not shuffle:
        assert ys.tolist() == list(range(n))


def test_batches_shuffle_is_seeded() -> None:
    x, y = np.zeros((50, 3, 2, 2), np.float32), np.arange(50)

    def order(seed: int) -> list[int]:
        rng = np.random.default_rng(seed)
        return np.concatenate([yb for _, yb in data.batches(x, y, 8, rng=rng)]).tolist()

    assert order(4) == order(4)
    assert order(4) != order(5)
    assert order(4) != list(range(50))


def test_batches_normalises_uint8_and_augments() -> None:
    x = np.random.default_rng(0).integers(0, 256, (6, 3, 4, 4), dtype=np.uint8)
    y = np.arange(6)
    mean, std = np.array([0.4, 0.5, 0.6]), np.array([0.2, 0.25, 0.3])
    calls: list[int] = []

    def record(xb: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        calls.append(len(xb))
        assert isinstance(rng, np.random.Generator)
        return xb + 1.0

    rng = np.random.default_rng(0)
    for xb, yb in data.batches(x, y, 4, rng=rng, augment_fn=record, mean=mean, std=std):
        np.testing.assert_allclose(xb, data.normalize(x[yb], mean, std) + 1.0, rtol=1e-6)
    assert calls == [4, 2]
    plain = next(data.batches(x, y, 6))[0]
    np.testing.assert_allclose(plain, x / 255.0, rtol=1e-6)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"batch_size": 0},
        {"y": np.arange(3)},
        {"augment_fn": data.augment},
        {"x": np.zeros((4, 3, 2, 2), np.float32), "mean": np.zeros(3)},
    ],
    ids=["zero batch", "length mismatch", "augment without rng", "mean with floats"],
)
def test_batches_rejects_eagerly(kwargs: dict) -> None:
    args = {"x": np.zeros((4, 3, 2, 2), np.uint8), "y": np.arange(4), "batch_size": 2}
    args.update(kwargs)
    with pytest.raises(ValueError):
        data.batches(**args)  # raises at the call, before iteration


@pytest.mark.parametrize("shape", [(2, 3, 4, 5), (3, 4, 5)])
def test_to_nhwc(shape: tuple[int, ...]) -> None:
    x = np.arange(np.prod(shape)).reshape(shape)
    out = data.to_nhwc(x)
    assert out.flags.c_contiguous
    np.testing.assert_array_equal(out, np.moveaxis(x, -3, -1))
    if len(shape) == 4:
        assert out.shape == (2, 4, 5, 3) and out[1, 2, 3, 0] == x[1, 0, 2, 3]


def test_to_nhwc_rejects_2d() -> None:
    with pytest.raises(ValueError):
        data.to_nhwc(np.zeros((2, 2)))


# --------------------------------------------------------------------------
# CIFAR-100, and the test split alone


def cifar100_files() -> dict[str, bytes]:
    rng = np.random.default_rng(7)

    def batch(n: int) -> dict[bytes, object]:
        return {
            b"data": rng.integers(0, 256, (n, 3072), dtype=np.uint8),
            b"fine_labels": [int(v) for v in rng.integers(0, 100, n)],
            b"coarse_labels": [int(v) for v in rng.integers(0, 20, n)],
        }

    meta = {b"fine_label_names": [f"class{i}".encode() for i in range(100)], b"coarse_label_names": [b"x"] * 20}
    return pickled({"train": batch(30), "test": batch(12), "meta": meta})


@pytest.mark.parametrize("layout", ["dir", "tarball"])
def test_cifar100_loads_with_its_fine_labels(tmp_path: Path, layout: str) -> None:
    files = cifar100_files()
    if layout == "dir":
        folder = tmp_path / "cifar-100-python"
        folder.mkdir()
        for name, raw in files.items():
            (folder / name).write_bytes(raw)
        path = tmp_path
    else:
        path = tmp_path / "cifar-100-python.tar.gz"
        path.write_bytes(tar_bytes(files, prefix="cifar-100-python/"))
    ds = data.resolve_data(str(path))
    assert ds.name == "CIFAR-100" and ds.num_classes == 100 and ds.classes[3] == "class3"
    assert ds.x_train.shape == (30, 3, 32, 32) and ds.x_test.shape == (12, 3, 32, 32)
    expected = pickle.loads(files["train"])  # noqa: S301 - our own test data
    assert ds.y_train.tolist() == expected[b"fine_labels"]
    with pytest.raises(DataError, match="holds CIFAR-100, not CIFAR-10"):
        data.load_cifar10(path)


def test_the_test_split_alone_needs_no_training_batches(tmp_path: Path) -> None:
    files = pickled(cifar_dicts())
    del files["data_batch_1"], files["data_batch_2"]
    batch_dir = write_dir(tmp_path, files)
    ds = data.resolve_data(str(batch_dir), splits=("test",))
    assert ds.train is None and len(ds.test) == 10
    with pytest.raises(DataError, match="missing file .*data_batch_1"):
        data.resolve_data(str(batch_dir))


# --------------------------------------------------------------------------
# small files that ask for a lot: refused from their headers, before any allocation


def _array_pickle(shape: tuple[int, ...], dtype: str, raw: bytes, order: str = "|") -> bytes:
    """A pickle of a dict whose 'data' is an ndarray state numpy would build from `shape`."""
    state = (1, shape, _Dtype(dtype, order), False, raw)
    return pickle.dumps({b"data": _Array(state), b"labels": [0] * min(shape[0] if shape else 0, 10)}, protocol=3)


class _Dtype:
    def __init__(self, name: str, order: str) -> None:
        self.name, self.order = name, order

    def __reduce__(self) -> tuple[object, ...]:
        return (np.dtype, (self.name, False, True), (3, self.order, None, None, None, -1, -1, 0))


class _Array:
    def __init__(self, state: tuple[object, ...]) -> None:
        self.state = state

    def __reduce__(self) -> tuple[object, ...]:
        return (np.ndarray.__reduce__(np.zeros(0))[0], (np.ndarray, (0,), b"b"), self.state)


def _peak_bytes(action: Callable[[], object]) -> int:
    import tracemalloc

    tracemalloc.start()
    try:
        with pytest.raises(DataError) as caught:
            action()
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert "\n" not in caught.value.message
    return peak


@pytest.mark.parametrize(
    ("raw", "fragment"),
    [
        pytest.param(_array_pickle((650_000, 3072), "u1", b"\0" * 16), "needs 1996800000 bytes", id="2 GB in 16 B"),
        pytest.param(_array_pickle((10, 3072), "u1", b"\1" * 100), "needs 30720 bytes", id="short buffer"),
        pytest.param(_array_pickle((4,), "i8", b"\0" * 32, order=">"), "byte order", id="big-endian"),
        pytest.param(_array_pickle((4,), "O", b""), "dtype 'O' is not allowed", id="object dtype"),
        pytest.param(_array_pickle((4,), "f8", b"\0" * 32), "dtype 'f8' is not allowed", id="float dtype"),
    ],
)
def test_array_headers_are_checked_before_anything_is_built(tmp_path: Path, raw: bytes, fragment: str) -> None:
    assert len(raw) < 400
    files = pickled(cifar_dicts())
    files["test_batch"] = raw
    batch_dir = write_dir(tmp_path, files)
    assert _peak_bytes(lambda: data.load_cifar10(batch_dir)) < 20 * 1024 * 1024
    with pytest.raises(DataError, match=fragment):
        data.load_cifar10(batch_dir)


def test_the_real_array_layout_still_loads() -> None:
    """The stand-ins rebuild what numpy's own pickles hold, C and Fortran order alike."""
    from inceptgen.runtime.data.unpickle import restricted_load

    c = np.arange(24, dtype=np.int64).reshape(4, 6)
    for array in (c, np.asfortranarray(c), np.zeros((0, 3), np.uint8)):
        for protocol in (2, 3, 4):
            loaded = restricted_load(pickle.dumps({"a": array}, protocol=protocol), "x")["a"]
            np.testing.assert_array_equal(loaded, array)
            assert loaded.dtype == array.dtype


def test_labels_of_memo_references_are_refused_unexpanded(tmp_path: Path) -> None:
    """10,000 references to one list of 10,000 ints: 7.45 GB as an array, a few KB as a pickle."""
    dicts = cifar_dicts()
    shared = list(range(10_000))
    dicts["test_batch"] = {b"data": np.zeros((10_000, 3072), np.uint8)[:10_000], b"labels": [shared] * 10_000}
    files = pickled(dicts)
    batch_dir = write_dir(tmp_path, files)
    assert _peak_bytes(lambda: data.load_cifar10(batch_dir)) < 200 * 1024 * 1024
    with pytest.raises(DataError, match="flat list of ints"):
        data.load_cifar10(batch_dir)


@pytest.mark.parametrize("layout", ["dir", "tarball"])
def test_oversized_batch_files_are_refused_unread(tmp_path: Path, layout: str, monkeypatch) -> None:
    from inceptgen.runtime.data import cifar

    monkeypatch.setattr(cifar, "MAX_BATCH_BYTES", 1000)  # a 3 GB member, to scale
    files = pickled(cifar_dicts())
    path = write_dir(tmp_path, files) if layout == "dir" else _written(tmp_path / "c.tar.gz", tar_bytes(files))
    with pytest.raises(DataError, match=r"is [\d,]+ bytes, more than any CIFAR batch file \(1,000\)"):
        data.load_cifar10(path)


# --------------------------------------------------------------------------
# image folders as files: scanned, then decoded per batch


def test_unreadable_images_are_skipped_and_counted(tmp_path: Path) -> None:
    _png_tree(tmp_path, {"train/a": 2, "train/b": 2, "test/a": 1, "test/b": 1})
    (tmp_path / "train/b/broken.png").write_bytes(b"\x89PNG not really")
    ds = data.scan_image_folder(tmp_path)
    assert ds.train is not None and len(ds.train) == 4 and not ds.train.in_memory
    assert [Path(f).name for f, _ in ds.skipped] == ["broken.png"]
    assert "cannot read image" in ds.skipped[0][1]
    (tmp_path / "train/a/0.png").write_bytes(b"junk")
    (tmp_path / "train/a/1.png").write_bytes(b"junk")
    with pytest.raises(DataError, match="train/a: no images that can be read"):
        data.scan_image_folder(tmp_path)


def test_an_image_above_the_pixel_limit_is_refused_before_decoding(tmp_path: Path, monkeypatch) -> None:
    from inceptgen.runtime.data import folders

    _png(tmp_path / "big.png", 40, 50, 0)
    monkeypatch.setattr(folders, "MAX_IMAGE_PIXELS", 1999)  # 40 x 50 = 2000
    with pytest.raises(DataError, match=r"big.png: .*(exceeds the limit of 1,999|decompression bomb)"):
        data.decode_image(tmp_path / "big.png", (8, 8))


def test_a_truncated_image_names_its_file(tmp_path: Path) -> None:
    _png(tmp_path / "ok.png", 64, 64, 0)
    raw = (tmp_path / "ok.png").read_bytes()
    (tmp_path / "cut.png").write_bytes(raw[: len(raw) // 2])  # the header reads, the pixels do not
    with pytest.raises(DataError, match=r"cut.png: cannot read image"):
        data.decode_image(tmp_path / "cut.png", (8, 8))


def test_decoding_crops_to_the_model_input(tmp_path: Path) -> None:
    from inceptgen.runtime.data.transforms import crop_box_centre

    pixels = _png(tmp_path / "a.png", 48, 64, 1)
    train = [data.decode_image(tmp_path / "a.png", (24, 20), np.random.default_rng(s)) for s in (5, 5, 6)]
    assert all(t.shape == (3, 24, 20) and t.dtype == np.uint8 for t in train)
    np.testing.assert_array_equal(train[0], train[1])  # seeded: the same crop and flip
    assert not np.array_equal(train[0], train[2])
    assert crop_box_centre(64, 64, 32, 32) == (4.0, 4.0, 60.0, 60.0)  # resize to 1/0.875, centre crop
    test = data.decode_image(tmp_path / "a.png", (42, 56))
    box = crop_box_centre(64, 48, 42, 56)
    assert box == (4.0, 3.0, 60.0, 45.0)
    full = data.decode_image(tmp_path / "a.png", None)
    np.testing.assert_array_equal(full, pixels.transpose(2, 0, 1))
    assert test.shape == (3, 42, 56)


def test_random_crops_stay_inside_the_image() -> None:
    from inceptgen.runtime.data.transforms import CROP_RATIO, crop_box_random

    rng = np.random.default_rng(0)
    for width, height in ((64, 48), (10, 300), (500, 20), (1, 1)):
        for _ in range(200):
            left, top, right, bottom = crop_box_random(rng, width, height)
            assert 0 <= left < right <= width and 0 <= top < bottom <= height
            ratio = (right - left) / (bottom - top)
            extreme = width / height < CROP_RATIO[0] or width / height > CROP_RATIO[1]
            assert extreme or CROP_RATIO[0] * 0.8 <= ratio <= CROP_RATIO[1] * 1.25
