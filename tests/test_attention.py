"""SDPAttention: masks of short documents run as blockwise local attention, exactly as dense SDPA would."""

import warnings

import pytest
import torch
import torch.nn.functional as F

with warnings.catch_warnings():
    warnings.filterwarnings("ignore", message="Transformer Engine and Apex are not installed")
    from megatron.core.transformer import TransformerConfig

    from nemo_tabular.model import attention
    from nemo_tabular.model.attention import SDPAttention, local_block
    from nemo_tabular.training.data import DocumentAligned

pytestmark = pytest.mark.usefixtures("one_thread")

EOD = 1


def document_mask(batch: int, seq: int, longest: int, seed: int) -> torch.Tensor:
    """Megatron masks [batch, 1, seq, seq] as DocumentAligned builds them, from random document lengths.

    Every sample starts inside a document (a leading partial document), then holds one document of
    `longest` tokens and others of 2 to `longest`, each opened by its end-of-document token.
    """
    generator = torch.Generator().manual_seed(seed)
    samples = []
    for _ in range(batch):
        tokens = torch.randint(2, 30, (seq,), generator=generator)
        position, lengths = int(torch.randint(1, longest, (), generator=generator)), [longest]
        while position < seq:
            tokens[position] = EOD
            position += lengths.pop() if lengths else int(torch.randint(2, longest + 1, (), generator=generator))
        sample = {"tokens": tokens, "loss_mask": torch.ones(seq)}
        samples.append(DocumentAligned([sample], EOD)[0]["attention_mask"])
    return torch.stack(samples)


def dense(query, key, value, mask, scale=None) -> torch.Tensor:
    """The reference: one SDPA over the whole [s, s] under the mask, key/value heads repeated for groups."""
    q, k, v = (t.permute(1, 2, 0, 3) for t in (query, key, value))
    repeat = q.shape[1] // k.shape[1]
    k, v = k.repeat_interleave(repeat, dim=1), v.repeat_interleave(repeat, dim=1)
    out = F.scaled_dot_product_attention(q, k, v, attn_mask=~mask, scale=scale)
    return out.permute(2, 0, 1, 3).reshape(query.shape[0], query.shape[1], -1)


def module(heads: int, groups: int, scale: float | None = None) -> SDPAttention:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        config = TransformerConfig(
            num_layers=1,
            hidden_size=16 * heads,
            num_attention_heads=heads,
            num_query_groups=groups,
            attention_dropout=0.0,
        )
    return SDPAttention(config, layer_number=1, attn_mask_type=None, softmax_scale=scale)


def inputs(seq: int, batch: int, heads: int, groups: int, seed: int) -> list[torch.Tensor]:
    """query [s, b, heads, 16], key and value [s, b, groups, 16], all requiring gradients."""
    generator = torch.Generator().manual_seed(seed)
    shapes = [(seq, batch, heads, 16), (seq, batch, groups, 16), (seq, batch, groups, 16)]
    return [torch.randn(shape, generator=generator, requires_grad=True) for shape in shapes]


def outputs_and_grads(forward, tensors) -> list[torch.Tensor]:
    """forward(*tensors) and the gradients of q, k, v for a random projection of it."""
    out = forward(*tensors)
    weight = torch.randn(out.shape, generator=torch.Generator().manual_seed(0))
    grads = torch.autograd.grad((out * weight).sum(), tensors)
    return [out, *grads]


def assert_matches_dense(mask, seq, batch, heads, groups, scale=None) -> list[torch.Tensor]:
    """SDPAttention's output and q, k, v gradients equal the dense reference's; returns SDPAttention's."""
    tensors = inputs(seq, batch, heads, groups, seed=seq)
    layer = module(heads, groups, scale)
    got = outputs_and_grads(lambda q, k, v: layer(q, k, v, mask), tensors)
    want = outputs_and_grads(lambda q, k, v: dense(q, k, v, mask, scale), tensors)
    for got_tensor, want_tensor in zip(got, want):
        assert not got_tensor.isnan().any()
        torch.testing.assert_close(got_tensor, want_tensor, rtol=1e-5, atol=1e-5)
    return got


