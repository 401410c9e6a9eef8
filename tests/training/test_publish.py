"""Publishing a release in one step (training/publish.py): everything or nothing, and a new
generator only through a passing release check."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import training.goldens
import training.publish as publishing
from app.inference import AvatarModel
from gan.checkpoint import read_checkpoint, save_generator
from gan.directions import save_directions
from gan.releases import ManifestError, file_sha256, publish, read_manifest, verify_files
from tests.conftest import make_directions, make_generator
from training.cli import main
from training.goldens import published_files, render_case
from training.publish import DirectionsSource, PublishRequest, publish_release


@pytest.fixture
def folder(tmp_path: Path, tiny_weights: Path) -> Path:
    """A weights folder with v1 published (the tiny generator), as a repository's weights/ would be."""
    weights = tmp_path / "weights"
    publish(weights, "v1", tiny_weights)
    return weights


@pytest.fixture
def candidate(tmp_path: Path) -> Path:
    """Another generator than v1's: a new model, which needs a release check."""
    path = tmp_path / "runs" / "candidate.safetensors"
    path.parent.mkdir(parents=True)
    save_generator(make_generator(seed=1), path, card={"name": "candidate"})
    return path


def version(checkpoint: Path) -> str:
    return read_checkpoint(checkpoint)[0].model_version


def check_report(
    tmp_path: Path, candidate: Path, baseline: Path, passed: bool = True, upscaler: Path | None = None
) -> Path:
    """A release-check.json as `release check` writes it (only the parts publishing reads)."""
    gates = [{"gate": "fd_ratio", "passed": passed}, {"gate": "recall", "passed": True}]
    report = {"passed": passed, "gates": gates, "candidate": {"model_version": version(candidate)},
              "baseline": {"model_version": version(baseline)}}  # fmt: skip
    if upscaler is not None:
        report["hd"] = {"upscaler": str(upscaler), "sha256": file_sha256(upscaler), "rows": []}
    path = tmp_path / "check" / "release-check.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report))
    return path


def snapshot(*paths: Path) -> dict[str, bytes]:
    return {str(p): p.read_bytes() for path in paths for p in sorted(path.parent.glob("*")) if p.is_file()}


def test_a_checked_generator_is_published_with_its_goldens_and_record(
    folder: Path, candidate: Path, tiny_weights: Path, tmp_path: Path
) -> None:
    goldens = tmp_path / "goldens.json"
    source = tmp_path / "directions.safetensors"
    info, _ = read_checkpoint(candidate)
    save_directions(source, make_directions(info.config.latent_dim, info.model_version))
    request = PublishRequest("v2", candidate, check_report=check_report(tmp_path, candidate, tiny_weights),
                             directions=DirectionsSource(file=source), goldens=goldens, make_default=True)  # fmt: skip
    release = publish_release(request, folder)
    manifest = read_manifest(folder)
    verify_files(manifest)
    assert manifest.default.name == "v2" and release.directions == "v2.directions.safetensors"
    entry = json.loads(goldens.read_text())["v2"]
    assert entry["published"] == published_files(manifest.get("v2"))  # what tests/test_shipped_weights holds to
    assert entry["model_version"] == info.model_version and len(entry["codes"]) >= 4
    model = AvatarModel.load(manifest.file_of(release), device="cpu")  # the goldens are the service's bytes
    for case in entry["cases"]:
        assert render_case(model, case)[:2] == (case["pixels_sha256"], case["png_sha256"])


def test_a_new_generator_needs_a_passing_check_of_itself(
    folder: Path, candidate: Path, tiny_weights: Path, tmp_path: Path
) -> None:
    before = snapshot(folder / "releases.json")
    refused = {
        "without a check": None,
        "a failed check": check_report(tmp_path / "a", candidate, tiny_weights, passed=False),
        "a check of another model": check_report(tmp_path / "b", tiny_weights, tiny_weights),
        "a check against no served release": check_report(tmp_path / "c", candidate, candidate),
    }
    problems = {}
    for why, report in refused.items():
        request = PublishRequest("v2", candidate, check_report=report, goldens=None)
        with pytest.raises(ManifestError) as exc:
            publish_release(request, folder)
        problems[why] = str(exc.value)
    assert "release check" in problems["without a check"] and "fd_ratio" in problems["a failed check"]
    assert "not this checkpoint's" in problems["a check of another model"]
    assert "no served release" in problems["a check against no served release"]
    assert snapshot(folder / "releases.json") == before  # nothing written


