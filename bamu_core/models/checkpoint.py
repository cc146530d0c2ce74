"""Safe checkpoint loading and saving: ``torch.load(weights_only=True)`` or safetensors, never pickle."""

from __future__ import annotations

import pickle
import warnings
from pathlib import Path

import torch
import torch.nn as nn

from ..errors import BamuInputError
from ..storage import atomic_write

__all__ = ["read_state_dict", "load_weights", "save_weights", "CHECKPOINT_SUFFIXES", "CheckpointWarning"]

CHECKPOINT_SUFFIXES = (".pt", ".pth", ".th", ".bin", ".safetensors")


def read_state_dict(path: str | Path) -> dict[str, torch.Tensor]:
    """Read a state dict from ``.pt/.pth/.th/.bin`` (weights only) or ``.safetensors``.

    Accepts a plain state dict or a dict holding one under ``state_dict`` / ``model`` /
    ``model_state_dict``; strips a ``module.`` prefix (DataParallel).

    Raises
    ------
    FileNotFoundError
        The file does not exist.
    ValueError
        The file is not a checkpoint bamu can read safely (e.g. a pickled model object), its keys
        are not parameter names, a value is not a dense tensor (sparse, meta, quantized), a weight
        is not floating point (bool, integer or complex; BatchNorm's ``num_batches_tracked`` may
        be an integer), or its weights hold NaN or infinite values.

    Warns
    -----
    CheckpointWarning
        Weights above ``1e6`` in absolute value: loadable, but the scores would be meaningless.
        Entries that are not tensors beside the tensors (e.g. ``epoch: 3``): left out, and named.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint {path} does not exist")
    suffix = path.suffix.lower()
    if suffix not in CHECKPOINT_SUFFIXES:
        raise BamuInputError(
            f"checkpoint {path.name}: unsupported file type {suffix!r}; use {', '.join(CHECKPOINT_SUFFIXES)}"
        )
    if suffix == ".safetensors":
        from safetensors.torch import load_file

        try:
            state = load_file(str(path), device="cpu")
        except Exception as exc:
            raise BamuInputError(
                f"checkpoint {path.name} is not a valid safetensors file ({_first_line(exc)}); it may be truncated: "
                "save it again"
            ) from None
    else:
        try:
            with warnings.catch_warnings():  # torch notes a plain pickle's protocol; the refusal below says it all
                warnings.filterwarnings("ignore", message="Detected pickle protocol", category=UserWarning)
                obj = torch.load(path, map_location="cpu", weights_only=True)
        except pickle.UnpicklingError as exc:
            with open(path, "rb") as fh:
                head = fh.read(2)
            if head[:2] != b"PK" and head[:1] != b"\x80":  # neither torch.save's zip nor a pickle stream
                raise BamuInputError(
                    f"checkpoint {path.name} cannot be read: it is not a PyTorch checkpoint; save one with "
                    "torch.save(model.state_dict(), path) or as .safetensors"
                ) from None
            raise BamuInputError(
                f"checkpoint {path.name} holds pickled Python objects, which bamu refuses to load (they can run code); "
                "save model.state_dict() instead, or convert it to .safetensors"
            ) from exc
        except Exception as exc:
            raise BamuInputError(
                f"checkpoint {path.name} cannot be read ({type(exc).__name__}: {_first_line(exc)}); it may be "
                "truncated: save one with torch.save(model.state_dict(), path) or as .safetensors"
            ) from None
        state = _unwrap(obj, path.name)
    if not state:
        raise BamuInputError(
            f"checkpoint {path.name} holds no tensors; save one with torch.save(model.state_dict(), path) or as "
            ".safetensors"
        )
    state = _check_tensors(state, path.name)
    prefix = "module."
    if all(k.startswith(prefix) for k in state):
        state = {k[len(prefix) :]: v for k, v in state.items()}
    return state


#: Weights larger than this in absolute value are warned about: no trained network needs them,
#: and they overflow half precision and most arithmetic downstream.
ABSURD_MAGNITUDE = 1e6


class CheckpointWarning(UserWarning):
    """A checkpoint bamu can load but whose weights look wrong (e.g. absurd magnitudes)."""


def _check_tensors(state: dict, name: str) -> dict[str, torch.Tensor]:
    """Refuse what cannot be a model's weights (one line each), warn about what looks damaged."""
    advice = "save one with torch.save(model.state_dict(), path) or as .safetensors"
    bad_keys = [k for k in state if not isinstance(k, str)]
    if bad_keys:
        raise BamuInputError(
            f"checkpoint {name} has {len(bad_keys)} key(s) that are not parameter names, e.g. {bad_keys[0]!r} "
            f"({type(bad_keys[0]).__name__}); {advice}"
        )
    for key, value in state.items():
        if not isinstance(value, torch.Tensor):
            raise BamuInputError(f"checkpoint {name}: {key!r} holds a {type(value).__name__}, not a tensor; {advice}")
        if value.layout != torch.strided:
            raise BamuInputError(
                f"checkpoint {name}: tensor {key!r} is {str(value.layout).replace('torch.', '')}, not dense; "
                "convert it with .to_dense() and save again"
            )
        if value.is_meta or value.device.type == "meta":
            raise BamuInputError(
                f"checkpoint {name}: tensor {key!r} is on the meta device and holds no values; save the weights "
                "of a materialised model"
            )
        if value.is_quantized:
            raise BamuInputError(f"checkpoint {name}: tensor {key!r} is quantized; save the float weights instead")
        counter = key.endswith("num_batches_tracked")  # BatchNorm's step counter: an integer by design
        if value.is_complex() or value.dtype == torch.bool or (not value.is_floating_point() and not counter):
            raise BamuInputError(
                f"checkpoint {name}: tensor {key!r} has dtype {str(value.dtype).replace('torch.', '')}; model "
                f"weights must be floating point (float32, float16, bfloat16 or float64); {advice}"
            )
    broken = [k for k, v in state.items() if v.is_floating_point() and v.numel() and not bool(torch.isfinite(v).all())]
    if broken:
        raise BamuInputError(
            f"checkpoint {name} holds NaN or infinite values in {len(broken)} tensor(s), e.g. "
            f"{', '.join(broken[:3])}: "
            "it is damaged or comes from a training run that diverged; use an earlier checkpoint"
        )
    huge = [
        k for k, v in state.items() if v.is_floating_point() and v.numel() and float(v.abs().max()) > ABSURD_MAGNITUDE
    ]
    if huge:
        warnings.warn(
            CheckpointWarning(
                f"checkpoint {name}: {len(huge)} tensor(s) hold values above {ABSURD_MAGNITUDE:g} in absolute value, "
                f"e.g. {', '.join(huge[:3])}; the weights are probably damaged and the scores meaningless"
            ),
            stacklevel=3,
        )
    return state


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _unwrap(obj, name: str) -> dict[str, torch.Tensor]:
    if isinstance(obj, dict):
        for key in ("state_dict", "model_state_dict", "model"):
            if key in obj and isinstance(obj[key], dict):
                obj = obj[key]
                break
        tensors = {k: v for k, v in obj.items() if isinstance(v, torch.Tensor)}
        if tensors:
            dropped = [k for k, v in obj.items() if not isinstance(v, torch.Tensor)]
            if dropped:
                shown = ", ".join(f"{k!r} ({type(obj[k]).__name__})" for k in dropped[:5])
                more = f" and {len(dropped) - 5} more" if len(dropped) > 5 else ""
                warnings.warn(
                    CheckpointWarning(
                        f"checkpoint {name}: left out {len(dropped)} value(s) that are not tensors: {shown}{more}; "
                        "only the tensors are loaded"
                    ),
                    stacklevel=3,
                )
            return tensors
    raise BamuInputError(
        f"checkpoint {name} does not contain a state dict (a mapping of parameter names to tensors); save one with "
        "torch.save(model.state_dict(), path) or as .safetensors"
    )


