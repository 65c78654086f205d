"""How long a run trains: steps=auto from epochs and the split's tokens, and the wall-clock budget."""

import json

import pytest

from nemo_tabular.training.plan import (
    EarlyStopping,
    TimeBudget,
    evaluation_interval,
    planned_dropout,
    planned_lr,
    planned_steps,
    train_split_tokens,
)


def test_auto_steps_cover_the_requested_epochs():
    assert planned_steps("auto", 10, train_tokens=871_131, tokens_per_step=8192) == 1064  # ceil(106.3 x 10)
    assert planned_steps("auto", 0.001, train_tokens=1000, tokens_per_step=8192) == 1
    assert planned_steps(600, 10, train_tokens=871_131, tokens_per_step=8192) == 600
    assert planned_steps(0, None, train_tokens=1, tokens_per_step=1) == 0


@pytest.mark.parametrize(
    "steps, epochs, message",
    [
        ("auto", 0, "train.steps=auto needs train.epochs > 0, got 0"),
        ("auto", None, "train.steps=auto needs train.epochs > 0, got None"),
        (-3, 1, "train.steps=-3: expected a count >= 0 or 'auto'"),
    ],
)
def test_bad_lengths_are_named(steps, epochs, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(")):
        planned_steps(steps, epochs, train_tokens=100, tokens_per_step=10)


def test_the_budget_replans_after_the_probe_and_at_each_doubling():
    budget = TimeBudget(minutes=1.0, probe_steps=20, margin=0.95)
    assert [t for t in range(1, 400) if budget.replans_at(t)] == [20, 40, 80, 160, 320]
    assert budget.replanned_steps(1000, done=19, timed=19, seconds=19.0) is None  # not probed yet
    assert budget.replanned_steps(1000, done=20, timed=20, seconds=20.0) == 57  # 57 s at 1 s per step
    assert budget.replanned_steps(1000, done=21, timed=21, seconds=21.0) is None
    # steps 21-40 took 2 s each: the 17 s left buy 8 more, from the recent pace, not the average
    assert budget.replanned_steps(1000, done=40, timed=40, seconds=40.0 + 20.0) == 40 + 1
    assert budget.last_replan == (40, 60.0)


def test_a_replan_stays_between_the_plan_and_the_minimum():
    assert TimeBudget(minutes=1.0).replanned_steps(40, done=20, timed=20, seconds=2.0) == 40  # never past the plan
    assert TimeBudget(minutes=1.0).replanned_steps(1000, done=20, timed=20, seconds=600.0) == 21  # one more at least
    assert TimeBudget(minutes=1.0).replanned_steps(1000, done=20, timed=20, seconds=20.0, minimum=80) == 80  # warmup
    quick_later = TimeBudget(minutes=1.0)
    assert quick_later.replanned_steps(1000, done=20, timed=20, seconds=40.0) == 20 + 8  # 2 s a step at first
    assert quick_later.replanned_steps(1000, done=40, timed=40, seconds=45.0) == 40 + 48  # then 0.25 s: longer again
    budget = TimeBudget(minutes=1.0)
    assert budget.replanned_steps(1000, done=120, timed=20, seconds=20.0) == 120 + 37  # resumed: this process's time
    assert not budget.spent(59.9) and budget.spent(60.0)


def test_no_budget_changes_nothing():
    budget = TimeBudget(minutes=None)
    assert budget.replanned_steps(1000, done=20, timed=20, seconds=1e9) is None
    assert not budget.spent(1e9)
    with pytest.raises(ValueError, match="train.max_minutes=0: expected minutes > 0 or null"):
        TimeBudget(minutes=0)


def test_split_tokens_come_from_meta_json(tmp_path):
    (tmp_path / "meta.json").write_text(json.dumps({"splits": {"train": {"rows": 3, "tokens": 57}}}))
    assert train_split_tokens(tmp_path) == 57
    with pytest.raises(FileNotFoundError, match="meta.json: not found; run nemo-tabular prepare first"):
        train_split_tokens(tmp_path / "missing")


def test_auto_steps_have_a_floor_for_small_tables():
    assert planned_steps("auto", 10, train_tokens=2000, tokens_per_step=8192, min_steps=300) == 300
    assert planned_steps("auto", 10, train_tokens=871_131, tokens_per_step=8192, min_steps=300) == 1064
    assert planned_steps(20, 10, train_tokens=2000, tokens_per_step=8192, min_steps=300) == 20  # explicit wins


def test_auto_validation_interval():
    assert evaluation_interval("auto", 1064) == 53
    assert evaluation_interval("auto", 7) == 1
    assert evaluation_interval(200, 1064) == 200
    with pytest.raises(ValueError, match="train.eval_every=-1: expected a count >= 0 or 'auto'"):
        evaluation_interval(-1, 10)


def test_early_stopping_waits_patience_validations_for_a_new_best():
    stopping = EarlyStopping(patience=2)
    assert stopping.improved(10, 2.0) and stopping.improved(20, 1.5)
    assert not stopping.improved(30, 1.6) and not stopping.exhausted
    assert stopping.improved(40, 1.4) and stopping.misses == 0  # a new best resets the count
    assert not stopping.improved(50, 1.4) and not stopping.improved(60, 1.9)
    assert stopping.exhausted and (stopping.best_step, stopping.best_loss) == (40, 1.4)
    never = EarlyStopping(patience=None)
    for step, loss in enumerate([1.0, 2.0, 3.0, 4.0]):
        never.improved(step, loss)
    assert never.misses == 3 and not never.exhausted
    with pytest.raises(ValueError, match="train.patience=0: expected validations >= 1 or null"):
        EarlyStopping(patience=0)


def test_auto_dropout_regularizes_only_runs_the_step_floor_lifts():
    small, large = dict(train_tokens=2000, tokens_per_step=8192), dict(train_tokens=871_131, tokens_per_step=8192)
    assert planned_dropout("auto", "auto", 10, **small, min_steps=300) == 0.1  # 3 steps lifted to 300
    assert planned_dropout("auto", "auto", 10, **large, min_steps=300) == 0.0  # 1064 steps: epochs rule
    assert planned_dropout("auto", "auto", 10, **small, min_steps=1) == 0.0  # no floor, nothing lifted
    assert planned_dropout("auto", 5000, 10, **small, min_steps=300) == 0.0  # explicit steps: the user's call
    assert planned_dropout(0.3, "auto", 10, **small, min_steps=300) == 0.3  # a number wins
    with pytest.raises(ValueError, match=r"model.dropout=1.5: expected a probability in \[0, 1\) or 'auto'"):
        planned_dropout(1.5, "auto", 10, **small)


def test_auto_learning_rate_follows_the_width():
    assert planned_lr("auto", "auto", 128) == (0.5 / 128, 0.1 * 0.5 / 128)  # 3.9e-3
    assert planned_lr("auto", "auto", 64) == (0.5 / 64, 0.1 * 0.5 / 64)  # twice the step at half the width
    assert planned_lr("auto", 1e-5, 2048) == (0.5 / 2048, 1e-5)  # a number wins for either
    assert planned_lr(2e-3, "auto", 64) == (2e-3, 0.1 * 2e-3)
    assert planned_lr(0, 0, 64) == (0.0, 0.0)
    with pytest.raises(ValueError, match=r"train.min_lr=0.01 exceeds train.lr=0.001: the cosine decay ends at min_lr"):
        planned_lr(1e-3, 1e-2, 64)
    with pytest.raises(ValueError, match=r"train.lr=-1, train.min_lr=auto: expected numbers >= 0 or 'auto'"):
        planned_lr(-1, "auto", 64)
