"""PatchNCE (Park et al., 2020): a patch of the output should match the input patch at the same place."""
import torch
import torch.nn.functional as F

# The reference fills the query-key same-position entries of the negative block with this
# logit (before dividing by the temperature) so that the positive never counts as its own negative.
_MASKED_LOGIT = -10.0


def patch_nce_loss(query: torch.Tensor, key: torch.Tensor, temperature: float = 0.07,
                   negatives_from_minibatch: bool = False) -> torch.Tensor:
    """InfoNCE of each query patch against its key patch (positive) and the other key patches (negatives).

    ``query`` and ``key`` are ``(N, P, C)`` unit-length features of the same P positions in N images
    (the key is detached: gradients flow only through the query). Negatives are the other patches of
    the same image, or of the whole minibatch when ``negatives_from_minibatch``. Returns the
    per-patch loss ``(N * P,)`` in float32: cross-entropy of the logits
    ``[q.k+, q.k-_1, ...] / temperature`` with the positive as the target class. Runs with autocast
    off, since similarities divided by 0.07 need float32.
    """
    n, p, c = query.shape
    with torch.autocast(device_type=query.device.type, enabled=False):
        q, k = query.float(), key.detach().float()
        positive = (q * k).sum(-1).reshape(n * p, 1)
        if negatives_from_minibatch:
            q, k = q.reshape(1, n * p, c), k.reshape(1, n * p, c)
        negative = torch.bmm(q, k.transpose(1, 2))  # (groups, M, M), M patches per group
        same_place = torch.eye(negative.shape[1], dtype=torch.bool, device=q.device)
        negative = negative.masked_fill(same_place, _MASKED_LOGIT).reshape(n * p, -1)
        logits = torch.cat((positive, negative), dim=1) / temperature
        target = torch.zeros(n * p, dtype=torch.long, device=q.device)
        return F.cross_entropy(logits, target, reduction="none")