def load_weights(
    model: nn.Module, state: dict[str, torch.Tensor], *, source: str = "checkpoint", arch=None
) -> nn.Module:
    """Load ``state`` into ``model`` strictly, with an error naming missing, extra or mis-shaped keys.

    The error names the architecture: ``arch`` (a registered name or ``ArchSpec``) when given,
    else the one recognised from ``model``'s structure, else the model's class name.
    """
    own = model.state_dict()
    # older checkpoints lack BatchNorm's step counter; it does not affect predictions
    state = {**{k: v for k, v in own.items() if k.endswith("num_batches_tracked") and k not in state}, **state}
    missing = [k for k in own if k not in state]
    unexpected = [k for k in state if k not in own]
    shapes = [
        f"{k}: checkpoint {tuple(state[k].shape)} vs model {tuple(own[k].shape)}"
        for k in own
        if k in state and tuple(state[k].shape) != tuple(own[k].shape)
    ]
    kinds = [
        f"{k}: {str(state[k].dtype).replace('torch.', '')}"
        for k in own
        if k in state
        and isinstance(state[k], torch.Tensor)
        and own[k].is_floating_point()
        and not state[k].is_floating_point()
    ]
    problems = []
    if missing:
        problems.append(f"{len(missing)} missing key(s) e.g. {', '.join(missing[:3])}")
    if unexpected:
        problems.append(f"{len(unexpected)} unexpected key(s) e.g. {', '.join(unexpected[:3])}")
    if shapes:
        problems.append(f"{len(shapes)} shape mismatch(es) e.g. {'; '.join(shapes[:3])}")
    if kinds:
        problems.append(
            f"{len(kinds)} tensor(s) that are not floating point where the model's weights are, e.g. "
            f"{'; '.join(kinds[:3])} (weights must be float32, float16, bfloat16 or float64)"
        )
    if problems:
        from .introspect import arch_name

        raise BamuInputError(
            f"{source} does not fit architecture {arch_name(model, arch)!r}: "
            + "; ".join(problems)
            + " (check the architecture and the number of classes)"
        )
    model.load_state_dict(state, strict=True)
    return model


def save_weights(model: nn.Module | dict, path: str | Path, *, mkdir: bool = True) -> Path:
    """Save a state dict as safetensors, atomically (only over an absent or regular file;
    ``mkdir``: create missing folders)."""
    from safetensors.torch import save_file

    state = model.state_dict() if isinstance(model, nn.Module) else model
    state = {k: v.detach().to("cpu").contiguous() for k, v in state.items()}
    return atomic_write(path, lambda tmp: save_file(state, str(tmp)), mkdir=mkdir)
