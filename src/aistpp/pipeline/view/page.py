"""The HTML file: template + styles + vendored three.js + viewer script + the scene's data.

Everything is inline: the page makes no request (no server, no network, no other file).
The scene is JSON in a ``<script type="application/json">`` element, with ``<`` escaped so that
no string in it can close the element.
"""

from __future__ import annotations

import html
import json
import re
from pathlib import Path

from aistpp.core.formats import write_bytes_atomic
from aistpp.pipeline.view.bundle import THREE_VERSION, static_text, three_bundle
from aistpp.pipeline.view.scene import ViewConfig, build_scene


def _json_for_script(obj) -> str:
    return json.dumps(obj, separators=(",", ":"), allow_nan=False).replace("<", "\\u003c")


def page_html(scene: dict, title: str = "aistpp view") -> str:
    """The self-contained page for ``scene`` (``build_scene``'s dict)."""
    template = static_text("viewer.html")
    parts = {
        "{{TITLE}}": html.escape(title),
        "{{STYLE}}": static_text("viewer.css"),
        "{{THREE_VERSION}}": THREE_VERSION,
        "{{DATA}}": _json_for_script(scene),
        "{{SCRIPT}}": three_bundle() + "\n" + static_text("viewer.js"),
    }
    # one pass over the template: text put in is never searched for placeholders again
    return re.sub(r"\{\{[A-Z_]+\}\}", lambda m: parts[m.group(0)], template)


def run_view(config: ViewConfig) -> dict:
    """Write ``config.out``; return a summary (tracks, frames, size, mesh error, pairs)."""
    from aistpp.errors import AistppError

    out = Path(config.out)
    if out.is_dir():
        raise AistppError("--out is a folder: give the HTML file to write", out)
    if out.parent and not out.parent.exists():
        out.parent.mkdir(parents=True, exist_ok=True)
    scene = build_scene(config)
    names = sorted({t["sequence"] for t in scene["tracks"]})
    text = page_html(scene, title="aistpp view: " + ", ".join(names))
    data = text.encode("utf-8")
    write_bytes_atomic(out, data)
    return {
        "output": str(out), "bytes": len(data), "frames": scene["frames"],
        "tracks": [{"sequence": t["sequence"], "source": t["source"], "frames": t["frames"],
                    "skeleton": t.get("skeleton", {}).get("source"), "mesh_error_cm": t.get("mesh", {}).get("error_cm"),
                    "joint_colour": t.get("joint_values", {}).get("kind")} for t in scene["tracks"]],
        "pairs": [{"sequence": scene["tracks"][p["a"]]["sequence"], "mean_joint_error_cm": p["mean_cm"],
                   "aligned_joint_error_cm": p["aligned_mean_cm"]} for p in scene["pairs"]],
        "music": scene.get("music", {}).get("file"),
    }
