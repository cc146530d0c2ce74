"""dashboard.run_images: a run's images come only from the data it was made on."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np

from dashboard.run_images import made_on, split_images, upscale


def _run(scenario, **splits):
    return SimpleNamespace(dataset={"name": scenario.name, "splits": {k: {"n": v} for k, v in splits.items()}})


def test_made_on_checks_the_name_and_the_split_size(binary_digits):
    n_train, n_test = len(binary_digits.train), len(binary_digits.test)
    assert made_on(_run(binary_digits, train=n_train, test=n_test), binary_digits, "train")
    assert not made_on(_run(binary_digits, train=n_train + 1), binary_digits, "train")
    assert made_on(_run(binary_digits, train=n_train + 1), binary_digits, "test")  # no test size recorded
    other = SimpleNamespace(dataset={"name": "elsewhere", "splits": {}})
    assert not made_on(other, binary_digits, "test") and not made_on(other, None, "test")
    assert made_on(SimpleNamespace(dataset=None), binary_digits, "test")  # an old run without a data card


def test_strict_refuses_any_bad_index_and_lenient_leaves_it_out(binary_digits):
    run = _run(binary_digits, train=len(binary_digits.train))
    n = len(binary_digits.train)
    assert split_images(run, binary_digits, "train", [0, n], strict=True) is None
    assert split_images(run, binary_digits, "train", [0, None], strict=True) is None
    got = split_images(run, binary_digits, "train", [3, n, -1, 0], strict=False)
    assert [i for i, _ in got] == [3, 0]
    img = got[0][1]
    assert img.dtype == np.uint8 and img.ndim == 3 and img.shape[-1] == 3
    assert split_images(run, binary_digits, "train", [n], strict=False) is None


def test_upscale_by_whole_pixels():
    img = np.arange(2 * 3 * 3, dtype=np.uint8).reshape(2, 3, 3)
    big = upscale(img, size=7)  # factor 3
    assert big.shape == (6, 9, 3) and (big[:3, :3] == img[0, 0]).all()
    assert upscale(np.zeros((200, 10, 3), np.uint8)).shape == (200, 10, 3)
