"""Choosing a starting model: transferability scores, subsampling and ranking."""
