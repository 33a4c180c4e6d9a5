"""Load testing: Locust users driving psycopg, HdrHistogram recording, open-model scheduling, fidelity runs.

`harness.load.user` imports Locust (which monkey-patches the process with gevent): only the Locust
subprocess imports it. Everything else here is safe in the CLI and in pytest.
"""
