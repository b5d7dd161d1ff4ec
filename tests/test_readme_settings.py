"""The README's configuration table is the settings registry's (`python -m app.settings` prints it)."""

from pathlib import Path

from app.settings import markdown_table


def test_the_readme_lists_every_setting_as_the_registry_declares_it():
    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")
    assert markdown_table().strip() in readme, "run `python -m app.settings` and paste its table into README.md"
