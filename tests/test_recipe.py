import pytest

from cookbook.paths import project_root
from cookbook.recipe import RecipeError, load_recipe


def write(tmp_path, text):
    path = tmp_path / "r.yaml"
    path.write_text(text)
    return path


BASE = "name: t\nprofile: tiny\nhardware: cpu\nruntime: 1 min\n"


@pytest.mark.parametrize("name", sorted(p.name for p in (project_root() / "recipes").glob("*.yaml")))
def test_committed_recipes_load_and_state_their_hardware_first(name):
    path = project_root() / "recipes" / name
    recipe = load_recipe(path)
    assert path.read_text().splitlines()[0].startswith("hardware:")  # one field, and the first line
    assert recipe.teacher_model and recipe.student_model


def test_profile_supplies_defaults(tmp_path):
    r = load_recipe(write(tmp_path, BASE))
    assert r.teacher_model == "tiny-world:teacher" and r.student_model == "tiny-world:student-base"


def test_unknown_key_names_file_and_key(tmp_path):
    path = write(tmp_path, BASE + "teacher:\n  modle: x\n")
    with pytest.raises(RecipeError) as e:
        load_recipe(path)
    assert str(e.value) == f"{path}: teacher.modle: unknown key"


def test_wrong_type_names_file_and_key(tmp_path):
    path = write(tmp_path, BASE + "data:\n  train_size: lots\n")
    with pytest.raises(RecipeError, match=r"r\.yaml: data\.train_size: .*'lots'"):
        load_recipe(path)


def test_missing_required_key(tmp_path):
    with pytest.raises(RecipeError, match=r"r\.yaml: profile: required key is missing"):
        load_recipe(write(tmp_path, "name: t\nhardware: cpu\nruntime: x\n"))


def test_missing_data_file_names_file_and_key(tmp_path):
    with pytest.raises(RecipeError, match=r"r\.yaml: data\.questions: .*file not found: nope\.jsonl"):
        load_recipe(write(tmp_path, BASE + "data:\n  questions: nope.jsonl\n"))


def test_missing_recipe_and_bad_yaml(tmp_path):
    with pytest.raises(RecipeError, match="recipe file not found"):
        load_recipe(tmp_path / "absent.yaml")
    with pytest.raises(RecipeError, match="not valid YAML"):
        load_recipe(write(tmp_path, "name: [unclosed\n"))
    with pytest.raises(RecipeError, match="unknown profile|profile"):
        load_recipe(write(tmp_path, BASE.replace("tiny", "huge")))


def test_a_training_key_under_its_old_name_is_told_the_ms_swift_name(tmp_path):
    path = write(tmp_path, BASE + "sft:\n  full:\n    learning_rate: 1.0e-5\n    max_steps: 3\n    batch_size: 4\n")
    with pytest.raises(RecipeError) as e:
        load_recipe(path)
    assert str(e.value) == (f"{path}: sft.full.batch_size: unknown key; it is called "
                            "per_device_train_batch_size now (ms-swift's flag name)")


def test_cogpo_inherits_the_dpo_run_in_every_committed_recipe():
    for path in (project_root() / "recipes").glob("*.yaml"):
        recipe = load_recipe(path)
        assert recipe.preference.cogpo == recipe.preference.dpo, path.name
