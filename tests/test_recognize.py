"""The inference path: the folded and int8 models compute what the trained DigitMLP computes."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from recognizer.checkpoint import CheckpointError
from recognizer.inference import FoldedMLP, Int8MLP, inference_model
from recognizer.model import IMAGE_SIDE, NUM_CLASSES
from recognizer.recognize import Recognizer, use_pipeline_threads
from random_models import random_mlp

# The int8 model may cost at most this much MNIST test accuracy (percentage points).
MAX_INT8_ACCURACY_LOSS_PP = 0.03
# ... and may change the predicted label of at most this share of the test digits.
MAX_INT8_LABEL_CHANGES = 0.001
DIGITS_PER_FRAME = 10


def pixels(count: int, seed: int = 1) -> torch.Tensor:
    return torch.rand(count, IMAGE_SIDE, IMAGE_SIDE, generator=torch.Generator().manual_seed(seed))


@pytest.fixture(scope="module")
def shipped() -> Recognizer:
    use_pipeline_threads()
    try:
        return Recognizer.load()
    except CheckpointError as error:
        pytest.skip(f"no usable shipped model: {error}")


@pytest.mark.parametrize("hidden", [(96, 64), (32,), (48, 40, 24)])
def test_folding_gives_the_eval_mode_logits(hidden):
    model = random_mlp(hidden)
    batch = pixels(300)
    with torch.no_grad():
        expected = model(batch)
    folded = FoldedMLP(model.folded_layers())(batch)
    assert torch.allclose(folded, expected, rtol=1e-4, atol=1e-4)
    assert torch.equal(folded.argmax(1), expected.argmax(1))


def test_folding_leaves_the_trained_model_alone():
    model = random_mlp((32,))
    before = {name: tensor.clone() for name, tensor in model.state_dict().items()}
    inference_model(model)
    assert not model.training
    for name, tensor in model.state_dict().items():
        assert torch.equal(tensor, before[name]), name


def test_int8_model_stays_close_to_float():
    model = random_mlp((96, 64))
    batch = pixels(500)
    with torch.no_grad():
        expected = torch.softmax(model(batch), 1)
    quantized = torch.softmax(Int8MLP(model.folded_layers())(batch), 1)
    assert (quantized - expected).abs().max() < 0.05
    assert (quantized.argmax(1) == expected.argmax(1)).float().mean() >= 0.98


def test_models_take_images_or_flat_rows():
    model = random_mlp((32,))
    batch = pixels(7)
    for module in (inference_model(model, quantize=True), inference_model(model, quantize=False)):
        logits = module(batch)
        assert logits.shape == (7, NUM_CLASSES) and logits.dtype == torch.float32
        assert torch.equal(module(batch.reshape(7, -1)), logits)


def test_recognizer_runs_a_digit_mlp_fast_and_keeps_it():
    model = random_mlp((32,))
    assert isinstance(Recognizer(model).model, Int8MLP)
    unquantized = Recognizer(model, quantize=False)
    assert isinstance(unquantized.model, FoldedMLP) and unquantized.network is model
    batch = (pixels(20).numpy() * 255).astype(np.uint8)
    probabilities = unquantized.classify(batch)
    with torch.no_grad():
        expected = torch.softmax(model(torch.from_numpy(batch).float() / 255), 1).numpy()
    assert probabilities.shape == (20, NUM_CLASSES) and probabilities.dtype == np.float32
    np.testing.assert_allclose(probabilities, expected, rtol=1e-4, atol=1e-5)
    assert unquantized.classify(np.zeros((0, IMAGE_SIDE, IMAGE_SIDE), np.uint8)).shape == (0, NUM_CLASSES)


def test_any_other_module_is_run_as_given():
    other = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(IMAGE_SIDE * IMAGE_SIDE, NUM_CLASSES))
    recognizer = Recognizer(other)
    assert recognizer.model is other and recognizer.network is other


def test_int8_keeps_the_shipped_models_mnist_accuracy(shipped, mnist_test):
    images, labels = (torch.from_numpy(array) for array in mnist_test)
    with torch.inference_mode():
        exact = shipped.network(images.float() / 255).argmax(1)
    # Activations are quantised per batch, so classify in batches the size of a frame's digits.
    chunks = mnist_test[0].reshape(-1, DIGITS_PER_FRAME, IMAGE_SIDE, IMAGE_SIDE)
    quantized = torch.from_numpy(np.concatenate([shipped.classify(chunk) for chunk in chunks]).argmax(1))
    exact_pp = 100 * float((exact == labels).float().mean())
    quantized_pp = 100 * float((quantized == labels).float().mean())
    assert quantized_pp >= exact_pp - MAX_INT8_ACCURACY_LOSS_PP
    assert float((quantized != exact).float().mean()) <= MAX_INT8_LABEL_CHANGES


@pytest.mark.parametrize("image", [np.full((40, 40), 0.5), np.full((40, 40, 3), 300, np.uint16),
                                   np.zeros((40, 40), bool), np.zeros((0, 0), np.uint8)],
                         ids=["float", "uint16", "bool", "empty"])
def test_recognize_rejects_what_is_not_an_8_bit_image(image):
    recognizer = Recognizer(random_mlp((16,)))
    with pytest.raises(ValueError, match="uint8|empty"):
        recognizer.recognize(image)


def test_classify_rejects_pixels_it_would_have_to_cast():
    recognizer = Recognizer(random_mlp((16,)))
    with pytest.raises(ValueError, match="uint8"):
        recognizer.classify(np.full((2, IMAGE_SIDE, IMAGE_SIDE), 0.9, np.float32))
