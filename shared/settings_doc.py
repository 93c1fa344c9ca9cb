"""docs/configuration.md, rendered from the Settings model's fields and their descriptions.

``make docs`` (``python -m shared.settings_doc``) writes it; ``--check`` exits 1 when the file
differs from what the model gives (tests/test_docs.py runs the same comparison).
"""

from __future__ import annotations

import sys
from pathlib import Path

from pydantic.fields import FieldInfo

from shared.settings import Settings

PAGE = Path(__file__).resolve().parents[1] / "docs" / "configuration.md"
COMMAND = "make docs"

INTRO = f"""\
<!-- Generated from shared/settings.py by `{COMMAND}` (python -m shared.settings_doc): \
do not edit by hand. -->
# Configuration

Every setting is an environment variable, read once into `shared.settings.Settings` (the field
descriptions there are this page: change them, then run `{COMMAND}`). A bad value stops the
process with a message naming the variable. Lists are comma-separated. `docker compose` passes
only the variables listed in `docker-compose.yml` (its `x-livefeed` environment, filled from
`.env`; see [operations.md](operations.md)).

| variable | default | meaning |
|---|---|---|
"""


def env_name(name: str, field: FieldInfo) -> str:
    """The environment variable that sets *name*: the prefix and the name, or an alias as is.

    pydantic-settings puts ``env_prefix`` before field names only (``env_prefix_target`` is
    ``variable`` unless configured), so an alias is the variable's whole name.
    """
    alias = field.validation_alias if isinstance(field.validation_alias, str) else field.alias
    if alias:
        return alias.upper()
    prefix = str(Settings.model_config.get("env_prefix", ""))
    return (prefix + name).upper()


def default_text(field: FieldInfo) -> str:
    """The default as one would write it in the environment; "unset" for none."""
    value = field.get_default(call_default_factory=True)
    if value is None or value in ([], {}, ""):
        return "unset"
    if isinstance(value, list):
        value = ",".join(str(item) for item in value)
    elif isinstance(value, bool):
        value = str(value).lower()
    return f"`{value}`"


def _cell(text: str) -> str:
    return " ".join(text.split()).replace("|", "\\|")


def render() -> str:
    """The whole page. Every field must have a description (ValueError naming those without)."""
    fields = Settings.model_fields
    missing = [name for name, field in fields.items() if not field.description]
    if missing:
        raise ValueError(f"Settings fields without a description: {', '.join(missing)}")
    rows = [
        f"| `{env_name(name, field)}` | {default_text(field)} | {_cell(field.description or '')} |"
        for name, field in fields.items()
    ]
    return INTRO + "\n".join(rows) + "\n"


def main(argv: list[str]) -> int:
    """Write the page, or with ``--check`` say whether it is current."""
    text = render()
    if "--check" in argv:
        current = PAGE.read_text(encoding="utf-8") if PAGE.exists() else ""
        if current != text:
            print(f"{PAGE} is out of date: run `{COMMAND}`", file=sys.stderr)
            return 1
        return 0
    PAGE.write_text(text, encoding="utf-8")
    print(f"wrote {PAGE}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
