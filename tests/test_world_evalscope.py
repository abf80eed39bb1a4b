"""evalscope's own adapters read the tiny world's benchmark folders from a local path."""

import pytest

pytestmark = pytest.mark.slow


def test_evalscope_scores_the_teacher_on_every_toy_math_benchmark(world, tmp_path):
    from evalscope import TaskConfig, run_task

    names = ["gsm8k", "math_500", "aime24", "aime25"]
    config = TaskConfig(
        model=str(world.model_dir("teacher")),
        eval_type="llm_ckpt",
        datasets=names,
        dataset_args={n: {"local_path": str(world.benchmark_dir(n)), "few_shot_num": 0} for n in names},
        generation_config={"max_tokens": 320, "temperature": 0.0, "do_sample": False},
        limit=2,
        eval_batch_size=8,
        work_dir=str(tmp_path),
    )
    reports = run_task(config)
    assert set(reports) == set(names)
    gsm8k = reports["gsm8k"].metrics[0]
    assert gsm8k.num == 2 and gsm8k.score == 1.0  # the teacher solves easy toy GSM8K problems
    levels = {s.name for s in reports["math_500"].metrics[0].categories[0].subsets}
    assert levels == {f"Level {i}" for i in range(1, 6)}  # MATH-500's per-level subsets
    for aime in ("aime24", "aime25"):
        assert reports[aime].metrics[0].num == 2
