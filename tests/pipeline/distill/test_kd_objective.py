from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from edgedistill.pipeline.config import DataConfig, DistillationConfig, StudentConfig, TeacherConfig
from edgedistill.pipeline.data.bundle import load_data
from edgedistill.pipeline.data.loader import to_unit
from edgedistill.pipeline.distill.kd_objective import KDObjective
from edgedistill.pipeline.distill.teacher import load_teacher
from edgedistill.pipeline.distill.world import SINGLE, World
from edgedistill.pipeline.student import fresh_student
from edgedistill.progress import quiet
from tests.conftest import TEACHER_FACTORY, TEACHER_KWARGS, run_ranks

RECIPE = DistillationConfig(augment=False, hints=[{"teacher": "layer2", "student": "features.2"}])


def _precompute(npz: Path, checkpoint: Path, folder: Path, world: World) -> tuple[dict, int, int]:
    """(the precomputed tables, images the teacher ran on in this process, training-set size)."""
    data = load_data(DataConfig(npz=npz))
    teacher = load_teacher(
        TeacherConfig(factory=TEACHER_FACTORY, kwargs=TEACHER_KWARGS, checkpoint=checkpoint), data, quiet()
    )
    seen = [0]
    teacher.module.register_forward_hook(lambda _m, inputs, _out: seen.__setitem__(0, seen[0] + len(inputs[0])))
    _, student, view = fresh_student(data, StudentConfig(name="dscnn", options={"channels": 16, "blocks": 2}), 0)
    train = data.training_set()
    example = to_unit(torch.from_numpy(train.images.read(train.rows[:8])), data.pixel_max, torch.device("cpu"))
    objective = KDObjective(RECIPE, teacher, student, view, example)
    seen[0] = 0  # the shape probe above ran the teacher once
    assert objective.precompute(train, data.pixel_max, folder, quiet(), world, batch_size=100)
    tables = {k: np.array(v) for k, v in objective._precomputed.items()}
    objective.close()
    return tables, seen[0], len(train)


def _precompute_as_rank(world: World, npz: Path, checkpoint: Path, folder: Path) -> None:
    tables, seen, _ = _precompute(npz, checkpoint, folder / f"rank{world.rank}", world)
    np.savez(folder / f"rank{world.rank}.npz", seen=seen, **tables)


def test_two_ranks_run_the_teacher_once_over_the_data_and_each_gets_every_output(tmp_path, digits_npz, digits_teacher):
    """The ranks take turns over the batches (13 batches of up to 100 rows: the last turn is rank 0's alone); every rank
    ends with the whole table of logits and hint features, the one a single process computes."""
    run_ranks(_precompute_as_rank, digits_npz, digits_teacher, tmp_path)
    one, seen, n = _precompute(digits_npz, digits_teacher, tmp_path / "one", SINGLE)
    assert seen == n and set(one) == {"logits", "hint0"}
    ranks = [dict(np.load(tmp_path / f"rank{r}.npz")) for r in range(2)]
    assert sum(int(r.pop("seen")) for r in ranks) == n  # the teacher ran once over the data, not once per rank
    for tables in ranks:
        assert set(tables) == set(one)
        for k, table in one.items():
            np.testing.assert_allclose(tables[k], table, rtol=1e-5, atol=1e-6)
