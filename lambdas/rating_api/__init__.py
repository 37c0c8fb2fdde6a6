"""The rating API: raters rate sampled answers in Tandem's own rating workflow (lambdas/common/rating_batches.py)."""
