"""The registered architectures: a small CNN, CIFAR ResNets and torchvision models."""
from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from .._compat import import_torchvision
from ._registry import register_arch

__all__ = ["SmallCNN", "CifarResNet"]


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
        x = F.max_pool2d(F.relu(self.conv1(x)), 2)
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
            raise ValueError(f"CIFAR ResNet depth must be 6n+2, got {depth}")
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
        out = F.relu(self.bn1(self.conv1(x)))
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
        raise ValueError("torchvision architectures here expect 3-channel images")
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
    return _first_conv_channels(import_torchvision().models.resnet18(weights=None, num_classes=num_classes), in_channels)


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
    return _first_conv_channels(import_torchvision().models.resnet50(weights=None, num_classes=num_classes), in_channels)


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
