"""Small PyTorch architectures of the kinds people convert to Core ML, written here.

Each class is a shrunken but faithful version of a common family (layer order, block
structure, activations and heads as in the original papers or torchvision), with random
weights. :mod:`tests.builders.torch_zoo` instantiates them with a fixed seed, in eval mode,
and converts them with coremltools. Classifiers end in a softmax, as the models people ship
do: that softmax is what a Core ML update task's cross-entropy must read.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class BatchNormCNN(nn.Module):
    """A digit classifier: conv-BN-ReLU twice (BN right after a conv is folded into the conv by
    the converter), max pooling, then conv-ReLU-BN (a BN behind an activation cannot be folded,
    so a `batchnorm` layer survives) and a BatchNorm1d inside the dense head."""

    def __init__(self, classes: int = 10):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(1, 8, 3, padding=1),
            nn.BatchNorm2d(8),
            nn.ReLU(),
            nn.Conv2d(8, 16, 3, padding=1),
            nn.BatchNorm2d(16),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Conv2d(16, 16, 3),
            nn.ReLU(),
            nn.BatchNorm2d(16),
            nn.MaxPool2d(2),
        )
        self.head = nn.Sequential(
            nn.Flatten(),
            nn.Linear(16 * 6 * 6, 32),
            nn.BatchNorm1d(32),
            nn.ReLU(),
            nn.Linear(32, classes),
            nn.Softmax(dim=1),
        )

    def forward(self, x):
        return self.head(self.features(x))


class BasicBlock(nn.Module):
    """ResNet's basic block (He et al. 2016): two 3x3 conv-BN, a residual add, ReLU; a strided
    1x1 conv-BN projects the shortcut when the shape changes."""

    def __init__(self, cin: int, cout: int, stride: int = 1):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.shortcut = nn.Sequential()
        if stride != 1 or cin != cout:
            self.shortcut = nn.Sequential(
                nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout)
            )

    def forward(self, x):
        y = F.relu(self.bn1(self.conv1(x)))
        return F.relu(self.bn2(self.conv2(y)) + self.shortcut(x))


class ResNet(nn.Module):
    """A CIFAR-style ResNet: stem, three stages of basic blocks, global average pooling."""

    def __init__(self, classes: int = 10, width: int = 8):
        super().__init__()
        self.stem = nn.Sequential(
            nn.Conv2d(3, width, 3, 1, 1, bias=False), nn.BatchNorm2d(width), nn.ReLU()
        )
        self.layers = nn.Sequential(
            BasicBlock(width, width),
            BasicBlock(width, 2 * width, 2),
            BasicBlock(2 * width, 4 * width, 2),
        )
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(4 * width, classes)

    def forward(self, x):
        y = self.pool(self.layers(self.stem(x)))
        return torch.softmax(self.fc(torch.flatten(y, 1)), dim=1)


class InvertedResidual(nn.Module):
    """MobileNetV2's block (Sandler et al. 2018): 1x1 expand + ReLU6, 3x3 depthwise + ReLU6,
    1x1 linear projection; a residual add when stride 1 and the width is kept."""

    def __init__(self, cin: int, cout: int, stride: int, expand: int):
        super().__init__()
        hidden = cin * expand
        layers: list[nn.Module] = []
        if expand != 1:
            layers += [nn.Conv2d(cin, hidden, 1, bias=False), nn.BatchNorm2d(hidden), nn.ReLU6()]
        layers += [
            nn.Conv2d(hidden, hidden, 3, stride, 1, groups=hidden, bias=False),
            nn.BatchNorm2d(hidden),
            nn.ReLU6(),
            nn.Conv2d(hidden, cout, 1, bias=False),
            nn.BatchNorm2d(cout),
        ]
        self.block = nn.Sequential(*layers)
        self.residual = stride == 1 and cin == cout

    def forward(self, x):
        return x + self.block(x) if self.residual else self.block(x)


class MobileNetV2(nn.Module):
    """MobileNetV2 at width 0.25 on small images; the head is torchvision's: global average
    pooling written as a mean over H and W, dropout, linear."""

    # (expand ratio t, output channels c, repeats n, first stride s), as in the paper's table
    SETTINGS = ((1, 8, 1, 1), (6, 8, 2, 2), (6, 16, 2, 2), (6, 24, 1, 1))

    def __init__(self, classes: int = 10):
        super().__init__()
        layers: list[nn.Module] = [
            nn.Conv2d(3, 8, 3, 2, 1, bias=False),
            nn.BatchNorm2d(8),
            nn.ReLU6(),
        ]
        cin = 8
        for t, c, n, s in self.SETTINGS:
            for i in range(n):
                layers.append(InvertedResidual(cin, c, s if i == 0 else 1, t))
                cin = c
        layers += [nn.Conv2d(cin, 64, 1, bias=False), nn.BatchNorm2d(64), nn.ReLU6()]
        self.features = nn.Sequential(*layers)
        self.classifier = nn.Sequential(nn.Dropout(0.2), nn.Linear(64, classes))

    def forward(self, x):
        y = self.features(x).mean([2, 3])
        return torch.softmax(self.classifier(y), dim=1)


class Fire(nn.Module):
    """SqueezeNet's fire module: 1x1 squeeze + ReLU, then 1x1 and 3x3 expands + ReLU,
    concatenated along the channels."""

    def __init__(self, cin: int, squeeze: int, expand: int):
        super().__init__()
        self.squeeze = nn.Conv2d(cin, squeeze, 1)
        self.expand1 = nn.Conv2d(squeeze, expand, 1)
        self.expand3 = nn.Conv2d(squeeze, expand, 3, padding=1)

    def forward(self, x):
        s = F.relu(self.squeeze(x))
        return torch.cat([F.relu(self.expand1(s)), F.relu(self.expand3(s))], 1)


class SqueezeNet11(nn.Module):
    """SqueezeNet 1.1 (Iandola et al. 2016, torchvision's squeezenet1_1) at full width: conv
    3x3/2, ceil-mode 3x3/2 max pools after the stem, fire3 and fire5, the 1x1 conv classifier
    and an adaptive average pool."""

    FIRES = (
        (64, 16, 64),
        (128, 16, 64),
        (128, 32, 128),
        (256, 32, 128),
        (256, 48, 192),
        (384, 48, 192),
        (384, 64, 256),
        (512, 64, 256),
    )

    def __init__(self, classes: int = 10):
        super().__init__()
        pool = nn.MaxPool2d(3, 2, ceil_mode=True)
        fires = [Fire(*f) for f in self.FIRES]
        self.features = nn.Sequential(
            nn.Conv2d(3, 64, 3, 2),
            nn.ReLU(),
            pool,
            *fires[:2],
            pool,
            *fires[2:4],
            pool,
            *fires[4:],
        )
        self.classifier = nn.Sequential(
            nn.Dropout(0.5), nn.Conv2d(512, classes, 1), nn.ReLU(), nn.AdaptiveAvgPool2d(1)
        )

    def forward(self, x):
        return torch.softmax(torch.flatten(self.classifier(self.features(x)), 1), dim=1)


class EncoderLayer(nn.Module):
    """A post-norm transformer encoder layer (Vaswani et al. 2017) written out: multi-head
    attention as batched matmuls with a softmax over the last axis, residual + LayerNorm, a GELU
    feed-forward, residual + LayerNorm.

    NOTE: sizes are fixed at construction, not read from ``x.shape``: coremltools 9.0 folds a
    traced size into a 1-element array and calls ``int()`` on it, which numpy >= 2.4 refuses
    ("only 0-dimensional arrays can be converted to Python scalars"). The same error stops
    ``nn.TransformerEncoderLayer`` / ``nn.MultiheadAttention``, so attention is written here.
    """

    def __init__(self, steps: int, dim: int, heads: int, hidden: int):
        super().__init__()
        self.shape = (steps, dim, heads, dim // heads)
        self.qkv = nn.Linear(dim, 3 * dim)
        self.out = nn.Linear(dim, dim)
        self.norm1 = nn.LayerNorm(dim)
        self.ff = nn.Sequential(nn.Linear(dim, hidden), nn.GELU(), nn.Linear(hidden, dim))
        self.norm2 = nn.LayerNorm(dim)

    def forward(self, x):
        steps, dim, heads, size = self.shape
        qkv = self.qkv(x).reshape(1, steps, 3, heads, size).permute(2, 0, 3, 1, 4)
        q, k, v = qkv.unbind(0)
        scores = torch.matmul(q, k.transpose(-2, -1)) * size**-0.5
        y = torch.matmul(torch.softmax(scores, dim=-1), v).transpose(1, 2)
        x = self.norm1(x + self.out(y.reshape(1, steps, dim)))
        return self.norm2(x + self.ff(x))


class TransformerClassifier(nn.Module):
    """A sequence classifier: linear embedding of frames, a learned positional table, two
    encoder layers, mean over time, linear head."""

    def __init__(self, features: int = 12, steps: int = 16, dim: int = 32, classes: int = 4):
        super().__init__()
        self.embed = nn.Linear(features, dim)
        self.position = nn.Parameter(torch.randn(1, steps, dim) * 0.1)
        self.layers = nn.Sequential(
            EncoderLayer(steps, dim, 4, 64), EncoderLayer(steps, dim, 4, 64)
        )
        self.head = nn.Linear(dim, classes)

    def forward(self, x):
        y = self.layers(self.embed(x) + self.position)
        return torch.softmax(self.head(y.mean(1)), dim=-1)


def _final_states(h):
    """``(directions, 1, hidden)`` final states as one row ``(1, directions * hidden)``, forward
    direction first.

    NOTE: not ``h[-1]`` (or ``cat([h[-2], h[-1]])``): indexing is a slice with a squeeze mask,
    which coremltools emits only for iOS 14 (specification version 5), so the iOS 13
    conversion fails with "Provided deployment target requires model to be of version 4 but
    converted model has version 5". The transpose + flatten is the same values.
    """
    return h.transpose(0, 1).flatten(1)


class LSTMClassifier(nn.Module):
    """A sequence classifier on the LSTM's final hidden state (``bidirectional`` concatenates the
    forward and backward final states)."""

    def __init__(self, features=6, hidden=24, classes=4, bidirectional=False):
        super().__init__()
        self.lstm = nn.LSTM(features, hidden, batch_first=True, bidirectional=bidirectional)
        self.fc = nn.Linear(hidden * (2 if bidirectional else 1), classes)

    def forward(self, x):
        _, (h, _) = self.lstm(x)
        return torch.softmax(self.fc(_final_states(h)), dim=1)


class RNNClassifier(nn.Module):
    """An Elman RNN (tanh) sequence classifier on the final hidden state.

    NOTE: the initial state is passed explicitly (a zero buffer, what ``nn.RNN`` uses by
    default): without it the traced graph reads the batch size with ``aten::Int``, which
    coremltools 9.0 cannot fold under numpy >= 2.4 (see :class:`EncoderLayer`).
    """

    def __init__(self, features=6, hidden=16, classes=4):
        super().__init__()
        self.rnn = nn.RNN(features, hidden, batch_first=True)
        self.register_buffer("h0", torch.zeros(1, 1, hidden))
        self.fc = nn.Linear(hidden, classes)

    def forward(self, x):
        _, h = self.rnn(x, self.h0)
        return torch.softmax(self.fc(_final_states(h)), dim=1)


class GRUTextClassifier(nn.Module):
    """Token ids -> embedding -> GRU -> last hidden state -> linear -> softmax."""

    def __init__(self, vocabulary: int = 50, dim: int = 16, hidden: int = 24, classes: int = 3):
        super().__init__()
        self.embed = nn.Embedding(vocabulary, dim)
        self.gru = nn.GRU(dim, hidden, batch_first=True)
        self.fc = nn.Linear(hidden, classes)

    def forward(self, tokens):
        _, h = self.gru(self.embed(tokens))
        return torch.softmax(self.fc(_final_states(h)), dim=1)


class UNet(nn.Module):
    """A two-level UNet (Ronneberger et al. 2015) for per-pixel classes: double 3x3 convs,
    max-pool down, one transposed-conv upsample and one nearest-neighbour upsample, skip
    concats, a 1x1 conv to class scores and a softmax over the class axis.

    NOTE: nearest, not bilinear: coremltools converts a bilinear ``nn.Upsample`` (either
    ``align_corners``) only for iOS 14 ("Upsample operation with Align Corners mode" needs
    specification version 5); :class:`SegmentationHead` keeps bilinear, iOS 14 only.
    """

    def __init__(self, classes: int = 3, width: int = 8):
        super().__init__()

        def double(cin, cout):
            return nn.Sequential(
                nn.Conv2d(cin, cout, 3, padding=1),
                nn.ReLU(),
                nn.Conv2d(cout, cout, 3, padding=1),
                nn.ReLU(),
            )

        self.down1, self.down2 = double(1, width), double(width, 2 * width)
        self.bottom = double(2 * width, 4 * width)
        self.up2 = nn.ConvTranspose2d(4 * width, 2 * width, 2, stride=2)
        self.dec2 = double(4 * width, 2 * width)
        self.up1 = nn.Upsample(scale_factor=2, mode="nearest")
        self.dec1 = double(2 * width + width, width)
        self.out = nn.Conv2d(width, classes, 1)

    def forward(self, x):
        d1 = self.down1(x)
        d2 = self.down2(F.max_pool2d(d1, 2))
        b = self.bottom(F.max_pool2d(d2, 2))
        u2 = self.dec2(torch.cat([self.up2(b), d2], 1))
        u1 = self.dec1(torch.cat([self.up1(u2), d1], 1))
        return torch.softmax(self.out(u1), dim=1)


class SegmentationHead(nn.Module):
    """A DeepLab-style segmentation net: a strided conv backbone, a 1x1 conv to class scores at
    1/4 resolution, bilinear upsampling back to the input size (``align_corners=False``, as
    torchvision's segmentation models do) and a softmax over the class axis."""

    def __init__(self, classes: int = 3):
        super().__init__()
        self.backbone = nn.Sequential(
            nn.Conv2d(1, 8, 3, 2, 1), nn.ReLU(), nn.Conv2d(8, 16, 3, 2, 1), nn.ReLU()
        )
        self.classifier = nn.Conv2d(16, classes, 1)

    def forward(self, x):
        y = self.classifier(self.backbone(x))
        y = F.interpolate(y, scale_factor=4.0, mode="bilinear", align_corners=False)
        return torch.softmax(y, dim=1)


class AudioCNN1d(nn.Module):
    """A raw-waveform keyword classifier (M5-style, Dai et al. 2017, shrunk): a wide strided
    Conv1d, BatchNorm1d + ReLU + MaxPool1d blocks, global average pooling over time."""

    def __init__(self, classes: int = 5):
        super().__init__()

        def block(cin, cout, k, stride=1):
            return [
                nn.Conv1d(cin, cout, k, stride),
                nn.BatchNorm1d(cout),
                nn.ReLU(),
                nn.MaxPool1d(4),
            ]

        self.features = nn.Sequential(*block(1, 16, 40, 8), *block(16, 16, 3), *block(16, 32, 3))
        self.fc = nn.Linear(32, classes)

    def forward(self, x):
        y = F.adaptive_avg_pool1d(self.features(x), 1).squeeze(-1)
        return torch.softmax(self.fc(y), dim=1)


class TabularMLP(nn.Module):
    """Dense-ReLU-dropout layers over standardised tabular features."""

    def __init__(self, features: int = 13, classes: int = 3):
        super().__init__()
        self.net = nn.Sequential(
            nn.Linear(features, 64),
            nn.ReLU(),
            nn.Dropout(0.1),
            nn.Linear(64, 32),
            nn.ReLU(),
            nn.Linear(32, classes),
            nn.Softmax(dim=1),
        )

    def forward(self, x):
        return self.net(x)


class VGGSmall(nn.Module):
    """VGG-style (Simonyan & Zisserman 2015): stacks of 3x3 conv + ReLU and 2x2 max pools, then
    flatten and a dense-ReLU-dropout-dense head."""

    def __init__(self, classes: int = 10):
        super().__init__()

        def stage(cin, cout):
            return [
                nn.Conv2d(cin, cout, 3, padding=1),
                nn.ReLU(),
                nn.Conv2d(cout, cout, 3, padding=1),
                nn.ReLU(),
                nn.MaxPool2d(2),
            ]

        self.features = nn.Sequential(*stage(3, 8), *stage(8, 16), *stage(16, 32))
        self.classifier = nn.Sequential(
            nn.Flatten(),
            nn.Linear(32 * 4 * 4, 64),
            nn.ReLU(),
            nn.Dropout(0.5),
            nn.Linear(64, classes),
            nn.Softmax(dim=1),
        )

    def forward(self, x):
        return self.classifier(self.features(x))


class EmbeddingNet(nn.Module):
    """A feature extractor for nearest-neighbour lookup: conv stages, global average pooling,
    a linear projection and L2 normalisation (no classifier head)."""

    def __init__(self, dims: int = 16):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(1, 8, 3, 2, 1),
            nn.ReLU(),
            nn.Conv2d(8, 16, 3, 2, 1),
            nn.ReLU(),
            nn.AdaptiveAvgPool2d(1),
            nn.Flatten(),
        )
        self.project = nn.Linear(16, dims)

    def forward(self, x):
        return F.normalize(self.project(self.features(x)), dim=1)
