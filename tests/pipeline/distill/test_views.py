from __future__ import annotations

import pytest
import torch

from edgedistill.pipeline.distill.views import (
    ViewPolicy,
    apply_views,
    colour_jitter,
    mix_batch,
    random_resized_crop,
    random_shift,
    shift_for,
)


def gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def test_random_shift_moves_content_within_bounds():
    x = torch.zeros(16, 1, 10, 10)
    x[:, :, 4:6, 4:6] = 1.0
    shifted = random_shift(x, 2, gen())
    assert shifted.shape == x.shape
    assert torch.all(shifted.sum(dim=(1, 2, 3)) == 4)  # the blob stays whole inside the frame
    assert not torch.equal(shifted, x)
    assert torch.equal(random_shift(x, 0, torch.Generator()), x)


def test_shift_range_fits_the_image_size_and_flips_mirror_whole_images():
    assert (shift_for(8, 8), shift_for(28, 28), shift_for(32, 32), shift_for(224, 224)) == (1, 2, 2, 16)
    x = torch.arange(2 * 1 * 4 * 4, dtype=torch.float32).view(2, 1, 4, 4).repeat(16, 1, 1, 1)
    flipped, mix = apply_views(x, ViewPolicy(shift=False, hflip=True), gen())
    same = [torch.equal(f, o) for f, o in zip(flipped, x)]
    mirrored = [torch.equal(f, o.flip(-1)) for f, o in zip(flipped, x)]
    assert all(s or m for s, m in zip(same, mirrored)) and any(same) and any(mirrored) and mix is None


def test_crops_magnify_a_part_of_the_image_the_right_way_round():
    ramp = torch.linspace(0, 1, 16).expand(8, 1, 16, 16).contiguous()  # brightness rises left to right
    cropped = random_resized_crop(ramp, 0.25, gen())
    spans = cropped[:, 0, 0, -1] - cropped[:, 0, 0, 0]
    # a crop of a quarter of the area or more, at an aspect ratio of 3/4 to 4/3, spans 43% to 100% of the width
    assert cropped.shape == ramp.shape and bool((spans < 0.99).any()) and bool((spans > 0.3).all())
    assert bool((cropped[:, 0, :, 1:] >= cropped[:, 0, :, :-1] - 1e-6).all())  # not mirrored, not beyond the edge
    assert float(cropped.min()) >= 0 and float(cropped.max()) <= 1


def test_colour_jitter_keeps_images_in_range_and_zero_strength_changes_nothing():
    x = torch.rand(8, 3, 8, 8, generator=gen(2))
    assert torch.allclose(colour_jitter(x, 0.0, gen()), x, atol=1e-6)
    jittered = colour_jitter(x, 0.5, gen())
    assert jittered.min() >= 0 and jittered.max() <= 1 and not torch.allclose(jittered, x)
    grey = colour_jitter(x[:, :1], 0.5, gen())  # one channel: brightness and contrast only
    assert grey.shape == (8, 1, 8, 8)


def test_mixup_blends_each_image_with_its_partner_by_the_share_its_labels_get():
    x = torch.rand(6, 1, 4, 4, generator=gen(3))
    mixed, mix = mix_batch(x, ViewPolicy(mixup=0.4), gen())
    assert mix is not None and 0 < mix.share < 1 and sorted(mix.partner.tolist()) == list(range(6))
    assert torch.allclose(mixed, mix.share * x + (1 - mix.share) * x[mix.partner])


def test_cutmix_pastes_one_box_of_the_partner_and_the_share_is_what_is_left():
    x = torch.zeros(6, 1, 10, 10)
    for i in range(6):
        x[i] = i + 1  # each image one value: the pasted box shows whose it is
    mixed, mix = mix_batch(x, ViewPolicy(cutmix=1.0), gen(4))
    assert mix is not None
    for i in range(6):
        from_partner = (mixed[i] == mix.partner[i] + 1).float().mean().item()
        own = (mixed[i] == i + 1).float().mean().item()
        if int(mix.partner[i]) != i:
            assert own == pytest.approx(mix.share) and from_partner == pytest.approx(1 - mix.share)


@pytest.mark.parametrize(
    "policy",
    [ViewPolicy(hflip=False), ViewPolicy(hflip=True), ViewPolicy(shift=False, crop=0.35, color=0.4, hflip=True)],
    ids=["shift", "shift-flip", "crop-colour-flip"],
)
def test_a_ranks_shard_is_augmented_as_its_rows_of_the_whole_batch_would_be(policy):
    """Each rank draws the random numbers for the whole batch and keeps its share: the ranks together augment
    the batch exactly as one process does, and their generators stay in step for the next epoch's order."""
    whole = torch.rand(7, 3, 8, 8, generator=gen(3))
    one = gen()
    expected, _ = apply_views(whole, policy, one)
    for rank in (0, 1):
        g = gen()
        mine = slice(rank, None, 2)
        got, _ = apply_views(whole[mine], policy, g, share=(7, mine))
        assert torch.allclose(got, expected[mine], atol=1e-6)
        assert torch.equal(g.get_state(), one.get_state())


def test_mixing_partners_are_drawn_within_a_ranks_shard_with_the_generators_in_step():
    whole = torch.rand(7, 1, 8, 8, generator=gen(5))
    states = []
    for rank in (0, 1):
        g = gen()
        mine = slice(rank, None, 2)
        mixed, mix = apply_views(whole[mine], ViewPolicy(shift=False, mixup=0.4, cutmix=1.0), g, share=(7, mine))
        assert mix is not None and sorted(mix.partner.tolist()) == list(range(len(whole[mine])))
        states.append(g.get_state())
    assert torch.equal(states[0], states[1])
