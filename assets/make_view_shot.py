"""Regenerate README's screenshot of ``aistpp view`` (assets/view.png) with aistpp's own outputs.

    python assets/make_view_shot.py [--work DIR]

Writes a synthetic dataset (``aistpp synth``: 2 sequences, no videos), a second annotation
folder whose 3D keypoints are moved 4 cm (to show ``--compare-dir``), the page (``aistpp view``
with the mesh), opens it in Debian's headless Chromium (Selenium, driver and browser paths
given: nothing is downloaded), steps to a frame and saves the page as a small PNG.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

ASSETS = Path(__file__).resolve().parent
FRAME = 150
SIZE = (1000, 560)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--work", type=Path, default=None)
    args = ap.parse_args()
    work = args.work or Path(tempfile.mkdtemp(prefix="aistpp-view-shot-"))
    aistpp = [sys.executable, "-m", "aistpp"]
    subprocess.run(aistpp + ["synth", "--out", str(work / "synth"), "--sequences", "2", "--frames", "240",
                             "--no-videos", "--quiet", "--overwrite"], check=True)
    from aistpp.core import formats

    anno = work / "synth" / "annotations"
    other = work / "other"
    shutil.rmtree(other, ignore_errors=True)
    shutil.copytree(anno, other)
    shutil.rmtree(other / "motions")  # the second folder: skeletons only
    for p in (other / "keypoints3d").glob("*.pkl"):
        k = formats.load_keypoints3d(p)
        formats.save_keypoints3d(p, k["keypoints3d"] + [4.0, 0, 0], k["keypoints3d_optim"] + [4.0, 0, 0])
    page = work / "view.html"
    subprocess.run(aistpp + ["view", "--anno-dir", str(anno), "--smpl-dir", str(work / "synth" / "smpl"),
                             "--compare-dir", str(other), "--gender", "neutral", "--out", str(page)], check=True)

    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = "/usr/bin/chromium"
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--enable-unsafe-swiftshader", "--force-device-scale-factor=1", f"--window-size={SIZE[0]},{SIZE[1]}",
                 f"--user-data-dir={work / 'chromium-profile'}"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)
    try:
        driver.get(page.as_uri())
        while not driver.execute_script("return !!(window.aistppViewer && window.aistppViewer.ready)"):
            time.sleep(0.1)
        driver.execute_script(f"aistppViewer.setFrame({FRAME})")
        time.sleep(0.5)
        png = driver.get_screenshot_as_png()
    finally:
        driver.quit()
    img = cv2.imdecode(np.frombuffer(png, np.uint8), cv2.IMREAD_COLOR)
    img = cv2.resize(img, (img.shape[1] * 4 // 5, img.shape[0] * 4 // 5), interpolation=cv2.INTER_AREA)
    # fewer colours keep the PNG small (the page is flat-shaded UI plus a lit mesh)
    img = (img // 8 * 8 + 4).astype(np.uint8)
    cv2.imwrite(str(ASSETS / "view.png"), img, [cv2.IMWRITE_PNG_COMPRESSION, 9])
    print(f"wrote {ASSETS / 'view.png'} ({(ASSETS / 'view.png').stat().st_size / 1e3:.0f} KB)")


if __name__ == "__main__":
    main()
