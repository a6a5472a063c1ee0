"""resnet_lib.metrics.evaluate against scikit-learn on a tiny model's predictions."""
from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F
from sklearn.metrics import confusion_matrix, precision_recall_fscore_support, top_k_accuracy_score

from resnet_lib.data import load_data
from resnet_lib.metrics import EvalResult, evaluate

pytestmark = pytest.mark.timeout(120)


@pytest.fixture(scope="module")
def digits():
    return load_data("digits", val_size=0)


@pytest.fixture(scope="module")
def model(digits):
    """A linear classifier trained for a few full-batch steps: good enough to be imperfect in every way."""
    torch.manual_seed(0)
    net = nn.Sequential(nn.Flatten(), nn.Linear(64, 10))
    opt = torch.optim.SGD(net.parameters(), lr=0.5)
    x, y = next(iter(digits.loader("train", len(digits.y_train), shuffle=False)))
    for _ in range(4):
        opt.zero_grad()
        F.cross_entropy(net(x), y).backward()
        opt.step()
    net.zero_grad(set_to_none=True)
    return net


def reference(model, digits):
    """Logits and labels of the test split, computed directly, and scikit-learn's metrics of them."""
    x, y = next(iter(digits.loader("test", 10_000)))
    with torch.no_grad():
        logits = model(x)
    pred, yt = logits.argmax(1).numpy(), y.numpy()
    p, r, f, _ = precision_recall_fscore_support(yt, pred, labels=range(10), zero_division=0)
    return logits, y, pred, yt, p, r, f


def test_matches_scikit_learn(model, digits):
    res = evaluate(model, digits, batch_size=64)  # several batches: accumulation across batches
    logits, y, pred, yt, p, r, f = reference(model, digits)
    assert isinstance(res, EvalResult) and res.n == len(yt) == 359
    assert 0.3 < res.accuracy < 0.99  # the model is neither useless nor perfect, so the check has teeth
    assert res.accuracy == pytest.approx((pred == yt).mean(), abs=1e-6)
    assert res.top5 == pytest.approx(top_k_accuracy_score(yt, logits.numpy(), k=5, labels=range(10)), abs=1e-6)
    np.testing.assert_allclose(res.precision, p, atol=1e-6)
    np.testing.assert_allclose(res.recall, r, atol=1e-6)
    np.testing.assert_allclose(res.f1, f, atol=1e-6)
    assert res.macro_f1 == pytest.approx(f.mean(), abs=1e-6)
    assert res.confusion.dtype == torch.int64 and res.confusion.shape == (10, 10)
    np.testing.assert_array_equal(res.confusion.numpy(), confusion_matrix(yt, pred, labels=range(10)))
    assert res.loss == pytest.approx(F.cross_entropy(logits, y).item(), rel=1e-5)
    assert res.error == pytest.approx(1 - res.accuracy)
    d = res.to_dict()
    assert d["confusion"][0] == res.confusion[0].tolist() and "accuracy" in str(res)


def test_any_loader_and_inferred_num_classes(model, digits):
    by_bundle = evaluate(model, digits)
    by_loader = evaluate(model, digits.dataloader("test", 50, augment=False))  # a torch DataLoader
    assert by_loader.accuracy == by_bundle.accuracy and torch.equal(by_loader.confusion, by_bundle.confusion)
    assert by_loader.loss == pytest.approx(by_bundle.loss, rel=1e-6)


class Always(nn.Module):
    """Predicts class 0 for every image: classes never predicted have no precision (0 by convention)."""

    def forward(self, x):
        return F.one_hot(torch.zeros(len(x), dtype=torch.long), 10).float()


def test_never_predicted_classes_follow_zero_division_0(digits):
    res = evaluate(Always(), digits)
    yt = digits.y_test.numpy()
    p, r, f, _ = precision_recall_fscore_support(yt, np.zeros_like(yt), labels=range(10), zero_division=0)
    np.testing.assert_allclose(res.precision, p, atol=1e-6)
    np.testing.assert_allclose(res.recall, r, atol=1e-6)
    np.testing.assert_allclose(res.f1, f, atol=1e-6)
    assert res.precision[1:] == [0.0] * 9 and res.recall[0] == 1.0


def test_modes_restored_and_no_autograd(digits):
    net = nn.Sequential(nn.Flatten(), nn.Linear(64, 16), nn.Dropout(0.5), nn.Linear(16, 3))
    net.train()
    net[2].eval()  # a mixed state must come back as it was, module by module
    before = [m.training for m in net.modules()]
    seen = {}
    net.register_forward_hook(lambda m, i, o: seen.update(training=m.training, grad=torch.is_grad_enabled()))
    x = torch.randint(0, 3, (30,))
    loader = [(torch.randn(30, 1, 8, 8), x)]
    res = evaluate(net, loader)
    assert seen == {"training": False, "grad": False}
    assert [m.training for m in net.modules()] == before
    assert res.top5 is None and len(res.f1) == 3  # K inferred from the logits; top-5 meaningless for K <= 5


def test_bad_input(model, digits):
    with pytest.raises(ValueError, match="needs a DataBundle or an iterable"):
        evaluate(model, 42)
    with pytest.raises(ValueError, match="nothing to evaluate"):
        evaluate(model, [])
    with pytest.raises(ValueError, match="outputs 10 logits but num_classes=12"):
        evaluate(model, digits, num_classes=12)
    with pytest.raises(ValueError, match="num_classes must be an int >= 2"):
        evaluate(model, digits, num_classes=1)
    with pytest.raises(ValueError, match="the 'val' split of 'digits' is empty"):
        evaluate(model, digits, split="val")


def test_flip_tta_averages_the_probabilities_of_image_and_mirror(model, digits):
    x, y = next(iter(digits.loader("test", 10_000)))
    with torch.no_grad():
        p = (model(x).softmax(1) + model(x.flip(-1)).softmax(1)) / 2           # computed directly: [N, 10]
    res = evaluate(model, digits, batch_size=64, tta="flip")
    assert res.accuracy == pytest.approx((p.argmax(1) == y).float().mean().item(), abs=1e-6)
    assert res.loss == pytest.approx(F.nll_loss(p.log(), y).item(), rel=1e-5)
    assert res.accuracy != evaluate(model, digits, batch_size=64).accuracy     # digits are not symmetric
    with pytest.raises(ValueError, match="tta must be None or 'flip'"):
        evaluate(model, digits, tta="crop")
