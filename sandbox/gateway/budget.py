"""Per-submission budgets: requests, tokens and (where prices are configured) cost.

A call *reserves* what it may use before it is forwarded (its prompt estimate plus the most it
may complete) and is *settled* from the reply's ``usage`` afterwards; the difference goes back.
A call that cannot reserve is refused with :class:`Exhausted` and never reaches a backend, so
the limits hold even with concurrent calls.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass


class Exhausted(Exception):
    """The submission's budget cannot cover this call; ``str()`` says which limit, in plain words."""


@dataclass
class Reservation:
    model: str
    tokens: int
    completion_tokens: int
    """The most this call may complete: the upstream's ``max_tokens`` is capped to it."""
    cost_usd: float
    settled: bool = False


@dataclass(frozen=True)
class Price:
    prompt_per_mtok: float = 0.0
    completion_per_mtok: float = 0.0

    def cost(self, prompt_tokens: int, completion_tokens: int) -> float:
        return (prompt_tokens * self.prompt_per_mtok + completion_tokens * self.completion_per_mtok) / 1e6


class Budget:
    """Thread-safe counters against the limits (0 means no limit)."""

    def __init__(
        self,
        *,
        max_tokens: int = 0,
        max_requests: int = 0,
        max_cost_usd: float = 0.0,
        prices: dict[str, Price] | None = None,
    ) -> None:
        self.max_tokens, self.max_requests, self.max_cost_usd = max_tokens, max_requests, max_cost_usd
        self.prices = prices or {}
        self.requests = 0
        self.tokens = 0
        self.cost_usd = 0.0
        self._held_tokens = 0
        self._held_cost = 0.0
        self.exhausted: str | None = None
        """The limit that refused the latest call, in plain words."""
        self._lock = threading.Lock()

    def reserve(self, model: str, prompt_tokens: int, max_completion: int) -> Reservation:
        """Hold what the call may use, or raise :class:`Exhausted`."""
        with self._lock:
            if self.max_requests and self.requests >= self.max_requests:
                self._refuse(f"the request budget is used up ({self.max_requests} requests)")
            completion = max_completion
            if self.max_tokens:
                left = self.max_tokens - self.tokens - self._held_tokens
                if left <= prompt_tokens:
                    held = f" and {self._held_tokens:,} held by calls in flight" if self._held_tokens else ""
                    self._refuse(
                        f"the token budget is used up ({self.tokens:,}{held} of {self.max_tokens:,} tokens used)"
                    )
                completion = min(completion, left - prompt_tokens)
            price = self.prices.get(model)
            cost = price.cost(prompt_tokens, completion) if price else 0.0
            if self.max_cost_usd and price is not None:
                left_usd = self.max_cost_usd - self.cost_usd - self._held_cost
                if left_usd <= price.cost(prompt_tokens, 0):
                    self._refuse(f"the cost budget is used up (${self.cost_usd:.4f} of ${self.max_cost_usd:.2f} spent)")
                if cost > left_usd and price.completion_per_mtok > 0:
                    completion = int((left_usd - price.cost(prompt_tokens, 0)) * 1e6 / price.completion_per_mtok)
                    cost = price.cost(prompt_tokens, completion)
            self.requests += 1
            self._held_tokens += prompt_tokens + completion
            self._held_cost += cost
            return Reservation(model, prompt_tokens + completion, completion, cost)

    def settle(self, reservation: Reservation, prompt_tokens: int, completion_tokens: int) -> float:
        """Replace the hold with what the reply says it used; returns the call's cost."""
        price = self.prices.get(reservation.model)
        cost = price.cost(prompt_tokens, completion_tokens) if price else 0.0
        with self._lock:
            if reservation.settled:
                return cost
            reservation.settled = True
            self._held_tokens -= reservation.tokens
            self._held_cost -= reservation.cost_usd
            self.tokens += prompt_tokens + completion_tokens
            self.cost_usd += cost
        return cost

    def release(self, reservation: Reservation) -> None:
        """A call that failed before any usage: its hold goes back (the request still counts)."""
        self.settle(reservation, 0, 0)

    def _refuse(self, why: str) -> None:
        self.exhausted = why
        raise Exhausted(why)

    def snapshot(self) -> dict:
        with self._lock:
            return {
                "requests": self.requests,
                "max_requests": self.max_requests,
                "tokens": self.tokens,
                "max_tokens": self.max_tokens,
                "tokens_left": max(0, self.max_tokens - self.tokens) if self.max_tokens else None,
                "cost_usd": round(self.cost_usd, 6),
                "max_cost_usd": self.max_cost_usd,
                "exhausted": self.exhausted,
            }