@pytest.fixture
def local_calls(monkeypatch) -> list[int]:
    """The block sizes SDPAttention ran local attention with, in call order."""
    calls, local = [], attention.local_attention

    def spy(*args):
        calls.append(args[3])
        return local(*args)

    monkeypatch.setattr(attention, "local_attention", spy)
    return calls


def test_blocks_hold_each_document_in_two_and_divide_the_sequence():
    # a document of up to B + 1 tokens lies in 2 blocks, so its queries find all their keys
    assert local_block(document_mask(4, 256, 19, seed=0)) == 32  # B divides 256
    assert local_block(document_mask(4, 256, 17, seed=0)) == 16
    assert local_block(document_mask(4, 240, 13, seed=0)) == 12
    assert local_block(document_mask(4, 256, 70, seed=0)) is None  # needs B = 64: only 4 blocks in 256
    assert local_block(document_mask(4, 203, 12, seed=0)) is None  # 203 = 7 x 29: 7 is too small, 29 > 203 / 8
    assert local_block(document_mask(4, 256, 19, seed=0).expand(4, 2, 256, 256)) is None  # one mask per head


@pytest.mark.parametrize(
    "seq, batch, heads, groups, longest, block, scale",
    [
        (256, 4, 4, 4, 19, 32, None),  # diamonds' rows: 19 tokens, 256 no multiple of 19
        (256, 2, 4, 4, 17, 16, None),  # blocks shorter than the longest document
        (240, 3, 4, 2, 13, 12, None),  # grouped-query heads, a length that is no power of two
        (160, 2, 6, 3, 20, 20, 0.5),  # blocks of exactly s / 8, a given softmax scale
    ],
)
def test_document_masks_run_locally_and_match_dense(local_calls, seq, batch, heads, groups, longest, block, scale):
    assert_matches_dense(document_mask(batch, seq, longest, seed=seq), seq, batch, heads, groups, scale)
    assert local_calls == [block]


def test_fully_masked_rows_give_what_dense_gives(local_calls):
    mask = document_mask(2, 128, 10, seed=1)
    mask[:, :, 100:] = True  # padding: the last queries may attend nothing
    out = assert_matches_dense(mask, 128, 2, 4, 4)[0]
    assert local_calls == [16]
    assert (out[100:] == 0).all()  # what SDPA gives such rows


def test_a_mask_shared_by_the_batch(local_calls):
    assert_matches_dense(document_mask(1, 128, 10, seed=3), 128, 3, 4, 4)  # mask [1, 1, s, s], batch 3
    assert len(local_calls) == 1


def test_a_mask_changed_in_place_is_looked_at_again(local_calls):
    mask = document_mask(2, 96, 8, seed=4)
    assert_matches_dense(mask, 96, 2, 4, 4)
    mask[:, :, :, 0] = False  # every query now also sees position 0: no longer local
    assert_matches_dense(mask, 96, 2, 4, 4)
    assert local_calls == [8]


def test_inference_mode(local_calls):
    mask = document_mask(2, 96, 8, seed=5)
    query, key, value = inputs(96, 2, 4, 4, seed=5)
    with torch.inference_mode():
        inference_mask = mask.clone()  # an inference tensor: it keeps no version counter
        got = module(4, 4)(query, key, value, inference_mask)
    torch.testing.assert_close(got, dense(query, key, value, mask), rtol=1e-5, atol=1e-5)
    assert local_calls == [8]


@pytest.mark.parametrize("case", ["bidirectional", "shared first key", "long documents"])
def test_other_masks_take_the_dense_path(local_calls, case):
    mask = document_mask(2, 96, 40 if case == "long documents" else 8, seed=2)
    if case == "bidirectional":  # documents see their own later tokens too
        mask = mask & mask.transpose(-1, -2)
    elif case == "shared first key":  # every query also sees position 0
        mask[:, :, :, 0] = False
    assert local_block(mask) is None
    assert_matches_dense(mask, 96, 2, 4, 2)
    assert local_calls == []
