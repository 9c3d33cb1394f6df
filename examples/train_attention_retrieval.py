"""Train an attention model from random initialisation, in plain NumPy
===================================================================

The task needs attention: each sequence holds 16 (key, value) pairs, one pair
per token, followed by a query token naming one of the keys; the model must
output that key's value. Nothing but attention can solve it: the answer sits
at a different position in every sequence, and only matching the query
against the keys finds it.

Model: token embeddings (key, value and query tables, summed per token) ->
one MultiHeadAttention layer with a residual connection -> a linear
classifier on the query position. Loss: cross-entropy. The attention layer's
gradients come from ``layer.backward``; the embeddings' and the classifier's
are two lines of NumPy; one Adam optimiser updates them all.

    python examples/train_attention_retrieval.py   # 100 % held out, under a minute

Writes ``training_loss.png`` (loss and accuracy per step, attnsearch.plot).
"""

import time

import numpy as np
from _common import SMALL, save_figure

from attnsearch.attention import Adam, MultiHeadAttention

N_KEYS, N_VALUES, N_PAIRS = 64, 32, 16
D_MODEL, N_HEADS = 64, 4
BATCH = 128
# The model is small (128 sequences of 17 tokens of width 64): one thread per call
# beats spreading each small product over OpenMP threads that must sync ~20 times
# a step (and much more so on a machine that other work keeps busy).
THREADS = 1
STEPS = 40 if SMALL else 400
TARGET = 0.99

rng = np.random.default_rng(0)


def make_batch(size):
    """Sequences of N_PAIRS (key, value) tokens and a query key; the answers."""
    keys = np.argsort(rng.random((size, N_KEYS)), axis=1)[:, :N_PAIRS]  # distinct
    values = rng.integers(0, N_VALUES, size=(size, N_PAIRS))
    which = rng.integers(0, N_PAIRS, size=size)
    query = keys[np.arange(size), which]
    answer = values[np.arange(size), which]
    return keys, values, query, answer


def init(shape, scale):
    return (rng.standard_normal(shape) * scale).astype(np.float32)


params = {
    "key_embedding": init((N_KEYS, D_MODEL), 0.5),
    "value_embedding": init((N_VALUES, D_MODEL), 0.5),
    "query_embedding": init((N_KEYS, D_MODEL), 0.5),
    "W_out": init((D_MODEL, N_VALUES), 1 / np.sqrt(D_MODEL)),
    "b_out": np.zeros(N_VALUES, np.float32),
}
grads = {name: np.zeros_like(value) for name, value in params.items()}
attention = MultiHeadAttention(D_MODEL, N_HEADS, seed=0)
optimiser = Adam([attention, (params, grads)], lr=3e-3)


def forward(keys, values, query, keep=False):
    """Logits of the value at the query position (and what backward needs)."""
    tokens = np.concatenate(
        [
            params["key_embedding"][keys] + params["value_embedding"][values],
            params["query_embedding"][query][:, None, :],
        ],
        axis=1,
    )
    # Residual connection around the attention layer.
    hidden = tokens + attention(tokens, keep_for_backward=keep, num_threads=THREADS)
    last = hidden[:, -1]
    return last @ params["W_out"] + params["b_out"], last


def train_step(keys, values, query, answer):
    """One step: forward, cross-entropy and its gradient, backward, Adam."""
    optimiser.zero_grad()
    logits, last = forward(keys, values, query, keep=True)
    logits = logits - logits.max(axis=1, keepdims=True)
    probs = np.exp(logits)
    probs /= probs.sum(axis=1, keepdims=True)
    n = len(answer)
    loss = -np.mean(np.log(probs[np.arange(n), answer] + 1e-12))
    accuracy = np.mean(probs.argmax(axis=1) == answer)

    d_logits = probs
    d_logits[np.arange(n), answer] -= 1
    d_logits /= n
    grads["W_out"][...] = last.T @ d_logits
    grads["b_out"][...] = d_logits.sum(axis=0)
    d_hidden = np.zeros((n, N_PAIRS + 1, D_MODEL), np.float32)
    d_hidden[:, -1] = d_logits @ params["W_out"].T
    # Through the residual and through the attention layer.
    d_tokens = d_hidden + attention.backward(d_hidden, num_threads=THREADS)
    np.add.at(grads["key_embedding"], keys, d_tokens[:, :-1])
    np.add.at(grads["value_embedding"], values, d_tokens[:, :-1])
    np.add.at(grads["query_embedding"], query, d_tokens[:, -1])
    optimiser.step()
    return float(loss), float(accuracy)


start = time.perf_counter()
losses, accuracies = [], []
for step in range(STEPS):
    loss, accuracy = train_step(*make_batch(BATCH))
    losses.append(loss)
    accuracies.append(accuracy)
    if step % 100 == 0 or step == STEPS - 1:
        print(f"step {step:4d}  loss {loss:.4f}  batch accuracy {accuracy:.3f}")
seconds = time.perf_counter() - start

test = make_batch(4096)
test_accuracy = float(np.mean(forward(*test[:3])[0].argmax(axis=1) == test[3]))
print(
    f"trained {STEPS} steps of {BATCH} sequences in {seconds:.1f} s; "
    f"held-out accuracy {test_accuracy:.2%} (chance: {1 / N_VALUES:.1%})"
)
if not SMALL:
    assert test_accuracy >= TARGET, f"accuracy {test_accuracy:.2%} below {TARGET:.0%}"

try:
    from attnsearch import plot
except ImportError:  # pragma: no cover
    plot = None
try:
    figure = plot.loss_curve(
        losses, accuracies, title="key -> value retrieval, one attention layer"
    )
    save_figure(figure, "training_loss.png")
except ImportError:
    print("matplotlib is not installed: no picture")
