"""One module per lesson's exercise check; the steps registry (helpers/course/steps.py) names each check."""
