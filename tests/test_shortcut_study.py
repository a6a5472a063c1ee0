"""resnet_lib.shortcut_study: the shortcut forms of He et al. (2016b), their stack, and the training loop."""
from __future__ import annotations

import pytest
import torch

from resnet_lib import limits
from resnet_lib.models import PreActBasicBlock
from resnet_lib.shortcut_study import FORMS, ShortcutFormUnit, shortcut_stack, train_forms

pytestmark = pytest.mark.usefixtures("single_thread")


def test_identity_form_is_the_library_preactivation_block():
    torch.manual_seed(0)
    unit, block = ShortcutFormUnit(8, "identity").eval(), PreActBasicBlock(8, 8).eval()
    block.load_state_dict(unit.state_dict(), strict=True)  # same names: bn1, conv1, bn2, conv2
    x = torch.randn(2, 8, 6, 6)
    torch.testing.assert_close(unit(x), block(x))


@pytest.mark.parametrize("form", FORMS)
def test_forms_keep_the_shape_and_differ_only_in_the_shortcut(form):
    torch.manual_seed(0)
    unit = ShortcutFormUnit(8, form).eval()
    x = torch.randn(2, 8, 6, 6)
    assert unit(x).shape == x.shape
    with torch.no_grad():  # with F zeroed the unit is its shortcut: h(x)
        unit.conv2.weight.zero_()
        h = unit(x)
    expected = {"identity": x, "scale": 0.5 * x, "dropout": x}.get(form)  # dropout is the identity in eval mode
    if form == "gate":
        expected = (1 - torch.sigmoid(unit.gate(x))) * x
    if form == "conv":
        expected = unit.proj(x)
    torch.testing.assert_close(h, expected)


def test_bad_form_and_units():
    with pytest.raises(ValueError, match="form must be one of"):
        ShortcutFormUnit(8, "highway")
    with pytest.raises(ValueError, match="units must be a positive int"):
        shortcut_stack("identity", 0, 8)


def test_train_forms_returns_one_record_per_run_and_obeys_smoke_limits():
    x, y = torch.randn(32, 1, 8, 8), torch.randint(0, 10, (32,))
    with limits.limited(limits.RunLimits(train_steps=3)):
        runs = train_forms(x, y, forms=("identity", "dropout"), seeds=(0, 1), units=2, channels=4, steps=50,
                           batch_size=8)
    assert [(r["form"], r["seed"]) for r in runs] == [("identity", 0), ("identity", 1), ("dropout", 0), ("dropout", 1)]
    assert all(len(r["loss"]) == 3 and 0 <= r["train_acc"] <= 1 and r["final_loss"] > 0 for r in runs)
