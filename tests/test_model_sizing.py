"""model=auto picks deterministically from the table and the budget; the CPU capability checks behind the
sampling defaults (precision=auto, workers=auto)."""

from __future__ import annotations

import pytest
import torch
from omegaconf import OmegaConf

from nemo_tabular.hardware import cpu_flags, cpu_kind, native_bf16, sampling_dtype
from nemo_tabular.model.sizing import (
    LADDER,
    TOKENS_PER_PARAM,
    ModelSize,
    Throughput,
    choose_size,
    is_auto,
    layout_candidates,
)
from nemo_tabular.sampling.parallel import planned_workers

SEQ, VOCAB = 256, 942


def test_ladder_sizes_have_the_documented_shapes():
    assert [size.name for size in LADDER] == ["1x32", "2x64", "3x96", "4x128", "6x192", "8x256"]
    assert ModelSize(4, 128).config() == {
        "num_layers": 4,
        "hidden_size": 128,
        "num_attention_heads": 4,
        "ffn_hidden_size": 512,
    }
    assert ModelSize(2, 64).params == 12 * 2 * 64 * 64
    # GPT-2 layout: (24 W^2 + 4 S W) per layer plus the logits, forward; x3 with the backward pass
    assert ModelSize(1, 32).train_flops_per_token(SEQ, VOCAB) == 3 * (24 * 32**2 + 4 * SEQ * 32 + 2 * VOCAB * 32)
    with pytest.raises(ValueError, match="a width that is a multiple of 32"):
        ModelSize(2, 48)


@pytest.mark.parametrize("index", range(len(LADDER)))
def test_planned_tokens_pick_the_largest_size_the_rule_allows(index):
    """Exactly TOKENS_PER_PARAM tokens per parameter admits a size; one token fewer does not."""
    enough = int(TOKENS_PER_PARAM * LADDER[index].params)
    assert choose_size(enough, None, Throughput(1e-6, 1e9), SEQ, VOCAB).size == LADDER[index]
    below = choose_size(enough - 1, None, Throughput(1e-6, 1e9), SEQ, VOCAB)
    assert below.size == LADDER[max(index - 1, 0)]
    assert below.tokens == enough - 1


def test_a_time_budget_caps_each_candidates_tokens_by_its_throughput():
    throughput = Throughput(overhead_s=20e-6, flops_per_s=34e9)
    planned = 10**12  # steps allow far more than the budget does
    choice = choose_size(planned, 180.0, throughput, SEQ, VOCAB)
    expected = max(
        (
            size
            for size in LADDER
            if 180.0 * throughput.tokens_per_s(size, SEQ, VOCAB) >= TOKENS_PER_PARAM * size.params
        ),
        key=lambda size: size.params,
    )
    assert choice.size == expected
    assert choice.tokens == int(180.0 * throughput.tokens_per_s(expected, SEQ, VOCAB))
    assert "3 min at" in choice.reason and f"{expected.name} ({expected.params:,} block parameters)" in choice.reason
    # a machine 4x faster buys a larger model for the same minutes
    assert choose_size(planned, 180.0, throughput.scaled(4.0), SEQ, VOCAB).size.params >= expected.params


def test_too_little_budget_still_gets_the_smallest_size():
    choice = choose_size(1000, None, Throughput(1e-6, 1e9), SEQ, VOCAB)
    assert choice.size == LADDER[0]
    assert "1,000 tokens in its planned steps" in choice.reason


def test_layout_candidates_are_the_sizes_the_layout_splits():
    assert layout_candidates(1, 1) == list(LADDER)
    assert [size.name for size in layout_candidates(2, 1)] == ["2x64", "4x128", "6x192", "8x256"]
    assert [size.name for size in layout_candidates(1, 2)] == ["2x64", "4x128", "6x192", "8x256"]
    assert [size.name for size in layout_candidates(3, 3)] == ["3x96", "6x192"]
    assert layout_candidates(5, 1) == []
    with pytest.raises(ValueError, match="no candidate size fits the parallel layout"):
        choose_size(10**9, None, Throughput(1e-6, 1e9), SEQ, VOCAB, candidates=[])


def test_auto_needs_all_four_shape_keys():
    auto = OmegaConf.load("conf/model/auto.yaml")
    assert is_auto(auto)
    assert not is_auto(OmegaConf.load("conf/model/tiny.yaml"))
    auto.num_layers = 2
    with pytest.raises(
        ValueError,
        match=r"^model.num_layers=2 with model=auto: model=auto sets num_layers, "
        r"hidden_size, num_attention_heads, ffn_hidden_size together",
    ):
        is_auto(auto)


def test_native_bf16_follows_the_cpu_flags_and_the_isa_caps():
    flags = cpu_flags("processor: 0\nflags\t\t: fpu avx2 avx512f amx_bf16 amx_tile\n")
    assert flags == {"fpu", "avx2", "avx512f", "amx_bf16", "amx_tile"}
    assert native_bf16(flags, environ={})
    assert not native_bf16(frozenset({"avx2", "fma"}), environ={})
    assert not native_bf16(flags, environ={"ONEDNN_MAX_CPU_ISA": "AVX2"})  # an AMX Xeon run as AVX2-only
    assert not native_bf16(flags, environ={"ATEN_CPU_CAPABILITY": "avx2"})
    assert native_bf16(flags, environ={"ONEDNN_MAX_CPU_ISA": "AVX512_CORE_AMX"})
    assert cpu_flags("") == frozenset()


@pytest.mark.parametrize(
    "flags, environ, kind",
    [
        ({"avx2", "avx512f", "amx_bf16"}, {}, "amx"),
        ({"avx2", "avx512f", "avx512_bf16"}, {}, "avx512_bf16"),
        ({"avx2", "avx512f"}, {}, "avx512"),
        ({"avx2", "fma"}, {}, "avx2"),
        ({"avx2", "avx512f", "amx_bf16"}, {"ONEDNN_MAX_CPU_ISA": "AVX2"}, "avx2"),  # an AMX Xeon run as AVX2-only
        ({"avx2", "avx512f", "avx512_bf16"}, {"ATEN_CPU_CAPABILITY": "avx2"}, "avx2"),
        ({"sse4_2"}, {}, "baseline"),
    ],
)
def test_cpu_kind_tells_machines_with_one_model_name_apart(flags, environ, kind):
    assert cpu_kind(frozenset(flags), environ) == kind


def test_sampling_dtype():
    assert sampling_dtype("fp32", "cpu") == torch.float32
    assert sampling_dtype("bf16", "cpu") == torch.bfloat16
    assert sampling_dtype("auto", "cpu") == (torch.bfloat16 if native_bf16() else torch.float32)
    with pytest.raises(ValueError, match=r"^precision='fp16': expected one of auto, bf16, fp32$"):
        sampling_dtype("fp16", "cpu")


def test_planned_workers(monkeypatch):
    monkeypatch.setattr("nemo_tabular.sampling.parallel.usable_cores", lambda: 4)
    assert planned_workers(3, 10, "cpu") == 3
    assert planned_workers("auto", 19_999, "cpu") == 1
    assert planned_workers("auto", 45_849, "cpu") == 2
    assert planned_workers("auto", 10**7, "cpu") == 4
    assert planned_workers("auto", 10**7, "cuda") == 1
    with pytest.raises(ValueError, match=r"^workers=0: expected a count >= 1 or 'auto'$"):
        planned_workers(0, 10, "cpu")
