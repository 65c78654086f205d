"""The training loop's decisions between steps (training/steps.py): budget, validation, patience and saving."""

from types import SimpleNamespace

import pytest
import torch
import torch.distributed as dist
from omegaconf import OmegaConf

from nemo_tabular.training.plan import TimeBudget
from nemo_tabular.training.steps import StepPolicy


@pytest.fixture(scope="module", autouse=True)
def process_group():
    """The policy logs on rank 0 only, so it asks the process group for its rank."""
    created = not dist.is_initialized()
    if created:
        dist.init_process_group("gloo", store=dist.HashStore(), rank=0, world_size=1)
    yield
    if created:
        dist.destroy_process_group()


def policy(steps: int, minutes: float | None = None, **train) -> StepPolicy:
    settings = {"stop_at": None, "eval_every": "auto", "save_every": 0, "patience": None, **train}
    return StepPolicy.from_config(OmegaConf.create(settings), steps, TimeBudget(minutes))


def test_the_config_sets_length_validation_and_saving():
    run = policy(200, stop_at=50, save_every=None)
    assert (run.steps, run.stop, run.eval_every, run.save_every) == (200, 50, 10, 0)  # auto: 20 validations
    assert policy(200, stop_at=500).stop == 200
    assert [step for step in range(1, 51) if run.validates(step)] == [10, 20, 30, 40, 50]
    assert [step for step in range(1, 51) if run.saves(step)] == [50]
    assert not any(policy(10, eval_every=0).validates(step) for step in range(1, 11))
    assert [step for step in range(1, 8) if policy(7, eval_every=3, save_every=2).saves(step)] == [2, 4, 6, 7]


@pytest.mark.parametrize(
    "train, message",
    [
        ({"eval_every": -1}, "train.eval_every=-1: expected a count >= 0 or 'auto'"),
        ({"patience": 0}, "train.patience=0: expected validations >= 1 or null"),
    ],
)
def test_bad_settings_are_named(train, message):
    with pytest.raises(ValueError, match=message):
        policy(10, **train)


def test_the_budget_shortens_the_run_and_the_schedule_with_it():
    run, scheduler = policy(1000, minutes=1.0), SimpleNamespace(lr_warmup_steps=10, lr_decay_steps=1000)
    assert not run.follow_budget(19, 19, seconds=19.0, scheduler=scheduler)  # the probe is not done yet
    assert run.follow_budget(20, 20, seconds=20.0, scheduler=scheduler)  # 57 s at 1 s per step
    assert (run.steps, run.stop, scheduler.lr_decay_steps, run.eval_every) == (57, 57, 57, 2)
    assert not run.follow_budget(21, 21, seconds=21.0, scheduler=scheduler) and run.steps == 57
    assert run.follow_budget(40, 40, seconds=50.0, scheduler=scheduler)  # slower since: 7 s left at 1.5 s a step
    assert (run.steps, run.stop, scheduler.lr_decay_steps) == (44, 44, 44)
    assert not run.follow_budget(43, 43, seconds=60.0, scheduler=scheduler) and run.stop == 43  # spent: stop here


def test_a_resumed_run_times_its_own_steps_and_keeps_a_fixed_interval():
    run = policy(1000, minutes=10.0, eval_every=25, stop_at=300)
    scheduler = SimpleNamespace(lr_warmup_steps=0, lr_decay_steps=1000)
    assert run.follow_budget(120, 20, seconds=20.0, scheduler=scheduler)  # resumed at 100: 20 steps timed here
    assert (run.steps, run.stop, run.eval_every, scheduler.lr_decay_steps) == (670, 300, 25, 670)
    assert run.follow_budget(140, 40, seconds=500.0, scheduler=scheduler)  # 24 s a step since: 70 s buy 2 more
    assert (run.steps, run.stop) == (142, 142)


def test_patience_stops_and_the_best_weights_come_back_at_the_end():
    model = torch.nn.Linear(2, 2)
    run = policy(100, eval_every=10, patience=2)
    run.record_validation(10, 1.0, model)
    best = model.weight.detach().clone()
    with torch.no_grad():
        model.weight.add_(1.0)
    run.record_validation(20, 1.5, model)
    assert run.stop == 100
    run.record_validation(30, 1.2, model)
    assert run.stop == 30 and run.stopping.best_step == 10
    run.restore_best(30, model)
    assert torch.equal(model.weight, best)


def test_without_patience_no_weights_are_kept():
    model = torch.nn.Linear(2, 2)
    run = policy(100, eval_every=10)
    run.record_validation(10, 1.0, model)
    run.record_validation(20, 2.0, model)
    assert run.best_weights is None and run.stopping.best_step == 10 and run.stop == 100
