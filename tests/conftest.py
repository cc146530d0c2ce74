"""Shared fixtures: an isolated BAMU_HOME, the built-in scenarios and their baselines."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ARTIFACTS = Path(__file__).parent / "artifacts"


@pytest.fixture(scope="session", autouse=True)
def bamu_home(tmp_path_factory):
    """Every test session gets its own cache and run store."""
    home = tmp_path_factory.mktemp("bamu_home")
    old = os.environ.get("BAMU_HOME")
    os.environ["BAMU_HOME"] = str(home)
    os.environ.setdefault("BAMU_DEVICE", "cpu")
    yield home
    if old is None:
        os.environ.pop("BAMU_HOME", None)
    else:
        os.environ["BAMU_HOME"] = old


@pytest.fixture(scope="session")
def artifacts_dir() -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS


@pytest.fixture(scope="session")
def digits():
    from bamu_core.data import load_scenario

    return load_scenario("colored-digits")


@pytest.fixture(scope="session")
def binary_digits():
    from bamu_core.data import load_scenario

    return load_scenario("binary-colored-digits")


@pytest.fixture(scope="session")
def digits_baseline(digits):
    from bamu_core.models import train_baseline

    return train_baseline(digits)


@pytest.fixture(scope="session")
def binary_baseline(binary_digits):
    from bamu_core.models import train_baseline

    return train_baseline(binary_digits)


@pytest.fixture(scope="session")
def cifar_root() -> Path:
    from bamu_core.data import default_cifar_root

    root = default_cifar_root()
    if root is None or not (root / "test").is_dir():
        pytest.skip("../shared/data/cifar10 is not available (set BAMU_CIFAR_ROOT to a CIFAR-10 PNG folder)")
    return root


@pytest.fixture(scope="session")
def resnet20_path() -> Path:
    from bamu_core.models import shared_resnet20_path

    path = shared_resnet20_path()
    if path is None:
        pytest.skip("../shared/models/cifar10_resnet20-12fca82f.th is not available (set BAMU_RESNET20)")
    return path


@pytest.fixture
def app(binary_baseline):
    """The dashboard (Streamlit's AppTest) on its default page, the built-in demo loaded (its baseline
    is already cached). A test module that needs another start defines its own ``app``."""
    from streamlit.testing.v1 import AppTest
    from test_app import APP, no_exceptions, settle

    at = AppTest.from_file(APP, default_timeout=120)
    settle(at)
    no_exceptions(at)
    return at
