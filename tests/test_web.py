"""web/: the module in Node and the page in headless Chromium give Python's pixels.

Expectations are computed here from Python (`mnistgen.Generator`), never stored, so the tests
hold for whatever generator is shipped. They need node, web/node_modules (`npm ci` in web/) and
chromium; a plain `pytest` without them skips with one line, and under CI=true (where .ci/run
installs them) they fail instead, so CI can never pass by skipping.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import onnx
import pytest

from mnistgen import MAX_COUNT, MAX_NUMBER_LENGTH, Generator
from mnistgen.limits import ModelError
from tests.conftest import style_target, thinner_fit, with_style
from tests.tiny_models import tiny_generator
from tests.web_bench import serve_repo

REPO = Path(__file__).resolve().parents[1]
WEB = REPO / "web"
IN_CI = os.environ.get("CI") == "true"
NODE_PACKAGES = ("onnxruntime-web", "onnxruntime-node", "playwright-core")
RUNTIMES = ("node", "wasm")  # onnxruntime-node (native) and onnxruntime-web's Node entry (the page's wasm)
TOLERANCE = 1  # grey levels: float rounding differs between onnxruntime builds


def require(available: object, reason: str) -> None:
    if available:
        return
    if IN_CI:
        pytest.fail(f"{reason} (CI=true: these tests must run; .ci/run installs what they need)")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def node() -> str:
    path = shutil.which("node")
    require(path, "web tests need node on PATH")
    missing = [name for name in NODE_PACKAGES if not (WEB / "node_modules" / name / "package.json").is_file()]
    require(not missing, f"web tests need {', '.join(missing)} in web/node_modules: run `npm ci` in web/")
    return str(path)


@pytest.fixture(scope="session")
def chromium(node) -> str:
    path = os.environ.get("CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
    require(Path(path).is_file(), f"browser tests need chromium ({path} not found): apt-get install chromium")
    return path


@pytest.fixture(scope="session")
def python_generator(generator_path) -> Generator:
    return Generator(generator_path, threads=1)


def run_node(node: str, script: str, *args: str, env: dict[str, str] | None = None) -> object:
    result = subprocess.run(
        [node, str(WEB / "test" / script), *args],
        capture_output=True, text=True, timeout=600, cwd=WEB, env={**os.environ, **(env or {})},
    )
    assert result.returncode == 0, f"node {script} failed:\n{result.stderr[-3000:]}"
    return json.loads(result.stdout)


class NodeJob:
    """Calls on one loaded generator in one node process; latents go through float32 files."""

    def __init__(self, folder: Path, model: object, options: dict | None = None):
        self.folder, self.model, self.options, self.calls = folder, model, options, []

    def call(self, method: str, *args: object, latents: np.ndarray | None = None, **options: object) -> int:
        index = len(self.calls)
        call = {"method": method, "args": list(args), "options": options, "out": str(self.folder / f"{index}.u8")}
        if latents is not None:
            path = self.folder / f"{index}.f32"
            np.ascontiguousarray(latents, dtype=np.float32).tofile(path)
            call["latents"] = str(path)
        self.calls.append(call)
        return index

    def run(self, node: str) -> "NodeResult":
        path = self.folder / "job.json"
        path.write_text(json.dumps({"model": self.model, "options": self.options, "calls": self.calls}))
        return NodeResult(run_node(node, "driver.mjs", str(path)), self.folder)


class NodeResult:
    def __init__(self, raw: dict, folder: Path):
        self.raw, self.folder = raw, folder
        self.model, self.load_error = raw.get("model"), raw.get("load")

    def error(self, index: int) -> dict:
        return self.raw["calls"][index]

    def pixels(self, index: int) -> np.ndarray:
        call = self.raw["calls"][index]
        assert "error" not in call, f"call {index} failed: {call}"
        flat = np.fromfile(self.folder / f"{index}.u8", dtype=np.uint8)
        assert flat.size == call["count"] * call["height"] * call["width"]
        return flat.reshape(call["count"], call["height"], call["width"])


def assert_close(js: np.ndarray, python: np.ndarray, what: str) -> None:
    assert js.shape == python.shape, f"{what}: shape {js.shape}, Python's {python.shape}"
    worst = int(np.abs(js.astype(np.int16) - python.astype(np.int16)).max())
    assert worst <= TOLERANCE, f"{what}: pixels differ from Python's by up to {worst} grey levels"


def python_number_draws(seed: int, count: int, length: int, latent_dim: int) -> tuple[np.ndarray, np.ndarray]:
    """The latents and per-digit shifts Generator.number draws for `seed`: one latent per sample
    from default_rng(SeedSequence(seed)), the -2..2 px jitter from its first spawned stream, outer
    digits moved inwards only. If number() ever draws otherwise, the number test fails here first."""
    sequence = np.random.SeedSequence(seed)
    latent_rng = np.random.default_rng(sequence)
    jitter_rng = np.random.default_rng(sequence.spawn(1)[0])
    z = latent_rng.standard_normal((count, latent_dim), dtype=np.float32)
    shifts = jitter_rng.integers(-2, 3, size=(count, length))
    shifts[:, 0] = np.maximum(shifts[:, 0], 0)
    shifts[:, -1] = np.minimum(shifts[:, -1], 0)
    return z, shifts


# --- Node: same pixels as Python --------------------------------------------------------------


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_node_generate_matches_python(node, tmp_path, generator_path, python_generator, runtime):
    rng = np.random.default_rng(15)
    job = NodeJob(tmp_path, str(generator_path), {"runtime": runtime})
    # 300 rows for one digit: more than one 256-row batch
    cases = [(digit, rng.standard_normal((300 if digit == 7 else 12, python_generator.latent_dim), dtype=np.float32))
             for digit in range(10)]
    calls = [job.call("generate", digit, latents=z) for digit, z in cases]
    result = job.run(node)
    for (digit, z), index in zip(cases, calls):
        expected = python_generator.generate(digit, latents=z)
        assert expected.max() > 128, "the shipped generator should draw ink"
        assert_close(result.pixels(index), expected, f"digit {digit} on {runtime}")


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_node_number_matches_python(node, tmp_path, generator_path, python_generator, runtime):
    digits, count, seed = "2026", 5, 3
    z, shifts = python_number_draws(seed, count, len(digits), python_generator.latent_dim)
    job = NodeJob(tmp_path, str(generator_path), {"runtime": runtime})
    index = job.call("number", digits, latents=z, shifts=shifts.ravel().tolist())
    expected = python_generator.number(digits, count=count, seed=seed)
    assert_close(job.run(node).pixels(index), expected, f"number {digits} on {runtime}")


# (digit, {control: where in the digit's range}), and legibility as it is
# (the ends of a range draw at the legibility their level needs)
STYLE_CASES = [(7, {"stroke_width": 0.8}), (4, {"slant": 0.2}), (1, {"stroke_width": 0.1}),
               (2, {"stroke_width": 0.6, "slant": 0.6, "legibility": 0.4}), (8, {"legibility": 1.0}),
               (9, {"stroke_width": 1.0}), (0, {"slant": 0.0, "stroke_width": 0.5})]


def style_options(generator: Generator, digit: int, places: dict) -> dict:
    return {name: value if name == "legibility" else style_target(generator, digit, name, value)
            for name, value in places.items()}


def js_style(options: dict) -> dict:
    return {{"stroke_width": "strokeWidth"}.get(name, name): value for name, value in options.items()}


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_node_style_controls_match_python(node, tmp_path, generator_path, python_generator, runtime):
    # the steering is iterative: a sample that took another path in JS would differ by far more than 1
    rng = np.random.default_rng(21)
    job = NodeJob(tmp_path, str(generator_path), {"runtime": runtime})
    cases = [(digit, style_options(python_generator, digit, places),
              rng.standard_normal((40, python_generator.latent_dim), dtype=np.float32)) for digit, places in STYLE_CASES]
    calls = [job.call("generate", digit, latents=z, **js_style(options)) for digit, options, z in cases]
    z, shifts = python_number_draws(3, 6, 2, python_generator.latent_dim)
    both = style_target(python_generator, "47", "stroke_width", 0.3)
    number = job.call("number", "47", latents=z, shifts=shifts.ravel().tolist(), strokeWidth=both)
    too_bold = job.call("generate", 7, count=2, seed=1, strokeWidth=9)
    result = job.run(node)
    for (digit, options, z_case), index in zip(cases, calls):
        assert_close(result.pixels(index), python_generator.generate(digit, latents=z_case, **options),
                     f"digit {digit} with {options} on {runtime}")
    assert_close(result.pixels(number), python_generator.number("47", seed=3, latents=z, stroke_width=both),
                 f"number 47 with stroke width {both} on {runtime}")
    low, high = python_generator.style_space().ranges[7, 0]
    assert result.error(too_bold) == {"error": "InputError",
                                      "message": f"strokeWidth for digit 7 must be from {low:g} to {high:g} px (legible there), got 9"}


def test_node_steers_a_model_fitted_before_the_legibility_levels_as_python_does(node, tmp_path, generator_path):
    # such a file's ranges all hold at legibility 0: no target adds legibility in either runtime
    model = onnx.load(str(generator_path))
    for prop in model.metadata_props:
        if prop.key == "style":
            fitted = json.loads(prop.value)
            prop.value = json.dumps({name: fitted[name] for name in ("intercept", "gradient", "directions", "ranges")})
    old = tmp_path / "old.onnx"
    onnx.save(model, str(old))
    python_old = Generator(old, threads=1)
    z = np.random.default_rng(5).standard_normal((20, python_old.latent_dim), dtype=np.float32)
    high = float(python_old.style_space().ranges[9, 0, 1])
    job = NodeJob(tmp_path, str(old))
    index = job.call("generate", 9, latents=z, strokeWidth=high)
    assert_close(job.run(node).pixels(index), python_old.generate(9, latents=z, stroke_width=high), "a file without levels")


def test_node_holds_a_free_control_within_the_limits_as_python_does(node, tmp_path, generator_path):
    thin = with_style(generator_path, tmp_path / "thin.onnx", thinner_fit)  # reads every 4 3 px thinner
    python_thin = Generator(thin, threads=1)
    z = np.random.default_rng(6).standard_normal((20, python_thin.latent_dim), dtype=np.float32)
    slant = float(np.mean(python_thin.style_space().ranges[4, 1]))
    job = NodeJob(tmp_path, str(thin))
    index = job.call("generate", 4, latents=z, slant=slant)
    assert_close(job.run(node).pixels(index), python_thin.generate(4, latents=z, slant=slant), "a fit reading hands too thin")


def test_node_refuses_damaged_aim_offsets_as_python_does(node, tmp_path, generator_path):
    damaged = with_style(generator_path, tmp_path / "damaged.onnx",
                         lambda fit: {**fit, "aim_offsets": fit["aim_offsets"][:9]})  # nine digits' only
    job = NodeJob(tmp_path, str(damaged))
    index = job.call("generate", 4, count=2, seed=0, slant=0)
    error = job.run(node).error(index)
    assert error["error"] == "ModelError"
    assert "style aim_offsets must be finite numbers of shape (10, 2, 4, 35, 2)" in error["message"]
    with pytest.raises(ModelError, match=r"style aim_offsets must be finite numbers of shape \(10, 2, 4, 35, 2\)"):
        Generator(damaged, threads=1).generate(4, 2, seed=0, slant=0)


def test_node_reads_the_model_as_python_and_onnx_do(node, tmp_path, generator_path, python_generator):
    result = NodeJob(tmp_path, str(generator_path)).run(node)
    assert result.load_error is None
    model = onnx.load(str(generator_path), load_external_data=False)
    assert result.model["info"] == python_generator.info
    assert result.model["latentDim"] == python_generator.latent_dim
    assert (result.model["height"], result.model["width"]) == python_generator.image_shape
    assert result.model["irVersion"] == model.ir_version
    assert result.model["opsetImport"] == [{"domain": o.domain, "version": o.version} for o in model.opset_import]


def test_same_seed_same_images_in_js(node, tmp_path, generator_path):
    job = NodeJob(tmp_path, str(generator_path))
    ten = job.call("generate", 3, count=10, seed=9)
    four = job.call("generate", 3, count=4, seed=9)
    again = job.call("generate", 3, count=10, seed=9)
    other = job.call("generate", 3, count=10, seed=10)
    big_seed = job.call("generate", 3, count=10, seed=2**53 - 1)
    number = job.call("number", "3", count=10, seed=9)
    long_number = job.call("number", "2026", count=6, seed=9)
    long_prefix = job.call("number", "2026", count=2, seed=9)
    result = job.run(node)
    np.testing.assert_array_equal(result.pixels(again), result.pixels(ten))
    np.testing.assert_array_equal(result.pixels(four), result.pixels(ten)[:4])  # a larger count extends a smaller
    np.testing.assert_array_equal(result.pixels(number), result.pixels(ten))  # a one-digit number is the digit
    np.testing.assert_array_equal(result.pixels(long_prefix), result.pixels(long_number)[:2])
    for index in (other, big_seed):
        assert not np.array_equal(result.pixels(index), result.pixels(ten))


# --- Node: clear errors ---------------------------------------------------------------------------


def strip_metadata(source: Path, target: Path) -> Path:
    model = onnx.load(str(source))
    del model.metadata_props[:]
    onnx.save(model, str(target))
    return target


def bad_models(folder: Path, generator_path: Path, classifier_path: Path) -> dict[str, tuple[object, str]]:
    """name -> (model, what the error must say)."""
    text = folder / "notes.onnx"
    text.write_text("not a model\n")
    truncated = folder / "truncated.onnx"
    truncated.write_bytes(generator_path.read_bytes()[:5000])
    return {
        "missing": (str(folder / "absent.onnx"), "cannot read model"),
        "text": (str(text), "is not an ONNX model"),
        "empty": (str(tiny_path(folder / "empty.onnx", b"")), "is not an ONNX model (no graph)"),
        "truncated": (str(truncated), "is not an ONNX model (field 7 runs past the end"),
        "classifier": (str(classifier_path), 'is not an mnistgen generator model (kind "classifier")'),
        "no metadata": (str(strip_metadata(generator_path, folder / "bare.onnx")), "no mnistgen metadata"),
        "format": (str(tiny_generator(folder / "v2.onnx", metadata={"format_version": "2"})), 'format_version "2"'),
        "latent mismatch": (str(tiny_generator(folder / "wide.onnx", metadata={"latent_dim": "16"})),
                            "input z has width 8 but metadata latent_dim is 16"),
        "no image": (str(no_image_generator(folder / "noimage.onnx")), "model lacks output image"),
        "not a model": (42, "model must be a URL, a path or bytes"),
    }


def tiny_path(path: Path, content: bytes) -> Path:
    path.write_bytes(content)
    return path


def no_image_generator(path: Path) -> Path:
    tiny_generator(path)
    model = onnx.load(str(path))
    model.graph.output[0].name = model.graph.node[-1].output[0] = "picture"
    onnx.save(model, str(path))
    return path


@pytest.mark.parametrize("case", ["missing", "text", "empty", "truncated", "classifier", "no metadata", "format",
                                  "latent mismatch", "no image", "not a model"])
def test_wrong_model_is_a_clear_error(node, tmp_path, generator_path, classifier_path, case):
    model, message = bad_models(tmp_path, generator_path, classifier_path)[case]
    error = NodeJob(tmp_path, model).run(node).load_error
    expected = "InputError" if case == "not a model" else "ModelError"
    assert error is not None and error["error"] == expected, error
    assert message in error["message"]
    assert "\n" not in error["message"]


@pytest.mark.parametrize("options, message", [
    ({"runtime": "gpu"}, 'runtime must be "node" or "wasm"'),
    ({"threads": 0}, "threads must be a positive integer"),
    ({"thread": 1}, "unknown option thread; accepted: runtime, threads"),
])
def test_bad_load_options(node, tmp_path, generator_path, options, message):
    error = NodeJob(tmp_path, str(generator_path), options).run(node).load_error
    assert error is not None and error["error"] == "InputError", error
    assert message in error["message"]


BAD_CALLS = [
    (("generate", 10), {}, "digit must be an integer 0-9, got 10"),
    (("generate", "7"), {}, 'digit must be an integer 0-9, got "7"'),
    (("generate", 3.5), {}, "digit must be an integer 0-9, got 3.5"),
    (("generate", 7), {"count": 0}, f"count must be an integer 1-{MAX_COUNT}, got 0"),
    (("generate", 7), {"count": MAX_COUNT + 1}, f"count must be an integer 1-{MAX_COUNT}, got {MAX_COUNT + 1}"),
    (("generate", 7), {"seed": -1}, "seed must be a non-negative integer"),
    (("generate", 7), {"seed": 1.5}, "seed must be a non-negative integer"),
    (("generate", 7), {"cout": 3}, "unknown option cout; accepted: count, seed, latents"),
    (("generate", 7), {"latents": "WRONG WIDTH"}, "latents must be a Float32Array of count x "),
    (("generate", 7), {"latents": "TWO ROWS", "seed": 1}, "latents cannot be combined with seed"),
    (("generate", 7), {"latents": "TWO ROWS", "count": 3}, "count (3) must match the number of latents (2)"),
    (("generate", 7), {"latents": "NAN"}, "latents must be finite numbers"),
    (("number", "20a6"), {}, f"number must be 1-{MAX_NUMBER_LENGTH} digits 0-9 (e.g. '2026'), got \"20a6\""),
    (("number", "1" * (MAX_NUMBER_LENGTH + 1)), {}, f"number must be 1-{MAX_NUMBER_LENGTH} digits 0-9"),
    (("number", "1" * MAX_NUMBER_LENGTH), {"count": MAX_COUNT // MAX_NUMBER_LENGTH + 1},
     f"count must be an integer 1-{MAX_COUNT // MAX_NUMBER_LENGTH}"),
    (("number", 2026), {}, "digits 0-9 (e.g. '2026'), got 2026"),
    (("number", "2026"), {"count": MAX_COUNT // 4 + 1}, f"count must be an integer 1-{MAX_COUNT // 4}, got {MAX_COUNT // 4 + 1}"),
    (("number", "26"), {"shifts": [0, 0]}, "shifts go with latents"),
    (("number", "26"), {"latents": "ONE ROW", "shifts": [3, 0]}, "shifts must be 1 x 2 integers from -2 to 2"),
]


@pytest.mark.parametrize("call, options, message", BAD_CALLS, ids=[m for _, _, m in BAD_CALLS])
def test_bad_arguments_are_clear_errors(node, tmp_path, generator_path, python_generator, call, options, message):
    width = python_generator.latent_dim
    latents = {"WRONG WIDTH": np.zeros((2, width + 1)), "TWO ROWS": np.zeros((2, width)), "ONE ROW": np.zeros((1, width)),
               "NAN": np.full((2, width), np.nan)}.get(options.pop("latents", None))
    job = NodeJob(tmp_path, str(generator_path))
    index = job.call(*call, latents=latents, **options)
    error = job.run(node).error(index)
    assert error.get("error") == "InputError", error
    assert message in error["message"]


# --- the exporter and the JS runtimes ------------------------------------------------------------


def test_js_runtimes_load_what_the_exporter_makes_today(node, tmp_path, checkpoint_path, generator_path):
    """The exporter's IR and opset are the shipped model's, and both JS runtimes run a fresh export:
    an exporter upgrade that writes a newer IR or opset than onnxruntime-web/-node read fails here."""
    fresh = tmp_path / "generator.onnx"
    exported = subprocess.run([sys.executable, "-m", "mnistgen.export", str(checkpoint_path), "--out", str(fresh)],
                              capture_output=True, text=True, timeout=600)
    assert exported.returncode == 0, exported.stderr
    shipped = NodeJob(tmp_path, str(generator_path)).run(node).model
    z = np.random.default_rng(4).standard_normal((3, shipped["latentDim"]), dtype=np.float32)
    expected = Generator(fresh, threads=1).generate(4, latents=z)
    for runtime in RUNTIMES:
        job = NodeJob(tmp_path, str(fresh), {"runtime": runtime})
        index = job.call("generate", 4, latents=z)
        result = job.run(node)
        assert (result.model["irVersion"], result.model["opsetImport"]) == (shipped["irVersion"], shipped["opsetImport"])
        assert_close(result.pixels(index), expected, f"fresh export on {runtime}")


# --- the page in headless Chromium ---------------------------------------------------------------


@pytest.fixture(scope="module")
def page_url(chromium):
    with serve_repo() as url:
        yield url


def visit(node: str, chromium: str, visits: list[dict]) -> list[dict]:
    return run_node(node, "browser.mjs", json.dumps(visits), env={"CHROMIUM": chromium})


def page_images(visit_result: dict, shape: tuple[int, int]) -> np.ndarray:
    images = visit_result["images"]
    for image in images:
        assert image["type"] == "image/png" and image["signature"] == [137, 80, 78, 71, 13, 10, 26, 10]
        assert image["opaqueGrey"], "a download should be opaque grey (R = G = B, alpha 255)"
        assert (image["height"], image["width"]) == shape
    return np.array([image["grey"] for image in images], dtype=np.uint8).reshape(len(images), *shape)


def test_page_draws_what_node_draws(node, chromium, page_url, tmp_path, generator_path):
    shared, submitted = "?digits=2026&count=3&seed=1", {"digits": "7", "count": "2", "seed": "5"}
    loaded, typed, empty = visit(node, chromium, [
        {"url": page_url + shared}, {"url": page_url + "?digits=20a6", "submit": submitted}, {"url": page_url}])
    # the page runs onnxruntime-web's wasm; Node with runtime "wasm" runs the same build
    job = NodeJob(tmp_path, str(generator_path), {"runtime": "wasm"})
    number = job.call("number", "2026", count=3, seed=1)
    digit = job.call("generate", 7, count=2, seed=5)
    node_result = job.run(node)
    for result in (loaded, typed, empty):
        assert result["status"] == "ready" and result["errors"] == [], result
    assert [image["name"] for image in loaded["images"]] == ["2026_0.png", "2026_1.png", "2026_2.png"]
    np.testing.assert_array_equal(page_images(loaded, (28, 112)), node_result.pixels(number))
    assert typed["search"] == "?digits=7&count=2&seed=5"  # a bad link was corrected, and the address can be shared
    assert [image["name"] for image in typed["images"]] == ["7_0.png", "7_1.png"]
    np.testing.assert_array_equal(page_images(typed, (28, 28)), node_result.pixels(digit))
    assert empty["images"] == []


def test_page_sliders_steer_as_node_does(node, chromium, page_url, tmp_path, generator_path, python_generator):
    width, slant = style_target(python_generator, 7, "stroke_width", 0.8), style_target(python_generator, 7, "slant", 0.3)
    styled, too_bold = visit(node, chromium, [
        {"url": page_url + f"?digits=7&count=3&seed=2&stroke_width={width}&slant={slant}&legibility=0.5"},
        {"url": page_url + "?digits=7&count=1&seed=2&stroke_width=9"}])
    job = NodeJob(tmp_path, str(generator_path), {"runtime": "wasm"})
    index = job.call("generate", 7, count=3, seed=2, strokeWidth=width, slant=slant, legibility=0.5)
    plain = job.call("generate", 7, count=3, seed=2)
    node_result = job.run(node)
    assert styled["status"] == "ready" and styled["errors"] == [], styled
    np.testing.assert_array_equal(page_images(styled, (28, 28)), node_result.pixels(index))
    assert not np.array_equal(node_result.pixels(index), node_result.pixels(plain)), "the sliders must steer"
    assert too_bold["status"].startswith("error: strokeWidth for digit 7 must be"), too_bold["status"]


BAD_PAGES = {
    "?digits=20a6": 'digits 0-9 (e.g. \'2026\'), got "20a6"',
    "?digits=" + "1" * (MAX_NUMBER_LENGTH + 1): f"number must be 1-{MAX_NUMBER_LENGTH} digits 0-9",
    "?digits=2026&count=0": f"count must be an integer 1-{MAX_COUNT // 4}, got 0",
    "?digits=7&count=abc": f'count must be an integer 1-{MAX_COUNT}, got "abc"',
    "?digits=7&count=2.5": f'count must be an integer 1-{MAX_COUNT}, got "2.5"',
    "?digits=7&seed=-1": 'seed must be a non-negative integer (or omitted for fresh randomness), got "-1"',
    "?count=3": "digits is required",
    "?digits=7&count=1001": "this page draws at most 1000 images",
}


def test_bad_addresses_and_input_give_an_error_status(node, chromium, page_url):
    visits = [{"url": page_url + query} for query in BAD_PAGES]
    visits.append({"url": page_url + "?digits=2026&count=1&seed=1", "submit": {"digits": "12x"}})
    results = visit(node, chromium, visits)
    for (query, message), result in zip([*BAD_PAGES.items(), ("submit 12x", 'got "12x"')], results):
        assert result["status"].startswith("error: ") and message in result["status"], (query, result["status"])
        assert result["message"] == result["status"].removeprefix("error: "), "the message is shown on the page"
        assert result["images"] == [] and result["errors"] == [], (query, result)


def test_a_missing_runtime_or_model_is_an_error_on_the_page(node, chromium, tmp_path, generator_path):
    """Never a blank page: the module cannot fetch the model, or cannot import onnxruntime-web."""
    for name in ("no-model", "no-runtime"):
        (tmp_path / name / "web").mkdir(parents=True)
        for file in ("index.html", "mnistgen.mjs"):
            shutil.copy(WEB / file, tmp_path / name / "web" / file)
    (tmp_path / "no-model" / "web" / "node_modules").symlink_to(WEB / "node_modules")
    (tmp_path / "no-runtime" / "models").mkdir()
    shutil.copy(generator_path, tmp_path / "no-runtime" / "models" / "generator.onnx")
    for name, message in (("no-model", "cannot fetch model"), ("no-runtime", "cannot import onnxruntime-web/wasm")):
        with serve_repo(tmp_path / name) as url:
            (result,) = visit(node, chromium, [{"url": url + "?digits=7"}])
        assert result["status"].startswith(f"error: {message}"), result["status"]
        assert result["message"] == result["status"].removeprefix("error: ")
        assert not [error for error in result["errors"] if error.startswith("uncaught")], result["errors"]
