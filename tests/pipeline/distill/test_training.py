from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from edgedistill.pipeline.data.transforms import make_normalizer
from edgedistill.pipeline.distill.training import accuracy, fit, predict_logits, random_shift
from edgedistill.progress import quiet


def test_random_shift_moves_content_within_bounds():
    x = torch.zeros(16, 1, 10, 10)
    x[:, :, 4:6, 4:6] = 1.0
    shifted = random_shift(x, 2, torch.Generator().manual_seed(0))
    assert shifted.shape == x.shape
    assert torch.all(shifted.sum(dim=(1, 2, 3)) == 4)  # the blob stays whole inside the frame
    assert not torch.equal(shifted, x)
    assert torch.equal(random_shift(x, 0, torch.Generator()), x)


def test_fit_learns_and_keeps_the_best_epoch():
    g = torch.Generator().manual_seed(0)
    x = torch.rand(256, 1, 4, 4, generator=g)
    y = (x.mean(dim=(1, 2, 3)) > 0.5).long()
    model = nn.Sequential(nn.Flatten(), nn.Linear(16, 2))
    norm = make_normalizer([0.5], [0.25])
    result = fit(
        model,
        train_x=x[:200],
        loss_fn=lambda logits, idx, _b: F.cross_entropy(logits, y[:200][idx]),
        val_x=x[200:],
        val_y=y[200:],
        normalize=norm,
        epochs=8,
        batch_size=32,
        lr=0.05,
        weight_decay=0.0,
        seed=0,
        augment=False,
        progress=quiet(),
        label="t",
    )
    assert result.best_val_accuracy >= 85
    assert abs(result.best_val_accuracy - max(h["val_accuracy"] for h in result.history)) < 1e-3
    # the model holds the best epoch's weights, not the last epoch's
    assert abs(accuracy(predict_logits(model, norm(x[200:])), y[200:]) - result.best_val_accuracy) < 1e-6


def test_shift_range_fits_the_image_size_and_flips_mirror_whole_images():
    from edgedistill.pipeline.distill.training import augment_batch, shift_for

    assert (shift_for(8, 8), shift_for(28, 28), shift_for(32, 32), shift_for(224, 224)) == (1, 2, 2, 16)
    x = torch.arange(2 * 1 * 4 * 4, dtype=torch.float32).view(2, 1, 4, 4)
    flipped = augment_batch(x.repeat(16, 1, 1, 1), torch.Generator().manual_seed(0), max_shift=0, hflip=True)
    same = [torch.equal(f, o) for f, o in zip(flipped, x.repeat(16, 1, 1, 1))]
    mirrored = [torch.equal(f, o.flip(-1)) for f, o in zip(flipped, x.repeat(16, 1, 1, 1))]
    assert all(s or m for s, m in zip(same, mirrored)) and any(same) and any(mirrored)
