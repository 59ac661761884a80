# SPDX-License-Identifier: BSD-2-Clause
"""The Python API (:class:`host.MemGen`) against the simulated device, and the README's
example run as written."""

import re
from pathlib import Path

import numpy as np
import pytest

from host import MemGen, codecs, sample
from host.codecs import DataError
from host.device import MemGenError
from tests.helpers import CAPACITY, call

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(autouse=True)
def patient_client(monkeypatch):
    """Give the client the tests' generous time-out: the simulator is far slower than a board
    (the README's example keeps the default, which suits a board)."""
    import host.api

    real = host.api.Client
    monkeypatch.setattr(host.api, "Client",
                        lambda *args, timeout=2.0, **kwargs: real(*args, timeout=60, **kwargs))


def readme_example():
    text = (ROOT / "README.md").read_text()
    section = text.split("## Python API", 1)[1].split("\n## ", 1)[0]
    (code,) = re.findall(r"```python\n(.*?)```", section, re.DOTALL)
    return code


def test_readme_example_runs(device, capsys):
    exec(compile(readme_example(), "README.md", "exec"), {})
    out = capsys.readouterr().out
    assert "ready" in out


def test_fit_records_the_header_the_tools_read(device, tmp_path, capsys):
    images = np.random.default_rng(1).integers(0, 256, (5, 4, 3, 3), dtype=np.uint8)
    with MemGen() as model:
        dataset = model.fit(images)
        assert (dataset.count, dataset.record_size) == (5, 36)
        samples = model.sample(7, mode="shuffle", seed=2)
        assert samples.shape == (7, 4, 3, 3) and samples.dtype == np.uint8
        assert all((images == s).all(axis=(1, 2, 3)).any() for s in samples)
        assert np.array_equal(model.recite(), images)
        assert model.describe().kind == codecs.Kind.IMAGE
    # A model fitted from Python is one the command line samples.
    status, out, err = call(sample.main, capsys, "-n", 3, "--out", tmp_path / "s.npy")
    assert status == 0, err
    assert np.load(tmp_path / "s.npy").shape == (3, 4, 3, 3)


def test_fit_other_kinds(device):
    with MemGen() as model:
        model.fit(["alpha", "beta"])
        assert sorted(set(model.sample(6, seed=3))) <= ["alpha", "beta"]
        assert model.recite() == ["alpha", "beta"]
        model.fit(np.array([[0.0, 0.5], [1.0, 0.25]]), kind="array")
        assert model.recite().tolist() == [[0, 128], [255, 64]]
        model.fit(b"0123456789", record_size=4)
        assert model.recite() == b"0123456789"
        assert model.sample(2, mode="recite").tolist() == [list(b"0123"), list(b"4567")]


def test_errors(device):
    with MemGen() as model:
        with pytest.raises(MemGenError, match=r"cannot sample \(state: empty\): fit a data"):
            model.sample(1)
        with pytest.raises(DataError, match=rf"needs {CAPACITY + 1} bytes, the device holds "
                                            rf"{CAPACITY}"):
            model.fit(np.zeros((CAPACITY + 1, 1, 1), np.uint8))
        model.fit(np.zeros((2, 1, 1), np.uint8))
        with pytest.raises(ValueError, match=r"mode must be one of random, shuffle, recite"):
            model.sample(1, mode="sideways")
        with pytest.raises(ValueError, match=r"n must be a positive integer, not 0"):
            model.sample(0)