def test_an_hd_release_of_a_published_generator_needs_no_new_check(
    folder: Path, tiny_weights: Path, tiny_upscaler: Path, tmp_path: Path
) -> None:
    goldens = tmp_path / "goldens.json"
    goldens.write_text(json.dumps({"v1": {"kept": True}}))
    request = PublishRequest("v1-hd", tiny_weights, upscaler=tiny_upscaler, sizes=(256, 512), goldens=goldens)
    release = publish_release(request, folder)
    assert release.upscaler is not None and release.upscaler.sizes == (256, 512)
    written = json.loads(goldens.read_text())
    assert written["v1"] == {"kept": True}  # other releases' goldens untouched
    hd = [case for case in written["v1-hd"]["cases"] if "hd_pixels_sha256" in case]
    assert {case["size"] for case in hd} == {256, 512}


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        ({"name": "v1"}, "already published"),
        ({"name": "V2"}, "is not valid"),
        ({"goldens_hold": "v2"}, "already holds goldens"),
        ({"file_exists": "v2.directions.safetensors"}, "already exists"),
        ({"directions_of_another_model": True}, "made for model"),
        ({"goldens_folder_missing": True}, "--no-goldens"),
        ({"goldens_not_an_object": True}, "must hold one object"),
        ({"upscaler_sizes": (1024,)}, "ascending list of sizes"),
        ({"upscaler_sizes": (512, 256)}, "ascending list of sizes"),
    ],
)
def test_every_refusal_comes_before_any_write(
    folder: Path, tiny_weights: Path, tiny_upscaler: Path, tmp_path: Path, change: dict, problem: str
) -> None:
    goldens = tmp_path / "goldens.json"
    goldens.write_text(json.dumps({change.get("goldens_hold", "v1"): {}}))
    if "goldens_not_an_object" in change:
        goldens.write_text(json.dumps([{"v1": {}}]))
    if "file_exists" in change:
        (folder / change["file_exists"]).write_bytes(b"someone else's")
    copy = tmp_path / "same-generator.safetensors"
    copy.write_bytes(tiny_weights.read_bytes())
    source = tmp_path / "directions.safetensors"
    save_directions(source, make_directions(16, "0" * 16 if "directions_of_another_model" in change else version(copy)))
    target = tmp_path / "nowhere" / "goldens.json" if "goldens_folder_missing" in change else goldens
    before = snapshot(folder / "releases.json", goldens)
    request = PublishRequest(change.get("name", "v2"), copy, directions=DirectionsSource(file=source), goldens=target,
                             upscaler=tiny_upscaler if "upscaler_sizes" in change else None,
                             sizes=change.get("upscaler_sizes", (128, 256, 512)))  # fmt: skip
    with pytest.raises(ManifestError, match=problem):
        publish_release(request, folder)
    assert snapshot(folder / "releases.json", goldens) == before


