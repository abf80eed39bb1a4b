"""Evaluation: evalscope on GSM8K, MATH-500, AIME 2024/2025 and IFEval, and the comparison report.

    from cookbook.eval import candidates_from_session, protocol_from_recipe, evaluate_run, write_and_record

    models = candidates_from_session(session)          # teacher, base student, every distilled student
    protocol = protocol_from_recipe(session.recipe)    # one generation configuration for all of them
    results = evaluate_run(session, models, protocol)  # evalscope, resumable, into <run>/eval/
    write_and_record(session, results, models, protocol)  # <run>/report/ and the manifest

Modules: candidates (which models), protocol (how they are evaluated), runner (evalscope in
a worker process, resumable), results (mean, standard error, tokens from evalscope's
reviews), report (table, charts, markdown and HTML), punkt (IFEval's nltk data offline),
download (`make download`), stage (the notebook's calls), quick (an in-process scorer).
"""

from importlib import import_module

_EXPORTS = {
    "Candidate": "candidates", "candidates_from_session": "candidates", "distilled_students": "candidates",
    "Protocol": "protocol", "protocol_from_recipe": "protocol",
    "evaluate": "runner",
    "BenchmarkResult": "results", "mean_and_stderr": "results", "summarise": "results",
    "write_report": "report", "score_table": "report", "token_table": "report", "scores_chart": "report",
    "tokens_chart": "report", "headline": "report",
    "ensure_punkt_tab": "punkt", "ensure_ifeval_ready": "punkt", "PunktMissing": "punkt",
    "evaluate_run": "stage", "write_and_record": "stage", "server_check": "stage",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name):  # imported on first use: `cookbook.eval.quick` stays light for the world builder
    if name in _EXPORTS:
        return getattr(import_module(f"cookbook.eval.{_EXPORTS[name]}"), name)
    raise AttributeError(f"module 'cookbook.eval' has no attribute {name!r}")
