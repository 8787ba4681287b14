#!/usr/bin/env python3
"""Degrades photos and prints the caption function's quality facts for each.

    functions/caption/calibrate.py PHOTO.jpg...

For every photo (scaled to about 640 px, as the host hands it to caption) it
writes Gaussian blurs (sigma 1, 2, 3, 5), horizontal and vertical motion blurs
(5, 9, 15 px), a darkened and a washed-out copy into a scratch folder, runs
`describer invoke caption` on each, and prints brightness, contrast, edge
energy and the verdict. Needs numpy, djpeg and cjpeg (libjpeg-turbo-progs)
and a built describer (swift build). See CALIBRATION.md for a run.
"""
import json, os, subprocess, sys, tempfile
import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

def read_ppm(data):
    tokens, i = [], 0
    while len(tokens) < 4:
        while data[i:i + 1].isspace(): i += 1
        j = i
        while not data[j:j + 1].isspace(): j += 1
        tokens.append(data[i:j]); i = j
    width, height = int(tokens[1]), int(tokens[2])
    return np.frombuffer(data[i + 1:i + 1 + width * height * 3], dtype=np.uint8).reshape(height, width, 3).astype(float)

def write_jpeg(image, path):
    height, width, _ = image.shape
    ppm = b"P6\n%d %d\n255\n" % (width, height) + np.clip(image, 0, 255).astype(np.uint8).tobytes()
    subprocess.run(["cjpeg", "-quality", "85", "-outfile", path], input=ppm, check=True)

def convolve(image, kernel, axis):
    return np.apply_along_axis(lambda v: np.convolve(v, kernel, mode="same"), axis, image)

def variants(image):
    for sigma in (1, 2, 3, 5):
        x = np.arange(-3 * sigma, 3 * sigma + 1); k = np.exp(-x ** 2 / (2 * sigma * sigma)); k /= k.sum()
        yield f"gauss{sigma}", convolve(convolve(image, k, 0), k, 1)
    for length in (5, 9, 15):
        k = np.ones(length) / length
        yield f"motion{length}h", convolve(image, k, 1)
        yield f"motion{length}v", convolve(image, k, 0)
    yield "dark", image * 0.12
    yield "washed", image * 0.3 + 200

def caption(path):
    output = subprocess.run([f"{ROOT}/.build/debug/describer", "invoke", "caption", path, "--functions", f"{ROOT}/functions",
                             "--log-level", "error"], capture_output=True, check=True).stdout
    return json.loads(output)

scratch = tempfile.mkdtemp(prefix="caption-calibration-")
print(f"{'image':32} {'bright':>6} {'contr':>6} {'edge':>7} {'peak':>7}  verdict")
for source in sys.argv[1:]:
    image = read_ppm(subprocess.run(["djpeg", "-ppm", source], capture_output=True, check=True).stdout)
    factor = max(1, max(image.shape[:2]) // 640)
    if factor > 1:
        h, w = image.shape[0] // factor * factor, image.shape[1] // factor * factor
        image = image[:h, :w].reshape(h // factor, factor, w // factor, factor, 3).mean(axis=(1, 3))
    name = os.path.splitext(os.path.basename(source))[0]
    for label, degraded in [("original", image), *variants(image)]:
        path = f"{scratch}/{name}-{label}.jpg"
        write_jpeg(degraded, path)
        answer = caption(path)
        facts = answer["facts"]
        verdict = ", ".join(answer["quality"]["problems"]) or "usable"
        print(f"{name + ' ' + label:32} {facts['brightness']:6.1f} {facts['contrast']:6.1f} {facts['edge_energy']:7.1f} {facts['peak_edge']:7.1f}  {verdict}")
