"""evalscope's dashboard over a run's evaluation (cookbook.eval.dashboard): its folder and what 07 prints.

The server itself is started on the demo's evaluation in tests/test_notebook_07_evaluation.py.
"""

from cookbook.eval import dashboard


def _run(eval_dir, model, benchmark):
    run = eval_dir / model / benchmark
    for part, name in (("reports", f"{benchmark}.json"), ("predictions", f"{benchmark}.jsonl"),
                       ("reviews", f"{benchmark}.jsonl")):
        (run / part / model).mkdir(parents=True)
        (run / part / model / name).write_text(f"{model} {benchmark} {part}")
    (run / "identity.json").write_text("{}")  # the cookbook's, not the dashboard's
    return run


def test_each_model_and_benchmark_becomes_one_dashboard_run_of_hard_links(tmp_path):
    eval_dir = tmp_path / "eval"
    first = _run(eval_dir, "teacher", "gsm8k")
    _run(eval_dir, "sft-full", "ifeval")
    _run(eval_dir / "server-check", "teacher-served", "gsm8k")  # a level deeper: not a model's run

    folder = dashboard.prepare(eval_dir)
    assert sorted(p.name for p in folder.iterdir()) == ["sft-full--ifeval", "teacher--gsm8k"]
    report = folder / "teacher--gsm8k" / "reports" / "teacher" / "gsm8k.json"
    assert report.read_text() == "teacher gsm8k reports"
    assert report.stat().st_ino == (first / "reports" / "teacher" / "gsm8k.json").stat().st_ino  # linked, not copied
    assert not (folder / "teacher--gsm8k" / "identity.json").exists()

    (first / "reports" / "teacher" / "gsm8k.json").unlink()  # re-evaluated: the next dashboard follows
    (first / "reports" / "teacher" / "gsm8k.json").write_text("again")
    again = dashboard.prepare(eval_dir)
    assert (again / "teacher--gsm8k" / "reports" / "teacher" / "gsm8k.json").read_text() == "again"
    assert not (again / "dashboard--teacher--gsm8k").exists()


def test_the_printed_command_binds_to_loopback_and_names_the_folder(tmp_path):
    text = dashboard.instructions(tmp_path, environ={})
    assert f"service --host 127.0.0.1 --port 9000 --outputs {tmp_path.resolve()}" in text
    assert "then open http://127.0.0.1:9000/" in text


def test_on_pai_dsw_the_proxy_path_is_printed_with_its_limit(tmp_path):
    text = dashboard.instructions(tmp_path, port=9001, environ={"JUPYTER_NAME": "dsw-12345"})
    assert "then open /dsw-12345/proxy/9001/" in text
    assert "stays empty" in text and "HTML report" in text
