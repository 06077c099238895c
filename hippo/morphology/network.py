"""The compact CNN behind the classifier, with exact invariance to rotations by 90 deg and flips.

Imported only when a model runs or trains, so that ``import hippo`` never imports torch.

Invariance: averaging the network over the 8 images of the dihedral group D4 costs 8 forward
passes, which the throughput goal (hundreds of FITS files per second on 2 cores) cannot pay.
Instead every image is put into a canonical pose before the network sees it: the element of D4
that makes the source's second moment largest along x and its first moments non-negative. Any
of the 8 rotated/flipped copies of an image lands on the same canonical image, so the output is
exactly the same for all 8 (up to ties between moments, where the copies are near-identical).
Training still draws random D4 copies, so that a tie resolved differently costs nothing.
"""

import torch
from torch import nn

from hippo.morphology.classifier import CLASSES


def canonical_pose(x):
    """Rotate/flip each image of a batch (N, 1, H, W) by the D4 element fixed by its moments.

    x and y are measured from the image centre (the source position): transpose when the
    emission extends more along y than x, then flip each axis so that its first moment is >= 0.
    """
    n, _, height, width = x.shape
    ys = torch.arange(height, dtype=x.dtype) - (height - 1) / 2.0
    xs = torch.arange(width, dtype=x.dtype) - (width - 1) / 2.0
    profile_x = x.sum(dim=(1, 2))  # (N, W)
    profile_y = x.sum(dim=(1, 3))  # (N, H)
    mxx = (profile_x * xs**2).sum(1)
    myy = (profile_y * ys**2).sum(1)
    transpose = (myy > mxx).view(n, 1, 1, 1)
    x = torch.where(transpose, x.transpose(-1, -2), x)
    flip_x = ((x.sum(dim=(1, 2)) * xs).sum(1) < 0).view(n, 1, 1, 1)
    x = torch.where(flip_x, torch.flip(x, dims=(-1,)), x)
    flip_y = ((x.sum(dim=(1, 3)) * ys).sum(1) < 0).view(n, 1, 1, 1)
    return torch.where(flip_y, torch.flip(x, dims=(-2,)), x)


def random_dihedral(x, generator=None):
    """Each image of a batch under a random element of D4 (training augmentation)."""
    n = x.shape[0]
    choice = torch.randint(0, 8, (n,), generator=generator)
    out = torch.empty_like(x)
    for element in range(8):
        chosen = choice == element
        if chosen.any():
            view = x[chosen]
            if element >= 4:
                view = torch.flip(view, dims=(-1,))
            out[chosen] = torch.rot90(view, element % 4, dims=(-2, -1))
    return out


def _conv(channels_in, channels_out, kernel=3, stride=1):
    return nn.Sequential(
        nn.Conv2d(channels_in, channels_out, kernel, stride=stride, padding=kernel // 2 if stride == 1 else 1,
                  bias=False),
        nn.BatchNorm2d(channels_out),
        nn.ReLU(inplace=True),
    )


class MorphologyNet(nn.Module):
    """160 x 160 px at 1.8"/px -> 4 logits (FRI, FRII, BENT, COMP).

    The image enters twice, linear and square-rooted, so that faint extended emission (what
    separates FRI from FRII) is not drowned by a bright core. A stride-2 stem, four conv stages
    with max pooling, global average pooling of the features (which the OOD check reuses) and
    one linear layer. ``stem_convs`` > 1 adds 3 x 3 convolutions at 3.6"/px before the first
    pooling (finer structure: hot spots, jet widths).
    """

    def __init__(self, width=12, n_classes=len(CLASSES), dropout=0.2, stem_convs=1):
        super().__init__()
        self.config = {"width": width, "n_classes": n_classes, "dropout": dropout, "stem_convs": stem_convs}
        stem = [_conv(2, width, kernel=4, stride=2)] + [_conv(width, width) for _ in range(stem_convs - 1)]
        self.features = nn.Sequential(
            *stem, nn.MaxPool2d(2),
            _conv(width, 2 * width), nn.MaxPool2d(2),
            _conv(2 * width, 4 * width), nn.MaxPool2d(2),
            _conv(4 * width, 8 * width), nn.MaxPool2d(2),
            _conv(8 * width, 8 * width),
        )
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(8 * width, n_classes)

    def embed(self, x):
        """Pooled features of a batch (N, 1, 160, 160) in canonical pose -> (N, 8 * width)."""
        x = torch.cat([x, torch.sqrt(x.clamp_min(0.0))], dim=1)
        return self.features(x).mean(dim=(2, 3))

    def forward(self, x):
        """Logits of a batch (N, 1, 160, 160); the pose is made canonical here."""
        return self.head(self.dropout(self.embed(canonical_pose(x))))

    def fuse_for_inference(self):
        """Fold each batch norm into the convolution before it (eval only; the same logits to ~1e-5).

        Inference then skips a quarter of its work; the model can no longer be trained. Returns self.
        """
        from torch.nn.utils.fusion import fuse_conv_bn_eval

        self.eval()
        for block in self.features:
            if isinstance(block, nn.Sequential) and isinstance(block[1], nn.BatchNorm2d):
                block[0] = fuse_conv_bn_eval(block[0], block[1])
                block[1] = nn.Identity()
        return self

    @torch.inference_mode()
    def logits_and_features(self, x):
        """Inference: (logits, pooled features) of a batch, in eval mode."""
        features = self.embed(canonical_pose(x))
        return self.head(features), features
