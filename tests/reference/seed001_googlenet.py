"""Reference for seed 001: d2l's GoogLeNet in PyTorch.

Seed 001 (Chinese d2l study notes) gives the ``Inception`` block (four paths,
every convolution with bias and ReLU, no batch norm; path 4 is a 3x3/1 max pool
with padding 1 then a 1x1 convolution) and the five-stage network b1..b5 plus
``nn.Linear(1024, 10)`` for 1x96x96 Fashion-MNIST. Parameter count (sum of
``p.numel()``): 5,977,530 for ``in_channels=1, num_classes=10``; 6,998,552 for
``in_channels=3, num_classes=1000``.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F  # noqa: N812  (seed spelling)

SEED_PARAMS_1_10 = 5_977_530
SEED_PARAMS_3_1000 = 6_998_552


class Inception(nn.Module):
    """d2l Inception block; c1--c4 are the output channels of each path."""

    def __init__(self, in_channels, c1, c2, c3, c4, **kwargs):
        super().__init__(**kwargs)
        # path 1: single 1x1 convolution
        self.p1_1 = nn.Conv2d(in_channels, c1, kernel_size=1)
        # path 2: 1x1 convolution then 3x3 convolution
        self.p2_1 = nn.Conv2d(in_channels, c2[0], kernel_size=1)
        self.p2_2 = nn.Conv2d(c2[0], c2[1], kernel_size=3, padding=1)
        # path 3: 1x1 convolution then 5x5 convolution
        self.p3_1 = nn.Conv2d(in_channels, c3[0], kernel_size=1)
        self.p3_2 = nn.Conv2d(c3[0], c3[1], kernel_size=5, padding=2)
        # path 4: 3x3 max pooling then 1x1 convolution
        self.p4_1 = nn.MaxPool2d(kernel_size=3, stride=1, padding=1)
        self.p4_2 = nn.Conv2d(in_channels, c4, kernel_size=1)

    def forward(self, x):
        p1 = F.relu(self.p1_1(x))
        p2 = F.relu(self.p2_2(F.relu(self.p2_1(x))))
        p3 = F.relu(self.p3_2(F.relu(self.p3_1(x))))
        p4 = F.relu(self.p4_2(self.p4_1(x)))
        # concatenate on the channel dimension
        return torch.cat((p1, p2, p3, p4), dim=1)


def build_torch(in_channels: int = 1, num_classes: int = 10) -> nn.Sequential:
    """Seed 001's ``net = nn.Sequential(b1, b2, b3, b4, b5, nn.Linear(1024, 10))``.

    ``in_channels`` replaces the seed's hard-coded 1 in b1's first convolution
    and ``num_classes`` the hard-coded 10 of the final linear layer.
    """
    b1 = nn.Sequential(
        nn.Conv2d(in_channels, 64, kernel_size=7, stride=2, padding=3),
        nn.ReLU(),
        nn.MaxPool2d(kernel_size=3, stride=2, padding=1),
    )
    b2 = nn.Sequential(
        nn.Conv2d(64, 64, kernel_size=1),
        nn.ReLU(),
        nn.Conv2d(64, 192, kernel_size=3, padding=1),
        nn.ReLU(),
        nn.MaxPool2d(kernel_size=3, stride=2, padding=1),
    )
    b3 = nn.Sequential(
        Inception(192, 64, (96, 128), (16, 32), 32),
        Inception(256, 128, (128, 192), (32, 96), 64),
        nn.MaxPool2d(kernel_size=3, stride=2, padding=1),
    )
    b4 = nn.Sequential(
        Inception(480, 192, (96, 208), (16, 48), 64),
        Inception(512, 160, (112, 224), (24, 64), 64),
        Inception(512, 128, (128, 256), (24, 64), 64),
        Inception(512, 112, (144, 288), (32, 64), 64),
        Inception(528, 256, (160, 320), (32, 128), 128),
        nn.MaxPool2d(kernel_size=3, stride=2, padding=1),
    )
    b5 = nn.Sequential(
        Inception(832, 256, (160, 320), (32, 128), 128),
        Inception(832, 384, (192, 384), (48, 128), 128),
        nn.AdaptiveAvgPool2d((1, 1)),
        nn.Flatten(),
    )
    return nn.Sequential(b1, b2, b3, b4, b5, nn.Linear(1024, num_classes))
