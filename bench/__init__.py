"""Load benchmarks: the app served by uvicorn, driven by wrk, compared with a bare FastAPI baseline in the same run."""
