"""Export round trip: megatron GPTModel logits == standalone bundle logits == HF GPT2LMHeadModel logits."""

import os
import socket

import pandas as pd
import pytest
import torch
import torch.nn.functional as F
from conftest import load_tokenizer_settings

from nemo_tabular.export import ExportError, save_hf, standalone_from_megatron
from nemo_tabular.sampling import TableLayout, load_bundle, save_bundle
from nemo_tabular.tokenizer import TabularTokenizer

SEQ = 24


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def megatron_world():
    """A one-process gloo world with TP=PP=1, as megatron-core needs even on one CPU."""
    from megatron.core import parallel_state
    from megatron.core.tensor_parallel.random import model_parallel_cuda_manual_seed

    if not torch.distributed.is_initialized():
        os.environ.setdefault("MASTER_ADDR", "127.0.0.1")
        os.environ.setdefault("MASTER_PORT", str(free_port()))
        torch.distributed.init_process_group("gloo", rank=0, world_size=1)
    if not parallel_state.model_parallel_is_initialized():
        parallel_state.initialize_model_parallel(1, 1)
    model_parallel_cuda_manual_seed(0, inference_rng_tracker=True)
    yield


def sdpa_core_attention():
    """A causal core attention on torch SDPA: megatron's local one asks for a CUDA buffer."""
    from megatron.core.transformer.module import MegatronModule

    class SDPACoreAttention(MegatronModule):
        def __init__(self, config, layer_number, attn_mask_type, attention_type, **_):
            super().__init__(config=config)

        def forward(
            self, query, key, value, attention_mask, attn_mask_type=None, attention_bias=None, packed_seq_params=None
        ):
            q, k, v = (t.permute(1, 2, 0, 3) for t in (query, key, value))  # [s, b, h, d] -> [b, h, s, d]
            if k.shape[1] != q.shape[1]:
                k = k.repeat_interleave(q.shape[1] // k.shape[1], dim=1)
                v = v.repeat_interleave(q.shape[1] // v.shape[1], dim=1)
            out = F.scaled_dot_product_attention(q, k, v, is_causal=True)
            return out.permute(2, 0, 1, 3).reshape(query.shape[0], query.shape[1], -1)

    return SDPACoreAttention


def megatron_gpt(vocab_size: int, n_query_groups: int, tied: bool):
    from megatron.core.models.gpt import GPTModel
    from megatron.core.models.gpt.gpt_layer_specs import get_gpt_layer_local_spec
    from megatron.core.transformer import TransformerConfig

    spec = get_gpt_layer_local_spec()
    spec.submodules.self_attention.submodules.core_attention = sdpa_core_attention()
    config = TransformerConfig(
        num_layers=2,
        hidden_size=32,
        num_attention_heads=4,
        num_query_groups=n_query_groups,
        use_cpu_initialization=True,
        hidden_dropout=0.0,
        attention_dropout=0.0,
    )
    torch.manual_seed(0)
    model = GPTModel(
        config=config,
        transformer_layer_spec=spec,
        vocab_size=vocab_size,
        max_sequence_length=SEQ,
        position_embedding_type="learned_absolute",
        share_embeddings_and_output_weights=tied,
    )
    with torch.no_grad():  # megatron zero-initializes biases and LayerNorm shifts: make them matter
        for name, param in model.named_parameters():
            if name.endswith("bias") or "layernorm" in name:
                param.add_(0.1 * torch.randn_like(param))
    return model.eval()


@pytest.fixture(scope="module")
def tokenizer():
    table = pd.DataFrame({"a": [0.5, 1.25, 3.0, 7.5], "b": ["x", "y", "z", "x"], "c": [1, 2, 3, 400]})
    return TabularTokenizer.fit(table, load_tokenizer_settings())


@pytest.mark.parametrize("n_query_groups,tied", [(4, True), (2, True), (4, False)])
def test_megatron_standalone_and_hf_logits_match(megatron_world, tokenizer, tmp_path, n_query_groups, tied):
    from transformers import GPT2LMHeadModel

    vocab = tokenizer.vocab_size + 5  # padded, as training pads the vocabulary for TP
    model = megatron_gpt(vocab, n_query_groups, tied)
    ids = torch.randint(0, vocab, (3, SEQ), generator=torch.Generator().manual_seed(1))
    positions = torch.arange(SEQ).expand(3, SEQ)
    with torch.no_grad():
        expected = model(ids, positions, attention_mask=None)

    config, weights = standalone_from_megatron(model)
    save_bundle(tmp_path / "bundle", config, weights, tokenizer, TableLayout())
    bundle = load_bundle(tmp_path / "bundle")
    with torch.no_grad():
        standalone = bundle.model(ids)
    torch.testing.assert_close(standalone, expected, atol=1e-4, rtol=0)

    save_hf(tmp_path / "hf", config, weights, tokenizer)
    hf = GPT2LMHeadModel.from_pretrained(tmp_path / "hf").eval()
    assert hf.config.activation_function == "gelu" and hf.config.n_positions == SEQ
    assert TabularTokenizer.load(tmp_path / "hf" / "tabular_tokenizer.json").vocab_size == tokenizer.vocab_size
    with torch.no_grad():
        hf_logits = hf(ids).logits
    torch.testing.assert_close(hf_logits, expected, atol=1e-4, rtol=0)


def test_kv_cache_forward_equals_full_forward(megatron_world, tokenizer, tmp_path):
    config, weights = standalone_from_megatron(megatron_gpt(tokenizer.vocab_size, 2, True))
    save_bundle(tmp_path / "bundle", config, weights, tokenizer, TableLayout())
    model = load_bundle(tmp_path / "bundle").model
    ids = torch.randint(0, tokenizer.vocab_size, (2, SEQ), generator=torch.Generator().manual_seed(2))
    cache = model.new_cache(2)
    with torch.no_grad():
        full = model(ids)
        steps = [model(ids[:, :5], cache)] + [model(ids[:, t : t + 1], cache) for t in range(5, 12)]
        steps.append(model(ids[:, 12:], cache))  # a chunk after a non-empty cache uses an explicit mask
    torch.testing.assert_close(torch.cat(steps, dim=1), full, atol=1e-5, rtol=0)


def test_unexportable_activation_is_refused(megatron_world, tokenizer):
    model = megatron_gpt(tokenizer.vocab_size, 4, True)
    model.config.activation_func = F.silu
    with pytest.raises(ExportError, match="GeLU"):
        standalone_from_megatron(model)


def test_open_model_reads_bundles_and_names_what_is_missing(megatron_world, tokenizer, tmp_path):
    from nemo_tabular.sampling.loading import open_model

    config, weights = standalone_from_megatron(megatron_gpt(tokenizer.vocab_size, 4, True))
    save_bundle(tmp_path / "bundle", config, weights, tokenizer, TableLayout(["city"], ["year"]))
    bundle = open_model(tmp_path / "bundle", TableLayout())
    assert bundle.layout == TableLayout(["city"], ["year"])  # the bundle's own layout wins
    assert bundle.model.wte.weight.dtype == torch.float32
    assert open_model(tmp_path / "bundle", TableLayout(), precision="bf16").model.wte.weight.dtype == torch.bfloat16
    with pytest.raises(ValueError, match="precision='fp16': expected one of auto, bf16, fp32"):
        open_model(tmp_path / "bundle", TableLayout(), precision="fp16")
    with pytest.raises(FileNotFoundError, match="no such model directory"):
        open_model(tmp_path / "nowhere", TableLayout())
    (tmp_path / "empty").mkdir()
    with pytest.raises(ExportError, match="no tokenizer.json there"):
        open_model(tmp_path / "empty", TableLayout())
