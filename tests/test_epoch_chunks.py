"""Epoch orders generated chunk by chunk for large n: coverage, blocks and batch boundaries."""

from __future__ import annotations

import numpy as np
import pytest

from stochastic_quantization import StochasticQuantization, _memmap, _state


@pytest.fixture
def small_chunks(monkeypatch):
    """Shrink the thresholds so a few hundred samples take the chunked path."""
    monkeypatch.setattr(_state, "ORDER_CHUNK", 64)
    monkeypatch.setattr(_state, "ORDER_BLOCK", 16)


def test_permutation_chunks_cover_once(small_chunks):
    rng = np.random.default_rng(0)
    chunks = list(_state.epoch_chunks("permutation", rng, 1000, None))
    assert len(chunks) > 1
    assert all(chunk.dtype == np.int64 for chunk in chunks)
    order = np.concatenate(chunks)
    np.testing.assert_array_equal(np.sort(order), np.arange(1000))


def test_permutation_chunks_visit_whole_blocks(small_chunks):
    rng = np.random.default_rng(1)
    order = np.concatenate(list(_state.epoch_chunks("permutation", rng, 1000, None)))
    blocks = order // 16
    # Each block's rows come together: the block index changes once per block.
    assert np.count_nonzero(np.diff(blocks)) == -(-1000 // 16) - 1
    assert not np.all(np.diff(blocks) >= 0)  # the blocks are shuffled


def test_replacement_and_sequential_chunks(small_chunks):
    rng = np.random.default_rng(2)
    drawn = np.concatenate(list(_state.epoch_chunks("replacement", rng, 300, None)))
    assert drawn.shape == (300,)
    assert drawn.min() >= 0
    assert drawn.max() < 300
    sequential = np.concatenate(list(_state.epoch_chunks("sequential", rng, 300, None)))
    np.testing.assert_array_equal(sequential, np.arange(300))


def test_chunks_drop_zero_weights(small_chunks):
    rng = np.random.default_rng(3)
    weights = np.ones(500)
    weights[::3] = 0.0
    order = np.concatenate(list(_state.epoch_chunks("permutation", rng, 500, weights)))
    np.testing.assert_array_equal(np.sort(order), np.flatnonzero(weights > 0))


def test_small_epochs_keep_one_chunk():
    rng = np.random.default_rng(4)
    chunks = list(_state.epoch_chunks("permutation", rng, 1000, None))
    assert len(chunks) == 1
    expected = np.random.default_rng(4).permutation(1000)
    np.testing.assert_array_equal(chunks[0], expected)


@pytest.mark.parametrize("batch_size", [1, 7])
def test_chunked_fit_matches_one_piece(monkeypatch, batch_size):
    # The same epoch order run in chunks and in one piece gives the same centres: the chunk
    # boundaries never split a batch.
    X = np.random.default_rng(5).standard_normal((700, 3))
    params = dict(n_clusters=4, max_iter=2, tol=None, batch_size=batch_size, random_state=0)
    monkeypatch.setattr(_state, "ORDER_CHUNK", 50)
    monkeypatch.setattr(_state, "ORDER_BLOCK", 16)
    chunked = StochasticQuantization(**params).fit(X)

    pieces = _state.epoch_chunks

    def one_piece(sampling, rng, n_samples, weights):
        yield np.concatenate(list(pieces(sampling, rng, n_samples, weights)))

    monkeypatch.setattr(_state, "epoch_chunks", one_piece)
    whole = StochasticQuantization(**params).fit(X)
    np.testing.assert_array_equal(chunked.cluster_centers_, whole.cluster_centers_)
    assert chunked.n_steps_ == whole.n_steps_


def test_chunked_loss_same_for_memmap_and_array(tmp_path, monkeypatch):
    monkeypatch.setattr(_state, "ORDER_CHUNK", 300)
    X = np.random.default_rng(3).normal(size=(1000, 4)).astype(np.float32)
    path = tmp_path / "samples.npy"
    np.save(path, X)
    mapped = np.load(path, mmap_mode="r")
    settings = dict(random_state=0, max_iter=3, tol=None)
    from_array = StochasticQuantization(5, **settings).fit(X)
    from_file = StochasticQuantization(5, **settings).fit(mapped)
    np.testing.assert_array_equal(from_file.cluster_centers_, from_array.cluster_centers_)
    np.testing.assert_array_equal(from_file.loss_history_, from_array.loss_history_)
    assert from_file.inertia_ == from_array.inertia_


def test_release_pages_keeps_copy_on_write_edits(tmp_path):
    path = tmp_path / "samples.npy"
    np.save(path, np.zeros((4096, 4)))
    writable = np.load(path, mmap_mode="c")
    writable[10, 2] = 7.0
    _memmap.release_mapped_pages(writable)
    assert writable[10, 2] == 7.0


def test_release_pages_of_read_only_memmap_keeps_values(tmp_path):
    X = np.random.default_rng(4).normal(size=(4096, 4))
    path = tmp_path / "samples.npy"
    np.save(path, X)
    mapped = np.load(path, mmap_mode="r")
    assert mapped[100, 1] == X[100, 1]
    _memmap.release_mapped_pages(np.asarray(mapped))
    np.testing.assert_array_equal(mapped, X)


def test_chunked_finite_check_names_row(monkeypatch):
    monkeypatch.setattr(_memmap, "CHUNK_BYTES", 64 * 8 * 4)
    X = np.zeros((1000, 4))
    X[777, 3] = np.inf
    with pytest.raises(ValueError, match="got inf at row 777, column 3"):
        StochasticQuantization(2).fit(X)


def test_chunked_range_check(monkeypatch):
    monkeypatch.setattr(_memmap, "CHUNK_BYTES", 64 * 4 * 4)
    X = np.zeros((1000, 4), dtype=np.float32)
    X[900, 0] = -3e30
    with pytest.raises(ValueError, match="X has values up to 3e\\+30 in magnitude"):
        StochasticQuantization(2).fit(X)


def test_take_rows_chunked_equals_fancy_index(monkeypatch, tmp_path):
    monkeypatch.setattr(_memmap, "CHUNK_BYTES", 100 * 8 * 3)
    X = np.random.default_rng(5).normal(size=(1000, 3))
    path = tmp_path / "samples.npy"
    np.save(path, X)
    mapped = np.load(path, mmap_mode="r")
    rows = np.array([0, 5, 99, 100, 101, 500, 998, 999])
    taken = _memmap.take_rows(mapped, rows)
    np.testing.assert_array_equal(taken, X[rows])
    assert taken.flags.c_contiguous