def test_a_failure_while_copying_in_leaves_the_folder_and_goldens_as_they_were(
    folder: Path, candidate: Path, tiny_weights: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    goldens = tmp_path / "goldens.json"
    goldens.write_text(json.dumps({"v1": {}}))
    before = snapshot(folder / "releases.json", goldens)

    def disk_full(_manifest: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(publishing, "write_manifest", disk_full)
    request = PublishRequest("v2", candidate, check_report=check_report(tmp_path, candidate, tiny_weights),
                             goldens=goldens)  # fmt: skip
    with pytest.raises(OSError, match="No space"):
        publish_release(request, folder)
    assert snapshot(folder / "releases.json", goldens) == before  # no v2 files, goldens restored


def test_a_copy_that_fails_halfway_removes_what_it_copied(
    folder: Path, tiny_weights: Path, tiny_upscaler: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The second of two new files fails mid-copy: the first is removed and no partial file is left."""
    before = snapshot(folder / "releases.json")
    real_copy = publishing.shutil.copyfile
    calls: list[str] = []

    def copy_then_fail(source: Path, target: Path) -> Path:
        if Path(target).parent == folder:  # copies into the weights folder, not the staging ones
            calls.append(Path(target).name)
            if len(calls) == 2:
                Path(target).write_bytes(b"half a file")
                raise OSError(28, "No space left on device")
        return real_copy(source, target)

    monkeypatch.setattr(publishing.shutil, "copyfile", copy_then_fail)
    request = PublishRequest("v1-hd", tiny_weights, upscaler=tiny_upscaler, goldens=None)
    with pytest.raises(OSError, match="No space"):
        publish_release(request, folder)
    assert len(calls) == 2 and all(name.endswith(".partial") for name in calls)  # never straight to the name
    assert snapshot(folder / "releases.json") == before


@pytest.mark.parametrize("changed", ["manifest", "goldens"])
def test_a_release_command_run_while_publishing_is_not_written_over(
    changed: str, folder: Path, candidate: Path, tiny_weights: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Another shell publishes v1b (or records goldens) while this publish draws its own goldens:
    the publish refuses at the commit and leaves that change, not its stale copy, on disk."""
    goldens = tmp_path / "goldens.json"
    goldens.write_text(json.dumps({"v1": {}}))
    other = tmp_path / "other.safetensors"
    save_generator(make_generator(seed=2), other, card={"name": "other"})
    recording = training.goldens.record

    def record_while_another_command_runs(name: str, staged: Path) -> dict[str, object]:
        if changed == "manifest":
            publish(folder, "v1b", other)
        else:
            goldens.write_text(json.dumps({"v1": {}, "v1b": {}}))
        return recording(name, staged)

    monkeypatch.setattr(training.goldens, "record", record_while_another_command_runs)
    request = PublishRequest("v2", candidate, check_report=check_report(tmp_path, candidate, tiny_weights),
                             goldens=goldens)  # fmt: skip
    with pytest.raises(ManifestError, match="changed while publishing"):
        publish_release(request, folder)
    after_the_other_command = snapshot(folder / "releases.json", goldens)
    assert not any("v2" in name for name in after_the_other_command)  # no file of v2 was copied in
    assert read_manifest(folder).get("v2") is None and "v2" not in json.loads(goldens.read_text())
    if changed == "manifest":
        assert read_manifest(folder).get("v1b") is not None
    else:
        assert "v1b" in json.loads(goldens.read_text())


def test_a_release_shipped_with_an_upscaler_needs_a_check_that_judged_that_upscaler(
    folder: Path, candidate: Path, tiny_weights: Path, tiny_upscaler: Path, tmp_path: Path
) -> None:
    without_hd = check_report(tmp_path / "a", candidate, tiny_weights)
    request = PublishRequest("v2", candidate, check_report=without_hd, upscaler=tiny_upscaler, goldens=None)
    with pytest.raises(ManifestError, match="judged no upscaler"):
        publish_release(request, folder)
    other = tmp_path / "other-x4.safetensors"
    other.write_bytes(tiny_upscaler.read_bytes() + b" ")  # another file, same content otherwise
    with_other = check_report(tmp_path / "b", candidate, tiny_weights, upscaler=other)
    with pytest.raises(ManifestError, match="judged another upscaler file"):
        publish_release(PublishRequest("v2", candidate, check_report=with_other, upscaler=tiny_upscaler,
                                       goldens=None), folder)  # fmt: skip
    judged = check_report(tmp_path / "c", candidate, tiny_weights, upscaler=tiny_upscaler)
    release = publish_release(PublishRequest("v2", candidate, check_report=judged, upscaler=tiny_upscaler,
                                             goldens=None), folder)  # fmt: skip
    assert release.upscaler is not None


def test_goldens_can_be_recorded_once_for_a_release_published_without_them(
    tmp_path: Path, tiny_weights: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder, goldens = tmp_path / "weights", tmp_path / "goldens.json"
    args = ["release", "--weights-dir", str(folder)]
    assert main([*args, "publish", "v1", str(tiny_weights), "--no-directions", "--no-goldens"]) == 0
    assert not goldens.exists()
    assert main([*args, "goldens", "v1", "--goldens", str(goldens)]) == 0
    entry = json.loads(goldens.read_text())["v1"]
    assert entry["published"] == published_files(read_manifest(folder).get("v1"))
    assert main([*args, "goldens", "v1", "--goldens", str(goldens)]) == 2  # they never change
    assert "already holds goldens of 'v1'" in capsys.readouterr().err
    assert main([*args, "goldens", "v9", "--goldens", str(goldens)]) == 2
    assert "no release 'v9'" in capsys.readouterr().err


def test_the_command_publishes_the_first_release_of_a_folder(
    tmp_path: Path, tiny_weights: Path, tiny_upscaler: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder, goldens = tmp_path / "new-weights", tmp_path / "goldens.json"
    args = ["release", "--weights-dir", str(folder), "publish", "v1", str(tiny_weights), "--no-directions"]
    assert main([*args, "--goldens", str(goldens)]) == 0
    assert read_manifest(folder).default.name == "v1" and "v1" in json.loads(goldens.read_text())
    assert main([*args, "--no-goldens"]) == 2  # a published name is never reused
    assert "already published" in capsys.readouterr().err
    with pytest.raises(SystemExit):  # how it gets its directions must be said
        main([*args[:4], "v2", str(tiny_weights)])
    assert "one of the arguments --data --directions --no-directions is required" in capsys.readouterr().err
    assert main([*args[:4], "v3", str(tiny_weights), "--no-directions", "--no-goldens", "--sizes", "256"]) == 2
    assert "pass --upscaler FILE with it" in capsys.readouterr().err
    assert main([*args[:4], "v3", str(tiny_weights), "--no-directions", "--no-goldens", "--upscaler",
                 str(tiny_upscaler), "--sizes", "2x"]) == 2  # fmt: skip
    assert "--sizes '2x'" in capsys.readouterr().err
    assert main([*args[:4], "v3", str(tiny_weights), "--no-directions"]) == 2  # goldens for which test suite?
    assert "is not this repository's weights/" in capsys.readouterr().err
