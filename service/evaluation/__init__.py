"""Measuring retrieval quality: the real service beside two baselines on a corpus and its claims."""
