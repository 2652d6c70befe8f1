"""The optimizer machinery every rule shares: the base class and the params/grads contract
(:mod:`~fastoptim.core.optimizer`, :mod:`~fastoptim.core.params`), settings read from the rules'
C++ headers (:mod:`~fastoptim.core.settings`), the state and checkpoint format
(:mod:`~fastoptim.core.checkpoint`), clipping, and the runtime (SIMD tiers, threads)."""
