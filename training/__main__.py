"""`python -m training ...`: see training/cli.py (SageMaker's root train.py calls the same main)."""

from training.cli import main

raise SystemExit(main())
