"""Each lab experiment, in fast mode, supports its claim with its own figures; the CLI end to end."""

from __future__ import annotations

import html
import json
import os
import pathlib
import shutil
import subprocess
import sys

import numpy as np
import pytest

pytest.importorskip("matplotlib")
pytest.importorskip("sklearn")

import fastoptim as fo  # noqa: E402
from fastoptim.lab import EXPERIMENTS, MLP  # noqa: E402


@pytest.fixture(scope="module")
def results():
    return {}


def run(name, results):
    if name not in results:
        results[name] = EXPERIMENTS[name].run(fast=True)
    return results[name]


def test_error_surface(results):
    r = run("error-surface", results)
    f = r["figures"]
    assert r["condition_number"] > 1e5
    large, small = f["gd, lr = 1.9/lambda_max"], f["gd, lr = 0.2/lambda_max"]
    assert large["stalled"] and large["final_grad_norm"] > 1 and large["final_distance"] > 10  # stuck, not small gradient
    assert small["steps"] >= 20_000 and small["final_distance"] > 10  # still crawling
    burst, smooth = f["adagrad(average), lr = 1"], f["adagrad(average), lr = 10/sqrt(t+1)"]
    assert burst["closest_distance"] < 1  # it arrives...
    assert burst["late_max_over_median_step"] > 100  # ...and bursts sideways late in the run
    assert burst["late_max_loss"] > 100 * r["min_loss"]
    assert smooth["final_distance"] < 0.01 and not smooth["stalled"]  # it arrives...
    assert smooth["late_distance_rises"] == 0 and smooth["late_max_loss"] < 1.1 * r["min_loss"] + 50  # ...smoothly
    assert f["gd on standardised x, lr = 0.5"]["final_distance"] < 1e-6  # normalising the feature fixes plain GD
    assert f["adam, lr = 1"]["final_distance"] < 1e-3


def test_saddle(results):
    r = run("saddle", results)
    sp, f = r["stalled_point"], r["figures"]
    assert sp["kind"] == "saddle" and sp["minimum_ratio"] == 0.5 and sp["gradient_norm"] < 0.1
    assert abs(f["gd"]["final_loss"]) < 0.01  # stalled at the saddle, f = 0 there
    for run_name in ("escape along the eigenvector", "momentum 0.9", "gradient noise"):
        assert f[run_name]["final_loss"] < -0.24  # reached a minimum (f = -0.25)


def test_momentum(results):
    f = run("momentum", results)["figures"]
    assert f["gd, lr 0.01"]["final"] == pytest.approx(1.0, abs=1e-3)
    assert f["momentum 0.9, lr 0.01"]["final"] == pytest.approx(5.0, abs=1e-2)


def test_batch_size(results):
    r = run("batch-size", results)
    f = r["figures"]
    full = max(f)
    assert f[1]["updates"] == r["epochs"] * r["train_size"] and f[full]["updates"] == r["epochs"]
    assert f[16]["train_accuracy"] > f[full]["train_accuracy"] + 0.3  # same epochs, far more updates
    assert all(0 <= x["val_accuracy"] <= 1 and x["seconds_per_update"] > 0 for x in f.values())
    # The README's time claims, each with a margin of 2x or more over a run here (neighbouring batch
    # sizes are closer than timing noise on a shared machine, so they are not compared).
    epoch = {b: x["seconds_per_epoch"] for b, x in f.items()}
    update = {b: x["seconds_per_update"] for b, x in f.items()}
    sizes = sorted(f)
    assert epoch[1] > 10 * epoch[64] and max(epoch[b] for b in sizes if b >= 64) < 2 * epoch[64]
    assert update[64] < 3 * update[1]  # 64 examples cost about what one does per update
    v = r["variance"]  # the gradient's variance follows the sampling law sigma^2/B (N-B)/(N-1)
    np.testing.assert_allclose(v["measured"], v["law"], rtol=0.2)
    assert -1.15 < np.polyfit(np.log(v["sizes"]), np.log(v["measured"]), 1)[0] < -0.85
    u = r["same_updates"]  # the same updates: the larger batch, the lower the training loss
    assert all(u[large]["train_loss"] < 1.1 * u[small]["train_loss"] for small, large in zip(sizes, sizes[1:]))
    assert u[full]["train_loss"] < u[1]["train_loss"] / 3
    same = r["same_loss"]  # the same training loss: validation accuracy within 3 points across batch sizes
    assert all(x["train_loss"] < r["target_loss"] for x in same.values())
    accuracies = [x["val_accuracy"] for x in same.values()]
    assert max(accuracies) - min(accuracies) < 0.03 and min(accuracies) > 0.95


