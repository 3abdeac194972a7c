from conftest import wait_until
from galaxy_core.training import jobs


def wait(folder, condition, seconds=240):
    return wait_until(lambda: (lambda status: status if condition(status) else None)(jobs.status(folder)), seconds, f"the run in {folder}")


def test_cancelled_run_stops_then_a_run_started_again_finishes_and_leaves_a_checkpoint(tiny_h5, tmp_path):
    args = dict(data=str(tiny_h5), epochs=40, image_size=32, device="cpu", extra=["--workers", "0", "--split", "80/10/10"])
    out = jobs.start("cnn", tmp_path / "run", **args)
    wait(out, lambda s: s["progress"] and s["progress"].get("epoch", 0) >= 1)
    assert jobs.cancel(out)
    stopped = wait(out, lambda s: not s["running"], 60)
    assert not stopped["finished"] and (out / "training_state.json").exists()
    done_before = stopped["progress"]["epoch"]
    jobs.start("cnn", out, **{**args, "epochs": done_before + 1})
    # a different epoch count is a different recipe: it starts over rather than resume a stale state
    finished = wait(out, lambda s: not s["running"])  # and a run that goes to its end leaves a checkpoint
    assert finished["finished"], (out / "train.log").read_text()[-2000:]
    assert finished["progress"]["state"] == "done" and jobs.runs(tmp_path) == [out] and (out / "meta.json").is_file()
