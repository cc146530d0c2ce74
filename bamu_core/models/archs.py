"""The registered architectures: a small CNN, CIFAR ResNets and torchvision models."""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from .._compat import import_torchvision
from ..errors import BamuInputError
from ._registry import register_arch

__all__ = ["SmallCNN", "CifarResNet"]


def _fast_layout(x: torch.Tensor) -> torch.Tensor:
    """``x`` in channels-last memory order on the CPU (same values; PyTorch's CPU convolutions and
    max-pooling run several times faster on it: the small CNN's forward pass about 4x on one thread).
    Other devices get ``x`` as it is."""
    if x.dim() == 4 and x.device.type == "cpu":
        return x.contiguous(memory_format=torch.channels_last)
    return x


@register_arch(
    "small_cnn",
    description="3-layer CNN with a spatial linear head, for small images such as the digit scenarios",
    gradcam_layer="conv3",
    lora_targets=("conv1", "conv2", "conv3", "fc"),
    classifier="fc",
    default_image_size=28,
)
class SmallCNN(nn.Module):
    def __init__(self, *, num_classes: int, in_channels: int = 3, width: int = 16):
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, width, 3, padding=1)
        self.conv2 = nn.Conv2d(width, 2 * width, 3, padding=1)
        self.conv3 = nn.Conv2d(2 * width, 4 * width, 3, padding=1)
        self.pool = nn.AdaptiveAvgPool2d(4)
        self.fc = nn.Linear(4 * width * 16, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.max_pool2d(F.relu(self.conv1(_fast_layout(x))), 2)
        x = F.max_pool2d(F.relu(self.conv2(x)), 2)
        x = F.relu(self.conv3(x))
        return self.fc(torch.flatten(self.pool(x), 1))


# --- CIFAR ResNets (He et al. 2016, option-A shortcuts), key names as akamaster's checkpoints ---


class _ShortcutA(nn.Module):
    def __init__(self, planes: int):
        super().__init__()
        self.pad = planes // 4

    def forward(self, x):
        return F.pad(x[:, :, ::2, ::2], (0, 0, 0, 0, self.pad, self.pad))


class _BasicBlock(nn.Module):
    def __init__(self, in_planes: int, planes: int, stride: int):
        super().__init__()
        self.conv1 = nn.Conv2d(in_planes, planes, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, stride=1, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.shortcut = _ShortcutA(planes) if stride != 1 or in_planes != planes else nn.Identity()

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return F.relu(out + self.shortcut(x))


class CifarResNet(nn.Module):
    def __init__(self, depth: int, *, num_classes: int, in_channels: int = 3):
        super().__init__()
        if (depth - 2) % 6:
            raise BamuInputError(f"CIFAR ResNet depth must be 6n+2, got {depth}")
        n = (depth - 2) // 6
        self.conv1 = nn.Conv2d(in_channels, 16, 3, stride=1, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(16)
        self.layer1 = self._stage(16, 16, n, 1)
        self.layer2 = self._stage(16, 32, n, 2)
        self.layer3 = self._stage(32, 64, n, 2)
        self.linear = nn.Linear(64, num_classes)
        for m in self.modules():
            if isinstance(m, (nn.Conv2d, nn.Linear)):
                nn.init.kaiming_normal_(m.weight)

    @staticmethod
    def _stage(in_planes, planes, blocks, stride):
        layers = [_BasicBlock(in_planes, planes, stride)]
        layers += [_BasicBlock(planes, planes, 1) for _ in range(blocks - 1)]
        return nn.Sequential(*layers)

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(_fast_layout(x))))
        out = self.layer3(self.layer2(self.layer1(out)))
        out = F.adaptive_avg_pool2d(out, 1).flatten(1)
        return self.linear(out)


def _register_cifar_resnet(depth: int):
    @register_arch(
        f"resnet{depth}",
        description=f"CIFAR ResNet-{depth} (option-A shortcuts), loads akamaster-style checkpoints",
        gradcam_layer="layer3",
        lora_targets=("conv1", "conv2", "linear"),
        classifier="linear",
        default_image_size=32,
    )
    def build(*, num_classes: int, in_channels: int = 3):
        return CifarResNet(depth, num_classes=num_classes, in_channels=in_channels)

    return build


for _depth in (20, 32, 44, 56):
    _register_cifar_resnet(_depth)


# --- torchvision models, always weights=None (no download) ---


def _first_conv_channels(model: nn.Module, in_channels: int) -> nn.Module:
    if in_channels != 3:
        raise BamuInputError("torchvision architectures here expect 3-channel images")
    return model


@register_arch(
    "resnet18",
    description="torchvision ResNet-18 (weights=None; load your own checkpoint)",
    gradcam_layer="layer4",
    lora_targets=("conv1", "conv2", "fc"),
    classifier="fc",
    family="torchvision",
    default_image_size=64,
)
def resnet18(*, num_classes: int, in_channels: int = 3):
    return _first_conv_channels(
        import_torchvision().models.resnet18(weights=None, num_classes=num_classes), in_channels
    )


@register_arch(
    "resnet50",
    description="torchvision ResNet-50 (weights=None; load your own checkpoint)",
    gradcam_layer="layer4",
    lora_targets=("conv1", "conv2", "conv3", "fc"),
    classifier="fc",
    family="torchvision",
    default_image_size=64,
)
def resnet50(*, num_classes: int, in_channels: int = 3):
    return _first_conv_channels(
        import_torchvision().models.resnet50(weights=None, num_classes=num_classes), in_channels
    )


@register_arch(
    "mobilenet_v3_small",
    description="torchvision MobileNetV3-Small (weights=None; load your own checkpoint)",
    gradcam_layer="features",
    lora_targets=("classifier.0", "classifier.3"),
    classifier="classifier.3",
    family="torchvision",
    default_image_size=64,
)
def mobilenet_v3_small(*, num_classes: int, in_channels: int = 3):
    tv = import_torchvision()
    return _first_conv_channels(tv.models.mobilenet_v3_small(weights=None, num_classes=num_classes), in_channels)


@register_arch(
    "mobilenet_v3_large",
    description="torchvision MobileNetV3-Large (weights=None; load your own checkpoint)",
    gradcam_layer="features",
    lora_targets=("fc1", "fc2", "classifier.0", "classifier.3"),  # squeeze-excitation 1x1 convs and the head
    classifier="classifier.3",
    family="torchvision",
    default_image_size=224,
)
def mobilenet_v3_large(*, num_classes: int, in_channels: int = 3):
    tv = import_torchvision()
    return _first_conv_channels(tv.models.mobilenet_v3_large(weights=None, num_classes=num_classes), in_channels)


@register_arch(
    "efficientnet_b0",
    description="torchvision EfficientNet-B0 (weights=None; load your own checkpoint)",
    gradcam_layer="features",
    # MBConv projection 1x1 convs, squeeze-excitation 1x1 convs and the head (no depthwise convs)
    lora_targets=("block.3.0", "fc1", "fc2", "classifier.1"),
    classifier="classifier.1",
    family="torchvision",
    default_image_size=224,
)
def efficientnet_b0(*, num_classes: int, in_channels: int = 3):
    tv = import_torchvision()
    return _first_conv_channels(tv.models.efficientnet_b0(weights=None, num_classes=num_classes), in_channels)


@register_arch(
    "convnext_tiny",
    description="torchvision ConvNeXt-Tiny (weights=None; load your own checkpoint)",
    gradcam_layer="features",
    lora_targets=("block.3", "block.5", "classifier.2"),  # the two pointwise linears of every block, the head
    classifier="classifier.2",
    family="torchvision",
    default_image_size=224,
)
def convnext_tiny(*, num_classes: int, in_channels: int = 3):
    tv = import_torchvision()
    return _first_conv_channels(tv.models.convnext_tiny(weights=None, num_classes=num_classes), in_channels)


# --- vision transformers ---


class _TokenGrid(nn.Module):
    """Patch tokens (N, H*W, D) -> (N, D, H, W): the spatial layer Grad-CAM hooks on a ViT."""

    def forward(self, tokens: torch.Tensor, grid: tuple[int, int]) -> torch.Tensor:
        n, _, d = tokens.shape
        return tokens.transpose(1, 2).reshape(n, d, grid[0], grid[1])


def _vit_class():
    from torchvision.models.vision_transformer import VisionTransformer

    class FlexibleViT(VisionTransformer):
        """torchvision's ``VisionTransformer`` (same parameters and state-dict keys) that also runs
        on images of another size than it was built for, by resizing its position embeddings
        (bicubic, as torchvision's ``interpolate_embeddings``), and that exposes its patch tokens
        before the last encoder block as a (N, D, H/p, W/p) map, ``gradcam_grid``.

        At the built size the output equals torchvision's model with the same weights.
        """

        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.gradcam_grid = _TokenGrid()

        def _positions(self, grid: tuple[int, int]) -> torch.Tensor:
            pos = self.encoder.pos_embedding
            side = self.image_size // self.patch_size
            if grid == (side, side):
                return pos
            cls, patches = pos[:, :1], pos[:, 1:]
            d = patches.shape[-1]
            patches = patches.transpose(1, 2).reshape(1, d, side, side)
            patches = F.interpolate(patches, size=grid, mode="bicubic", align_corners=True)
            return torch.cat([cls, patches.flatten(2).transpose(1, 2)], dim=1)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            n, _, h, w = x.shape
            p = self.patch_size
            if h < p or w < p:
                raise BamuInputError(f"images must be at least {p}x{p} pixels for this ViT, got {h}x{w}")
            x = self.conv_proj(x)
            grid = (x.shape[-2], x.shape[-1])
            x = x.flatten(2).transpose(1, 2)
            x = torch.cat([self.class_token.expand(n, -1, -1), x], dim=1) + self._positions(grid)
            x = self.encoder.dropout(x)
            layers = list(self.encoder.layers)
            for layer in layers[:-1]:
                x = layer(x)
            patches = self.gradcam_grid(x[:, 1:], grid).flatten(2).transpose(1, 2)
            x = layers[-1](torch.cat([x[:, :1], patches], dim=1))
            x = self.encoder.ln(x)
            return self.heads(x[:, 0])

    return FlexibleViT


def build_vit(
    *,
    num_classes: int,
    image_size: int,
    patch_size: int,
    num_layers: int,
    num_heads: int,
    hidden_dim: int,
    mlp_dim: int,
) -> nn.Module:
    """A :class:`FlexibleViT` with torchvision's parameter layout (weights=None)."""
    import_torchvision()
    return _vit_class()(
        image_size=image_size,
        patch_size=patch_size,
        num_layers=num_layers,
        num_heads=num_heads,
        hidden_dim=hidden_dim,
        mlp_dim=mlp_dim,
        num_classes=num_classes,
    )


_VIT_EXTRA = {
    "patch_size": 16,
    "gradcam_grid": "patch tokens entering the last encoder block, laid out as (N, D, H/16, W/16); no reshape needed",
}


@register_arch(
    "vit_b_16",
    description="torchvision ViT-B/16, 86M parameters (weights=None; load your own checkpoint); "
    "built for 224x224, runs on other sizes by resizing its position embeddings",
    gradcam_layer="gradcam_grid",
    # attention (in/out projections, adapted through PEFT's MultiheadAttention support), MLP linears, head
    lora_targets=("self_attention", "mlp.0", "mlp.3", "heads.head"),
    classifier="heads.head",
    family="vit",
    default_image_size=224,
    extra=_VIT_EXTRA,
)
def vit_b_16(*, num_classes: int, in_channels: int = 3):
    model = build_vit(
        num_classes=num_classes,
        image_size=224,
        patch_size=16,
        num_layers=12,
        num_heads=12,
        hidden_dim=768,
        mlp_dim=3072,
    )
    return _first_conv_channels(model, in_channels)