def test_vanishing(results):
    f = run("vanishing", results)["figures"]
    sig, relu, big = f["sigmoid, Glorot init"], f["relu, He init"], f["relu, unit init"]
    assert sig["first_to_last"] < 1e-3 and "W0" in sig["vanishing"]
    assert 0.1 < relu["first_to_last"] < 10 and not relu["vanishing"] and not relu["exploding"]
    assert big["exploding"] and big["clipped"]["norm_before"] > 1e3
    assert big["clipped"]["norm_after"] == pytest.approx(1.0, rel=1e-5)
    bn, res = f["sigmoid + batch norm"], f["sigmoid + residual"]
    assert 0.25 < bn["first_to_last"] < 4 and not bn["vanishing"]  # batch norm: level again
    hidden = res["layer_norms"][1:-1]
    assert res["first_to_last"] > 1e3 * sig["first_to_last"] and hidden.max() < 10 * hidden.min() and not res["vanishing"]


@pytest.mark.parametrize("remedies", [{}, {"batch_norm": True}, {"residual": True}, {"batch_norm": True, "residual": True}])
def test_mlp_gradients_match_finite_differences(remedies):
    rng = np.random.default_rng(1)
    X, y = rng.standard_normal((7, 5)), rng.integers(0, 3, 7)
    net = MLP([5, 6, 6, 6, 3], activation="sigmoid", init="xavier", seed=2, **remedies)
    assert net.skips == [False, bool(remedies.get("residual")), bool(remedies.get("residual")), False]
    assert ("gamma0" in net.params) == bool(remedies.get("batch_norm")) and "gamma3" not in net.params
    for p in net.params.values():
        p += 0.1 * rng.standard_normal(p.shape)  # off the symmetric start (zero biases, unit gammas)
    _, grads = net.loss_and_grads(X, y)
    for name, p in net.params.items():
        numeric = np.zeros_like(p)
        for i in np.ndindex(p.shape):
            old = p[i]
            p[i] = old + 1e-6
            up = net.loss_and_grads(X, y)[0]
            p[i] = old - 1e-6
            numeric[i] = (up - net.loss_and_grads(X, y)[0]) / 2e-6
            p[i] = old
        np.testing.assert_allclose(grads[name], numeric, atol=1e-8, err_msg=name)


def test_warmup(results):
    f = run("warmup", results)["figures"]
    cold, warm = f["no warm-up"], f["linear warm-up, 50 steps"]
    assert cold["early_max_loss"] > 3 * warm["early_max_loss"]
    assert warm["final_loss"] < cold["final_loss"] and warm["val_accuracy"] > cold["val_accuracy"]
    assert warm["lr"][0] == 0.0 and warm["lr"][60] == cold["lr"][60]


def test_learning_rate(results):
    """The figures' claims: the grid's U, the range test's pick and Prodigy near the grid's best, and
    the estimate climbing to the best fixed rate's scale."""
    r = run("learning-rate", results)
    mlp, surface = r["figures"]["mlp"], r["figures"]["surface"]
    accuracy = {lr: f["val_accuracy"] for lr, f in mlp["grid"].items()}
    best, best_lr = max(accuracy.values()), max(accuracy, key=accuracy.get)
    assert min(accuracy.values()) < best - 0.5  # a rate four decades off is far worse
    assert accuracy[max(accuracy)] < best or accuracy[min(accuracy)] < best - 0.5  # both ends below the best
    assert mlp["range_test"]["val_accuracy"] >= best - 0.01  # the range test's pick: within 1 point
    assert mlp["range_test"]["method"] == "steepest"
    assert mlp["Prodigy"]["val_accuracy"] >= best - 0.02  # from its defaults: within 2 points
    assert mlp["DAdaptAdam"]["val_accuracy"] >= best - 0.04
    for name in ("Prodigy", "DAdaptAdam"):
        d = mlp[name]["d"]
        assert d[0] < 1e-5 and best_lr / 10 < d[-1] < best_lr * 10, name  # climbs from d0 to the best rate's scale
    excess = {lr: f["excess"] for lr, f in surface["grid"].items()}
    assert max(excess.values()) > 1e3 * min(excess.values())
    assert surface["DAdaptAdam"]["steps_to_target"] is not None and surface["DAdaptAdam"]["excess"] < min(excess.values())


