"""Build the megatron-core GPTModel of a model config: GPT-2 layout, so export to HF GPT-2 is exact.

GPT-2 layout: learned absolute positions, pre-LayerNorm blocks, exact GeLU MLP, biases, tied
input/output embeddings. TransformerEngine's layer spec is used when TE and CUDA are present;
otherwise megatron's local spec with a core attention that runs on any device.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Mapping

import torch
from megatron.core.models.gpt import GPTModel
from megatron.core.models.gpt.gpt_layer_specs import get_gpt_layer_local_spec
from megatron.core.transformer import TransformerConfig

from .attention import SDPAttention


def use_transformer_engine() -> bool:
    """TE's fused kernels need both the package and a GPU."""
    if not torch.cuda.is_available():
        return False
    try:
        import transformer_engine  # noqa: F401
    except ImportError:
        return False
    return True


def layer_spec(document_mask: bool = False):
    """The transformer layer spec: TE on GPUs that have it, local modules with SDPA elsewhere.

    `document_mask`: batches bring their own attention mask (documents attend only to themselves).
    SDPAttention always applies a given mask; TE's attention ignores it unless told it is arbitrary.
    """
    if use_transformer_engine():
        from megatron.core.models.gpt.gpt_layer_specs import get_gpt_layer_with_transformer_engine_spec
        from megatron.core.transformer.enums import AttnMaskType

        spec = get_gpt_layer_with_transformer_engine_spec()
        if document_mask:
            spec.submodules.self_attention.params["attn_mask_type"] = AttnMaskType.arbitrary
        return spec
    spec = copy.deepcopy(get_gpt_layer_local_spec())
    spec.submodules.self_attention.submodules.core_attention = SDPAttention
    return spec


def padded_vocab_size(vocab_size: int, multiple: int, tensor_parallel: int) -> int:
    """Vocabulary rounded up to `multiple` (and to TP, when TP does not divide it).

    Padded ids take part in the softmax, so the padding must not depend on the parallel layout:
    with TP dividing `multiple`, every layout trains and reloads the very same model.
    """
    step = math.lcm(multiple, tensor_parallel)
    return -(-vocab_size // step) * step


def transformer_config(model: Mapping, tensor_parallel: int, pipeline_parallel: int, bf16: bool) -> TransformerConfig:
    """megatron's TransformerConfig for a conf/model entry and a parallel layout."""
    dtype = torch.bfloat16 if bf16 else torch.float32
    return TransformerConfig(
        num_layers=int(model["num_layers"]),
        hidden_size=int(model["hidden_size"]),
        num_attention_heads=int(model["num_attention_heads"]),
        num_query_groups=model.get("num_query_groups"),
        ffn_hidden_size=int(model["ffn_hidden_size"]),
        hidden_dropout=float(model["dropout"]),
        attention_dropout=float(model["dropout"]),
        init_method_std=float(model["init_method_std"]),
        layernorm_epsilon=1e-5,
        add_bias_linear=True,
        tensor_model_parallel_size=tensor_parallel,
        pipeline_model_parallel_size=pipeline_parallel,
        pipeline_dtype=dtype,
        params_dtype=dtype,
        bf16=bf16,
        use_cpu_initialization=not torch.cuda.is_available(),
        # exact GeLU and unfused kernels: what export to GPT-2 reproduces, and what runs on CPU
        bias_activation_fusion=False,
        bias_dropout_fusion=False,
        masked_softmax_fusion=False,
        gradient_accumulation_fusion=False,
        persist_layer_norm=False,
        apply_rope_fusion=False,
    )


def build_gpt(
    config: TransformerConfig,
    vocab_size: int,
    seq_length: int,
    pre_process: bool = True,
    post_process: bool = True,
    document_mask: bool = False,
) -> GPTModel:
    """One pipeline stage of the GPT (the whole model when there is one stage)."""
    return GPTModel(
        config=config,
        transformer_layer_spec=layer_spec(document_mask),
        vocab_size=vocab_size,
        max_sequence_length=seq_length,
        pre_process=pre_process,
        post_process=post_process,
        parallel_output=True,
        share_embeddings_and_output_weights=True,
        position_embedding_type="learned_absolute",
    )
