"""stats: spreads against numpy, Welch's test against its formula, the book's 'beyond the seed spread' rule."""
from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats as sps

from resnet_lib.stats import compare, over_seeds, spread


def test_spread_matches_numpy_and_formats():
    v = [22.1, 22.9, 22.3]
    s = spread(v)
    assert s.mean == pytest.approx(np.mean(v)) and s.sd == pytest.approx(np.std(v, ddof=1))
    assert (s.min, s.max, s.n) == (22.1, 22.9, 3)
    assert str(s) == f"{np.mean(v):.2f} ± {np.std(v, ddof=1):.2f} (n=3)"
    assert spread([0.2244]).format(scale=100) == "22.44 ± n/a (n=1)"


def test_welch_p_value_is_the_formula_and_the_rule_needs_both_tests():
    a, b = [22.0, 22.5, 22.8], [23.5, 23.9, 24.4]
    c = compare(a, b)
    va, vb = np.var(a, ddof=1) / 3, np.var(b, ddof=1) / 3
    t = (np.mean(b) - np.mean(a)) / math.sqrt(va + vb)
    df = (va + vb) ** 2 / (va**2 / 2 + vb**2 / 2)                     # Welch-Satterthwaite
    assert c.p_welch == pytest.approx(2 * sps.t.sf(abs(t), df), rel=1e-9)
    assert c.difference == pytest.approx(np.mean(b) - np.mean(a))
    assert c.ranges_apart and c.p_welch < 0.05 and c.beyond_noise
    overlap = compare(a, [22.7, 23.9, 24.4])                            # one run inside the baseline's range
    assert not overlap.ranges_apart and not overlap.beyond_noise
    wide = compare([1.0, 5.0, 9.0], [9.5, 30.0, 60.0])                  # apart, but noise too large
    assert wide.ranges_apart and wide.p_welch > 0.05 and not wide.beyond_noise


def test_bad_input_is_a_one_line_error():
    with pytest.raises(ValueError, match="at least 2 seeds on each side"):
        compare([1.0], [2.0, 3.0])
    with pytest.raises(ValueError, match="all finite"):
        spread([1.0, math.nan])
    with pytest.raises(ValueError, match="alpha must be in"):
        compare([1.0, 2.0], [2.0, 3.0], alpha=5)
    with pytest.raises(ValueError, match="seeds must be distinct ints"):
        over_seeds(lambda s: s, [0, 0])
    assert over_seeds(lambda s: s * 10, [2, 1]) == {2: 20, 1: 10}