def test_precision(results):
    """The README's claim: bfloat16, 8-bit and 4-bit state train as float32 state does, in less
    memory; on the long-tailed digits 4-bit state still does (within 1.5 points or 10% of the loss);
    a zero code in 4-bit v's map diverges where fastoptim's map trains."""
    r = run("precision", results)
    f = r["figures"]
    base = f["float32 state"]
    for label, x in f.items():
        assert x["val_accuracy"] >= base["val_accuracy"] - 0.015, label
        assert x["train_loss"] <= 1.1 * base["train_loss"], label
    assert base["state_bytes_per_param"] == 8 and f["bfloat16 state"]["state_bytes_per_param"] == 4
    assert f["int8 state"]["state_bytes_per_param"] < 2.5 and f["int4 state"]["state_bytes_per_param"] < 1.5
    tail = r["long_tail"]
    for label in ("int4 state", "bfloat16 params, stochastic rounding, int4 state", "bfloat16 state"):
        x, ref = tail[label], tail["float32 state"]
        assert x["val_accuracy"] >= ref["val_accuracy"] - 0.015 or x["train_loss"] <= 1.1 * ref["train_loss"], label
    fine, broken = r["zero_code"]["v map without zero (fastoptim's)"], r["zero_code"]["v map with a zero code"]
    assert fine["val_accuracy"] >= base["val_accuracy"] - 0.015
    assert broken["losses"][-50:].mean() > 100 * fine["losses"][-50:].mean() and broken["val_accuracy"] < 0.5


def test_race(results):
    r = run("race", results)
    for surface, rules in r["figures"].items():
        for rule, f in rules.items():
            assert f["final_loss"] < f["start_loss"], (surface, rule)
    saddle = r["figures"]["saddle"]
    assert saddle["SGD"]["final_loss"] > 0  # still on the ridge
    for rule in ("Adagrad", "RMSprop", "Adam", "Adamax", "NAdam", "RAdam", "Lion", "Adan", "AdEMAMix", "Rprop", "Muon", "LBFGS",
                 "Adafactor", "SparseAdam", "RowWiseAdagrad"):
        assert saddle[rule]["final_loss"] < -0.2, rule


def test_the_race_has_every_optimizer_class_and_the_readme_says_how_many():
    from fastoptim.lab import race

    classes = {c for c in vars(fo).values() if isinstance(c, type) and c is not fo.Optimizer and hasattr(c, "step")}
    classes -= {fo.Lookahead, fo.RowSparse}  # a wrapper, a gradient
    assert {cls for cls, _ in race.RULES.values()} == classes
    readme = (pathlib.Path(__file__).parents[1] / "README.md").read_text()
    assert f"all {len(classes)} optimizer classes" in readme and f"({len(race.RULES)} runs" in readme


def test_sparse(results):
    r = run("sparse", results)
    f = r["figures"]
    plain = min(f["SGD"]["rare_error"], f["momentum 0.9"]["rare_error"])
    for method in ("AdaGrad", "Adam"):
        assert f[method]["rare_error"] < 0.6 * plain, method  # rare weights: far better learned...
        assert f[method]["frequent_error"] < 1.5 * f["SGD"]["frequent_error"], method  # ...frequent ones about as well
        assert f[method]["loss"] < 0.7 * min(f["SGD"]["loss"], f["momentum 0.9"]["loss"]), method
    for method, x in f.items():  # each best rate is inside its grid, not at its edge
        assert min(x["grid"]) < x["lr"] < max(x["grid"]), method
    assert f["SGD"]["rare_error"] > 3 * f["SGD"]["frequent_error"]  # one rate for all: the rare weights lag


def test_newton(results):
    r = run("newton", results)
    f, c = r["figures"], r["cost"]
    assert r["condition_number"] > 1e5 and r["scaled_condition_number"] < 100  # the diagonal removes most of it
    assert f["newton"]["after_1"] < 1e-9 and f["newton"]["steps_to_1e_2"] == 1  # one step lands on the minimum
    assert f["gd, lr = 1.9/lambda_max"]["final_distance"] > 10  # where gradient descent stalls
    assert f["diagonal newton"]["steps_to_1e_2"] < 1000 and f["diagonal newton"]["final_distance"] < 1e-9
    for label in ("adagrad, lr = 10", "adam, lr = 1 (constant: does not settle)"):
        assert f[label]["closest_distance"] < 1e-2, label  # the cheap diagonal approximations arrive too
    assert c["newton_slope"] > 2.0 and 0.6 < c["adam_slope"] < 1.4  # O(n^3) against O(n), measured
    adam_at = dict(zip(c["adam_n"], c["adam_seconds"]))
    assert c["newton_seconds"][-1] > adam_at[1024 * c["newton_n"][-1]]  # a solve costs more than 1000x the parameters


