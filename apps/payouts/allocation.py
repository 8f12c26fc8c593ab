"""How a refund is spread over the invoice's lines. Pure functions, integer minor units.

A refund of R on an invoice of total T reverses the fraction R/T of every line. Rounded
per line, naive proportions drift: three refunds of a third each could reverse a cent more
than a line ever earned. So the allocation is *cumulative*: `refunded_per_line(lines, R)`
says how much of each line is reversed once R has been refunded in all, and a refund
reverses the difference between the cumulative allocations after and before it.

The cumulative allocation is a divisor (Jefferson / D'Hondt) apportionment of the refunded
cents over the lines' cents, which
- gives every line between 0 and its own amount (never more than the line was worth),
- sums exactly to R, and reverses every line exactly when R = T,
- is monotone: refunding more never un-reverses a line, so each refund's share is >= 0.
Credit lines (negative amounts) are apportioned the same way, on their side of the sign:
the refunded fraction of the positive lines is rounded half-up, the negative lines take the
remainder, and both stay monotone and within their lines (see `refunded_per_line`)."""

from fractions import Fraction


def apportion(weights: list[int], seats: int) -> list[int]:
    """Jefferson apportionment of `seats` (0 <= seats <= sum) over non-negative weights.

    Every weight first gets the floor of its exact quota (Jefferson never gives less), then
    the few seats left go one by one to the highest average weight / (seats + 1), earlier
    lines first on ties. The result is the top `seats` of one fixed order of averages, so a
    larger `seats` only ever adds seats."""
    total = sum(weights)
    if not 0 <= seats <= total:
        raise ValueError("seats must be between 0 and the total weight")
    if seats == total:
        return list(weights)
    given = [seats * weight // total for weight in weights]
    for _ in range(seats - sum(given)):  # fewer than len(weights) rounds
        best = max(
            range(len(weights)),
            key=lambda i: (Fraction(weights[i], given[i] + 1), -i),
        )
        given[best] += 1
    return given


def refunded_per_line(lines: list[int], refunded: int) -> list[int]:
    """Cumulative reversal per line (same sign as the line) once `refunded` of the invoice
    (the sum of `lines`, positive) has been refunded in all.

    With credit lines, P = the positive lines' sum and N = the credits' size (T = P - N):
    the positive lines reverse GP = round_half_up(refunded * P / T) and the credits
    GN = GP - refunded. Both grow with `refunded` (P/T >= 1, so GP grows at least a cent a
    cent), and 0 <= GN <= N because GP - refunded rounds refunded * N / T."""
    total = sum(lines)
    if total <= 0:
        raise ValueError("an invoice that can be refunded has a positive total")
    if not 0 <= refunded <= total:
        raise ValueError("the refunded amount is between 0 and the invoice total")
    positive = sum(amount for amount in lines if amount > 0)
    positive_reversed = (2 * refunded * positive + total) // (2 * total)  # half-up
    credits_reversed = positive_reversed - refunded
    up = iter(apportion([a for a in lines if a > 0], positive_reversed))
    down = iter(apportion([-a for a in lines if a < 0], credits_reversed))
    return [next(up) if a > 0 else -next(down) if a < 0 else 0 for a in lines]


def refund_share(lines: list[int], refunded_before: int, refund: int) -> list[int]:
    """What one refund reverses on each line: the cumulative allocation after it minus the
    one before it (refunds in the order they were made)."""
    before = refunded_per_line(lines, refunded_before)
    after = refunded_per_line(lines, refunded_before + refund)
    return [later - earlier for later, earlier in zip(after, before, strict=True)]
