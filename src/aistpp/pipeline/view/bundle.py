"""The vendored three.js as one inline script: no import, no fetch, no network.

three.js 0.185.1 (MIT, npm package ``three``: ``build/three.core.min.js``,
``build/three.module.min.js`` and ``examples/jsm/controls/OrbitControls.js``, unmodified in
``static/vendor/three/`` with their LICENSE) is written as ES modules that import each other
by file name. A page opened from disk cannot import inline modules, so ``three_bundle`` turns
the three files into one script that builds a ``THREE`` object (every export of the package,
plus ``OrbitControls``): each file's ``import{a as b}from"..."`` becomes a destructuring of the
object built before it and its ``export{a as b}`` a returned object. Only the import and
export statements are rewritten; the code between them is left byte for byte as shipped.
"""

from __future__ import annotations

import functools
import re
from importlib import resources

VENDOR = ("vendor", "three")
THREE_VERSION = "0.185.1"
_SPEC = re.compile(r"^\s*([A-Za-z_$][\w$]*)(?:\s+as\s+([A-Za-z_$][\w$]*))?\s*$")
_IMPORT = re.compile(r"import\s*\{([^}]*)\}\s*from\s*[\"']([^\"']+)[\"']\s*;")
_EXPORT_FROM = re.compile(r"export\s*\{([^}]*)\}\s*from\s*[\"']([^\"']+)[\"']\s*;")
_EXPORT = re.compile(r"export\s*\{([^}]*)\}\s*;?")


def static_text(*parts: str) -> str:
    """A text file of the package's ``static/`` folder."""
    return resources.files(__package__).joinpath("static", *parts).read_text(encoding="utf-8")


def _specs(text: str) -> list[tuple[str, str]]:
    """``a as b, c`` -> [("a", "b"), ("c", "c")]: (local name, exported name)."""
    out = []
    for item in text.split(","):
        if not item.strip():
            continue
        m = _SPEC.match(item)
        if m is None:
            raise ValueError(f"unexpected import/export specifier {item!r}")
        out.append((m.group(1), m.group(2) or m.group(1)))
    return out


def as_function_body(source: str, imports: dict[str, str]) -> str:
    """An ES module's ``source`` as the body of a function returning its exports.

    ``imports`` maps each module specifier the source imports from (``"./three.core.min.js"``,
    ``"three"``) to the JavaScript expression of that module's export object.
    """
    reexports: list[str] = []

    def _import(m: re.Match) -> str:
        if m.group(2) not in imports:  # e.g. a usage example in a comment
            return m.group(0)
        obj = imports[m.group(2)]
        return "const {" + ",".join(f"{name}:{local}" for name, local in _specs(m.group(1))) + "}=" + obj + ";"

    def _export_from(m: re.Match) -> str:
        obj = imports[m.group(2)]  # only the minified build re-exports; its specifier must be known
        reexports.extend(f"{out}:{obj}.{name}" for name, out in _specs(m.group(1)))
        return ""

    body = _EXPORT_FROM.sub(_export_from, source)
    body = _IMPORT.sub(_import, body)
    exports = list(_EXPORT.finditer(body))
    if not exports or body[exports[-1].end():].strip():
        raise ValueError("expected the module to end with its export statement")
    m = exports[-1]
    own = [f"{out}:{local}" for local, out in _specs(m.group(1))]
    body = body[: m.start()] + body[m.end():]
    return '"use strict";' + body + "\nreturn {" + ",".join(reexports + own) + "};"


@functools.lru_cache(maxsize=1)
def three_bundle() -> str:
    """JavaScript that defines ``const THREE`` (three.js + ``THREE.OrbitControls``)."""
    core = as_function_body(static_text(*VENDOR, "three.core.min.js"), {})
    module = as_function_body(static_text(*VENDOR, "three.module.min.js"), {"./three.core.min.js": "__threeCore"})
    orbit = as_function_body(static_text(*VENDOR, "OrbitControls.js"), {"three": "__three"})
    return (
        f"/* three.js {THREE_VERSION} (MIT licence, Copyright 2010-2026 three.js authors), vendored from the npm package 'three' */\n"
        f"const THREE=(()=>{{const __threeCore=(()=>{{{core}\n}})();"
        f"const __three=(()=>{{{module}\n}})();"
        f"return Object.assign({{}},__three,(()=>{{{orbit}\n}})());}})();\n"
    )