def test_every_experiment_draws(results, tmp_path):
    for name in ("momentum", "vanishing"):
        EXPERIMENTS[name].plot(run(name, results), str(tmp_path / f"{name}.png"))
        assert (tmp_path / f"{name}.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def demo_all(tmp_path_factory):
    """``fastoptim demo all --json`` run once: its folder and its output."""
    out = tmp_path_factory.mktemp("demo")
    done = subprocess.run(
        [sys.executable, "-m", "fastoptim", "demo", "all", "--out", str(out), "--json"],
        capture_output=True, text=True, timeout=600,
    )
    assert done.returncode == 0, done.stderr
    return out, done.stdout


def test_cli_demo_all_writes_pictures_json_and_page(demo_all):
    out, stdout = demo_all
    page = (out / "index.html").read_text()
    for name, module in EXPERIMENTS.items():
        assert f"== {name}" in stdout
        assert (out / f"{name}.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        data = json.loads((out / f"{name}.json").read_text())
        assert data["name"] == name and data["figures"]
        assert f'id="{name}"' in page and f'src="{name}.png"' in page and html.escape(module.LESSON[:40]) in page
    assert f"page: {out / 'index.html'}" in stdout and 'src="race.gif"' in page
    from PIL import Image

    with Image.open(out / "race.gif") as gif:
        assert gif.format == "GIF" and gif.n_frames > 20


@pytest.mark.skipif(shutil.which("chromium") is None, reason="headless Chromium (Debian's chromium) not installed")
def test_page_renders_in_chromium(demo_all, tmp_path):
    """The page, screenshotted by a real browser, shows its pictures: far more colour than the same page
    whose pictures are missing."""
    from PIL import Image

    out, _ = demo_all
    bare = tmp_path / "bare"
    bare.mkdir()
    shutil.copy(out / "index.html", bare / "index.html")

    def colour(folder):
        shot = tmp_path / f"{folder.name}.png"
        subprocess.run(
            ["chromium", "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--window-size=1200,2400",
             f"--screenshot={shot}", (folder / "index.html").as_uri()],
            capture_output=True, timeout=120, check=True,
            env={k: v for k, v in os.environ.items() if k != "LD_PRELOAD"},  # the sanitizer run preloads ASan
        )
        with Image.open(shot) as image:
            rgb = np.asarray(image.convert("RGB")).astype(int)
        assert rgb.shape == (2400, 1200, 3)
        return float(((rgb.max(axis=2) - rgb.min(axis=2)) > 60).mean())  # share of strongly coloured pixels

    assert colour(out) > 4 * colour(bare) and colour(out) > 0.005


def test_cli_list_names_every_experiment():
    done = subprocess.run([sys.executable, "-m", "fastoptim", "demo", "--list"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0
    lines = done.stdout.splitlines()
    assert [line.split()[0] for line in lines] == list(EXPERIMENTS)
    assert all(len(line.split(maxsplit=1)[1]) > 20 for line in lines)


def test_cli_default_info_and_errors(tmp_path):
    out = subprocess.run([sys.executable, "-m", "fastoptim", "demo", "--out", str(tmp_path)], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0 and (tmp_path / "error-surface.png").exists()
    info = subprocess.run([sys.executable, "-m", "fastoptim", "info"], capture_output=True, text=True, timeout=60)
    assert info.returncode == 0 and "SIMD tier" in info.stdout and "-march=x86-64" in info.stdout
    bad = subprocess.run([sys.executable, "-m", "fastoptim", "demo", "nope"], capture_output=True, text=True, timeout=60)
    assert bad.returncode == 2 and "invalid choice" in bad.stderr
    bench = subprocess.run(
        [sys.executable, "-m", "fastoptim", "bench", "--workloads", "1x10", "--repeats", "1", "--threads", "1", "--no-progress"],
        capture_output=True, text=True, timeout=120,
    )
    assert bench.returncode == 0 and "| workload |" in bench.stdout


def test_progress_bar_prints_above_itself(capsys):
    from fastoptim.core.progress import Progress

    bar = Progress(4, enabled=True)
    bar.advance("first")
    bar.write("a table")
    bar.advance("last", 3)
    out, err = capsys.readouterr()
    assert out == "a table\n"
    # the bar's line cleared for the text, the bar redrawn after it, at last drawn full with a newline
    _, after = err.split("\r" + " " * 90 + "\r")
    assert " 25.0%" in after and "first" in after and "100.0%" in after and after.endswith("last" + " " * 24 + "\n")
    assert "s left" in after.split("100.0%")[0]  # an estimate of the time left while under way
    quiet = Progress(4, enabled=False)
    quiet.advance("x")
    quiet.write("only this")
    out, err = capsys.readouterr()
    assert out == "only this\n" and err == ""
