"""resnet_lib.reports against scikit-learn and resnet_lib.metrics.evaluate."""
from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F
from matplotlib.figure import Figure
from sklearn.metrics import classification_report, top_k_accuracy_score

from resnet_lib import limits
from resnet_lib.data import load_data
from resnet_lib.metrics import evaluate
from resnet_lib.reports import (classification_table, confusion_figure, evaluate_logits, gallery_figure,
                                misclassified, most_confused, predict, top_k_accuracy)

pytestmark = pytest.mark.timeout(120)


@pytest.fixture(scope="module")
def digits():
    return load_data("digits", val_size=0)


@pytest.fixture(scope="module")
def model(digits):
    """A linear classifier after a few full-batch steps: imperfect in every class."""
    torch.manual_seed(0)
    net = nn.Sequential(nn.Flatten(), nn.Linear(64, 10))
    opt = torch.optim.SGD(net.parameters(), lr=0.5)
    x, y = next(iter(digits.loader("train", len(digits.y_train), shuffle=False)))
    for _ in range(3):
        opt.zero_grad()
        F.cross_entropy(net(x), y).backward()
        opt.step()
    return net


@pytest.fixture(scope="module")
def preds(model, digits):
    return predict(model, digits, "test", batch_size=64)


def test_predict_keeps_the_logits_in_order(model, digits, preds):
    x, y = digits.split("test")
    with torch.no_grad():
        direct = model(((x.float() / 255) - digits.mean[0]) / digits.std[0])
    torch.testing.assert_close(preds.logits, direct, rtol=1e-5, atol=1e-5)
    assert torch.equal(preds.labels, y) and preds.logits.dtype == torch.float32
    with limits.limited(limits.RunLimits(eval_batches=2)):      # a smoke run reads two batches only
        assert len(predict(model, digits, "test", batch_size=64).labels) == 128


def test_evaluate_logits_equals_evaluate(model, digits, preds):
    a, b = evaluate(model, digits, batch_size=64), evaluate_logits(preds.logits, preds.labels)
    assert 0.3 < a.accuracy < 0.99
    assert a.accuracy == pytest.approx(b.accuracy, abs=1e-7) and a.top5 == pytest.approx(b.top5, abs=1e-7)
    np.testing.assert_allclose(a.f1, b.f1, atol=1e-7)
    assert torch.equal(a.confusion, b.confusion) and a.loss == pytest.approx(b.loss, rel=1e-5)
    with limits.limited(limits.RunLimits(eval_batches=1)):     # stored logits are never cut by smoke limits
        assert evaluate_logits(preds.logits, preds.labels).n == len(preds.labels)


def test_classification_table_equals_scikit_learn(preds):
    table = classification_table(preds.evaluate(), [str(i) for i in range(10)])
    ref = classification_report(preds.labels.numpy(), preds.predicted.numpy(), labels=range(10),
                                target_names=[str(i) for i in range(10)], output_dict=True, zero_division=0)
    assert list(table.index) == [str(i) for i in range(10)] + ["macro avg", "weighted avg"]
    for row in table.index:
        for col in ("precision", "recall", "f1-score", "support"):
            assert table.loc[row, col] == pytest.approx(ref[row][col], abs=1e-6), (row, col)
    assert table.loc["weighted avg", "f1-score"] != pytest.approx(table.loc["macro avg", "f1-score"], abs=1e-4)


def test_top_k_equals_scikit_learn(preds):
    got = top_k_accuracy(preds.logits, preds.labels, ks=(1, 2, 5))
    for k, v in got.items():
        assert v == pytest.approx(top_k_accuracy_score(preds.labels.numpy(), preds.logits.numpy(), k=k,
                                                       labels=range(10)), abs=1e-6)
    assert got[1] < got[2] < got[5]


def test_most_confused_and_misclassified(preds):
    res = preds.evaluate()
    c = res.confusion.numpy().copy()
    np.fill_diagonal(c, -1)
    top = most_confused(res.confusion, [f"c{i}" for i in range(10)], k=3)
    assert top[0] == (f"c{c.argmax() // 10}", f"c{c.argmax() % 10}", int(c.max()))
    assert [n for _, _, n in top] == sorted(np.sort(c.ravel())[-3:].tolist(), reverse=True)
    idx = misclassified(preds)
    assert len(idx) == int((preds.predicted != preds.labels).sum())
    assert (preds.predicted[idx] != preds.labels[idx]).all() and (preds.confidence[idx].diff() <= 0).all()
    t, p = int(top[0][0][1:]), int(top[0][1][1:])
    pair = misclassified(preds, pairs=[(t, p)])
    assert len(pair) == top[0][2] and (preds.labels[pair] == t).all() and (preds.predicted[pair] == p).all()


def test_figures(digits, preds):
    classes = [str(i) for i in range(10)]
    fig = confusion_figure(preds.evaluate().confusion, classes, title="t")
    assert isinstance(fig, Figure) and fig.axes[0].get_xlabel() == "predicted class"
    fig = gallery_figure(digits.x_test, preds, classes, misclassified(preds)[:5], ncols=5)
    assert isinstance(fig, Figure) and "→" in fig.axes[0].get_title()


def test_one_line_errors(preds):
    with pytest.raises(ValueError, match="classes must name the 10 classes, got 3 names"):
        classification_table(preds.evaluate(), ["a", "b", "c"])
    with pytest.raises(ValueError, match=r"ks must be ints in 1\.\.10"):
        top_k_accuracy(preds.logits, preds.labels, ks=(11,))
    with pytest.raises(ValueError, match=r"labels must be class indices in 0\.\.9"):
        evaluate_logits(preds.logits, preds.labels + 10)
    with pytest.raises(ValueError, match=r"pairs must be \(true, predicted\) class indices in 0\.\.9"):
        misclassified(preds, pairs=[(0, 12)])
    with pytest.raises(ValueError, match="normalize must be 'true' or None"):
        confusion_figure(preds.evaluate().confusion, [str(i) for i in range(10)], normalize="all")
