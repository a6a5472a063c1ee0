"""Knowledge distillation (Hinton et al., 2015): a student trained on a teacher's softened outputs.

The loss mixes two terms: the Kullback-Leibler divergence between the teacher's and the student's class
distributions, both softened by a temperature :math:`T` (``softmax(logits / T)``) and multiplied by :math:`T^2` so
that its gradients keep their size as :math:`T` changes (the paper's §2), and the ordinary cross-entropy with the
hard labels. It plugs into :func:`~resnet_lib.train.fit` as ``loss_fn``, which calls it with the student's logits,
the labels and the batch the logits were computed from, so the teacher sees exactly the student's (augmented)
images::

    teacher = rl.resnet56(in_channels=1)   # trained
    rl.fit(student, data, config, loss_fn=rl.compress.DistillationLoss(teacher, temperature=4, alpha=0.5))
"""
from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F


class DistillationLoss:
    """``alpha * CE(student, labels) + (1 - alpha) * T² * KL(softmax(teacher / T) || softmax(student / T))``.

    The teacher is put in evaluation mode (its BatchNorm uses its running statistics) and runs under
    ``torch.no_grad()``: it is never trained, and no gradient flows into it.

    Args:
        teacher: a trained classifier with the student's number of classes; it is moved to the batch's device on
            first use.
        temperature: :math:`T > 0`; 1 compares the plain distributions, larger values soften them (Hinton et al.
            used 1–20; 4 is a common choice for CIFAR-sized networks).
        alpha: the weight of the hard-label cross-entropy, in ``[0, 1]`` (0 = the teacher's soft targets alone).
    """

    def __init__(self, teacher: nn.Module, temperature: float = 4.0, alpha: float = 0.5) -> None:
        if not isinstance(teacher, nn.Module):
            raise ValueError(f"teacher must be an nn.Module, got {type(teacher).__name__}")
        if isinstance(temperature, bool) or not isinstance(temperature, (int, float)) or not temperature > 0:
            raise ValueError(f"temperature must be a number > 0, got {temperature!r}")
        if isinstance(alpha, bool) or not isinstance(alpha, (int, float)) or not 0 <= alpha <= 1:
            raise ValueError(f"alpha must be a number in [0, 1], got {alpha!r}")
        self.teacher = teacher.eval()
        for p in self.teacher.parameters():
            p.requires_grad_(False)
        self.temperature, self.alpha = float(temperature), float(alpha)
        self.__name__ = f"distillation(T={self.temperature:g}, alpha={self.alpha:g})"  # what fit records

    def soft_term(self, student_logits: torch.Tensor, teacher_logits: torch.Tensor) -> torch.Tensor:
        """The distillation term alone: :math:`T^2` times the batch-mean KL divergence of the softened outputs.

        Args:
            student_logits: ``[B, K]``.
            teacher_logits: ``[B, K]``.
        Returns:
            A scalar tensor (it has a gradient with respect to ``student_logits`` only).
        """
        t = self.temperature
        log_p_student = F.log_softmax(student_logits.float() / t, dim=1)
        log_p_teacher = F.log_softmax(teacher_logits.float() / t, dim=1)
        return F.kl_div(log_p_student, log_p_teacher, reduction="batchmean", log_target=True) * t * t

    def __call__(self, logits: torch.Tensor, y: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """The loss of one batch, as :func:`~resnet_lib.train.fit` calls it.

        Args:
            logits: the student's ``[B, K]`` logits for ``x``.
            y: the labels, ``[B]``.
            x: the batch the logits were computed from, ``[B, C, H, W]``.
        Returns:
            A scalar tensor.
        """
        if self.teacher.training:  # someone switched it back: the teacher always uses its running statistics
            self.teacher.eval()
        first = next(self.teacher.parameters(), None)
        if first is not None and first.device != x.device:
            self.teacher.to(x.device)
        with torch.no_grad():
            teacher_logits = self.teacher(x)
        hard = F.cross_entropy(logits.float(), y)
        if self.alpha == 1:
            return hard
        return self.alpha * hard + (1 - self.alpha) * self.soft_term(logits, teacher_logits)

    def __repr__(self) -> str:
        return f"DistillationLoss(teacher={type(self.teacher).__name__}, temperature={self.temperature:g}, " \
               f"alpha={self.alpha:g})"
