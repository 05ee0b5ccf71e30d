"""Parts of the serving benchmark (``benchmarks/serving.py``): load and containers, MLflow."""
