"""Tests of the triplet-loss encoder in stochastic_quantization.experiment."""

from __future__ import annotations

import logging
import pickle

import numpy as np
import pytest

torch = pytest.importorskip(
    "torch", reason="the experiment encoder needs PyTorch (install the 'experiment' extra)"
)

from sklearn.base import clone  # noqa: E402
from sklearn.exceptions import NotFittedError  # noqa: E402
from sklearn.neighbors import KNeighborsClassifier  # noqa: E402

from stochastic_quantization.datasets import load_digits_images  # noqa: E402
from stochastic_quantization.experiment.encoder import (  # noqa: E402
    ConvEmbeddingNet,
    TripletEncoder,
    mine_semi_hard_triplets,
    pairwise_distances,
    semi_hard_triplet_loss,
)


def brute_force_triplets(
    distances: np.ndarray, labels: np.ndarray, margin: float
) -> list[tuple[int, int, int]]:
    """Mine triplets with explicit loops, as the definition reads, for comparison."""
    triplets = []
    n_samples = len(labels)
    for anchor in range(n_samples):
        negatives = [j for j in range(n_samples) if labels[j] != labels[anchor]]
        if not negatives:
            continue
        for positive in range(n_samples):
            if positive == anchor or labels[positive] != labels[anchor]:
                continue
            anchor_positive = distances[anchor, positive]
            semi_hard = [
                j
                for j in negatives
                if anchor_positive < distances[anchor, j] < anchor_positive + margin
            ]
            pool = semi_hard if semi_hard else negatives
            # Closest first, then the lowest index among equal distances.
            negative = min(pool, key=lambda j: (distances[anchor, j], j))
            triplets.append((anchor, positive, negative))
    return triplets


def brute_force_loss(embeddings: np.ndarray, labels: np.ndarray, margin: float) -> float:
    differences = embeddings[:, None, :] - embeddings[None, :, :]
    distances = np.sqrt((differences**2).sum(axis=-1))
    triplets = brute_force_triplets(distances, labels, margin)
    if not triplets:
        return 0.0
    losses = [max(distances[a, p] - distances[a, n] + margin, 0.0) for a, p, n in triplets]
    return float(np.mean(losses))


def as_triplet_list(anchors, positives, negatives) -> list[tuple[int, int, int]]:
    return list(zip(anchors.tolist(), positives.tolist(), negatives.tolist()))


