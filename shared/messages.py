"""``python -m shared.messages`` (``make messages``): extract the interface's strings from the
code into ``shared/locale/livefeed.pot``, update every catalog from it, compile each to ``.mo``.

A string is extracted where the code marks it: ``gettext(lang, "…")``, ``ngettext(lang, "…",
"…", n)``, ``N_("…")`` and ``N_plural("…", "…")`` (shared/i18n.py), in ``shared/`` and
``services/``. A ``# Translators:`` comment above one goes to the catalogs with it.
"""

from __future__ import annotations

import sys
from pathlib import Path

from babel.messages.catalog import Catalog
from babel.messages.extract import extract_from_dir
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po, write_po

from shared.i18n import DOMAIN, LOCALE_DIR, SOURCE, SUPPORTED

REPO = LOCALE_DIR.parent.parent
TEMPLATE = LOCALE_DIR / f"{DOMAIN}.pot"
KEYWORDS: dict[str, tuple[int, ...] | None] = {
    "gettext": (2,),
    "ngettext": (2, 3),
    "N_": None,
    "N_plural": (1, 2),
}
METHODS = [("shared/**.py", "python"), ("services/**.py", "python")]
COMMENT_TAGS = ("Translators:",)


def extract() -> Catalog:
    """The template: every marked string in the code, as it is now."""
    catalog = Catalog(project="livefeed", domain=DOMAIN, charset="utf-8")
    for filename, lineno, message, comments, context in extract_from_dir(
        str(REPO),
        METHODS,
        keywords=KEYWORDS,
        comment_tags=COMMENT_TAGS,
        strip_comment_tags=True,
    ):
        catalog.add(message, None, [(filename, lineno)], auto_comments=comments, context=context)
    return catalog


def catalog_path(lang: str) -> Path:
    """Where ``lang``'s catalog (``.po``) is kept."""
    return LOCALE_DIR / lang / "LC_MESSAGES" / f"{DOMAIN}.po"


def compile_all() -> None:
    """Compile every catalog to its ``.mo`` (``make install``), without extracting."""
    for lang in SUPPORTED:
        path = catalog_path(lang)
        if lang == SOURCE or not path.exists():
            continue
        with path.open("rb") as handle:
            catalog = read_po(handle, locale=lang, domain=DOMAIN)
        with path.with_suffix(".mo").open("wb") as handle:
            write_mo(handle, catalog)


def main(argv: list[str]) -> int:
    """Extract, update, compile (``--compile``: compile only); print what changed."""
    if "--compile" in argv:
        compile_all()
        return 0
    template = extract()
    with TEMPLATE.open("wb") as handle:
        write_po(handle, template, width=100, include_lineno=False, sort_output=True)
    for lang in SUPPORTED:
        path = catalog_path(lang)
        path.parent.mkdir(parents=True, exist_ok=True)
        if path.exists():
            with path.open("rb") as handle:
                catalog = read_po(handle, locale=lang, domain=DOMAIN)
        else:
            catalog = Catalog(locale=lang, domain=DOMAIN, project="livefeed")
        catalog.update(template, no_fuzzy_matching=True)
        with path.open("wb") as handle:
            write_po(handle, catalog, width=100, include_lineno=False, sort_output=True,
                     ignore_obsolete=True)  # fmt: skip
        if lang != SOURCE:
            with path.with_suffix(".mo").open("wb") as handle:
                write_mo(handle, catalog)
        missing = [m.id for m in catalog if m.id and not m.string and lang != SOURCE]
        print(f"{lang}: {len(template)} messages, {len(missing)} untranslated")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
