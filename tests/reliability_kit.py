"""Tiny data, models and subjects for the reliability suite (tests/test_reliability_*.py).

Everything here is small enough that a whole unlearning run with its before/after audit takes
well under a second on one CPU thread: 16 x 16 images, a small CNN, a few steps.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import torch
from PIL import Image

REPO = Path(__file__).resolve().parent.parent


@dataclass
class Case:
    """One row of a reliability table: what is done to bamu and what must happen.

    ``behaviour`` is the expected behaviour in words (it goes into the README table);
    ``problem`` and ``advice`` are regular expressions the message must match: the first
    names what is wrong, the second says what to do about it.
    """

    id: str
    behaviour: str
    make: Callable = field(repr=False, default=None)
    error: type | tuple = ValueError
    problem: str = ""
    advice: str = ""

    def check_message(self, message: str) -> None:
        assert "\n" not in message.strip(), f"{self.id}: message is not one line: {message!r}"
        assert "Traceback" not in message, message
        assert re.search(self.problem, message, re.IGNORECASE), f"{self.id}: {self.problem!r} not in {message!r}"
        assert re.search(self.advice, message, re.IGNORECASE), f"{self.id}: advice {self.advice!r} not in {message!r}"


def reliability(kind: str, where: str):
    """Mark a test for the README's reliability table (``benchmarks/reliability_table.py``).

    ``kind`` is one of :data:`KINDS`; the first line of the test's docstring is the expected
    behaviour. Table-driven tests are listed through their module's ``README_TABLES`` instead.
    """
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")

    def mark(fn):
        fn.reliability = (kind, where)
        return fn

    return mark


KINDS = ("bad input", "valid input", "fault", "concurrency", "security")


def png_bytes(array: np.ndarray, **kwargs) -> bytes:
    import io

    buf = io.BytesIO()
    Image.fromarray(array, **kwargs).save(buf, format="PNG")
    return buf.getvalue()


def write_folder(
    root: Path,
    *,
    n_per: int = 6,
    labels=("cat", "dog"),
    groups=("a", "b"),
    header: str = "path,label,site",
    extra_rows=(),
    seed: int = 0,
) -> tuple[Path, Path]:
    """An image folder with ``meta.csv``: ``n_per`` 12 x 10 RGB PNGs per (label, group)."""
    root.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    rows = [header]
    k = 0
    for label in labels:
        for group in groups:
            for _ in range(n_per):
                name = f"img{k}.png"
                (root / name).write_bytes(png_bytes(rng.integers(0, 255, (10, 12, 3), dtype=np.uint8)))
                rows.append(f"{name},{label},{group}")
                k += 1
    rows.extend(extra_rows)
    meta = root / "meta.csv"
    meta.write_text("\n".join(rows) + "\n")
    return root, meta


def model_file(path: Path, *, arch: str = "small_cnn", num_classes: int = 2, poison: bool = False) -> Path:
    """A freshly initialised (seeded) model saved as a checkpoint (``.safetensors`` or ``.pt``)."""
    from bamu_core.models import build_model, save_weights

    torch.manual_seed(0)
    state = {k: v.clone() for k, v in build_model(arch, num_classes=num_classes).state_dict().items()}
    if poison:
        next(v for k, v in state.items() if k.endswith("weight"))[0] = float("nan")
    if path.suffix == ".safetensors":
        save_weights(state, path)
    else:
        torch.save(state, path)
    return path


def bars(n: int, seed: int):
    """16 x 16 images: the class is a bright bar (top or bottom) in a colour that agrees with
    the class 80 % of the time; counterfactuals swap the colour."""
    from bamu_core.data import ImageData

    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    colour = np.where(rng.random(n) < 0.8, y, 1 - y)

    def draw(col):
        x = torch.zeros(n, 3, 16, 16, dtype=torch.uint8)
        for i in range(n):
            rows = slice(2, 6) if y[i] else slice(10, 14)
            x[i, int(col[i]), rows, 3:13] = 220
        return x

    return ImageData(
        images=draw(colour),
        labels=y,
        attrs={"colour": colour, "alignment": (colour != y).astype(np.int64)},
        group_names={"colour": ["red", "green"], "alignment": ["aligned", "conflicting"]},
        group_attr="colour",
        mean=(0.1, 0.1, 0.1),
        std=(0.3, 0.3, 0.3),
        counterfactual=draw(1 - colour),
    )


@functools.cache
def _trained_model_state() -> dict:
    from bamu_core.models import build_model
    from bamu_core.training import fit

    torch.manual_seed(0)
    model = build_model("small_cnn", num_classes=2)
    fit(model, bars(64, 0), epochs=2, lr=1e-3, batch_size=16, optimizer="adam")
    return {k: v.clone() for k, v in model.state_dict().items()}


def tiny_model():
    """A small CNN trained for two epochs on :func:`bars` (the same weights every call)."""
    from bamu_core.models import build_model

    model = build_model("small_cnn", num_classes=2)
    model.load_state_dict(_trained_model_state())
    return model.eval()


def tiny_subject():
    """A :class:`~bamu_core.workflows.Subject`: the bars scenario (64 / 32 / 48 images) and :func:`tiny_model`."""
    from bamu_core.data import Scenario
    from bamu_core.workflows import Subject

    train, val, test = bars(64, 0), bars(32, 1), bars(48, 2)
    sc = Scenario(
        name="tiny-bars",
        title="Tiny bars",
        bias="colour agrees with the class 80 % of the time",
        class_names=["bottom", "top"],
        train=train,
        val=val,
        test=test,
        mean=(0.1, 0.1, 0.1),
        std=(0.3, 0.3, 0.3),
        default_arch="small_cnn",
        bias_attr="colour",
    )
    return Subject(scenario=sc, model=tiny_model(), arch="small_cnn", model_source="tiny test model")


FAST = {"steps": 4, "eval_every": 1, "batch_size": 16}
QUICK_RUN = {"n_boot": 0, "mia_samples": 64, "gradcam_images": 0}  # unlearn() without the slow extras


def state_of(model) -> dict:
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def same_state(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def files_under(root: Path) -> list[str]:
    """Every file below ``root`` (relative paths, sorted)."""
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())


# ------------------------------------------------------------------------------------------------
# the dashboard (Streamlit's AppTest), opened on a tiny subject so that nothing is trained
# ------------------------------------------------------------------------------------------------


def settle(at, timeout: float = 120.0):
    """Run the page, wait for its background jobs, run it again (as its live fragment would)."""
    import time

    from bamu_core.jobs import default_manager

    at.run()
    end = time.time() + timeout
    while time.time() < end and default_manager().jobs(active=True):
        time.sleep(0.1)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def open_app(tmp: Path, *, groups=("a", "b")):
    """The dashboard with a tiny folder dataset (groups by ``site``) and a small CNN checkpoint loaded."""
    from streamlit.testing.v1 import AppTest

    from dashboard.subjects import SubjectSpec

    root, meta = write_folder(tmp / "app-data", n_per=4, groups=groups)
    ckpt = model_file(tmp / "app-model.safetensors")
    at = AppTest.from_file(str(REPO / "app.py"), default_timeout=120)
    at.session_state["spec"] = SubjectSpec(
        data_dir=str(root),
        meta_csv=str(meta),
        group_cols=("site",),
        image_size=16,
        arch="small_cnn",
        checkpoint=str(ckpt),
    )
    at.session_state["group_attr"] = None
    return settle(at)


def close_app(at) -> None:
    """Remove the session's upload folder (as the end of a browser session does)."""
    if "uploads" in at.session_state:
        at.session_state["uploads"].cleanup()


def texts(elements) -> list[str]:
    return [str(e.value) for e in elements]