def random_batch(seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Draw float64 embeddings with 1 to 4 classes, some of which may have one member."""
    rng = np.random.default_rng(seed)
    n_samples = int(rng.integers(2, 60))
    n_classes = int(rng.integers(1, 5))
    embeddings = rng.normal(scale=rng.uniform(0.2, 2.0), size=(n_samples, int(rng.integers(1, 5))))
    labels = rng.integers(0, n_classes, size=n_samples)
    return embeddings, labels


@pytest.fixture(scope="module")
def digits():
    return load_digits_images(test_size=0.25, random_state=0)


# --- mining and loss --------------------------------------------------------------------

# Points on a line, so every distance can be checked by hand.
LINE_POSITIONS = [0.0, 0.5, 0.7, 1.2, 3.0]
LINE_LABELS = [0, 0, 1, 1, 1]
# (anchor, positive, negative) with margin 1. Example: for anchor 2 and positive 4,
# d(a, p) = 2.3 and the negatives lie at 0.7 and 0.2, so none is semi-hard and the
# closest one (index 1) is chosen.
LINE_TRIPLETS = [
    (0, 1, 2),
    (1, 0, 3),
    (2, 3, 0),
    (2, 4, 1),
    (3, 2, 1),
    (3, 4, 1),
    (4, 2, 1),
    (4, 3, 1),
]
# Mean of max(d(a, p) - d(a, n) + 1, 0): (5 * 0.8 + 3.1 + 2.1 + 0.3) / 8.
LINE_LOSS = 1.1875


def line_embeddings() -> torch.Tensor:
    return torch.tensor(LINE_POSITIONS, dtype=torch.float64)[:, None]


def test_mining_hand_computed_case():
    embeddings = line_embeddings()
    distances = torch.cdist(embeddings, embeddings)

    triplets = mine_semi_hard_triplets(distances, torch.tensor(LINE_LABELS), margin=1.0)

    assert as_triplet_list(*triplets) == LINE_TRIPLETS


def test_loss_hand_computed_case():
    loss = semi_hard_triplet_loss(line_embeddings(), torch.tensor(LINE_LABELS), margin=1.0)

    assert loss.item() == pytest.approx(LINE_LOSS, rel=1e-9)


def anchor_zero_negative(distances_from_anchor: list[float]) -> int:
    """Mine a 4-sample batch and return the negative chosen for anchor 0 and positive 1.

    Samples 2 and 3 are the negatives. Distances between the other samples are 5, which
    does not affect the triplets of anchor 0.
    """
    distances = torch.full((4, 4), 5.0, dtype=torch.float64)
    distances.fill_diagonal_(0.0)
    distances[0, 1:] = torch.tensor(distances_from_anchor, dtype=torch.float64)
    distances[1:, 0] = distances[0, 1:]

    anchors, positives, negatives = mine_semi_hard_triplets(
        distances, torch.tensor([0, 0, 1, 1]), 1.0
    )

    assert (anchors[0].item(), positives[0].item()) == (0, 1)
    return negatives[0].item()


def test_mining_lower_bound_is_strict():
    # d(a, p) = 1. Negative 2 is exactly as far as the positive, so it is not semi-hard,
    # and negative 3 at 1.5 is.
    assert anchor_zero_negative([1.0, 1.0, 1.5]) == 3


def test_mining_upper_bound_is_strict():
    # d(a, p) = 1. Negative 3 lies exactly at d(a, p) + margin, so it is not semi-hard,
    # and the closest negative (2, at 0.5) is chosen.
    assert anchor_zero_negative([1.0, 0.5, 2.0]) == 2


def test_mining_without_semi_hard_picks_hardest():
    # d(a, p) = 1 and both negatives are closer, so the closest one is chosen.
    assert anchor_zero_negative([1.0, 0.8, 0.3]) == 3


def test_mining_ties_pick_lowest_index():
    # Negatives 2 and 3 are both semi-hard at the same distance from anchor 0.
    distances = torch.tensor(
        [
            [0.0, 1.0, 1.5, 1.5],
            [1.0, 0.0, 1.5, 1.5],
            [1.5, 1.5, 0.0, 1.0],
            [1.5, 1.5, 1.0, 0.0],
        ],
        dtype=torch.float64,
    )

    _, _, negatives = mine_semi_hard_triplets(distances, torch.tensor([0, 0, 1, 1]), 1.0)

    assert negatives.tolist() == [2, 2, 0, 0]


@pytest.mark.parametrize("seed", range(25))
def test_mining_matches_brute_force(seed):
    embeddings, labels = random_batch(seed)
    differences = embeddings[:, None, :] - embeddings[None, :, :]
    distances = np.sqrt((differences**2).sum(axis=-1))

    triplets = mine_semi_hard_triplets(torch.from_numpy(distances), torch.from_numpy(labels), 1.0)

    assert as_triplet_list(*triplets) == brute_force_triplets(distances, labels, 1.0)


@pytest.mark.parametrize("margin", [0.1, 1.0, 5.0])
@pytest.mark.parametrize("seed", range(10))
def test_loss_matches_brute_force(seed, margin):
    embeddings, labels = random_batch(seed)

    loss = semi_hard_triplet_loss(torch.from_numpy(embeddings), torch.from_numpy(labels), margin)

    assert loss.item() == pytest.approx(
        brute_force_loss(embeddings, labels, margin), rel=1e-9, abs=1e-12
    )


def test_loss_gradient_matches_finite_differences():
    rng = np.random.default_rng(5)
    embeddings = torch.tensor(rng.normal(size=(12, 3)), requires_grad=True)
    labels = torch.from_numpy(rng.integers(0, 3, size=12))

    assert torch.autograd.gradcheck(lambda e: semi_hard_triplet_loss(e, labels, 1.0), (embeddings,))


def test_loss_without_triplets_is_zero():
    embeddings = torch.randn(6, 3, generator=torch.Generator().manual_seed(0), requires_grad=True)

    loss = semi_hard_triplet_loss(embeddings, torch.zeros(6, dtype=torch.int64))
    loss.backward()

    assert loss.item() == 0.0
    assert torch.equal(embeddings.grad, torch.zeros_like(embeddings))


def test_loss_coinciding_embeddings_finite():
    embeddings = torch.zeros(8, 3, requires_grad=True)
    labels = torch.tensor([0, 0, 1, 1, 2, 2, 3, 3])

    loss = semi_hard_triplet_loss(embeddings, labels)
    loss.backward()

    assert loss.item() == pytest.approx(1.0)
    assert torch.isfinite(embeddings.grad).all()


def test_pairwise_distances_match_cdist():
    embeddings = torch.randn(30, 4, generator=torch.Generator().manual_seed(1), dtype=torch.float64)

    distances = pairwise_distances(embeddings)

    expected = torch.cdist(embeddings, embeddings).clamp_min(1e-6)
    torch.testing.assert_close(distances, expected, rtol=1e-9, atol=1e-9)


# --- network ----------------------------------------------------------------------------


@pytest.mark.parametrize("image_shape", [(8, 8), (28, 28), (7, 9), (4, 4)])
def test_network_output_shape(image_shape):
    network = ConvEmbeddingNet(image_shape, n_components=3)

    embeddings = network(torch.zeros(5, 1, *image_shape))

    assert embeddings.shape == (5, 3)


def test_network_rejects_tiny_images():
    with pytest.raises(ValueError, match=r"at least 4x4 pixels.*got 3x8"):
        ConvEmbeddingNet((3, 8), n_components=3)


# --- TripletEncoder ---------------------------------------------------------------------


def test_encoder_separates_digit_classes(digits):
    # One thread keeps the run fast when other jobs share the CPU, and makes the result
    # independent of the machine's core count.
    train_images, train_labels = digits.train_images[:600], digits.train_labels[:600]
    encoder = TripletEncoder(epochs=10, batch_size=300, random_state=0, n_threads=1)

    train_embedding = encoder.fit(train_images, train_labels).transform(train_images)
    test_embedding = encoder.transform(digits.test_images)

    classifier = KNeighborsClassifier(n_neighbors=5).fit(train_embedding, train_labels)
    accuracy = classifier.score(test_embedding, digits.test_labels)
    # Chance is 0.1 for ten balanced classes. This configuration measured 0.93.
    assert accuracy > 0.7
    assert encoder.loss_history_[-1] < encoder.loss_history_[0]


def test_encoder_output_shape_and_dtype(digits):
    encoder = TripletEncoder(n_components=2, epochs=1, random_state=0)

    embedding = encoder.fit(digits.train_images[:100], digits.train_labels[:100]).transform(
        digits.test_images[:7]
    )

    assert embedding.shape == (7, 2)
    assert embedding.dtype == np.float32
    assert encoder.image_shape_ == (8, 8)
    assert encoder.loss_history_.shape == (1,)
    np.testing.assert_array_equal(encoder.classes_, np.unique(digits.train_labels[:100]))


def test_transform_batch_size_invariant(digits):
    encoder = TripletEncoder(epochs=1, batch_size=1000, random_state=0)
    encoder.fit(digits.train_images[:100], digits.train_labels[:100])
    single_batch = encoder.transform(digits.test_images)

    encoder.set_params(batch_size=64)
    np.testing.assert_allclose(
        encoder.transform(digits.test_images), single_batch, rtol=1e-5, atol=1e-6
    )


def test_encoder_same_seed_same_embedding(digits):
    images, labels = digits.train_images[:200], digits.train_labels[:200]

    first = TripletEncoder(epochs=2, batch_size=100, random_state=3).fit(images, labels)
    second = TripletEncoder(epochs=2, batch_size=100, random_state=3).fit(images, labels)

    np.testing.assert_array_equal(first.transform(images), second.transform(images))
    np.testing.assert_array_equal(first.loss_history_, second.loss_history_)


def test_encoder_different_seed_differs(digits):
    images, labels = digits.train_images[:200], digits.train_labels[:200]

    first = TripletEncoder(epochs=1, random_state=3).fit(images, labels)
    second = TripletEncoder(epochs=1, random_state=4).fit(images, labels)

    assert not np.array_equal(first.transform(images), second.transform(images))


def test_encoder_restores_torch_global_state(digits):
    threads_before = torch.get_num_threads()
    rng_before = torch.get_rng_state()

    encoder = TripletEncoder(epochs=1, n_threads=1, random_state=0)
    encoder.fit(digits.train_images[:100], digits.train_labels[:100])
    encoder.transform(digits.test_images[:10])

    assert torch.get_num_threads() == threads_before
    assert torch.equal(torch.get_rng_state(), rng_before)


def test_encoder_verbose_logs_each_epoch(digits, caplog):
    encoder = TripletEncoder(epochs=2, verbose=1, n_threads=1, random_state=0)

    with caplog.at_level(logging.INFO, logger="stochastic_quantization.experiment.encoder"):
        encoder.fit(digits.train_images[:100], digits.train_labels[:100])

    messages = [record.getMessage() for record in caplog.records]
    assert len(messages) == 2
    assert messages[0].startswith("epoch 1/2: mean triplet loss ")


def test_encoder_pickle_round_trip(digits):
    encoder = TripletEncoder(epochs=1, n_threads=1, random_state=0)
    encoder.fit(digits.train_images[:100], digits.train_labels[:100])

    restored = pickle.loads(pickle.dumps(encoder))

    np.testing.assert_array_equal(
        restored.transform(digits.test_images), encoder.transform(digits.test_images)
    )


def test_encoder_clone_keeps_parameters():
    encoder = TripletEncoder(n_components=5, epochs=4, margin=0.5, random_state=1)

    cloned = clone(encoder)

    assert cloned.get_params() == encoder.get_params()


def test_encoder_transform_before_fit(digits):
    with pytest.raises(NotFittedError):
        TripletEncoder().transform(digits.test_images)


def test_encoder_transform_wrong_image_size(digits):
    encoder = TripletEncoder(epochs=1, random_state=0).fit(
        digits.train_images[:50], digits.train_labels[:50]
    )

    with pytest.raises(ValueError, match=r"images have size \(10, 10\).*fitted on \(8, 8\)"):
        encoder.transform(np.zeros((2, 10, 10), dtype=np.float32))


INVALID_PARAMETERS = [
    ({"n_components": 0}, r"n_components must be a positive integer, got 0"),
    ({"epochs": 1.5}, r"epochs must be a positive integer, got 1.5"),
    ({"hidden_width": -1}, r"hidden_width must be a positive integer"),
    ({"batch_size": 1}, r"batch_size must be an integer of at least 2"),
    ({"learning_rate": 0.0}, r"learning_rate must be positive, got 0.0"),
    ({"margin": float("nan")}, r"margin must be positive, got nan"),
    ({"weight_decay": -1e-3}, r"weight_decay must be non-negative"),
    ({"n_threads": 0}, r"n_threads must be None or a positive integer, got 0"),
    ({"n_threads": 1.5}, r"n_threads must be None or a positive integer, got 1.5"),
]


@pytest.mark.parametrize(
    "parameters, message", INVALID_PARAMETERS, ids=[str(p) for p, _ in INVALID_PARAMETERS]
)
def test_encoder_invalid_parameters(digits, parameters, message):
    encoder = TripletEncoder(**parameters)

    with pytest.raises(ValueError, match=message):
        encoder.fit(digits.train_images[:20], digits.train_labels[:20])


INVALID_INPUTS = [
    (np.zeros((10, 64)), np.arange(10) % 2, r"images must have shape \(n_samples, height, width\)"),
    (np.zeros((10, 8, 8)), np.arange(9) % 2, r"labels must have shape \(10,\)"),
    (np.zeros((10, 8, 8)), np.zeros(10, dtype=int), r"at least two classes"),
    (np.zeros((10, 8, 8)), np.linspace(0, 1, 10), r"labels must be integers"),
    (np.full((10, 8, 8), np.nan), np.arange(10) % 2, r"NaN or infinite"),
    (np.zeros((0, 8, 8)), np.zeros(0, dtype=int), r"at least one sample"),
]


@pytest.mark.parametrize(
    "images, labels, message",
    INVALID_INPUTS,
    ids=["flat images", "label count", "one class", "float labels", "nan pixels", "empty"],
)
def test_encoder_invalid_inputs(images, labels, message):
    with pytest.raises(ValueError, match=message):
        TripletEncoder(epochs=1).fit(images, labels)
